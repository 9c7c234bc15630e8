package images

import (
	"testing"

	"github.com/ufop/ufop"
)

// TestEmbeddedCJKFont: with no font installed at all (an empty font
// search path), CJK text marks still render, in the embedded Droid Sans
// Fallback; a font the request names that does not exist stays a 400.
func TestEmbeddedCJKFont(t *testing.T) {
	noFonts := []string{t.TempDir()}
	t.Run("layout and render", func(t *testing.T) {
		var l fontLibrary
		for _, text := range []string{"七牛", "水印 ufop 测试", "七牛 Qiniu 2026"} {
			runs, err := l.layout(noFonts, text, "")
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			img, err := renderText(runs, 48, white(), 0)
			if err != nil {
				t.Fatalf("%q: %v", text, err)
			}
			inked := 0
			for i := 3; i < len(img.Pix); i += 4 {
				if img.Pix[i] != 0 {
					inked++
				}
			}
			// Two 48 px ideographs ink hundreds of pixels; tofu or nothing
			// would not pass the glyph check of layout in the first place.
			if inked < 200 {
				t.Fatalf("%q: %d inked pixels in %v", text, inked, img.Bounds())
			}
		}
	})
	t.Run("by name", func(t *testing.T) {
		var l fontLibrary
		e := l.lookup(noFonts, "Droid Sans Fallback")
		if e == nil || e.data == nil {
			t.Fatalf("the embedded font is not found by its name: %+v", e)
		}
	})
	p := newTestProcessor(t, nil, func(c *Config) { c.FontDirs = noFonts })
	tests := []struct {
		name, query, plain string // plain: the query without the mark
		kind               ufop.Kind
	}{
		{"README example", "imageMogr2/auto-orient/thumbnail/!50p|watermark/2/text/5LiD54mb", "imageMogr2/auto-orient/thumbnail/!50p", 0},
		{"README walk-through", "imageView2/2/w/400|watermark/2/text/5LiD54mb/fontsize/800/fill/I0ZGRkZGRg", "imageView2/2/w/400", 0},
		{"cjk in a named Go font", "imageView2/2/w/400|watermark/2/text/" + b64("ufop 七牛") + "/font/" + b64("Go Bold") + "/fill/" + b64("white"), "imageView2/2/w/400", 0},
		{"missing named font", "watermark/2/text/" + b64("七牛") + "/font/" + b64("No Such Font"), "", ufop.KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := fixture(t, "portrait.jpg")
			res, err := run(t, p, src, tc.query)
			if tc.kind != 0 {
				if err == nil || kindOf(t, err) != tc.kind {
					t.Fatalf("error %v, want kind %s", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			img := decodeResult(t, res)
			plain := decodeResult(t, mustRun(t, p, src, tc.plain))
			// The same pipeline without the mark encodes the same pixels
			// except where the glyphs are.
			if img.Bounds() != plain.Bounds() {
				t.Fatalf("marked %v, unmarked %v", img.Bounds(), plain.Bounds())
			}
			a, b := toNRGBA(img), toNRGBA(plain)
			changed := 0
			for i := 0; i < len(a.Pix); i += 4 {
				if diff(a.Pix[i], b.Pix[i])+diff(a.Pix[i+1], b.Pix[i+1])+diff(a.Pix[i+2], b.Pix[i+2]) > 8 {
					changed++
				}
			}
			if changed < 20 {
				t.Errorf("%d pixels changed: no mark drawn", changed)
			}
		})
	}
}
