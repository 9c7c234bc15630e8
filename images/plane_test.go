package images

import (
	"fmt"
	"image"
	"image/color"
	"math/rand/v2"
	"testing"

	"github.com/disintegration/imaging"
)

// randomYCbCr is a smooth picture with noise, in the given subsampling.
func randomYCbCr(w, h int, ratio image.YCbCrSubsampleRatio) *image.YCbCr {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), ratio)
	r := rand.New(rand.NewPCG(3, 4))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			m.Y[m.YOffset(x, y)] = uint8((x*255/w + y*255/h) / 2)
			if r.IntN(8) == 0 {
				m.Y[m.YOffset(x, y)] = uint8(r.IntN(256))
			}
			m.Cb[m.COffset(x, y)] = uint8(x * 255 / w)
			m.Cr[m.COffset(x, y)] = uint8(y * 255 / h)
		}
	}
	return m
}

// TestPlaneResizeMatchesImaging compares the plane resampler with the
// imaging path of resampleRect (RGB, same box-then-Lanczos split) on every
// subsampling, on sub-images and crops.
func TestPlaneResizeMatchesImaging(t *testing.T) {
	ratios := []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	}
	tests := []struct {
		name   string
		sub    image.Rectangle // part of a 301x203 source
		rw, rh int
		crop   image.Rectangle
	}{
		{"shrink", image.Rect(0, 0, 301, 203), 100, 67, image.Rect(0, 0, 100, 67)},
		{"big shrink", image.Rect(0, 0, 301, 203), 70, 47, image.Rect(0, 0, 70, 47)},
		{"enlarge", image.Rect(0, 0, 301, 203), 450, 300, image.Rect(0, 0, 450, 300)},
		{"odd crop", image.Rect(0, 0, 301, 203), 151, 101, image.Rect(25, 13, 126, 88)},
		{"sub-image", image.Rect(17, 9, 250, 180), 120, 91, image.Rect(0, 0, 120, 91)},
		{"sub-image crop", image.Rect(17, 9, 250, 180), 120, 91, image.Rect(11, 5, 100, 80)},
	}
	for _, ratio := range ratios {
		src := randomYCbCr(301, 203, ratio)
		for _, tc := range tests {
			t.Run(ratio.String()+"/"+tc.name, func(t *testing.T) {
				in := src.SubImage(tc.sub).(*image.YCbCr)
				got := resampleRect(in, tc.rw, tc.rh, tc.crop)
				want := resampleRect(imageAsNRGBA(in), tc.rw, tc.rh, tc.crop)
				if _, ok := got.(*image.YCbCr); !ok {
					t.Fatalf("got %T, want *image.YCbCr", got)
				}
				if got.Bounds().Size() != want.Bounds().Size() {
					t.Fatalf("size %v, want %v", got.Bounds().Size(), want.Bounds().Size())
				}
				// The tolerance covers the comparison itself: YCbCr.At
				// upsamples chroma by repetition, which on these steep
				// gradients costs about 3 levels at small sizes.
				if d := meanDiff(got, want); d > 4 {
					t.Fatalf("%.2f levels from imaging's result", d)
				}
			})
		}
	}
}

// TestPlaneCropIsPartOfFull checks that computing only a crop gives the
// same luma as cropping the full result.
func TestPlaneCropIsPartOfFull(t *testing.T) {
	src := randomYCbCr(400, 267, image.YCbCrSubsampleRatio420)
	full := resizeYCbCrRect(src, 300, 200, image.Rect(0, 0, 300, 200), kernelLanczos3)
	crop := image.Rect(50, 0, 250, 200)
	part := resizeYCbCrRect(src, 300, 200, crop, kernelLanczos3)
	for y := 0; y < 200; y++ {
		for x := 0; x < 200; x++ {
			if a, b := part.Y[part.YOffset(x, y)], full.Y[full.YOffset(x+50, y)]; a != b {
				t.Fatalf("luma at %d,%d: %d, full image has %d", x, y, a, b)
			}
		}
	}
}

