package images

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// Loader fetches the bytes of an image reference named in a fop (watermark
// images): "bucket:key" or a URL of the same platform.
type Loader interface {
	Load(ctx context.Context, ref string) ([]byte, error)
}

// Result is the output of a Run.
type Result struct {
	Body        []byte
	ContentType string
	// Header holds extra response headers (X-Ufop-Facecrop).
	Header http.Header
	// Decode, Process and Encode split the Run's time, for latency
	// histograms.
	Decode, Process, Encode time.Duration
}

// Processor runs built-in steps. It is safe for concurrent use; at most
// Config.MaxDecodes Runs, and Config.MaxDecodeBytes of estimated pixels,
// are held decoded at once.
type Processor struct {
	cfg    Config
	loader Loader
	log    *slog.Logger
	// budget admits Runs to hold decoded pixels.
	budget *decodeBudget
	// faces is facecrop's detector and fonts watermark's font index, both
	// built on first use and shared by all Runs.
	faces faceDetector
	fonts fontLibrary
}

// New returns a Processor. loader may be nil, in which case steps that
// reference other images fail with KindInvalid; logger may be nil.
func New(cfg Config, loader Loader, logger *slog.Logger) (*Processor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Processor{cfg: cfg, loader: loader, log: logger, budget: newDecodeBudget(cfg)}, nil
}

// Run applies consecutive built-in steps to src (encoded bytes) and returns
// the encoded result. The Config's Deadline applies on top of ctx's. Errors
// are *ufop.Error; a decoder or encoder panic becomes KindCorrupt.
func (p *Processor) Run(ctx context.Context, src []byte, steps []fop.Step) (res *Result, err error) {
	if len(steps) == 0 {
		return nil, ufop.Errorf(ufop.KindInvalid, "no processing step given")
	}
	ops, err := compile(steps)
	if err != nil {
		return nil, err
	}
	if int64(len(src)) > p.cfg.MaxSourceBytes {
		return nil, ufop.Errorf(ufop.KindTooLarge, "the source is %s, over the %s limit", ufop.FormatBytes(int64(len(src))), ufop.FormatBytes(p.cfg.MaxSourceBytes))
	}
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Deadline)
	defer cancel()

	start := time.Now()
	f := &frame{p: p, header: http.Header{}, src: src}
	res = &Result{Header: f.header}
	defer func() {
		if r := recover(); r != nil {
			p.log.Error("images: panic while processing", "panic", r, "steps", stepsString(steps), "stack", string(debug.Stack()))
			res, err = nil, ufop.Errorf(ufop.KindCorrupt, "the source image could not be processed (it is probably corrupt)")
		}
	}()
	defer f.release()

	f.srcHeader, err = probe(src)
	if err != nil {
		return nil, err
	}
	f.out = output{format: f.srcHeader.format, background: white()}
	if !encodable(f.out.format) {
		f.out.format = formatPNG
	}
	keepFrames := p.keepsFrames(f.srcHeader.format, ops)
	// Every size the steps would make is known from the header: refuse
	// oversized requests before spending a decode on them.
	f.srcOrient = readOrientation(src, f.srcHeader.format)
	frames := 1
	if keepFrames {
		frames = animatedFrames(src, f.srcHeader, p.cfg.MaxSourcePixels)
	}
	if _, _, err := p.plan(f.srcHeader, f.srcOrient, frames, ops); err != nil {
		return nil, err
	}

	for i, o := range ops {
		if err := ctx.Err(); err != nil {
			return nil, deadlineError(err, o.name())
		}
		if f.body != nil {
			return nil, ufop.Errorf(ufop.KindInvalid, "%s answers JSON, so it must be the last built-in step of the pipeline (only a UFOP may follow it)", ops[i-1].name())
		}
		if _, ok := o.(describer); !ok && f.img == nil {
			t := time.Now()
			if err := f.decode(ctx, o, keepFrames); err != nil {
				return nil, err
			}
			res.Decode += time.Since(t)
			if err := ctx.Err(); err != nil {
				return nil, deadlineError(err, o.name())
			}
		}
		if f.img != nil {
			if _, ok := o.(ownOrientation); !ok {
				f.autoOrient()
			}
			if _, ok := o.(animator); !ok {
				f.anim = nil
			}
		}
		// Each step's output is a new encoding: quality, interlace and
		// background are its own; the format carries over as the input's.
		f.out.quality, f.out.progressive, f.out.background = 0, false, white()
		if err := o.apply(ctx, f); err != nil {
			var ue *ufop.Error
			if ctx.Err() != nil && !errors.As(err, &ue) {
				return nil, deadlineError(ctx.Err(), o.name())
			}
			return nil, err
		}
		// The output of a step carries no EXIF: later steps see it upright.
		f.orient = 1
		if i < len(steps)-1 && f.img != nil && f.out.format == formatJPEG {
			// A JPEG step output has no alpha: later steps must see its
			// transparent areas filled with this step's background.
			bg := f.out.background
			f.eachFrameKeepLogical(func(m image.Image) image.Image { return opaque(m, bg) })
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, deadlineError(err, "encode")
	}
	if f.body != nil {
		res.Body, res.ContentType = f.body, f.contentType
	} else {
		t := time.Now()
		res.Body, err = f.encode()
		if err != nil {
			return nil, err
		}
		res.Encode = time.Since(t)
		res.ContentType = contentTypes[f.out.format]
	}
	res.Process = time.Since(start) - res.Decode - res.Encode
	return res, nil
}

// describer is implemented by steps that read the encoded image rather
// than pixels (imageInfo, exif): a Run does not decode for them.
type describer interface {
	describes()
}

