package images

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/testneed"
)

// synth returns a w x h test picture (gradients and a disc, so that crops
// and rotations are visible) encoded as format.
func synth(t testing.TB, w, h int, format string) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy, r := w/3, h/3, min(w, h)/4
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{uint8(255 * x / w), uint8(255 * y / h), 128, 255}
			if (x-cx)*(x-cx)+(y-cy)*(y-cy) < r*r {
				c = color.NRGBA{250, 250, 20, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var buf bytes.Buffer
	var err error
	switch format {
	case formatJPEG:
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	case formatPNG:
		err = png.Encode(&buf, img)
	case formatGIF:
		err = gif.Encode(&buf, img, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestImageView2Plan(t *testing.T) {
	tests := []struct {
		query          string
		sw, sh         int
		rw, rh, cw, ch int
	}{
		{"imageView2/0/w/200/h/200", 800, 533, 200, 133, 200, 133},
		{"imageView2/0/w/400", 800, 533, 400, 267, 400, 267},
		{"imageView2/0/h/100", 800, 533, 150, 100, 150, 100},
		{"imageView2/0/w/200/h/50", 300, 600, 50, 100, 50, 100},
		{"imageView2/1/w/200/h/200", 800, 533, 300, 200, 200, 200},
		{"imageView2/1/w/200", 800, 533, 300, 200, 200, 200},
		{"imageView2/1/h/100", 800, 533, 150, 100, 100, 100},
		{"imageView2/1/w/1000/h/100", 800, 533, 800, 533, 800, 100},
		{"imageView2/1/w/2000/h/2000", 800, 533, 800, 533, 800, 533},
		{"imageView2/2/w/200/h/200", 800, 533, 200, 133, 200, 133},
		{"imageView2/2/w/200", 800, 533, 200, 133, 200, 133},
		{"imageView2/2/h/200", 800, 533, 300, 200, 300, 200},
		{"imageView2/2/w/2000/h/2000", 800, 533, 800, 533, 800, 533},
		{"imageView2/3/w/200/h/200", 800, 533, 300, 200, 300, 200},
		{"imageView2/3/h/100", 800, 533, 150, 100, 150, 100},
		{"imageView2/4/w/200/h/200", 800, 533, 300, 200, 300, 200},
		{"imageView2/4/w/400/h/100", 800, 533, 400, 267, 400, 267},
		{"imageView2/5/w/400/h/100", 800, 533, 400, 267, 400, 100},
		{"imageView2/5/w/200/h/200", 800, 533, 300, 200, 200, 200},
		{"imageView2/5/w/200/h/100", 300, 600, 100, 200, 100, 200},
		{"imageView2/5/w/100/h/60", 300, 600, 60, 120, 60, 100},
		{"imageView2/2", 800, 533, 800, 533, 800, 533},
		{"imageView2/1/w/200/h/200", 940, 2, 940, 2, 200, 2},
		{"imageView2/2/w/200/h/200", 940, 2, 200, 1, 200, 1},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			p, err := fop.Parse(tc.query, 1)
			if err != nil {
				t.Fatal(err)
			}
			v := opsOf(t, p.Steps)[0].(*viewOp)
			rw, rh, cw, ch := v.plan(tc.sw, tc.sh)
			if rw != tc.rw || rh != tc.rh || cw != tc.cw || ch != tc.ch {
				t.Fatalf("plan(%d, %d) = %dx%d crop %dx%d, want %dx%d crop %dx%d",
					tc.sw, tc.sh, rw, rh, cw, ch, tc.rw, tc.rh, tc.cw, tc.ch)
			}
		})
	}
}

// TestOutputSizes runs every fop and geometry form end to end and checks
// the size of the decoded result.
func TestOutputSizes(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	land := synth(t, 800, 533, formatJPEG)
	tests := []struct {
		name  string
		src   []byte
		query string
		w, h  int
	}{
		{"view0", land, "imageView2/0/w/200/h/200", 200, 133},
		{"view1", land, "imageView2/1/w/200/h/200", 200, 200},
		{"view1 square", land, "imageView2/1/w/150", 150, 150},
		{"view2", land, "imageView2/2/w/200/h/200", 200, 133},
		{"view2 no enlarge", land, "imageView2/2/w/2000/h/2000", 800, 533},
		{"view3", land, "imageView2/3/w/200/h/200", 300, 200},
		{"view4", land, "imageView2/4/w/400/h/100", 400, 267},
		{"view5", land, "imageView2/5/w/400/h/100", 400, 100},
		{"view png", synth(t, 800, 533, formatPNG), "imageView2/1/w/100/h/50", 100, 50},
		{"view big shrink", synth(t, 3000, 2000, formatJPEG), "imageView2/2/w/100/h/100", 100, 67},
		{"thumb !p", land, "imageMogr2/thumbnail/!50p", 400, 267},
		{"thumb !p enlarge", land, "imageMogr2/thumbnail/!150p", 1200, 800},
		{"thumb !px", land, "imageMogr2/thumbnail/!50px", 400, 533},
		{"thumb !xp", land, "imageMogr2/thumbnail/!x50p", 800, 267},
		{"thumb Wx", land, "imageMogr2/thumbnail/200x", 200, 133},
		{"thumb xH", land, "imageMogr2/thumbnail/x200", 300, 200},
		{"thumb WxH", land, "imageMogr2/thumbnail/200x200", 200, 133},
		{"thumb WxH enlarges", land, "imageMogr2/thumbnail/1600x1600", 1600, 1066},
		{"thumb !WxHr", land, "imageMogr2/thumbnail/!200x200r", 300, 200},
		{"thumb WxH!", land, "imageMogr2/thumbnail/200x300!", 200, 300},
		{"thumb WxH>", land, "imageMogr2/thumbnail/400x400>", 400, 267},
		{"thumb WxH> smaller", land, "imageMogr2/thumbnail/1000x1000>", 800, 533},
		{"thumb WxH<", land, "imageMogr2/thumbnail/1600x1600<", 1600, 1066},
		{"thumb WxH< larger", land, "imageMogr2/thumbnail/400x400<", 800, 533},
		{"thumb area", land, "imageMogr2/thumbnail/40000@", 245, 163},
		{"thumb area larger", land, "imageMogr2/thumbnail/1000000@", 800, 533},
		{"crop Wx", land, "imageMogr2/crop/300x", 300, 533},
		{"crop xH", land, "imageMogr2/crop/x300", 800, 300},
		{"crop WxH", land, "imageMogr2/crop/300x200", 300, 200},
		{"crop too big", land, "imageMogr2/crop/3000x2000", 800, 533},
		{"crop offset", land, "imageMogr2/crop/!300x200a700a0", 100, 200},
		{"crop offset neg", land, "imageMogr2/gravity/Center/crop/!300x200-300-200", 250, 166},
		{"crop gravity", land, "imageMogr2/gravity/SouthEast/crop/!300x200a10a10", 290, 190},
		{"thumb then crop", land, "imageMogr2/thumbnail/400x/gravity/Center/crop/200x200", 200, 200},
		{"rotate 90", land, "imageMogr2/rotate/90", 533, 800},
		{"rotate 180", land, "imageMogr2/rotate/180", 800, 533},
		{"rotate 45", synth(t, 100, 100, formatPNG), "imageMogr2/rotate/45", 141, 141},
		{"blur", land, "imageMogr2/blur/3x2", 800, 533},
		{"mogr format", land, "imageMogr2/thumbnail/100x/format/png", 100, 67},
		{"pipeline", land, "imageMogr2/rotate/90|imageView2/2/w/100", 100, 150},
		{"webp out", land, "imageView2/2/w/50/format/webp", 50, 33},
		{"gif out", land, "imageView2/2/w/50/format/gif", 50, 33},
		{"gif in", synth(t, 100, 60, formatGIF), "imageView2/2/w/50", 50, 30},
		{"cmyk oriented", fixture(t, "portrait-cmyk-orientation-exif.jpg"), "imageView2/2/w/300", 300, 450},
		{"mogr no orient", fixture(t, "portrait-cmyk-orientation-exif.jpg"), "imageMogr2/thumbnail/300x", 300, 200},
		{"mogr auto-orient", fixture(t, "portrait-cmyk-orientation-exif.jpg"), "imageMogr2/auto-orient/thumbnail/300x", 300, 450},
		{"mogr orient after thumb", fixture(t, "portrait-cmyk-orientation-exif.jpg"), "imageMogr2/thumbnail/300x/auto-orient", 200, 300},
		{"facecrop", fixture(t, "portrait.jpg"), "facecrop/120x80", 120, 80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := mustRun(t, p, tc.src, tc.query)
			b := decodeResult(t, res).Bounds()
			if b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("%s: output %dx%d, want %dx%d", tc.query, b.Dx(), b.Dy(), tc.w, tc.h)
			}
		})
	}
}

