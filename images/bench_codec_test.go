package images

import (
	"image"
	"testing"
)

// BenchmarkCodecs compares decoding and encoding JPEG, WebP and AVIF on a
// portrait.jpg-sized (800x533) photo at the default quality: ns/op,
// allocated bytes/op (the WebAssembly codecs' linear memory included) and
// the encoded size; CPU time per op is steadier than wall time on a shared
// machine. The WebAssembly modules are compiled before timing.
//
//	go test -run '^$' -bench BenchmarkCodecs -benchmem -benchtime 5x -count 1 ./images/
func BenchmarkCodecs(b *testing.B) {
	src := fixture(b, "portrait.jpg")
	h, err := probe(src)
	if err != nil {
		b.Fatal(err)
	}
	img, err := decodePixels(src, h, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	codecs := []struct {
		name string
		out  output
	}{
		{"jpeg", output{format: formatJPEG}},
		{"webp-lossy", output{format: formatWebP}},
		{"webp-lossless", output{format: formatWebP, quality: losslessQuality}},
		{"avif", output{format: formatAVIF}},
	}
	for _, c := range codecs {
		enc, err := encodeImage(img, c.out, specQuality) // also warms the codec up
		if err != nil {
			b.Fatal(err)
		}
		eh, err := probe(enc)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodePixels(enc, eh, 0, 0); err != nil {
			b.Fatal(err)
		}
		b.Run("encode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			var n int
			cpu0 := cpuTime()
			for b.Loop() {
				out, err := encodeImage(img, c.out, specQuality)
				if err != nil {
					b.Fatal(err)
				}
				n = len(out)
			}
			b.ReportMetric(float64(n), "out-bytes")
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
		})
		b.Run("decode/"+c.name, func(b *testing.B) {
			b.ReportAllocs()
			var m image.Image
			cpu0 := cpuTime()
			for b.Loop() {
				hh, err := probe(enc)
				if err != nil {
					b.Fatal(err)
				}
				if m, err = decodePixels(enc, hh, 0, 0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric((cpuTime()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/op")
			if m.Bounds() != img.Bounds() {
				b.Fatalf("decoded %v, want %v", m.Bounds(), img.Bounds())
			}
		})
	}
}
