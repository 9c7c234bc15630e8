package images

import (
	"context"
	"image"
	"image/color"
	"math"
	"strings"

	"github.com/disintegration/imaging"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// mogrOp runs imageMogr2: its actions in order, with its output settings.
type mogrOp struct {
	fop.ImageMogr2
	actions []mogrAction
}

// mogrAction is one transform of an imageMogr2 step.
type mogrAction interface {
	String() string
	apply(f *frame) error
	// outSize is apply's geometry (see op.outSize); auto-orient is
	// handled by mogrOp.outSize, which tracks the orientation.
	outSize(w, h int, check sizeCheck) (int, int, error)
}

func newMogrOp(p *fop.ImageMogr2) (*mogrOp, error) {
	m := &mogrOp{ImageMogr2: *p}
	for _, a := range p.Actions {
		var ma mogrAction
		switch a := a.(type) {
		case fop.AutoOrient:
			ma = autoOrientAction{}
		case fop.Thumbnail:
			ma = thumbnail{a}
		case fop.Crop:
			ma = cropAction{a}
		case fop.Rotate:
			ma = rotateAction{a}
		case fop.Blur:
			ma = blurAction{a}
		default:
			return nil, ufop.Errorf(ufop.KindInternal, "images: no action runs imageMogr2's %T", a)
		}
		m.actions = append(m.actions, ma)
	}
	return m, nil
}

func (m *mogrOp) name() string   { return "imageMogr2" }
func (m *mogrOp) animates()      {}
func (m *mogrOp) orientsItself() {}

func (m *mogrOp) outputFormat() string { return m.Output.Format }

// need lets a leading thumbnail (after auto-orient or nothing else) work
// from a shrunk decode.
func (m *mogrOp) need(w, h, orient int) (int, int) {
	swapped := false
	for _, a := range m.actions {
		switch a := a.(type) {
		case autoOrientAction:
			if orient >= 5 && orient <= 8 {
				swapped = !swapped
				w, h = h, w
			}
		case thumbnail:
			tw, th := a.size(w, h)
			if tw >= w || th >= h {
				tw, th = w, h
			}
			if swapped {
				tw, th = th, tw
			}
			return tw, th
		default:
			// Crops and rotations depend on the full-size pixel grid.
			if swapped {
				return h, w
			}
			return w, h
		}
	}
	if swapped {
		return h, w
	}
	return w, h
}

func (m *mogrOp) outSize(w, h, orient int, check sizeCheck) (int, int, error) {
	for _, a := range m.actions {
		if _, ok := a.(autoOrientAction); ok {
			if orient >= 5 && orient <= 8 {
				w, h = h, w
			}
			orient = 1
			continue
		}
		var err error
		if w, h, err = a.outSize(w, h, check); err != nil {
			return 0, 0, err
		}
	}
	return w, h, nil
}

func (m *mogrOp) apply(ctx context.Context, f *frame) error {
	applyOutput(m.Output, f)
	if m.Background != nil {
		f.out.background = color.NRGBA(*m.Background)
	}
	for i := 0; i < len(m.actions); i++ {
		if err := ctx.Err(); err != nil {
			return deadlineError(err, "imageMogr2")
		}
		if t, ok := nextThumbnail(m.actions, i); ok && f.orient > 1 {
			// auto-orient then thumbnail: resize in the stored orientation
			// and turn the small result, which keeps JPEG planes on the
			// fast path (the two commute).
			if err := t.applyOriented(f); err != nil {
				return err
			}
			i++
			continue
		}
		if err := m.actions[i].apply(f); err != nil {
			return err
		}
	}
	if f.logical != (image.Point{}) {
		// No thumbnail consumed the shrunk decode (need said so only when
		// one leads); restore the promised size.
		w, h := f.size()
		return f.eachFrame(func(img image.Image) (image.Image, error) { return resample(img, w, h), nil })
	}
	return nil
}

// nextThumbnail reports whether actions[i] is auto-orient directly
// followed by a thumbnail, and returns that thumbnail.
func nextThumbnail(actions []mogrAction, i int) (thumbnail, bool) {
	if _, ok := actions[i].(autoOrientAction); !ok || i+1 >= len(actions) {
		return thumbnail{}, false
	}
	t, ok := actions[i+1].(thumbnail)
	return t, ok
}

// autoOrientAction applies the EXIF orientation.
type autoOrientAction struct{}

func (autoOrientAction) String() string                                  { return fop.AutoOrient{}.String() }
func (autoOrientAction) outSize(w, h int, _ sizeCheck) (int, int, error) { return w, h, nil }
func (autoOrientAction) apply(f *frame) error {
	f.autoOrient()
	return nil
}

// thumbnail runs imageMogr2/thumbnail/<geometry>.
type thumbnail struct{ fop.Thumbnail }

// size computes the thumbnail of a w x h image.
func (t thumbnail) size(w, h int) (int, int) {
	fw, fh := float64(w), float64(h)
	fit := func() float64 { return math.Min(float64(t.A)/fw, float64(t.B)/fh) }
	switch t.Kind {
	case fop.ThumbPercent:
		return scaled(w, float64(t.A)/100), scaled(h, float64(t.A)/100)
	case fop.ThumbPercentW:
		return scaled(w, float64(t.A)/100), h
	case fop.ThumbPercentH:
		return w, scaled(h, float64(t.A)/100)
	case fop.ThumbWidth:
		return t.A, scaled(h, float64(t.A)/fw)
	case fop.ThumbHeight:
		return scaled(w, float64(t.B)/fh), t.B
	case fop.ThumbFit:
		s := fit()
		return scaled(w, s), scaled(h, s)
	case fop.ThumbFill:
		s := math.Max(float64(t.A)/fw, float64(t.B)/fh)
		return scaled(w, s), scaled(h, s)
	case fop.ThumbExact:
		return t.A, t.B
	case fop.ThumbShrink:
		if s := fit(); s < 1 {
			return scaled(w, s), scaled(h, s)
		}
	case fop.ThumbEnlarge:
		if s := fit(); s > 1 {
			return scaled(w, s), scaled(h, s)
		}
	case fop.ThumbArea:
		if int64(w)*int64(h) > int64(t.A) {
			return areaFit(w, h, t.A)
		}
	}
	return w, h
}

// areaFit is the largest size of about w:h with at most area pixels
// (Qiniu's <area>@ never exceeds the area, so rounding must not go up):
// each side is its ideal length rounded down or up, the ideal being the
// exact w:h size of area pixels, and the largest such size that fits wins.
// A side whose ideal is under 1 px stays 1 px and the other takes the area.
func areaFit(w, h, area int) (int, int) {
	s := math.Sqrt(float64(area) / (float64(w) * float64(h)))
	iw, ih := int(float64(w)*s), int(float64(h)*s)
	bw, bh := 0, 0
	for _, x := range []int{iw, iw + 1} {
		for _, y := range []int{ih, ih + 1} {
			x, y := max(1, min(x, w)), max(1, min(y, h))
			if x*y > area {
				switch {
				case x == 1:
					y = area
				case y == 1:
					x = area
				default:
					continue
				}
			}
			if x*y > bw*bh || x*y == bw*bh && aspectError(x, y, w, h) < aspectError(bw, bh, w, h) {
				bw, bh = x, y
			}
		}
	}
	return bw, bh
}

// aspectError is how far x:y is from w:h, as a log ratio.
func aspectError(x, y, w, h int) float64 {
	return math.Abs(math.Log(float64(x) * float64(h) / (float64(y) * float64(w))))
}

// applyOriented is auto-orient followed by t, resizing before orienting.
func (t thumbnail) applyOriented(f *frame) error {
	o := f.orient
	f.orient = 1
	w, h := f.size()
	if o >= 5 {
		w, h = h, w
	}
	tw, th := t.size(w, h) // upright; Processor.plan checked the size
	if o >= 5 {
		tw, th = th, tw
	}
	return f.eachFrame(func(img image.Image) (image.Image, error) { return orient(resample(img, tw, th), o), nil })
}

func (t thumbnail) outSize(w, h int, check sizeCheck) (int, int, error) {
	tw, th := t.size(w, h)
	return tw, th, check("imageMogr2: "+t.String(), tw, th)
}

func (t thumbnail) apply(f *frame) error {
	w, h := f.size()
	tw, th := t.size(w, h) // Processor.plan checked the size
	return f.eachFrame(func(img image.Image) (image.Image, error) { return resample(img, tw, th), nil })
}

// anchor returns the top-left corner of a w x h box placed by g in
// a W x H area.
func anchor(g fop.Gravity, W, H, w, h int) (int, int) {
	var x, y int
	switch g % 3 {
	case 1:
		x = (W - w) / 2
	case 2:
		x = W - w
	}
	switch g / 3 {
	case 1:
		y = (H - h) / 2
	case 2:
		y = H - h
	}
	return x, y
}

// cropAction runs imageMogr2/crop/<geometry>.
type cropAction struct{ fop.Crop }

// rect places the crop in a w x h image; ok is false when it misses it.
func (c cropAction) rect(w, h int) (image.Rectangle, bool) {
	cw, ch := c.W, c.H
	if cw == 0 || cw > w {
		cw = w
	}
	if ch == 0 || ch > h {
		ch = h
	}
	x, y := anchor(c.Gravity, w, h, cw, ch)
	r := image.Rect(x+c.DX, y+c.DY, x+c.DX+cw, y+c.DY+ch).Intersect(image.Rect(0, 0, w, h))
	return r, !r.Empty()
}

func (c cropAction) outSize(w, h int, _ sizeCheck) (int, int, error) {
	r, ok := c.rect(w, h)
	if !ok {
		return 0, 0, c.outside(w, h)
	}
	return r.Dx(), r.Dy(), nil
}

func (c cropAction) outside(w, h int) error {
	return ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter crop: %s lies outside the %dx%d image", strings.TrimPrefix(c.String(), "crop/"), w, h)
}

func (c cropAction) apply(f *frame) error {
	w, h := f.size()
	r, ok := c.rect(w, h)
	if !ok {
		return c.outside(w, h)
	}
	return f.eachFrame(func(img image.Image) (image.Image, error) { return cropRect(img, r), nil })
}

// rotateAction runs imageMogr2/rotate/<deg>, clockwise; corners that the
// rotation uncovers are transparent (the background for formats without
// alpha).
type rotateAction struct{ fop.Rotate }

func (r rotateAction) outSize(w, h int, check sizeCheck) (int, int, error) {
	nw, nh := rotatedSize(w, h, r.Deg)
	return nw, nh, check("imageMogr2: "+r.String(), nw, nh)
}

// apply turns the pixels; Processor.plan checked the bounding box.
func (r rotateAction) apply(f *frame) error {
	return f.eachFrame(func(img image.Image) (image.Image, error) {
		switch r.Deg {
		case 90:
			return imaging.Rotate270(img), nil // imaging turns counter-clockwise
		case 180:
			return imaging.Rotate180(img), nil
		case 270:
			return imaging.Rotate90(img), nil
		}
		return imaging.Rotate(img, float64(360-r.Deg), color.Transparent), nil
	})
}

// blurAction runs imageMogr2/blur/<radius>x<sigma>.
type blurAction struct{ fop.Blur }

// apply blurs with a Gaussian of the given sigma. The radius is validated
// and kept in the normalized form for Qiniu compatibility, but imaging's
// kernel always spans 3 sigma, which is what the radius usually is.
func (b blurAction) outSize(w, h int, _ sizeCheck) (int, int, error) { return w, h, nil }

func (b blurAction) apply(f *frame) error {
	return f.eachFrame(func(img image.Image) (image.Image, error) { return imaging.Blur(img, b.Sigma), nil })
}