func TestOutputFormats(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	tests := []struct {
		src, query, want string
	}{
		{"portrait.jpg", "imageView2/2/w/100", "image/jpeg"},
		{"portrait.png", "imageView2/2/w/100", "image/png"},
		{"image.webp", "imageView2/2/w/100", "image/webp"},
		{"animated.gif", "imageView2/2/w/50", "image/gif"},
		{"gradient_8bit.tif", "imageView2/2/w/50", "image/png"},
		{"portrait.jpg", "imageView2/2/w/100/format/png", "image/png"},
		{"portrait.jpg", "imageMogr2/format/webp", "image/webp"},
		{"portrait.jpg", "imageInfo", "application/json"},
		{"portrait.jpg", "imageView2/2/w/100/format/png|imageMogr2/rotate/90", "image/png"},
	}
	for _, tc := range tests {
		t.Run(tc.src+"/"+tc.query, func(t *testing.T) {
			res := mustRun(t, p, fixture(t, tc.src), tc.query)
			if res.ContentType != tc.want {
				t.Fatalf("content type %q, want %q", res.ContentType, tc.want)
			}
		})
	}
}

func TestTransparencyBecomesBackground(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	src := fixture(t, "paletted-transparent.png")
	tests := []struct {
		query string
		want  color.NRGBA
	}{
		{"imageView2/2/w/300/format/jpg", color.NRGBA{255, 255, 255, 255}},
		{"imageMogr2/background/" + b64url("#FF0000") + "/format/jpg", color.NRGBA{255, 0, 0, 255}},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			img := decodeResult(t, mustRun(t, p, src, tc.query))
			// The fixture's top-left corner is transparent.
			got := color.NRGBAModel.Convert(img.At(img.Bounds().Min.X, img.Bounds().Min.Y)).(color.NRGBA)
			if absDiff(got.R, tc.want.R) > 8 || absDiff(got.G, tc.want.G) > 8 || absDiff(got.B, tc.want.B) > 8 {
				t.Fatalf("corner %v, want %v", got, tc.want)
			}
		})
	}
}

