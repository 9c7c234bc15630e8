package fop

import (
	"math"
	"strconv"

	"github.com/ufop/ufop"
)

// ImageView2 is imageView2/<mode>/w/<W>/h/<H>/q/<Q>/format/<F>/interlace/<0|1>:
// the thumbnail modes of Qiniu's imageView2. It never enlarges.
type ImageView2 struct {
	Mode   int // 0-5
	W, H   int // 0: not given
	Output Output
}

func parseImageView2(args []string) (Params, error) {
	p := params{fop: "imageView2"}
	if len(args) == 0 || args[0] == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "imageView2: parameter mode is missing: write imageView2/<0-5>/w/<W>/h/<H>")
	}
	mode, err := p.intIn("mode", args[0], 0, 5)
	if err != nil {
		return nil, err
	}
	v := &ImageView2{Mode: mode}
	seen := map[string]bool{}
	rest := args[1:]
	for i := 0; i < len(rest); i += 2 {
		key := rest[i]
		if i+1 >= len(rest) {
			return nil, ufop.Errorf(ufop.KindInvalid, "imageView2: parameter %s has no value", key)
		}
		val := rest[i+1]
		if seen[key] {
			return nil, ufop.Errorf(ufop.KindInvalid, "imageView2: parameter %s is given twice", key)
		}
		seen[key] = true
		switch key {
		case "w", "h":
			n, err := p.intIn(key, val, 1, math.MaxInt32)
			if err != nil {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageView2: parameter %s: %q is not a positive integer", key, val)
			}
			if key == "w" {
				v.W = n
			} else {
				v.H = n
			}
		case "ignore-error":
			// Qiniu's flag to answer the original on failure; errors are
			// always reported here, so the flag is accepted and dropped.
			if _, err := p.intIn(key, val, 0, 1); err != nil {
				return nil, err
			}
		default:
			ok, err := v.Output.parse(p, "q", key, val)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageView2: unknown parameter %q (expected w, h, q, format or interlace)", key)
			}
		}
	}
	return v, nil
}

func (*ImageView2) params()      {}
func (*ImageView2) Name() string { return "imageView2" }

func (v *ImageView2) String() string {
	s := "imageView2/" + strconv.Itoa(v.Mode)
	if v.W > 0 {
		s += "/w/" + strconv.Itoa(v.W)
	}
	if v.H > 0 {
		s += "/h/" + strconv.Itoa(v.H)
	}
	return s + v.Output.string("q")
}
