package images

import (
	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// newOp returns the op that executes a built-in fop's parameters.
func newOp(p fop.Params) (op, error) {
	switch p := p.(type) {
	case *fop.ImageView2:
		return &viewOp{*p}, nil
	case *fop.ImageMogr2:
		return newMogrOp(p)
	case *fop.Watermark:
		return &watermarkOp{*p}, nil
	case *fop.Facecrop:
		return &facecropOp{*p}, nil
	case fop.ImageInfo:
		return infoOp{}, nil
	case fop.Exif:
		return exifOp{}, nil
	}
	// A fop added to the grammar but not here is a bug of this package.
	return nil, ufop.Errorf(ufop.KindInternal, "images: no op runs %T", p)
}

// compile returns the ops of a run of built-in steps.
func compile(steps []fop.Step) ([]op, error) {
	ops := make([]op, len(steps))
	for i, s := range steps {
		if !s.Builtin() {
			return nil, ufop.Errorf(ufop.KindInvalid, "%s is a UFOP, not a built-in fop: it cannot run in the image processor", s.Name())
		}
		o, err := newOp(s.Params())
		if err != nil {
			return nil, err
		}
		ops[i] = o
	}
	return ops, nil
}

// applyOutput sets the frame's output from a step's parameters. The format
// carries over to later steps (it is their input's format); quality and
// interlace were reset by Run, since each step's output is a new encoding.
func applyOutput(o fop.Output, f *frame) {
	if o.Format != "" {
		f.out.format = o.Format
	}
	f.out.quality = o.Quality
	f.out.progressive = o.Interlace
}
