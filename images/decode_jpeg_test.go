package images

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	ufop "github.com/ufop/ufop"
)

func TestJPEGShrink(t *testing.T) {
	tests := []struct {
		name             string
		w, h, minW, minH int
		want             int
	}{
		{"full size asked", 800, 533, 0, 0, 1},
		{"portrait to 200x200 fill needs 300x200", 800, 533, 300, 200, 2},
		{"exactly an eighth", 1600, 800, 200, 100, 8},
		{"one pixel short of an eighth", 1600, 800, 201, 100, 4},
		{"ceil rounding keeps the last partial block", 1601, 801, 201, 101, 8},
		{"only a width", 9643, 10328, 500, 0, 8},
		{"only a height", 9643, 10328, 0, 1300, 4},
		{"100 MP to 500x500 fit", 9643, 10328, 467, 500, 8},
		{"target larger than the source", 100, 100, 200, 200, 1},
		{"half is just enough", 1000, 1000, 500, 500, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := jpegShrink(tc.w, tc.h, tc.minW, tc.minH); got != tc.want {
				t.Errorf("jpegShrink(%d, %d, %d, %d) = %d, want %d", tc.w, tc.h, tc.minW, tc.minH, got, tc.want)
			}
		})
	}
}

// testImage reads one of the shared test images, skipping when absent.
func testImage(t testing.TB, name string) []byte {
	t.Helper()
	if testing.Short() {
		return shortFixture(t, name)
	}
	b, err := os.ReadFile(filepath.Join("../../shared/testdata/images", name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("test image %s is absent (../shared/testdata/images from the repository root): %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeJPEGSize(t *testing.T) {
	tests := []struct {
		file         string
		minW, minH   int
		wantW, wantH int
	}{
		{"portrait.jpg", 0, 0, 800, 533},
		{"portrait.jpg", 300, 200, 400, 267},
		{"portrait.jpg", 100, 67, 100, 67},
		{"portrait.jpg", 101, 67, 200, 134},
		{"portrait-grayscale.jpg", 150, 100, 200, 134},
		{"portrait-cmyk-orientation-exif.jpg", 150, 100, 200, 134},
		{"9643x10328.jpg", 467, 500, 1206, 1291},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			img, err := decodeJPEG(testImage(t, tc.file), tc.minW, tc.minH)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH {
				t.Errorf("decoded %dx%d for at least %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.minW, tc.minH, tc.wantW, tc.wantH)
			}
		})
	}
}

func TestDecodeJPEGErrors(t *testing.T) {
	tests := []struct {
		file string
		want ufop.Kind
	}{
		{"image_invalid.jpg", ufop.KindCorrupt},
		{"BlueSquare_truncated.jpg", ufop.KindCorrupt},
		{"invalid_quantization.jpg", ufop.KindCorrupt},
	}
	for _, tc := range tests {
		for _, min := range []int{0, 16} {
			data := testImage(t, tc.file)
			img, err := decodeJPEG(data, min, min)
			if err == nil {
				// image/jpeg decodes some damaged files; so do we.
				if img == nil {
					t.Errorf("%s: nil image and nil error", tc.file)
				}
				continue
			}
			if k := ufop.KindOf(err); k != tc.want {
				t.Errorf("%s (min %d): error kind %v (%v), want %v", tc.file, min, k, err, tc.want)
			}
		}
	}
}
