package fop

import (
	"encoding/base64"
	"strconv"
	"strings"

	"github.com/ufop/ufop"
)

// ImageMogr2 is imageMogr2: advanced transforms applied in the order written
// (auto-orient, thumbnail, gravity+crop, rotate, blur) plus output settings
// (quality, format, interlace, background) that hold for the whole step.
// strip is accepted and dropped: ufop's encoders never write metadata.
type ImageMogr2 struct {
	Actions    []MogrAction
	Output     Output
	Background *Color // nil: not given
}

// MogrAction is one transform of an imageMogr2 step: AutoOrient,
// Thumbnail, Crop, Rotate or Blur.
type MogrAction interface {
	// String is the normalized spelling, e.g. "thumbnail/200x".
	String() string
	mogrAction()
}

func parseImageMogr2(args []string) (Params, error) {
	p := params{fop: "imageMogr2"}
	m := &ImageMogr2{}
	gravity := NorthWest
	for i := 0; i < len(args); i++ {
		key := args[i]
		switch key {
		case "auto-orient":
			m.Actions = append(m.Actions, AutoOrient{})
			continue
		case "strip":
			continue
		case "":
			return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: empty parameter: remove the extra '/'")
		}
		if i+1 >= len(args) {
			return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter %s has no value", key)
		}
		i++
		val := args[i]
		switch key {
		case "thumbnail":
			t, err := ParseThumbnail(val)
			if err != nil {
				return nil, err
			}
			m.Actions = append(m.Actions, t)
		case "gravity":
			g, ok := parseGravity(val)
			if !ok {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter gravity: %q is not one of NorthWest, North, NorthEast, West, Center, East, SouthWest, South, SouthEast", val)
			}
			gravity = g
		case "crop":
			c, err := parseCrop(val, gravity)
			if err != nil {
				return nil, err
			}
			m.Actions = append(m.Actions, c)
		case "rotate":
			d, err := strconv.Atoi(val)
			if err != nil || d < -360 || d > 360 {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter rotate: %q is not an integer from -360 to 360 (degrees clockwise)", val)
			}
			if d = ((d % 360) + 360) % 360; d != 0 {
				m.Actions = append(m.Actions, Rotate{Deg: d})
			}
		case "blur":
			b, err := parseBlur(val)
			if err != nil {
				return nil, err
			}
			m.Actions = append(m.Actions, b)
		case "background":
			c, err := parseColor(val)
			if err != nil {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter background: %q is not a base64-encoded colour like #RRGGBB", val)
			}
			m.Background = &c
		default:
			ok, err := m.Output.parse(p, "quality", key, val)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: unknown parameter %q", key)
			}
		}
	}
	return m, nil
}

func (*ImageMogr2) params()      {}
func (*ImageMogr2) Name() string { return "imageMogr2" }

func (m *ImageMogr2) String() string {
	var b strings.Builder
	b.WriteString("imageMogr2")
	for _, a := range m.Actions {
		b.WriteString("/" + a.String())
	}
	if m.Background != nil {
		b.WriteString("/background/" + base64.RawURLEncoding.EncodeToString([]byte(colorHex(*m.Background))))
	}
	b.WriteString(m.Output.string("quality"))
	return b.String()
}

// AutoOrient is imageMogr2/auto-orient: apply the EXIF orientation.
type AutoOrient struct{}

func (AutoOrient) mogrAction()    {}
func (AutoOrient) String() string { return "auto-orient" }

// ThumbKind is the form of a thumbnail geometry.
type ThumbKind int

// The thumbnail geometries.
const (
	ThumbPercent  ThumbKind = iota // !<n>p: both sides to n%
	ThumbPercentW                  // !<n>px: width to n%
	ThumbPercentH                  // !x<n>p: height to n%
	ThumbWidth                     // <W>x: width W, height proportional
	ThumbHeight                    // x<H>: height H, width proportional
	ThumbFit                       // <W>x<H>: largest size within W x H
	ThumbFill                      // !<W>x<H>r: smallest size covering W x H
	ThumbExact                     // <W>x<H>!: exactly W x H, aspect ignored
	ThumbShrink                    // <W>x<H>>: fit, only if larger
	ThumbEnlarge                   // <W>x<H><: fit, only if smaller
	ThumbArea                      // <area>@: at most area pixels
)

// Thumbnail is imageMogr2/thumbnail/<geometry>. A is the width, the
// percentage or the area, B the height, as the kind says.
type Thumbnail struct {
	Kind ThumbKind
	A, B int
}

// MaxGeometry caps numbers in geometries so that products cannot overflow;
// the output side limit applies on top.
const MaxGeometry = 1 << 20

