package images

import (
	"context"
	"image"
	"image/color"
	"math"

	"github.com/disintegration/imaging"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// watermarkOp runs watermark: draws its marks in order.
type watermarkOp struct{ fop.Watermark }

func (o *watermarkOp) name() string { return "watermark" }

// animates: an animated GIF keeps its frames, each watermarked.
func (o *watermarkOp) animates() {}

var _ animator = (*watermarkOp)(nil)

// outSize: marks are drawn onto the image, which keeps its size.
func (o *watermarkOp) outSize(w, h, _ int, _ sizeCheck) (int, int, error) { return w, h, nil }

func (o *watermarkOp) apply(ctx context.Context, f *frame) error {
	// Load and render every mark once, whatever the number of frames.
	width := f.img.Bounds().Dx()
	marks := make([]*image.NRGBA, len(o.Marks))
	for i := range o.Marks {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := &o.Marks[i]
		var err error
		if m.Kind == fop.MarkImage {
			marks[i], err = loadMarkImage(ctx, f, m, width)
		} else {
			marks[i], err = renderMarkText(f, m)
		}
		if err != nil {
			return err
		}
	}
	return f.eachFrame(func(img image.Image) (image.Image, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Draw on a copy: the frame's pixels may be shared with a decoder
		// cache, and a copy is needed anyway to get NRGBA.
		base := imaging.Clone(img)
		for i, m := range o.Marks {
			drawWatermark(base, marks[i], m.Gravity, m.DX, m.DY, m.Dissolve)
		}
		return base, nil
	})
}

// loadMarkImage fetches the mark's image through the Processor's loader and
// scales it for ws.
func loadMarkImage(ctx context.Context, f *frame, m *fop.Mark, baseWidth int) (*image.NRGBA, error) {
	img, err := f.p.loadImage(ctx, m.Ref)
	if err != nil {
		// Keep the loader's kind (404, 413, 415...) and say which parameter.
		return nil, &ufop.Error{Kind: ufop.KindOf(err), Msg: "watermark: parameter image: " + ufop.Message(err), Err: err}
	}
	if m.WS == 0 {
		return imaging.Clone(img), nil
	}
	b := img.Bounds()
	w := max(1, int(math.Round(m.WS*float64(baseWidth))))
	h := max(1, int(math.Round(float64(w)*float64(b.Dy())/float64(b.Dx()))))
	if limit := f.p.cfg.MaxOutputSide; limit > 0 && h > limit {
		return nil, ufop.Errorf(ufop.KindTooLarge, "watermark: parameter ws: the scaled mark would be %d px tall, over the output limit of %d px", h, limit)
	}
	if px := int64(w) * int64(h); px > f.p.cfg.MaxOutputPixels {
		// A tall mark scaled to a wide image: its size is only known now.
		return nil, ufop.Errorf(ufop.KindTooLarge, "watermark: parameter ws: the scaled mark would be %dx%d (%s megapixels), over the limit of %s megapixels",
			w, h, megapixels(px), megapixels(f.p.cfg.MaxOutputPixels))
	}
	return imaging.Resize(img, w, h, imaging.Lanczos), nil
}

// renderMarkText rasterizes a text mark with its font, falling back to an
// installed font for characters the chosen one lacks.
func renderMarkText(f *frame, m *fop.Mark) (*image.NRGBA, error) {
	px := float64(m.FontSize) / 20 // twips → points, and 1 pt = 1 px at 72 dpi
	runs, err := f.p.fonts.layout(f.p.cfg.FontDirs, m.Text, m.Font)
	if err != nil {
		return nil, err
	}
	return renderText(runs, px, color.NRGBA(m.Fill), f.p.cfg.MaxOutputSide)
}

// drawWatermark composites mark over dst at the position given by gravity
// and the offsets, with dissolve percent opacity. Parts outside dst are
// clipped.
func drawWatermark(dst, mark *image.NRGBA, g fop.Gravity, dx, dy, dissolve int) {
	db, mb := dst.Bounds(), mark.Bounds()
	x, y := markOrigin(db, mb.Dx(), mb.Dy(), g, dx, dy)
	r := image.Rect(x, y, x+mb.Dx(), y+mb.Dy()).Intersect(db)
	if r.Empty() || dissolve <= 0 {
		return
	}
	op := uint32(min(dissolve, 100))
	for py := r.Min.Y; py < r.Max.Y; py++ {
		di := dst.PixOffset(r.Min.X, py)
		si := mark.PixOffset(mb.Min.X+r.Min.X-x, mb.Min.Y+py-y)
		for px := r.Min.X; px < r.Max.X; px, di, si = px+1, di+4, si+4 {
			s := mark.Pix[si : si+4 : si+4]
			d := dst.Pix[di : di+4 : di+4]
			sa := uint32(s[3]) * op / 100
			switch {
			case sa == 0:
				continue
			case sa == 255:
				d[0], d[1], d[2], d[3] = s[0], s[1], s[2], 255
				continue
			}
			// Porter-Duff "over" on non-premultiplied colour, scaled by 255.
			dw := uint32(d[3]) * (255 - sa)
			a := sa*255 + dw
			for c := 0; c < 3; c++ {
				d[c] = uint8((uint32(s[c])*sa*255 + uint32(d[c])*dw + a/2) / a)
			}
			d[3] = uint8((a + 127) / 255)
		}
	}
}

// markOrigin returns the top-left corner of a w x h mark on an image with
// bounds b.
func markOrigin(b image.Rectangle, w, h int, g fop.Gravity, dx, dy int) (int, int) {
	var x, y int
	switch g.Column() {
	case -1:
		x = b.Min.X + dx
	case 0:
		x = b.Min.X + (b.Dx()-w)/2
	default:
		x = b.Max.X - w - dx
	}
	switch g.Row() {
	case -1:
		y = b.Min.Y + dy
	case 0:
		y = b.Min.Y + (b.Dy()-h)/2
	default:
		y = b.Max.Y - h - dy
	}
	return x, y
}
