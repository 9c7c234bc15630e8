package images

import (
	"context"
	"image"
	"math"

	"github.com/ufop/ufop/fop"
)

// viewOp runs imageView2.
type viewOp struct{ fop.ImageView2 }

func (v *viewOp) name() string { return "imageView2" }

// plan computes, for a source of sw x sh, the size to resample to and the
// centred crop to take from it (cw, ch == rw, rh when there is none).
func (v *viewOp) plan(sw, sh int) (rw, rh, cw, ch int) {
	w, h := v.W, v.H
	if w == 0 && h == 0 {
		return sw, sh, sw, sh
	}
	fw, fh := float64(sw), float64(sh)
	long, short := fw, fh
	if sh > sw {
		long, short = fh, fw
	}
	// ratio(limit, side) is the scale that brings side to limit; a missing
	// limit is +Inf for the "max" modes (unbounded) and mirrors the other
	// limit for the "min" modes (square).
	min := v.Mode == 1 || v.Mode == 3 || v.Mode == 4 || v.Mode == 5
	if min {
		if w == 0 {
			w = h
		}
		if h == 0 {
			h = w
		}
	}
	ratio := func(limit int, side float64) float64 {
		if limit == 0 {
			return math.Inf(1)
		}
		return float64(limit) / side
	}
	var scale float64
	switch v.Mode {
	case 0: // long edge <= w, short edge <= h
		scale = math.Min(ratio(w, long), ratio(h, short))
	case 2: // within the w x h box
		scale = math.Min(ratio(w, fw), ratio(h, fh))
	case 1, 3: // covers the w x h box
		scale = math.Max(ratio(w, fw), ratio(h, fh))
	case 4, 5: // long edge >= w, short edge >= h
		scale = math.Max(ratio(w, long), ratio(h, short))
	}
	if scale > 1 {
		scale = 1
	}
	rw, rh = scaled(sw, scale), scaled(sh, scale)
	cw, ch = rw, rh
	switch v.Mode {
	case 1:
		cw, ch = minInt(w, rw), minInt(h, rh)
	case 5:
		if sw >= sh {
			cw, ch = minInt(w, rw), minInt(h, rh)
		} else {
			cw, ch = minInt(h, rw), minInt(w, rh)
		}
	}
	return rw, rh, cw, ch
}

func (v *viewOp) outSize(w, h, orient int, _ sizeCheck) (int, int, error) {
	if orient >= 5 && orient <= 8 {
		w, h = h, w
	}
	_, _, cw, ch := v.plan(w, h) // never larger than w x h
	return cw, ch, nil
}

// need is the smallest decode that gives the same output (shrink-on-load).
// imageView2 sees the source upright, so the plan is made in oriented
// coordinates and turned back.
func (v *viewOp) need(w, h, orient int) (int, int) {
	if orient >= 5 && orient <= 8 {
		rh, rw, _, _ := v.plan(h, w)
		return rw, rh
	}
	rw, rh, _, _ := v.plan(w, h)
	return rw, rh
}

// Compile-time checks that the ops implement the optional interfaces the
// Processor looks for.
var (
	_ shrinker       = (*viewOp)(nil)
	_ animator       = (*viewOp)(nil)
	_ ownOrientation = (*viewOp)(nil)
	_ shrinker       = (*mogrOp)(nil)
	_ animator       = (*mogrOp)(nil)
)

func (v *viewOp) animates()            {}
func (v *viewOp) outputFormat() string { return v.Output.Format }

// apply resamples in the stored orientation and orients the (small)
// result: resizing and centre-cropping commute with the EXIF transforms,
// and this keeps JPEG planes on the fast path.
func (v *viewOp) apply(ctx context.Context, f *frame) error {
	applyOutput(v.Output, f)
	o := f.orient
	f.orient = 1
	if o < 1 || o > 8 {
		o = 1
	}
	sw, sh := f.size() // stored orientation
	if o >= 5 {
		sw, sh = sh, sw
	}
	rw, rh, cw, ch := v.plan(sw, sh) // upright; Processor.plan checked the size
	crop := image.Rect((rw-cw)/2, (rh-ch)/2, (rw-cw)/2+cw, (rh-ch)/2+ch)
	if o >= 5 {
		rw, rh = rh, rw
	}
	crop = storedRect(o, crop, rw, rh)
	return f.eachFrame(func(img image.Image) (image.Image, error) {
		return orient(resampleRect(img, rw, rh, crop), o), nil
	})
}

func (v *viewOp) orientsItself() {}

// storedRect maps a rectangle of an upright image to the stored image
// that EXIF orientation o turns upright; w, h is the stored image's size.
func storedRect(o int, r image.Rectangle, w, h int) image.Rectangle {
	x0, x1, y0, y1 := r.Min.X, r.Max.X, r.Min.Y, r.Max.Y
	switch o {
	case 2: // mirrored horizontally
		return image.Rect(w-x1, y0, w-x0, y1)
	case 3: // rotated 180
		return image.Rect(w-x1, h-y1, w-x0, h-y0)
	case 4: // mirrored vertically
		return image.Rect(x0, h-y1, x1, h-y0)
	case 5: // transposed
		return image.Rect(y0, x0, y1, x1)
	case 6: // upright = stored turned 90 clockwise
		return image.Rect(y0, h-x1, y1, h-x0)
	case 7: // transversed
		return image.Rect(w-y1, h-x1, w-y0, h-x0)
	case 8: // upright = stored turned 90 counter-clockwise
		return image.Rect(w-y1, x0, w-y0, x1)
	}
	return r
}

// scaled is n*scale rounded, at least 1.
func scaled(n int, scale float64) int {
	s := int(math.Round(float64(n) * scale))
	if s < 1 {
		return 1
	}
	return s
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}
