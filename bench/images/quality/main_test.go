package main

import (
	"image"
	"image/color"
	"testing"
)

func TestScores(t *testing.T) {
	a := image.NewNRGBA(image.Rect(0, 0, 16, 16))
	for i := range a.Pix {
		a.Pix[i] = uint8(i * 7)
	}
	same := image.NewNRGBA(a.Rect)
	copy(same.Pix, a.Pix)
	off := image.NewNRGBA(a.Rect)
	copy(off.Pix, a.Pix)
	off.Set(3, 3, color.NRGBA{255, 0, 0, 255})
	for _, tc := range []struct {
		name       string
		b          *image.NRGBA
		psnrMin    float64
		psnrMax    float64
		ssimBelow1 bool
	}{
		{"identical", same, identicalPSNR, identicalPSNR, false},
		{"one pixel off", off, 20, 60, true},
	} {
		p, s := psnr(a, tc.b), ssim(a, tc.b)
		if p < tc.psnrMin || p > tc.psnrMax {
			t.Errorf("%s: psnr %.2f, want in [%v, %v]", tc.name, p, tc.psnrMin, tc.psnrMax)
		}
		if (s < 0.999999) != tc.ssimBelow1 {
			t.Errorf("%s: ssim %.6f", tc.name, s)
		}
	}
}
