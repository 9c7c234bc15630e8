package progjpeg

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"
)

// picture is a deterministic test image with smooth areas, edges and noise.
func picture(w, h int) *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	r := rand.New(rand.NewPCG(1, 2))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), uint8((x ^ y) & 0xff), 255}
			if (x/10+y/10)%2 == 0 {
				c.B = uint8(r.IntN(256))
			}
			m.SetRGBA(x, y, c)
		}
	}
	return m
}

// meanAbsDiff compares two images of equal size over R, G and B.
func meanAbsDiff(a, b image.Image) float64 {
	var sum float64
	r := a.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			c1 := color.RGBAModel.Convert(a.At(x, y)).(color.RGBA)
			c2 := color.RGBAModel.Convert(b.At(x-r.Min.X+b.Bounds().Min.X, y-r.Min.Y+b.Bounds().Min.Y)).(color.RGBA)
			for _, d := range []int{int(c1.R) - int(c2.R), int(c1.G) - int(c2.G), int(c1.B) - int(c2.B)} {
				if d < 0 {
					d = -d
				}
				sum += float64(d)
			}
		}
	}
	return sum / float64(3*r.Dx()*r.Dy())
}

// TestMatchesBaseline checks that the progressive file decodes (with Go's
// decoder) to the same pixels as Go's baseline encoding at the same
// quality: the coefficients are the same, only their order differs.
func TestMatchesBaseline(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 37, 21))
	for i := range gray.Pix {
		gray.Pix[i] = uint8(i * 7)
	}
	ycc := image.NewYCbCr(image.Rect(0, 0, 50, 33), image.YCbCrSubsampleRatio420)
	for i := range ycc.Y {
		ycc.Y[i] = uint8(i)
	}
	for i := range ycc.Cb {
		ycc.Cb[i], ycc.Cr[i] = uint8(i*3), uint8(255-i)
	}
	tests := []struct {
		name    string
		img     image.Image
		quality int
	}{
		{"rgba q85", picture(123, 77), 85},
		{"rgba q100", picture(64, 64), 100},
		{"rgba q1", picture(17, 9), 1},
		{"one pixel", picture(1, 1), 85},
		{"sub-image", picture(100, 100).SubImage(image.Rect(13, 7, 90, 61)), 75},
		{"gray", gray, 90},
		{"ycbcr", ycc, 80},
		{"nrgba", image.NewNRGBA(image.Rect(0, 0, 20, 30)), 85},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var prog, base bytes.Buffer
			if err := Encode(&prog, tc.img, tc.quality); err != nil {
				t.Fatal(err)
			}
			if err := jpeg.Encode(&base, tc.img, &jpeg.Options{Quality: tc.quality}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(prog.Bytes(), []byte{0xff, 0xc2}) {
				t.Fatal("no SOF2 marker: not progressive")
			}
			pm, err := jpeg.Decode(bytes.NewReader(prog.Bytes()))
			if err != nil {
				t.Fatalf("decode progressive: %v", err)
			}
			bm, err := jpeg.Decode(bytes.NewReader(base.Bytes()))
			if err != nil {
				t.Fatal(err)
			}
			if pm.Bounds().Size() != tc.img.Bounds().Size() {
				t.Fatalf("size %v, want %v", pm.Bounds().Size(), tc.img.Bounds().Size())
			}
			if d := meanAbsDiff(pm, bm); d > 0.01 {
				t.Fatalf("progressive decodes %.3f levels away from baseline", d)
			}
		})
	}
}

func TestRejectsBadSizes(t *testing.T) {
	for _, r := range []image.Rectangle{image.Rect(0, 0, 0, 5), image.Rect(0, 0, 1<<16, 1)} {
		if err := Encode(&bytes.Buffer{}, image.NewGray(r), 80); err == nil {
			t.Errorf("%v: encoded", r)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	m := picture(800, 533)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := Encode(&buf, m, 85); err != nil {
			b.Fatal(err)
		}
	}
}