func absDiff(a, b uint8) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestAnimatedGIFKeepsFrames(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	src := fixture(t, "animated.gif")
	tests := []struct {
		query  string
		frames int
		w, h   int
	}{
		{"imageView2/1/w/50/h/40", 2, 50, 40},
		{"imageMogr2/thumbnail/60x/rotate/90", 2, 60, 60},
		{"imageView2/2/w/50/format/png", 1, 50, 50},
		{"imageView2/2/w/50|facecrop/20x20", 1, 20, 20},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			res := mustRun(t, p, src, tc.query)
			if tc.frames == 1 {
				b := decodeResult(t, res).Bounds()
				if b.Dx() != tc.w || b.Dy() != tc.h {
					t.Fatalf("size %dx%d, want %dx%d", b.Dx(), b.Dy(), tc.w, tc.h)
				}
				if res.ContentType == "image/gif" && countGIFFrames(res.Body) != 1 {
					t.Fatalf("%d frames, want 1", countGIFFrames(res.Body))
				}
				return
			}
			g, err := gif.DecodeAll(bytes.NewReader(res.Body))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Image) != tc.frames || g.Config.Width != tc.w || g.Config.Height != tc.h {
				t.Fatalf("%d frames of %dx%d, want %d of %dx%d", len(g.Image), g.Config.Width, g.Config.Height, tc.frames, tc.w, tc.h)
			}
		})
	}
}

