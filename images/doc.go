// Package images implements ufop's built-in image processing: the Qiniu-style
// fop language (imageView2, imageMogr2, imageInfo, exif, facecrop, watermark,
// pipelines and saveas), the codecs, and the guards that keep hostile images
// from exhausting a machine.
//
// Parse turns the query of a processing URL into a Pipeline; a Processor
// runs consecutive built-in steps on encoded bytes and returns encoded bytes.
// Custom UFOP steps are recognised by the parser but run elsewhere (the
// agent sends them to UFOP instances).
//
// Every error is a *ufop.Error whose kind maps to an HTTP status: parse
// errors are KindInvalid and name the fop and parameter, oversize sources
// KindTooLarge, unknown formats KindUnsupported, undecodable data
// KindCorrupt, a passed deadline KindTimeout. No input makes Run panic.
package images
