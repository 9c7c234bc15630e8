// Package fop is ufop's processing language: the grammar of the query of a
// processing URL (SPEC §1), with no image code behind it.
//
// Parse turns a query such as "imageView2/2/w/200|watermark/2/text/..." into
// a Pipeline of Steps. A built-in step carries its typed parameters
// (ImageView2, ImageMogr2, Watermark, Facecrop, ImageInfo, Exif); any other
// step names a custom UFOP and keeps its arguments verbatim. Printing a
// Pipeline gives its normalized spelling, equal for equivalent queries, and
// ResultKey names a processed result for every cache (the gateway's ETag
// and memory cache, the agent's disk cache).
//
// Package images executes the built-in steps; the agent sends UFOP steps to
// their instances. Every parse error is a *ufop.Error of KindInvalid naming
// the fop and the parameter.
package fop