func TestImageInfo(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	tests := []struct {
		src  string
		want imageInfo
	}{
		{"portrait.jpg", imageInfo{Format: "jpeg", Width: 800, Height: 533, ColorModel: "ycbcr"}},
		{"portrait-grayscale.jpg", imageInfo{Format: "jpeg", Width: 800, Height: 533, ColorModel: "gray"}},
		{"cmyk.jpg", imageInfo{Format: "jpeg", Width: 100, Height: 100, ColorModel: "cmyk"}},
		{"portrait.png", imageInfo{Format: "png", Width: 800, Height: 533, ColorModel: "rgba"}},
		{"paletted-transparent.png", imageInfo{Format: "png", Width: 300, Height: 225, ColorModel: "palette"}},
		{"animated.gif", imageInfo{Format: "gif", Width: 100, Height: 100, ColorModel: "palette", FrameNumber: 2}},
		{"image.webp", imageInfo{Format: "webp", Width: 300, Height: 400, ColorModel: "ycbcr"}},
		{"gradient_8bit.tif", imageInfo{Format: "tiff", Width: 100, Height: 100, ColorModel: "rgba"}},
		{"16384x16384.png", imageInfo{Format: "png", Width: 16384, Height: 16384, ColorModel: "palette"}},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			src := fixture(t, tc.src)
			res := mustRun(t, p, src, "imageInfo")
			var got imageInfo
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatal(err)
			}
			tc.want.Size = len(src)
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
	// After a step, imageInfo describes that step's output.
	res := mustRun(t, p, fixture(t, "portrait.jpg"), "imageView2/2/w/100/format/png|imageInfo")
	var got imageInfo
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Format != "png" || got.Width != 100 || got.Height != 67 || got.Size <= 0 {
		t.Fatalf("info of the output: %+v", got)
	}
}

func TestExif(t *testing.T) {
	testneed.Integration(t, "the shared photos (their camera EXIF)")
	p := newTestProcessor(t, nil, nil)
	res := mustRun(t, p, fixture(t, "portrait.jpg"), "exif")
	var got map[string]exifValue
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got["Make"].Val != "Canon" || got["Make"].Type != 2 {
		t.Fatalf("Make = %+v", got["Make"])
	}
	if _, ok := got["ExposureTime"]; !ok {
		t.Fatalf("no ExposureTime in %v", got)
	}
	orient := mustRun(t, p, fixture(t, "portrait-cmyk-orientation-exif.jpg"), "exif")
	if !bytes.Contains(orient.Body, []byte(`"Orientation":{"type":3,"val":"6"}`)) {
		t.Fatalf("orientation missing: %s", orient.Body)
	}
	for _, name := range []string{"grayscale.jpg", "portrait.png"} {
		_, err := run(t, p, fixture(t, name), "exif")
		if err == nil || kindOf(t, err) != ufop.KindNotFound {
			t.Fatalf("%s: err %v, want KindNotFound", name, err)
		}
	}
	// Processed output carries no EXIF.
	_, err := run(t, p, fixture(t, "portrait.jpg"), "imageView2/2/w/100|exif")
	if err == nil || kindOf(t, err) != ufop.KindNotFound {
		t.Fatalf("exif after a step: err %v, want KindNotFound", err)
	}
}

