package images

import (
	"context"
	"image"
	"net/http"
)

// op is one parsed built-in processing step. Parsing a fop string yields an
// op; running a pipeline applies the ops in order to one frame.
//
// Ownership while the package is being written: the core (parser, imageView2,
// imageMogr2, imageInfo, exif, codecs, Processor) owns this file and may add
// fields to frame; facecrop.go and watermark*.go implement op for their fops.
type op interface {
	// name is the fop name as written in URLs ("imageView2", "facecrop").
	name() string
	// String is the normalized spelling of the step, name included: equal
	// for equivalent spellings, so that results share one cache entry.
	String() string
	// apply transforms f in place.
	apply(ctx context.Context, f *frame) error
}

// frame is the image flowing through a run of built-in steps.
type frame struct {
	// img holds the current pixels.
	img image.Image
	// header collects response headers that ops add (X-Ufop-Facecrop).
	header http.Header
	// p gives ops access to configuration, fonts, the loader for watermark
	// images, and the decoder.
	p *Processor
}
