package jpegscale

import (
	"bytes"
	"fmt"
	"image/jpeg"
	"testing"
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
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(data), Options{Scale: s}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchDecode(b *testing.B, name string) {
	data := readImage(b, name)
	b.Run("image/jpeg", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, s := range []int{1, 2, 4, 8} {
		b.Run(fmt.Sprintf("scale=%d", s), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Decode(bytes.NewReader(data), Options{Scale: s}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
