// Package facefinder embeds the frontal-face detection cascade of pigo
// (github.com/esimov/pigo v1.4.6, MIT licence: see LICENSE here), so that the
// facecrop op works from a single static binary without data files.
package facefinder

import _ "embed"

// cascade is a string so that the embedded bytes cannot be modified.
//
//go:embed facefinder
var cascade string

// Cascade returns a fresh copy of the cascade, ready for pigo's Unpack.
func Cascade() []byte { return []byte(cascade) }
