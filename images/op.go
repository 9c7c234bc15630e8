package images

import (
	"context"
	"image"
	"net/http"
)

// op runs one built-in step: newOp builds it from the step's typed
// parameters (package fop), and a run applies the ops in order to one frame.
type op interface {
	// name is the fop name as written in URLs ("imageView2", "facecrop").
	name() string
	// String is the normalized spelling of the step (fop.Params.String).
	String() string
	// apply transforms f in place.
	apply(ctx context.Context, f *frame) error
	// outSize is apply's geometry without pixels, for Processor.plan: the
	// output size for a w x h input whose EXIF orientation orient is still
	// pending (always 1 unless the op orients itself), passing every size
	// it would allocate to check. TestPlanMatchesOutput holds the two equal.
	outSize(w, h, orient int, check sizeCheck) (int, int, error)
}

// shrinker is implemented by ops that can start from a source decoded
// smaller than its real size (JPEG shrink-on-load) and still give the same
// output. Such an op computes its geometry from frame.size, not from the
// pixels' bounds.
type shrinker interface {
	// need returns the smallest decode, in the source's stored (not yet
	// oriented) coordinates, that the op needs from a w x h source whose
	// EXIF orientation is orient. w, h means full size.
	need(w, h, orient int) (int, int)
}

// animator is implemented by ops that transform every frame of an
// animated GIF (through frame.eachFrame); a Run keeps the frames only when
// all its steps are animators and the output is a GIF.
type animator interface {
	animates()
}

// ownOrientation is implemented by ops that apply the EXIF orientation
// themselves (imageMogr2's auto-orient); every other pixel op gets the
// pixels already oriented.
type ownOrientation interface {
	orientsItself()
}

// frame is the image flowing through a run of built-in steps.
type frame struct {
	// img holds the current pixels; nil until a step needs pixels, since
	// imageInfo and exif read only the encoded source.
	img image.Image
	// header collects response headers that ops add (X-Ufop-Facecrop).
	header http.Header
	// p gives ops access to configuration, fonts, the loader for watermark
	// images, and the decoder.
	p *Processor

	// src is the encoded input of the run and srcHeader its header.
	src       []byte
	srcHeader header
	// orient is the EXIF orientation of img not applied yet (1: none);
	// srcOrient is the source's, read before planning.
	orient, srcOrient int
	// logical, when not zero, is the size img stands for: a shrink-on-load
	// decode made it smaller. Only shrinkers see such a frame.
	logical image.Point
	// anim holds all frames of an animated GIF when they are kept; img is
	// then anim.frames[0].
	anim *animation
	// out says how the result is encoded.
	out output
	// body and contentType hold a non-image result (imageInfo, exif JSON);
	// such a step must be the last built-in step.
	body        []byte
	contentType string
	// holding is the bytes of the Processor's decode budget the frame
	// holds with its decode slot (0: none).
	holding int64
}

// size is the width and height the frame's image stands for.
func (f *frame) size() (int, int) {
	if f.logical != (image.Point{}) {
		return f.logical.X, f.logical.Y
	}
	b := f.img.Bounds()
	return b.Dx(), b.Dy()
}

// eachFrame replaces the image, and every frame of a kept animation, by
// fn's result. Afterwards the frame's size is its pixels' size.
func (f *frame) eachFrame(fn func(image.Image) (image.Image, error)) error {
	if f.anim != nil {
		for i, m := range f.anim.frames {
			out, err := fn(m)
			if err != nil {
				return err
			}
			f.anim.frames[i] = out
		}
		f.img = f.anim.frames[0]
	} else {
		out, err := fn(f.img)
		if err != nil {
			return err
		}
		f.img = out
	}
	f.logical = image.Point{}
	return nil
}

// autoOrient applies the pending EXIF orientation.
func (f *frame) autoOrient() {
	o := f.orient
	f.orient = 1
	if o <= 1 || o > 8 {
		return
	}
	if o >= 5 && f.logical != (image.Point{}) {
		f.logical = image.Point{X: f.logical.Y, Y: f.logical.X}
	}
	f.eachFrameKeepLogical(func(m image.Image) image.Image { return orient(m, o) })
}

// eachFrameKeepLogical is eachFrame for size-preserving transforms
// (orientation), which must not forget a shrink-on-load logical size.
func (f *frame) eachFrameKeepLogical(fn func(image.Image) image.Image) {
	if f.anim != nil {
		for i, m := range f.anim.frames {
			f.anim.frames[i] = fn(m)
		}
		f.img = f.anim.frames[0]
		return
	}
	f.img = fn(f.img)
}
