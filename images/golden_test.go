package images

import (
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/ufop/ufop/internal/testneed"
)

// goldenTolerance is the largest mean absolute difference, in 8-bit
// levels per channel on a 64x64 copy, between a result and its golden
// image. It absorbs encoder and resampler changes but not a wrong crop,
// orientation or colour.
const goldenTolerance = 4.0

// perceptualDistance compares two images on small copies, so that
// compression noise averages out while geometry and colour still count.
func perceptualDistance(a, b image.Image) float64 {
	const side = 64
	sa := imaging.Resize(a, side, side, imaging.Linear)
	sb := imaging.Resize(b, side, side, imaging.Linear)
	var sum float64
	for i := range sa.Pix {
		if i%4 == 3 {
			continue
		}
		d := float64(sa.Pix[i]) - float64(sb.Pix[i])
		if d < 0 {
			d = -d
		}
		sum += d
	}
	return sum / float64(side*side*3)
}

// checkGolden compares img with testdata/golden/name.png, or rewrites it
// with -update.
func checkGolden(t *testing.T, name string, img image.Image) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".png")
	if *update {
		writePNG(t, path, img)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("golden image missing (run go test ./images -update): %v", err)
	}
	want, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if want.Bounds().Size() != img.Bounds().Size() {
		t.Fatalf("size %v, golden %v", img.Bounds().Size(), want.Bounds().Size())
	}
	if d := perceptualDistance(img, want); d > goldenTolerance {
		writePNG(t, filepath.Join(t.TempDir(), name+".png"), img)
		t.Fatalf("differs from %s by %.2f levels (tolerance %.1f)", path, d, goldenTolerance)
	}
}

func TestGolden(t *testing.T) {
	testneed.Integration(t, "the shared images of the goldens")
	p := newTestProcessor(t, nil, nil)
	tests := []struct {
		name, src, query string
	}{
		{"view1-portrait", "portrait.jpg", "imageView2/1/w/200/h/200"},
		{"view2-cmyk-oriented", "portrait-cmyk-orientation-exif.jpg", "imageView2/2/w/200"},
		{"view2-grayscale", "portrait-grayscale.jpg", "imageView2/2/w/200"},
		{"view2-large", "9643x10328.jpg", "imageView2/2/w/300/h/300"},
		{"view2-transparent-to-jpg", "paletted-transparent.png", "imageView2/2/w/200/format/jpg"},
		{"view2-gif", "SmallFullColourGIF.gif", "imageView2/2/w/100/format/png"},
		{"mogr-auto-orient", "portrait-cmyk-orientation-exif.jpg", "imageMogr2/auto-orient/thumbnail/x200"},
		{"mogr-crop-gravity", "portrait.jpg", "imageMogr2/thumbnail/400x/gravity/South/crop/!200x150a0-10"},
		{"mogr-rotate", "portrait.jpg", "imageMogr2/thumbnail/200x/rotate/30/background/" + b64url("#3366CC") + "/format/jpg"},
		{"mogr-blur", "portrait.jpg", "imageMogr2/thumbnail/200x/blur/5x3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := decodeResult(t, mustRun(t, p, fixture(t, tc.src), tc.query))
			checkGolden(t, tc.name, img)
		})
	}
}

// TestPerceptualDistanceDiscriminates keeps the golden comparison honest:
// a different crop of the same photo must be out of tolerance, a
// re-encoding of the same image within it.
func TestPerceptualDistanceDiscriminates(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	src := fixture(t, "portrait.jpg")
	a := decodeResult(t, mustRun(t, p, src, "imageView2/1/w/200/h/200"))
	same := decodeResult(t, mustRun(t, p, src, "imageView2/1/w/200/h/200/q/60"))
	shifted := decodeResult(t, mustRun(t, p, src, "imageMogr2/crop/533x533|imageView2/1/w/200/h/200"))
	if d := perceptualDistance(a, same); d > goldenTolerance {
		t.Fatalf("re-encoding at q60 is %.2f away, over the tolerance", d)
	}
	if d := perceptualDistance(a, shifted); d <= goldenTolerance {
		t.Fatalf("a different crop is only %.2f away, within the tolerance", d)
	}
}