func TestGuards(t *testing.T) {
	land := synth(t, 800, 533, formatJPEG)
	tests := []struct {
		name  string
		mod   func(*Config)
		src   []byte
		query string
		ctx   func() (context.Context, context.CancelFunc)
		kind  ufop.Kind
	}{
		{"source bytes", func(c *Config) { c.MaxSourceBytes = 1000 }, land, "imageInfo", nil, ufop.KindTooLarge},
		{"source pixels", func(c *Config) { c.MaxSourcePixels = 800*533 - 1 }, land, "imageView2/2/w/10", nil, ufop.KindTooLarge},
		{"bomb", nil, fixture(t, "16384x16384.png"), "imageView2/2/w/10", nil, ufop.KindTooLarge},
		{"output side", func(c *Config) { c.MaxOutputSide = 1000 }, land, "imageMogr2/thumbnail/!200p", nil, ufop.KindTooLarge},
		{"output side exact", func(c *Config) { c.MaxOutputSide = 1000 }, land, "imageMogr2/thumbnail/1001x10!", nil, ufop.KindTooLarge},
		{"deadline", nil, land, "imageView2/2/w/10", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), -1)
		}, ufop.KindTimeout},
		{"config deadline", func(c *Config) { c.Deadline = 1 }, land, "imageView2/2/w/10", nil, ufop.KindTimeout},
		{"crop outside", nil, land, "imageMogr2/crop/!10x10a900a0", nil, ufop.KindInvalid},
		{"json then image", nil, land, "imageInfo|imageView2/2/w/10", nil, ufop.KindInvalid},
		{"heic", nil, []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), "imageView2/2/w/10", nil, ufop.KindUnsupported},
		{"garbage", nil, []byte("not an image at all"), "imageInfo", nil, ufop.KindUnsupported},
		{"empty", nil, nil, "imageInfo", nil, ufop.KindUnsupported},
		{"truncated", nil, land[:len(land)/2], "imageView2/2/w/10", nil, ufop.KindCorrupt},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestProcessor(t, nil, tc.mod)
			pl, err := fop.Parse(tc.query, 0)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.Background(), context.CancelFunc(func() {})
			if tc.ctx != nil {
				ctx, cancel = tc.ctx()
			}
			defer cancel()
			_, err = p.Run(ctx, tc.src, pl.Steps)
			if err == nil {
				t.Fatalf("succeeded, want kind %s", tc.kind)
			}
			if k := kindOf(t, err); k != tc.kind {
				t.Fatalf("kind %s, want %s: %v", k, tc.kind, err)
			}
		})
	}
}

