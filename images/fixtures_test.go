package images

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testneed"
)

// TestEveryFixture runs every shared fixture through a thumbnail and
// imageInfo: each gets a correct result or a 4xx kind, never a panic or an
// internal error.
func TestEveryFixture(t *testing.T) {
	testneed.SharedImages(t)
	fixture(t, "README.md") // skips when the folder is absent
	entries, err := os.ReadDir(testImagesDir)
	if err != nil {
		t.Fatal(err)
	}
	// want lists the expected failure kind of the fixtures that fail.
	want := map[string]ufop.Kind{
		"README.md":                ufop.KindUnsupported,
		"image_invalid.jpg":        ufop.KindUnsupported,
		"BlueSquare_truncated.jpg": ufop.KindCorrupt,
		"16384x16384.png":          ufop.KindTooLarge,
	}
	p := newTestProcessor(t, nil, nil)
	for _, e := range entries {
		name := e.Name()
		src := fixture(t, name)
		for _, q := range []string{"imageView2/1/w/200/h/200", "imageInfo"} {
			t.Run(name+"/"+q, func(t *testing.T) {
				res, err := run(t, p, src, q)
				wantKind, fails := want[name]
				if q == "imageInfo" && name == "16384x16384.png" {
					fails = false // imageInfo reads the header only
				}
				if q == "imageInfo" && name == "BlueSquare_truncated.jpg" {
					fails = false // its header is intact
				}
				if err != nil {
					if !fails {
						t.Fatalf("unexpected error (kind %s): %v", ufop.KindOf(err), err)
					}
					if k := kindOf(t, err); k != wantKind {
						t.Fatalf("kind %s, want %s: %v", k, wantKind, err)
					}
					return
				}
				if fails {
					t.Fatalf("succeeded, want kind %s", wantKind)
				}
				if q == "imageInfo" {
					var info imageInfo
					if err := json.Unmarshal(res.Body, &info); err != nil {
						t.Fatal(err)
					}
					if info.Width <= 0 || info.Height <= 0 || info.Size != len(src) || info.ColorModel == "unknown" {
						t.Fatalf("bad info %s", res.Body)
					}
					return
				}
				img := decodeResult(t, res)
				b := img.Bounds()
				if b.Dx() > 200 || b.Dy() > 200 || b.Dx() < 1 || b.Dy() < 1 {
					t.Fatalf("output %dx%d, want within 200x200", b.Dx(), b.Dy())
				}
			})
		}
	}
}