// keepsFrames reports whether a Run of steps on a source of format keeps
// all frames of an animated GIF: every step transforms all frames and the
// output is still a GIF.
func (p *Processor) keepsFrames(format string, ops []op) bool {
	if format != formatGIF {
		return false
	}
	out := formatGIF
	for _, o := range ops {
		if _, ok := o.(animator); !ok {
			return false
		}
		if fo, ok := o.(interface{ outputFormat() string }); ok && fo.outputFormat() != "" {
			out = fo.outputFormat()
		}
	}
	return out == formatGIF
}

// deadlineError turns a context error into the error a user sees.
func deadlineError(err error, step string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return ufop.Errorf(ufop.KindTimeout, "%s: the processing deadline passed", step)
	}
	return ufop.Errorf(ufop.KindUnavailable, "%s: the request was canceled", step)
}

func stepsString(steps []fop.Step) string {
	return fop.Pipeline{Steps: steps}.String()
}

// checkOutput refuses output sizes over the configured side limit (the
// final check of Processor.plan).
func (p *Processor) checkOutput(step string, w, h int) error {
	if w > p.cfg.MaxOutputSide || h > p.cfg.MaxOutputSide {
		return ufop.Errorf(ufop.KindTooLarge, "%s: the output would be %dx%d, over the limit of %d pixels a side", step, w, h, p.cfg.MaxOutputSide)
	}
	if w <= 0 || h <= 0 {
		return ufop.Errorf(ufop.KindInvalid, "%s: the output would be empty (%dx%d)", step, w, h)
	}
	return nil
}

// checkPixels refuses sources over the pixel limit, from their header.
func (p *Processor) checkPixels(h header) error {
	if int64(h.width)*int64(h.height) > p.cfg.MaxSourcePixels {
		return ufop.Errorf(ufop.KindTooLarge, "the source image is %dx%d (%.1f megapixels), over the limit of %.1f megapixels",
			h.width, h.height, float64(h.width)*float64(h.height)/1e6, float64(p.cfg.MaxSourcePixels)/1e6)
	}
	return nil
}

// decode decodes the frame's source for its first pixel step o, taking a
// decode slot that release returns.
func (f *frame) decode(ctx context.Context, o op, keepFrames bool) error {
	h := f.srcHeader
	if err := f.p.checkPixels(h); err != nil {
		return err
	}
	f.orient = f.srcOrient
	minW, minH := 0, 0
	if s, ok := o.(shrinker); ok && h.format == formatJPEG {
		minW, minH = s.need(h.width, h.height, f.orient)
		if minW >= h.width && minH >= h.height {
			minW, minH = 0, 0
		}
	}
	frames := 1
	if keepFrames {
		frames = animatedFrames(f.src, h, f.p.cfg.MaxSourcePixels)
	}
	est := decodeEstimate(h, minW, minH, frames, h.format == formatJPEG && jpegProgressive(f.src))
	n, err := f.p.budget.acquire(ctx, est)
	if err != nil {
		return err
	}
	f.holding = n
	if keepFrames {
		a, err := decodeGIFAll(f.src, h, f.p.cfg.MaxSourcePixels)
		if err != nil {
			return err
		}
		if a != nil {
			f.anim = a
			f.img = a.frames[0]
			return nil
		}
	}
	img, err := decodePixels(f.src, h, minW, minH)
	if err != nil {
		return err
	}
	f.img = img
	if b := img.Bounds(); b.Dx() != h.width || b.Dy() != h.height {
		f.logical = image.Point{X: h.width, Y: h.height}
	}
	return nil
}

// release returns the frame's decode slot, if it holds one.
func (f *frame) release() {
	if f.holding > 0 {
		f.p.budget.release(f.holding)
		f.holding = 0
	}
}

// encode writes the frame's image in its output format.
func (f *frame) encode() ([]byte, error) {
	if f.anim != nil && f.out.format == formatGIF && len(f.anim.frames) > 1 {
		return encodeGIFAll(f.anim)
	}
	return encodeImage(f.img, f.out, f.p.cfg.DefaultQuality)
}

// encoded returns the frame as encoded bytes with their header: the source
// itself when no step has touched the pixels.
func (f *frame) encoded() ([]byte, header, error) {
	if f.img == nil {
		return f.src, f.srcHeader, nil
	}
	b, err := f.encode()
	if err != nil {
		return nil, header{}, err
	}
	h, err := probe(b)
	return b, h, err
}

// loadImage fetches ref ("bucket:key" or a URL) through the Loader and
// decodes it, upright, with the same guards as sources. It runs inside a
// Run, which already holds a decode slot, so it takes none.
func (p *Processor) loadImage(ctx context.Context, ref string) (image.Image, error) {
	if p.loader == nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "image %q cannot be loaded: this processor has no image loader", ref)
	}
	data, err := p.loader.Load(ctx, ref)
	if err != nil {
		var ue *ufop.Error
		if errors.As(err, &ue) {
			return nil, err
		}
		// The loader's text may name internal addresses: keep it for logs only.
		return nil, &ufop.Error{Kind: ufop.KindUpstream, Msg: fmt.Sprintf("image %q could not be loaded", ref), Err: err}
	}
	if int64(len(data)) > p.cfg.MaxSourceBytes {
		return nil, ufop.Errorf(ufop.KindTooLarge, "image %q is %s, over the %s limit", ref, ufop.FormatBytes(int64(len(data))), ufop.FormatBytes(p.cfg.MaxSourceBytes))
	}
	h, err := probe(data)
	if err != nil {
		return nil, err
	}
	if err := p.checkPixels(h); err != nil {
		return nil, err
	}
	img, err := decodePixels(data, h, 0, 0)
	if err != nil {
		return nil, err
	}
	return orient(img, readOrientation(data, h.format)), nil
}