func TestRunRejectsUFOPSteps(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	pl, err := fop.Parse("my-ufop/x", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Run(context.Background(), synth(t, 10, 10, formatPNG), pl.Steps); err == nil || kindOf(t, err) != ufop.KindInvalid {
		t.Fatalf("err %v, want KindInvalid", err)
	}
}

// TestDecodeSlots checks that Runs beyond MaxDecodes wait for a slot and
// give up with KindTimeout when their deadline passes first.
func TestDecodeSlots(t *testing.T) {
	p := newTestProcessor(t, nil, func(c *Config) { c.MaxDecodes = 1 })
	p.budget.slots <- struct{}{} // occupy the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 50e6)
	defer cancel()
	pl, _ := fop.Parse("imageView2/2/w/10", 0)
	_, err := p.Run(ctx, synth(t, 20, 20, formatPNG), pl.Steps)
	if err == nil || kindOf(t, err) != ufop.KindTimeout {
		t.Fatalf("err %v, want KindTimeout", err)
	}
	<-p.budget.slots
	if _, err := p.Run(context.Background(), synth(t, 20, 20, formatPNG), pl.Steps); err != nil {
		t.Fatalf("with a free slot: %v", err)
	}
	if len(p.budget.slots) != 0 {
		t.Fatalf("slot not returned: %d held", len(p.budget.slots))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mod := range map[string]func(*Config){
		"bytes":    func(c *Config) { c.MaxSourceBytes = 0 },
		"pixels":   func(c *Config) { c.MaxSourcePixels = -1 },
		"side":     func(c *Config) { c.MaxOutputSide = 0 },
		"pipeline": func(c *Config) { c.MaxPipeline = 0 },
		"budget":   func(c *Config) { c.MaxDecodeBytes = 0 },
		"deadline": func(c *Config) { c.Deadline = 0 },
		"decodes":  func(c *Config) { c.MaxDecodes = 0 },
		"quality":  func(c *Config) { c.DefaultQuality = 101 },
	} {
		c := DefaultConfig()
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: invalid config accepted", name)
		}
		if _, err := New(c, nil, nil); err == nil {
			t.Errorf("%s: New accepted an invalid config", name)
		}
	}
}

func TestInterlace(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	src := fixture(t, "portrait.jpg")
	tests := []struct {
		query       string
		progressive bool
	}{
		{"imageView2/2/w/200", false},
		{"imageView2/2/w/200/interlace/1", true},
		{"imageMogr2/thumbnail/200x/interlace/1", true},
		{"imageMogr2/interlace/1|imageView2/2/w/100", false}, // each step re-encodes
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			res := mustRun(t, p, src, tc.query)
			decodeResult(t, res)
			if got := bytes.Contains(res.Body, []byte{0xff, 0xc2}); got != tc.progressive {
				t.Fatalf("progressive = %v, want %v", got, tc.progressive)
			}
		})
	}
}

// TestConcurrentRuns runs mixed pipelines from many goroutines on one
// Processor with fewer decode slots than goroutines (run it with -race).
func TestConcurrentRuns(t *testing.T) {
	p := newTestProcessor(t, nil, func(c *Config) { c.MaxDecodes = 2 })
	srcs := [][]byte{fixture(t, "portrait.jpg"), fixture(t, "animated.gif"), fixture(t, "paletted-transparent.png")}
	queries := []string{"imageView2/1/w/64/h/64", "imageMogr2/thumbnail/50x/rotate/45|imageInfo", "exif"}
	var steps [][]fop.Step
	for _, q := range queries {
		pl, err := fop.Parse(q, 0)
		if err != nil {
			t.Fatal(err)
		}
		steps = append(steps, pl.Steps)
	}
	errs := make(chan error, 12)
	for i := 0; i < cap(errs); i++ {
		go func() {
			_, err := p.Run(context.Background(), srcs[i%len(srcs)], steps[i/len(srcs)%len(steps)])
			if err != nil && ufop.KindOf(err) != ufop.KindNotFound { // exif of a PNG without EXIF
				errs <- err
				return
			}
			errs <- nil
		}()
	}
	for i := 0; i < cap(errs); i++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if len(p.budget.slots) != 0 {
		t.Fatalf("%d decode slots still held", len(p.budget.slots))
	}
}

// TestViewOrientations checks that imageView2 on a source with each EXIF
// orientation gives the same picture as on the upright source: the op
// resizes in the stored orientation and turns the result.
func TestViewOrientations(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	upright := synthImage(90, 60)
	// unorient[o] turns the upright picture into what a camera stores
	// with orientation o (the inverse of orient).
	unorient := map[int]int{1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
	for _, q := range []string{"imageView2/1/w/40/h/30", "imageMogr2/auto-orient/thumbnail/40x", "imageMogr2/auto-orient/crop/60x40"} {
		want := decodeResult(t, mustRun(t, p, encodePNG(t, upright), q))
		for o := 1; o <= 8; o++ {
			src := withOrientation(t, orient(upright, unorient[o]), o)
			got := decodeResult(t, mustRun(t, p, src, q))
			if got.Bounds().Size() != want.Bounds().Size() {
				t.Fatalf("%s, orientation %d: size %v, want %v", q, o, got.Bounds().Size(), want.Bounds().Size())
			}
			if d := perceptualDistance(got, want); d > 6 {
				t.Errorf("%s, orientation %d: %.1f levels from the upright result", q, o, d)
			}
		}
	}
}

// synthImage is the picture synth encodes.
func synthImage(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.NRGBA{uint8(255 * x / w), uint8(255 * y / h), 128, 255}
			if x < w/3 && y < h/3 {
				c = color.NRGBA{250, 250, 20, 255}
			}
			img.SetNRGBA(x, y, c)
		}
	}
	return img
}