func TestGrayResize(t *testing.T) {
	g := image.NewGray(image.Rect(0, 0, 123, 77))
	for y := 0; y < 77; y++ {
		for x := 0; x < 123; x++ {
			g.Pix[y*g.Stride+x] = uint8(x + y)
		}
	}
	got := resampleRect(g, 40, 25, image.Rect(5, 0, 35, 25))
	want := imaging.Crop(imaging.Resize(g, 40, 25, imaging.Lanczos), image.Rect(5, 0, 35, 25))
	if _, ok := got.(*image.Gray); !ok {
		t.Fatalf("got %T, want *image.Gray", got)
	}
	if d := meanDiff(got, want); d > 3 {
		t.Fatalf("%.2f levels from imaging's result", d)
	}
}

// meanDiff is the mean absolute RGB difference of two same-size images.
func meanDiff(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			c1 := color.NRGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.NRGBA)
			c2 := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += float64(absDiff(c1.R, c2.R) + absDiff(c1.G, c2.G) + absDiff(c1.B, c2.B))
		}
	}
	return sum / float64(3*ab.Dx()*ab.Dy())
}

func BenchmarkResizeYCbCr(b *testing.B) {
	src := randomYCbCr(400, 267, image.YCbCrSubsampleRatio420)
	for b.Loop() {
		resampleRect(src, 300, 200, image.Rect(50, 0, 250, 200))
	}
}

// TestRGBAResize compares the interleaved resampler with imaging on opaque
// and translucent NRGBA and on RGBA.
func TestRGBAResize(t *testing.T) {
	n := image.NewNRGBA(image.Rect(0, 0, 211, 143))
	for y := 0; y < 143; y++ {
		for x := 0; x < 211; x++ {
			n.SetNRGBA(x, y, color.NRGBA{uint8(x), uint8(y), uint8(x + y), 255})
		}
	}
	translucent := image.NewNRGBA(n.Rect)
	copy(translucent.Pix, n.Pix)
	for i := 3; i < len(translucent.Pix); i += 4 {
		translucent.Pix[i] = uint8(i / 4 % 256)
	}
	rgba := image.NewRGBA(n.Rect)
	copy(rgba.Pix, n.Pix)
	for _, tc := range []struct {
		name string
		img  image.Image
		want string
	}{{"opaque nrgba", n, "*image.NRGBA"}, {"translucent nrgba", translucent, "*image.RGBA"}, {"rgba", rgba, "*image.RGBA"}} {
		for _, size := range [][2]int{{100, 67}, {30, 20}, {300, 200}} {
			crop := image.Rect(3, 2, size[0]-4, size[1]-1)
			got := resampleRect(tc.img, size[0], size[1], crop)
			if typ := fmt.Sprintf("%T", got); typ != tc.want {
				t.Fatalf("%s: got %s, want %s", tc.name, typ, tc.want)
			}
			want := imaging.Crop(imaging.Resize(tc.img, size[0], size[1], imaging.Lanczos), crop)
			if size[0] == 30 { // the box pre-shrink applies: compare with the same split
				want = imaging.Crop(imaging.Resize(imaging.Resize(tc.img, 70, 48, imaging.Box), 30, 20, imaging.Lanczos), crop)
			}
			// Compare premultiplied values: what shows once composed; 8-bit
			// premultiplied storage cannot keep the colour of nearly
			// transparent pixels, and need not.
			if d := meanDiffPremul(got, want); d > 1.5 {
				t.Errorf("%s %v: %.2f levels from imaging's result", tc.name, size, d)
			}
		}
	}
}

// meanDiffPremul is meanDiff on premultiplied colour.
func meanDiffPremul(a, b image.Image) float64 {
	ab, bb := a.Bounds(), b.Bounds()
	var sum float64
	for y := 0; y < ab.Dy(); y++ {
		for x := 0; x < ab.Dx(); x++ {
			c1 := color.RGBAModel.Convert(a.At(ab.Min.X+x, ab.Min.Y+y)).(color.RGBA)
			c2 := color.RGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.RGBA)
			sum += float64(absDiff(c1.R, c2.R) + absDiff(c1.G, c2.G) + absDiff(c1.B, c2.B) + absDiff(c1.A, c2.A))
		}
	}
	return sum / float64(4*ab.Dx()*ab.Dy())
}
