package jpegscale

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"os"
	"testing"
	"time"

	"github.com/disintegration/imaging"
)

// BenchmarkDecodePortrait decodes the 800x533 portrait at every scale, and
// with image/jpeg for reference.
func BenchmarkDecodePortrait(b *testing.B) {
	benchDecode(b, "portrait.jpg")
}

// BenchmarkDecodeHuge decodes the 100-megapixel baseline JPEG at 1/8 and 1/4,
// the shrink-on-load path of a small thumbnail.
func BenchmarkDecodeHuge(b *testing.B) {
	data := readImage(b, "9643x10328.jpg")
	for _, s := range []int{4, 8} {
		b.Run(fmt.Sprintf("scale=%d", s), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(data), Options{Scale: s}); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
}

// reportCPU adds a cpu-ms/op metric: the process's CPU time per iteration.
// On a shared machine wall time per op includes waiting for a core; CPU
// time (run with -cpu 1) is the per-core cost. Call it after the loop.
func reportCPU(b *testing.B, start time.Duration) {
	if cpu := processCPU() - start; cpu > 0 && b.N > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkDecodeProgressive decodes a 400x267 progressive 4:2:0 JPEG
// (testdata) at every scale, and with image/jpeg.
func BenchmarkDecodeProgressive(b *testing.B) {
	data, err := os.ReadFile("testdata/prog-420-400x267.jpg")
	if err != nil {
		b.Fatal(err)
	}
	benchDecodeData(b, data)
}

func benchDecode(b *testing.B, name string) {
	benchDecodeData(b, readImage(b, name))
}

func benchDecodeData(b *testing.B, data []byte) {
	b.Run("image/jpeg", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu0)
	})
	for _, s := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("scale=%d", s), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(data), Options{Scale: s}); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
}

// BenchmarkThumbnailPortrait is the whole 200x200 fill of the portrait
// (decode, Lanczos fill, JPEG encode at quality 85), with a full decode as
// image/jpeg does it and with a 1/2 shrink-on-load decode: what the images
// package does for imageView2/1/w/200/h/200, minus its bookkeeping.
func BenchmarkThumbnailPortrait(b *testing.B) {
	data := readImage(b, "portrait.jpg")
	for _, s := range []int{1, 2} {
		b.Run(fmt.Sprintf("scale=%d", s), func(b *testing.B) {
			b.ReportAllocs()
			var out bytes.Buffer
			cpu0 := processCPU()
			for b.Loop() {
				img, err := Decode(bytes.NewReader(data), Options{Scale: s})
				if err != nil {
					b.Fatal(err)
				}
				thumb := imaging.Fill(img, 200, 200, imaging.Center, imaging.Lanczos)
				out.Reset()
				if err := jpeg.Encode(&out, thumb, &jpeg.Options{Quality: 85}); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, cpu0)
		})
	}
}
