package jpegscale

import (
	"bytes"
	"image"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to DecodeConfig and Decode at every
// scale: they must return an image or an error, never panic, and a decoded
// image must have the size the header announced, scaled.
func FuzzDecode(f *testing.F) {
	// Seeds live in testdata/fuzz/FuzzDecode (small real JPEGs of every
	// layout the decoder handles, and broken ones).
	f.Fuzz(func(t *testing.T, data []byte, scaleSel uint8) {
		cfg, err := DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Keep the fuzzer on small images: huge headers only allocate.
		if cfg.Width*cfg.Height > 1<<22 {
			return
		}
		scale := []int{1, 2, 4, 8}[scaleSel%4]
		img, err := Decode(bytes.NewReader(data), Options{Scale: scale})
		if err != nil {
			return
		}
		w, h := ScaledSize(cfg.Width, cfg.Height, scale)
		if img.Bounds() != image.Rect(0, 0, w, h) {
			t.Fatalf("scale %d: bounds %v, header says %dx%d", scale, img.Bounds(), cfg.Width, cfg.Height)
		}
	})
}
