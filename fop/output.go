package fop

import (
	"strconv"
	"strings"

	"github.com/ufop/ufop"
)

// The output formats a step may ask for, as package images names them.
const (
	FormatJPEG = "jpeg"
	FormatPNG  = "png"
	FormatGIF  = "gif"
	FormatWebP = "webp"
	FormatAVIF = "avif"
)

// DefaultQuality is the output quality SPEC §1 defines as the default. The
// parser folds an explicit q/85 into "unspecified" so both spellings share a
// cache entry.
const DefaultQuality = 85

// Output are the encoding parameters shared by imageView2 and imageMogr2.
type Output struct {
	Quality   int    // 0: default
	Format    string // one of the Format constants; "": the input's format
	Interlace bool
}

// Color is a colour with straight (not premultiplied) alpha; it converts
// to image/color.NRGBA.
type Color struct{ R, G, B, A uint8 }

// params parses parameter values of one fop, with errors naming the fop
// and the parameter.
type params struct {
	fop string
}

// intIn parses a parameter that must be an integer in [min, max].
func (p params) intIn(name, v string, min, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, ufop.Errorf(ufop.KindInvalid, "%s: parameter %s: %q is not an integer from %d to %d", p.fop, name, v, min, max)
	}
	return n, nil
}

// format parses an output format name; "jpeg" is accepted for "jpg".
func (p params) format(v string) (string, error) {
	switch strings.ToLower(v) {
	case "jpg", "jpeg":
		return FormatJPEG, nil
	case "png":
		return FormatPNG, nil
	case "gif":
		return FormatGIF, nil
	case "webp":
		return FormatWebP, nil
	case "avif":
		return FormatAVIF, nil
	}
	return "", ufop.Errorf(ufop.KindInvalid, "%s: parameter format: %q is not one of jpg, png, gif, webp, avif", p.fop, v)
}

// formatName is the URL spelling of an output format.
func formatName(f string) string {
	if f == FormatJPEG {
		return "jpg"
	}
	return f
}

// string renders the non-default output parameters, each as /key/value,
// using qualityKey for the quality parameter's name.
func (o Output) string(qualityKey string) string {
	var b strings.Builder
	if o.Quality != 0 {
		b.WriteString("/" + qualityKey + "/" + strconv.Itoa(o.Quality))
	}
	if o.Format != "" {
		b.WriteString("/format/" + formatName(o.Format))
	}
	if o.Interlace {
		b.WriteString("/interlace/1")
	}
	return b.String()
}

// parse handles the output parameters; ok is false for other keys.
func (o *Output) parse(p params, qualityKey, key, v string) (ok bool, err error) {
	switch key {
	case qualityKey:
		v = strings.TrimSuffix(v, "!") // Qiniu's "force quality" mark: always forced here
		q, err := p.intIn(key, v, 1, 100)
		if err != nil {
			return true, err
		}
		if q == DefaultQuality {
			q = 0
		}
		o.Quality = q
	case "format":
		f, err := p.format(v)
		if err != nil {
			return true, err
		}
		o.Format = f
	case "interlace":
		n, err := p.intIn(key, v, 0, 1)
		if err != nil {
			return true, err
		}
		o.Interlace = n == 1
	default:
		return false, nil
	}
	return true, nil
}
