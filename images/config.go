package images

import (
	"runtime"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// specQuality is the output quality SPEC §1 defines as the default; the
// parser folds an explicit q/85 into "unspecified".
const specQuality = fop.DefaultQuality

// Config bounds what a Processor accepts and how it encodes.
type Config struct {
	// MaxSourceBytes refuses larger encoded sources (and watermark images).
	MaxSourceBytes int64
	// MaxSourcePixels refuses sources with more pixels, read from the
	// header before any pixel is decoded (decompression bombs).
	MaxSourcePixels int64
	// MaxOutputSide refuses runs whose output would be wider or taller, and
	// steps growing an image past it (or past the source's long side).
	MaxOutputSide int
	// MaxOutputPixels refuses any intermediate or output image (all frames
	// of a kept animation together) with more pixels, unless the decoded
	// source already had as many. Checked from the source header before
	// decoding, so an enlarging request costs nothing.
	MaxOutputPixels int64
	// MaxPipeline is the longest pipeline callers let fop.Parse accept
	// (its maxSteps).
	MaxPipeline int
	// Deadline bounds one Run; the caller's context may end it sooner.
	Deadline time.Duration
	// MaxDecodes bounds concurrent Runs holding decoded pixels, so memory
	// stays proportional to it rather than to the request rate.
	MaxDecodes int
	// MaxDecodeBytes is the pixel budget shared by the Runs holding
	// decoded pixels: each reserves its estimate (decodeEstimate, from the
	// source header and the decode scale) before decoding and waits while
	// the others' reservations leave too little. An estimate over the
	// budget reserves all of it, so such a Run decodes alone.
	MaxDecodeBytes int64
	// DefaultQuality is the JPEG quality when a step names none.
	DefaultQuality int
	// FontDirs are searched for fonts named by text watermarks.
	FontDirs []string
}

// DefaultMaxDecodeBytes is the default pixel budget: with the rest of
// `ufopd up` (about 100 MB) it keeps the process under 1 GiB whatever the
// request mix.
const DefaultMaxDecodeBytes = 640 << 20

// DefaultConfig returns the defaults of SPEC §1.
func DefaultConfig() Config {
	return Config{
		MaxSourceBytes:  50 << 20,
		MaxSourcePixels: 100_000_000,
		MaxOutputSide:   10000,
		MaxOutputPixels: 50_000_000,
		MaxPipeline:     fop.DefaultMaxSteps,
		Deadline:        30 * time.Second,
		MaxDecodes:      runtime.GOMAXPROCS(0),
		MaxDecodeBytes:  DefaultMaxDecodeBytes,
		DefaultQuality:  specQuality,
		FontDirs:        []string{"/usr/share/fonts"},
	}
}

// Validate reports the first unusable setting.
func (c Config) Validate() error {
	switch {
	case c.MaxSourceBytes <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: MaxSourceBytes must be positive, got %d", c.MaxSourceBytes)
	case c.MaxSourcePixels <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: MaxSourcePixels must be positive, got %d", c.MaxSourcePixels)
	case c.MaxOutputSide <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: MaxOutputSide must be positive, got %d", c.MaxOutputSide)
	case c.MaxOutputPixels <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: MaxOutputPixels must be positive, got %d", c.MaxOutputPixels)
	case c.MaxPipeline <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: MaxPipeline must be positive, got %d", c.MaxPipeline)
	case c.Deadline <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: Deadline must be positive, got %s", c.Deadline)
	case c.MaxDecodes <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: MaxDecodes must be positive, got %d", c.MaxDecodes)
	case c.MaxDecodeBytes <= 0:
		return ufop.Errorf(ufop.KindInvalid, "images: MaxDecodeBytes must be positive, got %d", c.MaxDecodeBytes)
	case c.DefaultQuality < 1 || c.DefaultQuality > 100:
		return ufop.Errorf(ufop.KindInvalid, "images: DefaultQuality must be 1-100, got %d", c.DefaultQuality)
	}
	return nil
}
