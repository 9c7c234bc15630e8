// Package images implements ufop's built-in image processing: it runs the
// built-in steps of a fop.Pipeline (imageView2, imageMogr2, imageInfo, exif,
// facecrop, watermark), with the codecs and the guards that keep hostile
// images from exhausting a machine. The language itself (parsing, typed
// parameters, normal form) is package fop.
//
// A Processor runs consecutive built-in steps on encoded bytes and returns
// encoded bytes; each step's op is built from its typed parameters. Custom
// UFOP steps run elsewhere (the agent sends them to UFOP instances).
//
// Every error is a *ufop.Error whose kind maps to an HTTP status: oversize
// sources KindTooLarge, unknown formats KindUnsupported, undecodable data
// KindCorrupt, a passed deadline KindTimeout. No input makes Run panic.
package images
