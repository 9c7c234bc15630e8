package images

import (
	"math"
	"strconv"

	"github.com/ufop/ufop"
)

// sizeCheck is called by an op's outSize with every size the op would
// allocate (intermediates and its output), named for error messages; an
// error stops the plan.
type sizeCheck func(what string, w, h int) error

// plan computes every intermediate and output size of a run of steps on a
// source from its header alone, and refuses sizes over the limits before
// any pixel is decoded, so a request for a huge image costs nothing:
//
//   - no image may have more pixels than MaxOutputPixels (all kept frames
//     together), or than the decoded source has when that is more;
//   - no image may be wider or taller than MaxOutputSide, or than the
//     source's long side when that is more (a 10328 px tall source may be
//     turned, then cropped);
//   - the run's output is at most MaxOutputSide a side.
//
// orient is the source's EXIF orientation and frames the number of GIF
// frames the run keeps (1 when not animated). It returns the size of the
// run's last image (the source's for a run of imageInfo or exif).
func (p *Processor) plan(h header, orient, frames int, ops []op) (int, int, error) {
	w, ht := h.width, h.height
	budget := max(p.cfg.MaxOutputPixels, int64(frames)*int64(w)*int64(ht))
	side := max(p.cfg.MaxOutputSide, w, ht)
	check := func(what string, cw, ch int) error {
		if cw <= 0 || ch <= 0 {
			return ufop.Errorf(ufop.KindInvalid, "%s: the output would be empty (%dx%d)", what, cw, ch)
		}
		if cw > side || ch > side {
			return ufop.Errorf(ufop.KindTooLarge, "%s: the image would be %dx%d, over the limit of %d pixels a side", what, cw, ch, side)
		}
		if px := int64(frames) * int64(cw) * int64(ch); px > budget {
			return ufop.Errorf(ufop.KindTooLarge, "%s: the image would be %dx%d%s (%s megapixels), over the limit of %s megapixels",
				what, cw, ch, framesNote(frames), megapixels(px), megapixels(budget))
		}
		return nil
	}
	last := ""
	for _, o := range ops {
		if _, ok := o.(describer); ok {
			// A JSON answer: Run refuses image steps after it.
			return w, ht, nil
		}
		if _, ok := o.(ownOrientation); !ok {
			// Run orients the pixels before this step.
			if orient >= 5 && orient <= 8 {
				w, ht = ht, w
			}
			orient = 1
		}
		var err error
		w, ht, err = o.outSize(w, ht, orient, check)
		if err != nil {
			return 0, 0, err
		}
		if err := check(o.name(), w, ht); err != nil {
			return 0, 0, err
		}
		// A step's output carries no EXIF.
		orient, last = 1, o.name()
	}
	if last != "" {
		if err := p.checkOutput(last, w, ht); err != nil {
			return 0, 0, err
		}
	}
	return w, ht, nil
}

// framesNote says that a size holds for every frame of an animation.
func framesNote(frames int) string {
	if frames <= 1 {
		return ""
	}
	return " x " + strconv.Itoa(frames) + " frames"
}

// megapixels renders a pixel count in megapixels with one decimal, rounded
// up so that a count over a limit never reads as the limit.
func megapixels(px int64) string {
	return strconv.FormatFloat(math.Ceil(float64(px)/1e5)/10, 'f', 1, 64)
}

// rotatedSize is the size of a w x h image turned deg degrees clockwise:
// the bounding box imaging.Rotate allocates (same formula, so that plans
// match outputs; it is rotated counter-clockwise by 360-deg there).
func rotatedSize(w, h, deg int) (int, int) {
	switch deg % 360 {
	case 0, 180:
		return w, h
	case 90, 270:
		return h, w
	}
	sin, cos := math.Sincos(math.Pi * float64(360-deg) / 180)
	turn := func(x, y float64) (float64, float64) { return x*cos - y*sin, x*sin + y*cos }
	x1, y1 := turn(float64(w-1), 0)
	x2, y2 := turn(float64(w-1), float64(h-1))
	x3, y3 := turn(0, float64(h-1))
	nw := max(x1, x2, x3, 0) - min(x1, x2, x3, 0) + 1
	if nw-math.Floor(nw) > 0.1 {
		nw++
	}
	nh := max(y1, y2, y3, 0) - min(y1, y2, y3, 0) + 1
	if nh-math.Floor(nh) > 0.1 {
		nh++
	}
	return int(nw), int(nh)
}