// ParseThumbnail parses a thumbnail geometry such as "200x" or "!50p".
func ParseThumbnail(g string) (Thumbnail, error) {
	bad := ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter thumbnail: %q is not a geometry like 200x, x200, 200x200, 200x200!, 200x200>, 200x200<, !200x200r, !50p, !50px, !x50p or 40000@", g)
	num := func(s string, max int) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 1 && n <= max && !strings.HasPrefix(s, "+")
	}
	var t Thumbnail
	var ok bool
	switch {
	case strings.HasPrefix(g, "!x") && strings.HasSuffix(g, "p"):
		t.Kind = ThumbPercentH
		t.A, ok = num(g[2:len(g)-1], 1000)
	case strings.HasPrefix(g, "!") && strings.HasSuffix(g, "px"):
		t.Kind = ThumbPercentW
		t.A, ok = num(g[1:len(g)-2], 1000)
	case strings.HasPrefix(g, "!") && strings.HasSuffix(g, "p"):
		t.Kind = ThumbPercent
		t.A, ok = num(g[1:len(g)-1], 1000)
	case strings.HasPrefix(g, "!") && strings.HasSuffix(g, "r"):
		t.Kind = ThumbFill
		t.A, t.B, ok = parseWxH(g[1:len(g)-1], num)
	case strings.HasSuffix(g, "@"):
		t.Kind = ThumbArea
		t.A, ok = num(g[:len(g)-1], MaxGeometry*MaxGeometry/1024)
	case strings.HasSuffix(g, "!"):
		t.Kind = ThumbExact
		t.A, t.B, ok = parseWxH(g[:len(g)-1], num)
	case strings.HasSuffix(g, ">"):
		t.Kind = ThumbShrink
		t.A, t.B, ok = parseWxH(g[:len(g)-1], num)
	case strings.HasSuffix(g, "<"):
		t.Kind = ThumbEnlarge
		t.A, t.B, ok = parseWxH(g[:len(g)-1], num)
	case strings.HasPrefix(g, "x"):
		t.Kind = ThumbHeight
		t.B, ok = num(g[1:], MaxGeometry)
	case strings.HasSuffix(g, "x"):
		t.Kind = ThumbWidth
		t.A, ok = num(g[:len(g)-1], MaxGeometry)
	default:
		t.Kind = ThumbFit
		t.A, t.B, ok = parseWxH(g, num)
	}
	if !ok {
		return Thumbnail{}, bad
	}
	return t, nil
}

// parseWxH parses "<W>x<H>" with both numbers present.
func parseWxH(s string, num func(string, int) (int, bool)) (int, int, bool) {
	ws, hs, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	w, ok1 := num(ws, MaxGeometry)
	h, ok2 := num(hs, MaxGeometry)
	return w, h, ok1 && ok2
}

func (Thumbnail) mogrAction() {}

func (t Thumbnail) String() string {
	a, b := strconv.Itoa(t.A), strconv.Itoa(t.B)
	var g string
	switch t.Kind {
	case ThumbPercent:
		g = "!" + a + "p"
	case ThumbPercentW:
		g = "!" + a + "px"
	case ThumbPercentH:
		g = "!x" + a + "p"
	case ThumbWidth:
		g = a + "x"
	case ThumbHeight:
		g = "x" + b
	case ThumbFit:
		g = a + "x" + b
	case ThumbFill:
		g = "!" + a + "x" + b + "r"
	case ThumbExact:
		g = a + "x" + b + "!"
	case ThumbShrink:
		g = a + "x" + b + ">"
	case ThumbEnlarge:
		g = a + "x" + b + "<"
	case ThumbArea:
		g = a + "@"
	}
	return "thumbnail/" + g
}

// Gravity is a compass point anchoring crops and watermarks.
type Gravity uint8

// The gravities, in reading order.
const (
	NorthWest Gravity = iota
	North
	NorthEast
	West
	Center
	East
	SouthWest
	South
	SouthEast
)

// gravityNames is indexed by Gravity: the spelling in URLs.
var gravityNames = [...]string{"NorthWest", "North", "NorthEast", "West", "Center", "East", "SouthWest", "South", "SouthEast"}

// parseGravity accepts the gravity names in any letter case.
func parseGravity(s string) (Gravity, bool) {
	for i, n := range gravityNames {
		if strings.EqualFold(s, n) {
			return Gravity(i), true
		}
	}
	return 0, false
}

func (g Gravity) String() string { return gravityNames[g] }

// Column is -1 for the west edge, 0 for the centre, 1 for the east edge.
func (g Gravity) Column() int { return int(g)%3 - 1 }

// Row is -1 for the north edge, 0 for the centre, 1 for the south edge.
func (g Gravity) Row() int { return int(g)/3 - 1 }

// Crop is imageMogr2/crop/<geometry>, placed by the gravity in force.
type Crop struct {
	W, H    int // 0: the whole side
	DX, DY  int
	Offset  bool // the !WxHaXaY form
	Gravity Gravity
}

