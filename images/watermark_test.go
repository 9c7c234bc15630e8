package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"image"
	"image/color"
	"image/gif"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/testneed"
)

// b64 is the URL-safe base64 fops carry their text parameters in.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestMarkOrigin(t *testing.T) {
	b := image.Rect(0, 0, 100, 80)
	const w, h, dx, dy = 10, 6, 3, 2
	want := map[fop.Gravity]image.Point{
		fop.NorthWest: {3, 2}, fop.North: {45, 2}, fop.NorthEast: {87, 2},
		fop.West: {3, 37}, fop.Center: {45, 37}, fop.East: {87, 37},
		fop.SouthWest: {3, 72}, fop.South: {45, 72}, fop.SouthEast: {87, 72},
	}
	for g, p := range want {
		x, y := markOrigin(b, w, h, g, dx, dy)
		if x != p.X || y != p.Y {
			t.Errorf("%s: origin (%d,%d), want %v", g, x, y, p)
		}
		// And drawWatermark puts the mark exactly there.
		dst := filled(b, color.NRGBA{255, 255, 255, 255})
		drawWatermark(dst, filled(image.Rect(0, 0, w, h), color.NRGBA{255, 0, 0, 255}), g, dx, dy, 100)
		for _, q := range []struct {
			at  image.Point
			red bool
		}{
			{p, true}, {p.Add(image.Pt(w-1, h-1)), true},
			{p.Add(image.Pt(-1, 0)), false}, {p.Add(image.Pt(w, h-1)), false}, {p.Add(image.Pt(0, h)), false},
		} {
			if got := dst.NRGBAAt(q.at.X, q.at.Y); (got == color.NRGBA{255, 0, 0, 255}) != q.red {
				t.Errorf("%s: pixel %v is %v, red %v expected", g, q.at, got, q.red)
			}
		}
	}
}

