package images

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testneed"
)

// dirLoader is a Loader over a directory: "bucket:key" names the file key
// (the bucket is ignored); anything else is not found.
type dirLoader struct{ dir string }

func (l dirLoader) Load(_ context.Context, ref string) ([]byte, error) {
	_, key, ok := strings.Cut(ref, ":")
	if !ok || strings.Contains(key, "/") {
		return nil, ufop.Errorf(ufop.KindNotFound, "no such image %q", ref)
	}
	b, err := os.ReadFile(filepath.Join(l.dir, key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ufop.Errorf(ufop.KindNotFound, "no such image %q", ref)
	}
	return b, err
}

func TestLoadImage(t *testing.T) {
	testneed.SharedImages(t)
	fixture(t, "README.md") // skips when the fixtures are absent
	tests := []struct {
		name   string
		loader Loader
		mod    func(*Config)
		ref    string
		kind   ufop.Kind // KindInternal: success
		w, h   int
	}{
		{"ok", dirLoader{testImagesDir}, nil, "b:watermark.png", ufop.KindInternal, 30, 30},
		{"oriented", dirLoader{testImagesDir}, nil, "b:portrait-cmyk-orientation-exif.jpg", ufop.KindInternal, 533, 800},
		{"no loader", nil, nil, "b:watermark.png", ufop.KindInvalid, 0, 0},
		{"missing", dirLoader{testImagesDir}, nil, "b:nope.png", ufop.KindNotFound, 0, 0},
		{"loader failure", dirLoader{"/nonexistent-dir-for-test\x00"}, nil, "b:x.png", ufop.KindUpstream, 0, 0},
		{"too many bytes", dirLoader{testImagesDir}, func(c *Config) { c.MaxSourceBytes = 100 }, "b:watermark.png", ufop.KindTooLarge, 0, 0},
		{"bomb", dirLoader{testImagesDir}, nil, "b:16384x16384.png", ufop.KindTooLarge, 0, 0},
		{"not an image", dirLoader{testImagesDir}, nil, "b:README.md", ufop.KindUnsupported, 0, 0},
		{"truncated", dirLoader{testImagesDir}, nil, "b:BlueSquare_truncated.jpg", ufop.KindCorrupt, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProcessor(t, tc.loader, tc.mod)
			img, err := p.loadImage(context.Background(), tc.ref)
			if tc.kind == ufop.KindInternal {
				if err != nil {
					t.Fatal(err)
				}
				if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
					t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.w, tc.h)
				}
				return
			}
			if err == nil {
				t.Fatalf("loaded, want kind %s", tc.kind)
			}
			if k := kindOf(t, err); k != tc.kind {
				t.Fatalf("kind %s, want %s: %v", k, tc.kind, err)
			}
		})
	}
}