func parseCrop(g string, grav Gravity) (Crop, error) {
	bad := ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter crop: %q is not a geometry like 200x, x200, 200x200 or !200x200a10a20", g)
	c := Crop{Gravity: grav}
	size := g
	if strings.HasPrefix(g, "!") {
		c.Offset = true
		// !<W>x<H>{a|-}<dx>{a|-}<dy>: 'a' moves right/down, '-' left/up.
		i := strings.IndexAny(g, "a-")
		if i < 0 {
			return c, bad
		}
		size = g[1:i]
		rest := g[i:]
		j := strings.IndexAny(rest[1:], "a-")
		if j < 0 {
			return c, bad
		}
		var ok1, ok2 bool
		c.DX, ok1 = signedOffset(rest[:j+1])
		c.DY, ok2 = signedOffset(rest[j+1:])
		if !ok1 || !ok2 {
			return c, bad
		}
	}
	ws, hs, found := strings.Cut(size, "x")
	if !found || ws == "" && hs == "" {
		return c, bad
	}
	num := func(s string) (int, bool) {
		if s == "" {
			return 0, true
		}
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 1 && n <= MaxGeometry && s[0] != '+'
	}
	var ok1, ok2 bool
	c.W, ok1 = num(ws)
	c.H, ok2 = num(hs)
	if !ok1 || !ok2 {
		return c, bad
	}
	return c, nil
}

// signedOffset parses "a<n>" (positive) or "-<n>" (negative).
func signedOffset(s string) (int, bool) {
	if len(s) < 2 {
		return 0, false
	}
	n, err := strconv.Atoi(s[1:])
	if err != nil || n < 0 || n > MaxGeometry || s[1] == '+' || s[1] == '-' {
		return 0, false
	}
	if s[0] == '-' {
		n = -n
	}
	return n, true
}

func (Crop) mogrAction() {}

func (c Crop) String() string {
	var b strings.Builder
	if c.Gravity != NorthWest {
		b.WriteString("gravity/" + c.Gravity.String() + "/")
	}
	b.WriteString("crop/")
	if c.Offset {
		b.WriteString("!")
	}
	if c.W > 0 {
		b.WriteString(strconv.Itoa(c.W))
	}
	b.WriteString("x")
	if c.H > 0 {
		b.WriteString(strconv.Itoa(c.H))
	}
	if c.Offset {
		for _, d := range []int{c.DX, c.DY} {
			if d < 0 {
				b.WriteString("-" + strconv.Itoa(-d))
			} else {
				b.WriteString("a" + strconv.Itoa(d))
			}
		}
	}
	return b.String()
}

// Rotate is imageMogr2/rotate/<deg>, clockwise, 1-359.
type Rotate struct{ Deg int }

func (Rotate) mogrAction()      {}
func (r Rotate) String() string { return "rotate/" + strconv.Itoa(r.Deg) }

// Blur is imageMogr2/blur/<radius>x<sigma>.
type Blur struct {
	Radius int
	Sigma  float64
}

func parseBlur(s string) (Blur, error) {
	rs, ss, found := strings.Cut(s, "x")
	r, err1 := strconv.Atoi(rs)
	sig, err2 := strconv.ParseFloat(ss, 64)
	if !found || err1 != nil || err2 != nil || r < 1 || r > 50 || !(sig > 0 && sig <= 50) {
		return Blur{}, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter blur: %q is not <radius 1-50>x<sigma 0-50> like 3x5", s)
	}
	return Blur{Radius: r, Sigma: sig}, nil
}

func (Blur) mogrAction() {}

func (b Blur) String() string {
	return "blur/" + strconv.Itoa(b.Radius) + "x" + strconv.FormatFloat(b.Sigma, 'f', -1, 64)
}

// parseColor decodes a base64 colour: "#RGB", "#RRGGBB", "#RRGGBBAA" or a
// few names.
func parseColor(b64 string) (Color, error) {
	s, err := decodeB64(b64)
	if err != nil {
		return Color{}, err
	}
	return parseColorText(s)
}

func parseColorText(s string) (Color, error) {
	switch strings.ToLower(s) {
	case "white":
		return Color{0xff, 0xff, 0xff, 0xff}, nil
	case "black":
		return Color{0, 0, 0, 0xff}, nil
	case "transparent", "none":
		return Color{}, nil
	}
	h := strings.TrimPrefix(s, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) == 6 {
		h += "ff"
	}
	if len(h) != 8 {
		return Color{}, strconv.ErrSyntax
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return Color{}, err
	}
	return Color{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}

// colorHex is the canonical text of a colour.
func colorHex(c Color) string {
	s := "#" + hex2(c.R) + hex2(c.G) + hex2(c.B)
	if c.A != 0xff {
		s += hex2(c.A)
	}
	return s
}

func hex2(b uint8) string {
	const digits = "0123456789ABCDEF"
	return string([]byte{digits[b>>4], digits[b&15]})
}