func filled(r image.Rectangle, c color.NRGBA) *image.NRGBA {
	img := image.NewNRGBA(r)
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func TestDrawWatermarkBlend(t *testing.T) {
	tests := []struct {
		name     string
		base     color.NRGBA
		mark     color.NRGBA
		dissolve int
		want     color.NRGBA
	}{
		{"opaque", color.NRGBA{255, 255, 255, 255}, color.NRGBA{255, 0, 0, 255}, 100, color.NRGBA{255, 0, 0, 255}},
		{"dissolve 50 on white", color.NRGBA{255, 255, 255, 255}, color.NRGBA{255, 0, 0, 255}, 50, color.NRGBA{255, 128, 128, 255}},
		{"half alpha on black", color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 0, 0, 128}, 100, color.NRGBA{128, 0, 0, 255}},
		{"on transparent", color.NRGBA{0, 0, 0, 0}, color.NRGBA{0, 0, 255, 255}, 50, color.NRGBA{0, 0, 255, 127}},
		{"transparent mark", color.NRGBA{10, 20, 30, 255}, color.NRGBA{255, 255, 255, 0}, 100, color.NRGBA{10, 20, 30, 255}},
		{"dissolve 1", color.NRGBA{0, 0, 0, 255}, color.NRGBA{255, 255, 255, 255}, 1, color.NRGBA{2, 2, 2, 255}},
	}
	for _, tc := range tests {
		dst := filled(image.Rect(0, 0, 4, 4), tc.base)
		drawWatermark(dst, filled(image.Rect(0, 0, 4, 4), tc.mark), fop.NorthWest, 0, 0, tc.dissolve)
		got := dst.NRGBAAt(1, 1)
		if diff(got.R, tc.want.R) > 1 || diff(got.G, tc.want.G) > 1 || diff(got.B, tc.want.B) > 1 || diff(got.A, tc.want.A) > 1 {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func diff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestDrawWatermarkClips(t *testing.T) {
	red := color.NRGBA{255, 0, 0, 255}
	for _, tc := range []struct {
		dx, dy  int
		g       fop.Gravity
		inked   image.Point // a pixel that must be red
		redRows int
	}{
		{-5, -5, fop.NorthWest, image.Pt(0, 0), 5},
		{-5, 0, fop.SouthEast, image.Pt(19, 19), 10},
		{1000, 0, fop.NorthWest, image.Pt(-1, -1), 0},
	} {
		dst := filled(image.Rect(0, 0, 20, 20), color.NRGBA{A: 255})
		drawWatermark(dst, filled(image.Rect(0, 0, 10, 10), red), tc.g, tc.dx, tc.dy, 100)
		if tc.inked.X >= 0 && dst.NRGBAAt(tc.inked.X, tc.inked.Y) != red {
			t.Errorf("%+v: pixel %v not drawn", tc, tc.inked)
		}
		rows := 0
		for y := range 20 {
			if dst.NRGBAAt(tc.inked.X, y) == red {
				rows++
			}
		}
		if tc.inked.X >= 0 && rows != tc.redRows {
			t.Errorf("%+v: %d red rows in column %d, want %d", tc, rows, tc.inked.X, tc.redRows)
		}
	}
	// A mark with an offset origin.
	dst := filled(image.Rect(0, 0, 20, 20), color.NRGBA{A: 255})
	mark := filled(image.Rect(0, 0, 10, 10), red).SubImage(image.Rect(5, 5, 10, 10)).(*image.NRGBA)
	drawWatermark(dst, mark, fop.NorthWest, 0, 0, 100)
	if dst.NRGBAAt(4, 4) != red || dst.NRGBAAt(5, 5) == red {
		t.Errorf("sub-image mark drawn at the wrong place")
	}
}

// markLoader loads "test:<name>" from the shared fixture folder: the
// platform's loader reads buckets the same way, from bytes.
type markLoader struct{ t testing.TB }

func (l markLoader) Load(_ context.Context, ref string) ([]byte, error) {
	bucket, key, ok := strings.Cut(ref, ":")
	if !ok || bucket != "test" || key != filepath.Base(key) {
		return nil, ufop.Errorf(ufop.KindNotFound, "no such object %q", ref)
	}
	b, err := os.ReadFile(filepath.Join(fixtureDir(), key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, ufop.Errorf(ufop.KindNotFound, "no such object %q", ref)
	}
	return b, err
}

// TestDrawWatermarkGolden draws watermark.png on portrait.jpg without the
// Processor.
func TestDrawWatermarkGolden(t *testing.T) {
	testneed.Integration(t, "the shared photo of the golden")
	base, _ := decodeUpright(t, "portrait.jpg")
	markImg, _ := decodeUpright(t, "watermark.png")
	dst := toNRGBA(base)
	mark := toNRGBA(markImg)
	drawWatermark(dst, mark, fop.SouthEast, 10, 10, 100)
	drawWatermark(dst, mark, fop.NorthWest, 20, 20, 40)
	drawWatermark(dst, mark, fop.Center, 0, 0, 70)
	opGolden(t, "watermark-draw-portrait", dst, goldenSide, 8)
}

func toNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	out := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	for y := 0; y < b.Dy(); y++ {
		for x := 0; x < b.Dx(); x++ {
			out.Set(x, y, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return out
}

// cjkFont returns an installed font that has every rune of text, or skips.
func cjkFont(t *testing.T, p *Processor, text string) *fontEntry {
	t.Helper()
	for _, e := range p.fonts.index(p.cfg.FontDirs) {
		if e.data == nil && coversAll(e, text) {
			return e
		}
	}
	t.Skipf("no CJK font under %v has %q: install fonts-wqy-microhei or fonts-noto-cjk", p.cfg.FontDirs, text)
	return nil
}

func TestWatermarkRun(t *testing.T) {
	testneed.Integration(t, "the shared photo of the goldens")
	p := newTestProcessor(t, markLoader{t}, nil)
	mark := b64("test:watermark.png")
	tests := []struct {
		name, file, query string
		golden            string
		cjk               string // the test needs a font with these runes
	}{
		{"image mark", "portrait.jpg", "watermark/1/image/" + mark + "/dissolve/60", "watermark-image-portrait", ""},
		{"image mark scaled", "portrait.jpg", "watermark/1/image/" + mark + "/gravity/NorthEast/dx/0/dy/0/ws/0.25", "watermark-image-ws", ""},
		{"latin text", "portrait.jpg", "watermark/2/text/" + b64("ufop — Hello, world! 12:34") + "/fontsize/640/fill/" + b64("#FFFFFF") + "/gravity/North/dy/20", "watermark-text-latin", ""},
		{"latin text, named font", "portrait.jpg", "watermark/2/text/" + b64("Bold text") + "/font/" + b64("Go Bold") + "/fontsize/480/fill/" + b64("yellow") + "/gravity/SouthWest/dissolve/80", "watermark-text-gobold", ""},
		{"cjk text", "portrait.jpg", "watermark/2/text/" + b64("水印 ufop 测试") + "/fontsize/640/fill/" + b64("#FFFFFF") + "/gravity/South", "watermark-text-cjk", "水印测试"},
		{"several marks", "portrait.jpg", "watermark/3/image/" + mark + "/gravity/NorthWest/text/" + b64("© ufop") + "/fontsize/400/fill/" + b64("white") + "/image/" + mark + "/gravity/Center/ws/0.1", "watermark-several", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var font *fontEntry
			if tc.cjk != "" {
				font = cjkFont(t, p, tc.cjk)
			}
			res := mustRun(t, p, fixture(t, tc.file), tc.query)
			img := decodeResult(t, res)
			if b := img.Bounds(); b.Dx() != 800 || b.Dy() != 533 {
				t.Fatalf("output %v, want the source's 800x533", b)
			}
			// Goldens of CJK text hold for the font they were made with.
			if font == nil || strings.HasPrefix(font.path, "/usr/share/fonts/truetype/wqy/") {
				opGolden(t, tc.golden, img, goldenSide, 8)
			}
			// The mark changed the image: compare with the source.
			src, _ := decodeUpright(t, tc.file)
			if d, _ := maxBlockDiff(goldenReduce(img, goldenSide), goldenReduce(src, goldenSide)); d < 10 {
				t.Errorf("the output is the source (difference %.1f): no mark drawn", d)
			}
		})
	}
}

func TestWatermarkErrors(t *testing.T) {
	p := newTestProcessor(t, markLoader{t}, nil)
	tests := []struct {
		name, query string
		kind        ufop.Kind
		says        string
	}{
		{"unknown font", "watermark/2/text/" + b64("Hi") + "/font/" + b64("No Such Font 42"), ufop.KindInvalid, `parameter font: no font named "No Such Font 42"`},
		{"character no font has", "watermark/2/text/" + b64("a\U0010FFFDb"), ufop.KindInvalid, "U+10FFFD"},
		{"missing image", "watermark/1/image/" + b64("test:nope.png"), ufop.KindNotFound, `watermark: parameter image: no such object "test:nope.png"`},
		{"image that is not an image", "watermark/1/image/" + b64("test:README.md"), ufop.KindUnsupported, "watermark: parameter image: "},
		{"text too large", "watermark/2/text/" + b64(strings.Repeat("W", 200)) + "/fontsize/20000", ufop.KindTooLarge, "fontsize"},
	}
	src := fixture(t, "portrait.jpg")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := run(t, p, src, tc.query)
			if err == nil {
				t.Fatal("accepted")
			}
			if k := kindOf(t, err); k != tc.kind {
				t.Errorf("kind %s, want %s: %v", k, tc.kind, err)
			}
			if !strings.Contains(ufop.Message(err), tc.says) {
				t.Errorf("message %q does not say %q", ufop.Message(err), tc.says)
			}
		})
	}
}

func TestWatermarkApplyFrame(t *testing.T) {
	// A frame of any image type, with offset bounds, is drawn on a copy.
	p := newTestProcessor(t, nil, nil)
	src := image.NewGray(image.Rect(10, 10, 110, 60))
	o := opOf(t, "watermark/2/text/"+b64("Hi")+"/fill/"+b64("#ffffff")+"/gravity/NorthWest/dx/0/dy/0")
	f := &frame{img: src, header: http.Header{}, p: p}
	if err := o.apply(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	if f.img.Bounds().Size() != src.Bounds().Size() {
		t.Fatalf("size %v, want %v", f.img.Bounds().Size(), src.Bounds().Size())
	}
	inked := 0
	out := f.img.(*image.NRGBA)
	for i := 0; i < len(out.Pix); i += 4 {
		if out.Pix[i] > 128 {
			inked++
		}
	}
	if inked < 20 {
		t.Errorf("only %d inked pixels: the text was not drawn", inked)
	}
	for _, v := range src.Pix {
		if v != 0 {
			t.Fatal("the source frame was modified")
		}
	}
}

// BenchmarkWatermark measures whole Runs on portrait.jpg, decode and
// encode included.
func BenchmarkWatermark(b *testing.B) {
	for _, bc := range []struct{ name, query string }{
		{"image", "watermark/1/image/" + b64("test:watermark.png") + "/dissolve/60"},
		{"image-ws", "watermark/1/image/" + b64("test:watermark.png") + "/ws/0.3"},
		{"text-latin", "watermark/2/text/" + b64("© ufop 2026") + "/fontsize/480/fill/" + b64("white")},
		{"text-cjk", "watermark/2/text/" + b64("水印 ufop") + "/fontsize/480/fill/" + b64("white")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newTestProcessor(b, markLoader{b}, nil)
			src := fixture(b, "portrait.jpg")
			pl, err := fop.Parse(bc.query, 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			reportCPU(b)
			for b.Loop() {
				if _, err := p.Run(context.Background(), src, pl.Steps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestOpsConcurrent runs facecrop and watermarks from many goroutines on
// one Processor, so that -race checks the lazily built cascade and font
// index.
func TestOpsConcurrent(t *testing.T) {
	p := newTestProcessor(t, markLoader{t}, func(c *Config) { c.MaxDecodes = 8 })
	src := fixture(t, "portrait.jpg")
	queries := []string{
		"facecrop/100x100",
		"watermark/2/text/" + b64("ufop 水印") + "/fontsize/320",
		"watermark/2/text/" + b64("Go Bold") + "/font/" + b64("Go Bold"),
		"watermark/1/image/" + b64("test:watermark.png") + "/ws/0.1",
	}
	var pipelines []fop.Pipeline
	for _, q := range queries {
		pl, err := fop.Parse(q, 0)
		if err != nil {
			t.Fatal(err)
		}
		pipelines = append(pipelines, pl)
	}
	errs := make(chan error, 2*len(queries))
	var wg sync.WaitGroup
	for i := range 2 * len(queries) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Run(context.Background(), src, pipelines[i%len(pipelines)].Steps)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		// A missing CJK font is the one acceptable failure.
		if err != nil && !strings.Contains(err.Error(), "no installed font") {
			t.Error(err)
		}
	}
}

// TestEveryFixtureFacecropWatermark runs facecrop and watermarks on every
// shared fixture: each gets an image of the expected size or a 4xx kind,
// never a panic or an internal error.
func TestEveryFixtureFacecropWatermark(t *testing.T) {
	testneed.SharedImages(t)
	fixture(t, "README.md") // skips when the folder is absent
	entries, err := os.ReadDir(testImagesDir)
	if err != nil {
		t.Fatal(err)
	}
	fails := map[string]ufop.Kind{
		"README.md":                ufop.KindUnsupported,
		"image_invalid.jpg":        ufop.KindUnsupported,
		"BlueSquare_truncated.jpg": ufop.KindCorrupt,
		"16384x16384.png":          ufop.KindTooLarge,
	}
	p := newTestProcessor(t, markLoader{t}, nil)
	queries := []string{
		"facecrop/120x80",
		"watermark/3/image/" + b64("test:watermark.png") + "/ws/0.5/text/" + b64("ufop") + "/gravity/Center",
	}
	for _, e := range entries {
		name := e.Name()
		if testing.Short() && name == "9643x10328.jpg" {
			continue // a full-size 100 megapixel decode for the watermark
		}
		src := fixture(t, name)
		for _, q := range queries {
			t.Run(name+"/"+strings.SplitN(q, "/", 2)[0], func(t *testing.T) {
				res, err := run(t, p, src, q)
				want, ok := fails[name]
				if name == "9643x10328.jpg" && strings.HasPrefix(q, "watermark") {
					// The output keeps the source's 10328 px height, over
					// MaxOutputSide: refused before decoding.
					want, ok = ufop.KindTooLarge, true
				}
				if ok {
					if err == nil {
						t.Fatalf("succeeded, want kind %s", want)
					}
					if k := kindOf(t, err); k != want {
						t.Fatalf("kind %s, want %s: %v", k, want, err)
					}
					return
				}
				if err != nil {
					t.Fatalf("kind %s: %v", ufop.KindOf(err), err)
				}
				b := decodeResult(t, res).Bounds()
				if strings.HasPrefix(q, "facecrop") && (b.Dx() != 120 || b.Dy() != 80) {
					t.Errorf("output %v, want 120x80", b)
				}
			})
		}
	}
}

// TestAnimatedGIF checks that watermarks keep every frame of an animated
// GIF when the output stays a GIF, and that facecrop (which detects faces
// on one frame) answers the first.
func TestAnimatedGIF(t *testing.T) {
	src := fixture(t, "animated.gif")
	in, err := gif.DecodeAll(bytes.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Image) < 2 {
		t.Fatalf("animated.gif has %d frames", len(in.Image))
	}
	p := newTestProcessor(t, markLoader{t}, nil)
	for _, tc := range []struct {
		query  string
		frames int
	}{
		{"watermark/2/text/" + b64("ufop") + "/fill/" + b64("red") + "/gravity/Center", len(in.Image)},
		{"imageView2/2/w/50|watermark/1/image/" + b64("test:watermark.png") + "/ws/0.5", len(in.Image)},
		{"watermark/1/image/" + b64("test:watermark.png") + "|facecrop/20x20", 1},
	} {
		res := mustRun(t, p, src, tc.query)
		out, err := gif.DecodeAll(bytes.NewReader(res.Body))
		if err != nil {
			t.Fatalf("%s: result is not a GIF: %v", tc.query, err)
		}
		if len(out.Image) != tc.frames {
			t.Errorf("%s: %d frames, want %d", tc.query, len(out.Image), tc.frames)
		}
	}
}