func encodePNG(t testing.TB, img image.Image) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// withOrientation encodes img as a JPEG with an EXIF orientation tag.
func withOrientation(t testing.TB, img image.Image, o int) []byte {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	tiff := []byte("MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
	tiff[19] = byte(o)
	app1 := append([]byte{0xff, 0xe1, 0, byte(2 + 6 + len(tiff))}, "Exif\x00\x00"...)
	app1 = append(app1, tiff...)
	b := buf.Bytes()
	return append(append(append([]byte{}, b[:2]...), app1...), b[2:]...)
}

// TestShrinkOnLoad checks that the first step's needs reach the JPEG
// decoder: the decode is smaller than the source but still at least what
// the step needs, and steps that need full size get it.
func TestShrinkOnLoad(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	large, small := fixture(t, "9643x10328.jpg"), fixture(t, "portrait.jpg")
	tests := []struct {
		query        string
		needW, needH int  // in stored coordinates
		full         bool // the step needs the full-size pixels
	}{
		{"imageView2/2/w/500/h/500", 467, 500, false},
		{"imageView2/1/w/200/h/200", 200, 214, false},
		{"imageMogr2/thumbnail/300x", 300, 321, false},
		{"imageMogr2/auto-orient/thumbnail/x300", 280, 300, false},
		{"imageMogr2/crop/100x100", 0, 0, true},
		{"imageMogr2/thumbnail/2000x2000<", 0, 0, true},
		{"exif", 0, 0, true},
	}
	for _, tc := range tests {
		src := large
		if tc.full {
			src = small // a full decode of the large one costs seconds
		}
		t.Run(tc.query, func(t *testing.T) {
			pl, err := fop.Parse(tc.query, 0)
			if err != nil {
				t.Fatal(err)
			}
			h, err := probe(src)
			if err != nil {
				t.Fatal(err)
			}
			f := &frame{p: p, src: src, srcHeader: h}
			defer f.release()
			if err := f.decode(context.Background(), opsOf(t, pl.Steps)[0], false); err != nil {
				t.Fatal(err)
			}
			b := f.img.Bounds()
			if tc.full {
				if b.Dx() != h.width || b.Dy() != h.height || f.logical != (image.Point{}) {
					t.Fatalf("decoded %v (logical %v), want full size", b.Size(), f.logical)
				}
				return
			}
			if b.Dx() >= h.width || b.Dx() < tc.needW || b.Dy() < tc.needH {
				t.Fatalf("decoded %v, want smaller than %dx%d and at least %dx%d", b.Size(), h.width, h.height, tc.needW, tc.needH)
			}
			if f.logical != (image.Point{X: h.width, Y: h.height}) {
				t.Fatalf("logical size %v, want the source's", f.logical)
			}
		})
	}
}

// TestBackgroundPerStep checks that a JPEG step's background fills its
// transparent corners before later steps run.
func TestBackgroundPerStep(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	src := synth(t, 100, 100, formatPNG)
	blue := b64url("#0000FF")
	img := decodeResult(t, mustRun(t, p, src, "imageMogr2/rotate/45/background/"+blue+"/format/jpg|imageView2/2/w/70"))
	c := color.NRGBAModel.Convert(img.At(img.Bounds().Min.X+1, img.Bounds().Min.Y+1)).(color.NRGBA)
	if c.B < 200 || c.R > 60 || c.G > 60 {
		t.Fatalf("corner %v, want the first step's blue background", c)
	}
}
