package images

import (
	"context"
	"strings"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// planOf runs Processor.plan the way Run does, from the source's header.
func planOf(t *testing.T, p *Processor, src []byte, steps []fop.Step) (int, int, error) {
	t.Helper()
	h, err := probe(src)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	ops := opsOf(t, steps)
	frames := 1
	if p.keepsFrames(h.format, ops) {
		frames = animatedFrames(src, h, p.cfg.MaxSourcePixels)
	}
	return p.plan(h, readOrientation(src, h.format), frames, ops)
}

// TestPlanMatchesOutput is the property the early refusal rests on: for
// every op over a table of parameters and real images (JPEG with and
// without EXIF orientation, animated GIF, paletted PNG, WebP, TIFF, a
// 940x2 strip), the size planned from the header is the size Run
// produces, and a plan that refuses means Run refuses with the same kind.
func TestPlanMatchesOutput(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	// Every EXIF orientation, on a small landscape picture.
	srcs := map[string][]byte{}
	for o := 1; o <= 8; o++ {
		srcs["synth-orient"+string(rune('0'+o))+".jpg"] = withOrientation(t, synthImage(90, 50), o)
	}
	for _, name := range []string{"portrait.jpg", "portrait-cmyk-orientation-exif.jpg", "SmallFullColourGIF.gif",
		"paletted-transparent.png", "940x2.png", "image.webp", "gradient_8bit.tif", "1bit.png"} {
		srcs[name] = fixture(t, name)
	}
	// cheap queries run on every source; the rest on a few.
	cheap := []string{
		"imageView2/0/w/200/h/200", "imageView2/1/w/200/h/200", "imageView2/1/w/150", "imageView2/2/w/200/h/200",
		"imageView2/2/w/100000", "imageView2/3/w/200/h/100", "imageView2/4/w/400/h/100", "imageView2/5/w/400/h/100",
		"imageView2/5/w/7/h/3", "imageView2/1/h/33", "imageView2/0/w/1/h/1",
		"imageMogr2/thumbnail/!50p", "imageMogr2/thumbnail/!150p", "imageMogr2/thumbnail/!33px", "imageMogr2/thumbnail/!x77p",
		"imageMogr2/thumbnail/123x", "imageMogr2/thumbnail/x77", "imageMogr2/thumbnail/200x200",
		"imageMogr2/thumbnail/300x300", "imageMogr2/thumbnail/!200x100r", "imageMogr2/thumbnail/200x300!",
		"imageMogr2/thumbnail/300x300>", "imageMogr2/thumbnail/400x400<", "imageMogr2/thumbnail/40x40<",
		"imageMogr2/thumbnail/10000@", "imageMogr2/thumbnail/997@", "imageMogr2/thumbnail/1@",
		"imageMogr2/crop/300x", "imageMogr2/crop/x20", "imageMogr2/crop/30x20", "imageMogr2/gravity/Center/crop/31x17",
		"imageMogr2/gravity/SouthEast/crop/!300x200a10a10", "imageMogr2/crop/!30x20a70a0",
		"imageMogr2/gravity/Center/crop/!300x200-30-20", "imageMogr2/crop/!10x10a900a0",
		"imageMogr2/rotate/90", "imageMogr2/rotate/180", "imageMogr2/rotate/270", "imageMogr2/thumbnail/x30/rotate/45/rotate/45",
		"imageMogr2/auto-orient", "imageMogr2/auto-orient/thumbnail/60x", "imageMogr2/thumbnail/60x/auto-orient",
		"imageMogr2/auto-orient/crop/40x17", "imageMogr2/crop/40x17/auto-orient/rotate/90",
		"imageMogr2/blur/3x2", "imageMogr2/thumbnail/50x/format/png", "imageView2/2/w/50/format/gif",
		"imageMogr2/rotate/90|imageView2/2/w/100", "imageMogr2/thumbnail/!50p|imageInfo",
		"watermark/2/text/" + b64("ufop") + "/fontsize/400",
	}
	costly := []string{
		"imageMogr2/rotate/1", "imageMogr2/rotate/30", "imageMogr2/rotate/45", "imageMogr2/rotate/135",
		"imageMogr2/rotate/359", "imageMogr2/auto-orient/rotate/17",
		"imageMogr2/thumbnail/x40/rotate/200|imageMogr2/rotate/33",
		"facecrop/120x80", "facecrop/97x333", "facecrop/1000x1000", "imageMogr2/auto-orient|facecrop/50x50",
	}
	costlyOn := map[string]bool{"portrait-cmyk-orientation-exif.jpg": true, "synth-orient6.jpg": true,
		"synth-orient7.jpg": true, "940x2.png": true}
	for name, src := range srcs {
		queries := cheap
		if costlyOn[name] {
			queries = append(append([]string{}, cheap...), costly...)
		}
		for _, q := range queries {
			t.Run(name+"/"+q, func(t *testing.T) {
				pl, err := fop.Parse(q, 0)
				if err != nil {
					t.Fatal(err)
				}
				pw, ph, planErr := planOf(t, p, src, pl.Steps)
				res, err := p.Run(context.Background(), src, pl.Steps)
				switch {
				case planErr != nil && err == nil:
					t.Fatalf("plan refused (%v), Run succeeded", planErr)
				case planErr != nil:
					if kp, kr := kindOf(t, planErr), kindOf(t, err); kp != kr {
						t.Fatalf("plan kind %s, Run kind %s", kp, kr)
					}
					return
				case err != nil:
					t.Fatalf("plan %dx%d, Run failed: %v", pw, ph, err)
				}
				if strings.HasSuffix(q, "imageInfo") {
					return // JSON: the plan stops before it
				}
				b := decodeResult(t, res).Bounds()
				if b.Dx() != pw || b.Dy() != ph {
					t.Fatalf("planned %dx%d, output %dx%d", pw, ph, b.Dx(), b.Dy())
				}
			})
		}
	}
}

// TestPlanLimits checks the limits plan applies, from headers only.
func TestPlanLimits(t *testing.T) {
	hdr := func(w, h int) header { return header{format: formatJPEG, width: w, height: h} }
	tests := []struct {
		name   string
		mod    func(*Config)
		src    header
		orient int
		frames int
		query  string
		w, h   int
		kind   ufop.Kind // 0: planned fine
	}{
		{"facecrop enlarges", nil, hdr(800, 533), 1, 1, "facecrop/1000x1000", 1000, 1000, 0},
		{"facecrop 100 MP", nil, hdr(800, 533), 1, 1, "facecrop/10000x10000", 0, 0, ufop.KindTooLarge},
		{"facecrop at the budget", func(c *Config) { c.MaxOutputPixels = 1_000_000 }, hdr(80, 53), 1, 1, "facecrop/1000x1000", 1000, 1000, 0},
		{"facecrop over the budget", func(c *Config) { c.MaxOutputPixels = 999_999 }, hdr(80, 53), 1, 1, "facecrop/1000x1000", 0, 0, ufop.KindTooLarge},
		{"side limit", func(c *Config) { c.MaxOutputSide = 1000 }, hdr(800, 533), 1, 1, "imageMogr2/thumbnail/1001x10!", 0, 0, ufop.KindTooLarge},
		{"side limit exact", func(c *Config) { c.MaxOutputSide = 1000 }, hdr(800, 533), 1, 1, "imageMogr2/thumbnail/1000x10!", 1000, 10, 0},
		// A source over the output limits may be turned and cut down: only
		// the run's output must be within MaxOutputSide.
		{"big source cropped", nil, hdr(9643, 10328), 1, 1, "imageMogr2/rotate/90/crop/1000x1000", 1000, 1000, 0},
		{"big source kept", nil, hdr(9643, 10328), 1, 1, "imageMogr2/blur/1x1", 0, 0, ufop.KindTooLarge},
		{"big source no larger", nil, hdr(9643, 10328), 1, 1, "imageMogr2/thumbnail/!101p/crop/100x100", 0, 0, ufop.KindTooLarge},
		{"big source oriented", nil, hdr(10328, 9643), 6, 1, "imageView2/2/w/500", 500, 536, 0},
		{"orientation swaps", nil, hdr(800, 533), 6, 1, "imageView2/2/w/100", 100, 150, 0},
		{"mogr keeps stored orientation", nil, hdr(800, 533), 6, 1, "imageMogr2/thumbnail/100x", 100, 67, 0},
		{"rotate growth", nil, hdr(800, 533), 1, 1, "imageMogr2" + strings.Repeat("/rotate/45", 8), 0, 0, ufop.KindTooLarge},
		{"rotate within", nil, hdr(800, 533), 1, 1, "imageMogr2" + strings.Repeat("/rotate/45", 6), 5339, 5339, 0},
		{"frames count", nil, hdr(1000, 1000), 1, 40, "imageMogr2/thumbnail/!120p", 0, 0, ufop.KindTooLarge},
		{"frames fit", nil, hdr(1000, 1000), 1, 40, "imageMogr2/thumbnail/!110p", 1100, 1100, 0},
		{"info only", nil, hdr(16384, 16384), 1, 1, "imageInfo", 16384, 16384, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProcessor(t, nil, tc.mod)
			pl, err := fop.Parse(tc.query, 0)
			if err != nil {
				t.Fatal(err)
			}
			w, h, err := p.plan(tc.src, tc.orient, tc.frames, opsOf(t, pl.Steps))
			if tc.kind != 0 {
				if err == nil {
					t.Fatalf("planned %dx%d, want kind %s", w, h, tc.kind)
				}
				if k := kindOf(t, err); k != tc.kind {
					t.Fatalf("kind %s, want %s: %v", k, tc.kind, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if w != tc.w || h != tc.h {
				t.Fatalf("planned %dx%d, want %dx%d", w, h, tc.w, tc.h)
			}
		})
	}
}
