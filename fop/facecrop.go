package fop

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ufop/ufop"
)

// MaxFacecropSide bounds facecrop's W and H so that arithmetic on them
// cannot overflow; the configured output limit is checked when applying.
const MaxFacecropSide = 1 << 16

// Facecrop is facecrop/<W>x<H>: crop to the aspect W:H around the faces
// found in the image, then scale to exactly WxH.
type Facecrop struct {
	W, H int
}

// parseFacecrop parses the arguments after "facecrop": exactly one "WxH".
func parseFacecrop(args []string) (Params, error) {
	// A trailing slash ("facecrop/200x200/") leaves an empty part: harmless.
	if len(args) == 2 && args[1] == "" {
		args = args[:1]
	}
	if len(args) != 1 || args[0] == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "facecrop: parameter size: expected facecrop/<W>x<H>, e.g. facecrop/200x200")
	}
	s := args[0]
	ws, hs, ok := strings.Cut(s, "x")
	if !ok {
		return nil, ufop.Errorf(ufop.KindInvalid, "facecrop: parameter size: %q is not <W>x<H>, e.g. 200x200", s)
	}
	w, errW := parseFacecropSide(ws)
	h, errH := parseFacecropSide(hs)
	if errW != nil || errH != nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "facecrop: parameter size: %q is not <W>x<H> with W and H whole numbers from 1 to %d", s, MaxFacecropSide)
	}
	return &Facecrop{W: w, H: h}, nil
}

// parseFacecropSide parses a positive decimal integer of at most MaxFacecropSide,
// digits only (no sign, no spaces) so that one size has one spelling.
func parseFacecropSide(s string) (int, error) {
	if s == "" || len(s) > 6 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxFacecropSide {
		return 0, strconv.ErrRange
	}
	return n, nil
}

func (*Facecrop) params()          {}
func (*Facecrop) Name() string     { return "facecrop" }
func (o *Facecrop) String() string { return fmt.Sprintf("facecrop/%dx%d", o.W, o.H) }
