package images

import (
	"context"
	"encoding/base64"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"

	"github.com/disintegration/imaging"

	"github.com/ufop/ufop"
)

// mogrOp is imageMogr2: advanced transforms applied in the order written
// (auto-orient, thumbnail, gravity+crop, rotate, blur) plus output settings
// (quality, format, interlace, background) that hold for the whole step.
// strip is accepted and dropped: ufop's encoders never write metadata.
type mogrOp struct {
	actions    []mogrAction
	out        outputParams
	background *color.NRGBA
}

// mogrAction is one transform of an imageMogr2 step.
type mogrAction interface {
	String() string
	apply(f *frame) error
	// outSize is apply's geometry (see op.outSize); auto-orient is
	// handled by mogrOp.outSize, which tracks the orientation.
	outSize(w, h int, check sizeCheck) (int, int, error)
}

func parseImageMogr2(args []string) (op, error) {
	p := params{fop: "imageMogr2"}
	m := &mogrOp{}
	gravity := gravityNorthWest
	for i := 0; i < len(args); i++ {
		key := args[i]
		switch key {
		case "auto-orient":
			m.actions = append(m.actions, autoOrientAction{})
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
			t, err := parseThumbnail(val)
			if err != nil {
				return nil, err
			}
			m.actions = append(m.actions, t)
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
			m.actions = append(m.actions, c)
		case "rotate":
			d, err := strconv.Atoi(val)
			if err != nil || d < -360 || d > 360 {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter rotate: %q is not an integer from -360 to 360 (degrees clockwise)", val)
			}
			if d = ((d % 360) + 360) % 360; d != 0 {
				m.actions = append(m.actions, rotateAction{deg: d})
			}
		case "blur":
			b, err := parseBlur(val)
			if err != nil {
				return nil, err
			}
			m.actions = append(m.actions, b)
		case "background":
			c, err := parseColor(val)
			if err != nil {
				return nil, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter background: %q is not a base64-encoded colour like #RRGGBB", val)
			}
			m.background = &c
		default:
			ok, err := m.out.parse(p, "quality", key, val)
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

func (m *mogrOp) name() string   { return "imageMogr2" }
func (m *mogrOp) animates()      {}
func (m *mogrOp) orientsItself() {}

func (m *mogrOp) outputFormat() string { return m.out.format }

func (m *mogrOp) String() string {
	var b strings.Builder
	b.WriteString("imageMogr2")
	for _, a := range m.actions {
		b.WriteString("/" + a.String())
	}
	if m.background != nil {
		b.WriteString("/background/" + base64.RawURLEncoding.EncodeToString([]byte(colorHex(*m.background))))
	}
	b.WriteString(m.out.String("quality"))
	return b.String()
}

// need lets a leading thumbnail (after auto-orient or nothing else) work
// from a shrunk decode.
func (m *mogrOp) need(w, h, orient int) (int, int) {
	swapped := false
	for _, a := range m.actions {
		switch a := a.(type) {
		case autoOrientAction:
			if orient >= 5 && orient <= 8 {
				swapped = !swapped
				w, h = h, w
			}
		case thumbnail:
			tw, th := a.size(w, h)
			if tw >= w || th >= h {
				tw, th = w, h
			}
			if swapped {
				tw, th = th, tw
			}
			return tw, th
		default:
			// Crops and rotations depend on the full-size pixel grid.
			if swapped {
				return h, w
			}
			return w, h
		}
	}
	if swapped {
		return h, w
	}
	return w, h
}

func (m *mogrOp) outSize(w, h, orient int, check sizeCheck) (int, int, error) {
	for _, a := range m.actions {
		if _, ok := a.(autoOrientAction); ok {
			if orient >= 5 && orient <= 8 {
				w, h = h, w
			}
			orient = 1
			continue
		}
		var err error
		if w, h, err = a.outSize(w, h, check); err != nil {
			return 0, 0, err
		}
	}
	return w, h, nil
}

func (m *mogrOp) apply(ctx context.Context, f *frame) error {
	m.out.apply(f)
	if m.background != nil {
		f.out.background = *m.background
	}
	for i := 0; i < len(m.actions); i++ {
		if err := ctx.Err(); err != nil {
			return deadlineError(err, "imageMogr2")
		}
		if t, ok := nextThumbnail(m.actions, i); ok && f.orient > 1 {
			// auto-orient then thumbnail: resize in the stored orientation
			// and turn the small result, which keeps JPEG planes on the
			// fast path (the two commute).
			if err := t.applyOriented(f); err != nil {
				return err
			}
			i++
			continue
		}
		if err := m.actions[i].apply(f); err != nil {
			return err
		}
	}
	if f.logical != (image.Point{}) {
		// No thumbnail consumed the shrunk decode (need said so only when
		// one leads); restore the promised size.
		w, h := f.size()
		return f.eachFrame(func(img image.Image) (image.Image, error) { return resample(img, w, h), nil })
	}
	return nil
}

// nextThumbnail reports whether actions[i] is auto-orient directly
// followed by a thumbnail, and returns that thumbnail.
func nextThumbnail(actions []mogrAction, i int) (thumbnail, bool) {
	if _, ok := actions[i].(autoOrientAction); !ok || i+1 >= len(actions) {
		return thumbnail{}, false
	}
	t, ok := actions[i+1].(thumbnail)
	return t, ok
}

// autoOrientAction applies the EXIF orientation.
type autoOrientAction struct{}

func (autoOrientAction) String() string                                  { return "auto-orient" }
func (autoOrientAction) outSize(w, h int, _ sizeCheck) (int, int, error) { return w, h, nil }
func (autoOrientAction) apply(f *frame) error {
	f.autoOrient()
	return nil
}

// thumbKind is the form of a thumbnail geometry.
type thumbKind int

const (
	thumbPercent  thumbKind = iota // !<n>p: both sides to n%
	thumbPercentW                  // !<n>px: width to n%
	thumbPercentH                  // !x<n>p: height to n%
	thumbWidth                     // <W>x: width W, height proportional
	thumbHeight                    // x<H>: height H, width proportional
	thumbFit                       // <W>x<H>: largest size within W x H
	thumbFill                      // !<W>x<H>r: smallest size covering W x H
	thumbExact                     // <W>x<H>!: exactly W x H, aspect ignored
	thumbShrink                    // <W>x<H>>: fit, only if larger
	thumbEnlarge                   // <W>x<H><: fit, only if smaller
	thumbArea                      // <area>@: at most area pixels
)

// thumbnail is imageMogr2/thumbnail/<geometry>.
type thumbnail struct {
	kind thumbKind
	a, b int
}

// maxGeometry caps numbers in geometries so that products cannot overflow;
// the output side limit applies on top.
const maxGeometry = 1 << 20

func parseThumbnail(g string) (thumbnail, error) {
	bad := ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter thumbnail: %q is not a geometry like 200x, x200, 200x200, 200x200!, 200x200>, 200x200<, !200x200r, !50p, !50px, !x50p or 40000@", g)
	num := func(s string, max int) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= 1 && n <= max && !strings.HasPrefix(s, "+")
	}
	var t thumbnail
	var ok bool
	switch {
	case strings.HasPrefix(g, "!x") && strings.HasSuffix(g, "p"):
		t.kind = thumbPercentH
		t.a, ok = num(g[2:len(g)-1], 1000)
	case strings.HasPrefix(g, "!") && strings.HasSuffix(g, "px"):
		t.kind = thumbPercentW
		t.a, ok = num(g[1:len(g)-2], 1000)
	case strings.HasPrefix(g, "!") && strings.HasSuffix(g, "p"):
		t.kind = thumbPercent
		t.a, ok = num(g[1:len(g)-1], 1000)
	case strings.HasPrefix(g, "!") && strings.HasSuffix(g, "r"):
		t.kind = thumbFill
		t.a, t.b, ok = parseWxH(g[1:len(g)-1], num)
	case strings.HasSuffix(g, "@"):
		t.kind = thumbArea
		t.a, ok = num(g[:len(g)-1], maxGeometry*maxGeometry/1024)
	case strings.HasSuffix(g, "!"):
		t.kind = thumbExact
		t.a, t.b, ok = parseWxH(g[:len(g)-1], num)
	case strings.HasSuffix(g, ">"):
		t.kind = thumbShrink
		t.a, t.b, ok = parseWxH(g[:len(g)-1], num)
	case strings.HasSuffix(g, "<"):
		t.kind = thumbEnlarge
		t.a, t.b, ok = parseWxH(g[:len(g)-1], num)
	case strings.HasPrefix(g, "x"):
		t.kind = thumbHeight
		t.b, ok = num(g[1:], maxGeometry)
	case strings.HasSuffix(g, "x"):
		t.kind = thumbWidth
		t.a, ok = num(g[:len(g)-1], maxGeometry)
	default:
		t.kind = thumbFit
		t.a, t.b, ok = parseWxH(g, num)
	}
	if !ok {
		return thumbnail{}, bad
	}
	return t, nil
}

// parseWxH parses "<W>x<H>" with both numbers present.
func parseWxH(s string, num func(string, int) (int, bool)) (int, int, bool) {
	ws, hs, found := strings.Cut(s, "x")
	if !found {
		return 0, 0, false
	}
	w, ok1 := num(ws, maxGeometry)
	h, ok2 := num(hs, maxGeometry)
	return w, h, ok1 && ok2
}

func (t thumbnail) String() string {
	a, b := strconv.Itoa(t.a), strconv.Itoa(t.b)
	var g string
	switch t.kind {
	case thumbPercent:
		g = "!" + a + "p"
	case thumbPercentW:
		g = "!" + a + "px"
	case thumbPercentH:
		g = "!x" + a + "p"
	case thumbWidth:
		g = a + "x"
	case thumbHeight:
		g = "x" + b
	case thumbFit:
		g = a + "x" + b
	case thumbFill:
		g = "!" + a + "x" + b + "r"
	case thumbExact:
		g = a + "x" + b + "!"
	case thumbShrink:
		g = a + "x" + b + ">"
	case thumbEnlarge:
		g = a + "x" + b + "<"
	case thumbArea:
		g = a + "@"
	}
	return "thumbnail/" + g
}

// size computes the thumbnail of a w x h image.
func (t thumbnail) size(w, h int) (int, int) {
	fw, fh := float64(w), float64(h)
	fit := func() float64 { return math.Min(float64(t.a)/fw, float64(t.b)/fh) }
	switch t.kind {
	case thumbPercent:
		return scaled(w, float64(t.a)/100), scaled(h, float64(t.a)/100)
	case thumbPercentW:
		return scaled(w, float64(t.a)/100), h
	case thumbPercentH:
		return w, scaled(h, float64(t.a)/100)
	case thumbWidth:
		return t.a, scaled(h, float64(t.a)/fw)
	case thumbHeight:
		return scaled(w, float64(t.b)/fh), t.b
	case thumbFit:
		s := fit()
		return scaled(w, s), scaled(h, s)
	case thumbFill:
		s := math.Max(float64(t.a)/fw, float64(t.b)/fh)
		return scaled(w, s), scaled(h, s)
	case thumbExact:
		return t.a, t.b
	case thumbShrink:
		if s := fit(); s < 1 {
			return scaled(w, s), scaled(h, s)
		}
	case thumbEnlarge:
		if s := fit(); s > 1 {
			return scaled(w, s), scaled(h, s)
		}
	case thumbArea:
		if int64(w)*int64(h) > int64(t.a) {
			return areaFit(w, h, t.a)
		}
	}
	return w, h
}

// areaFit is the largest size of about w:h with at most area pixels
// (Qiniu's <area>@ never exceeds the area, so rounding must not go up):
// each side is its ideal length rounded down or up, the ideal being the
// exact w:h size of area pixels, and the largest such size that fits wins.
// A side whose ideal is under 1 px stays 1 px and the other takes the area.
func areaFit(w, h, area int) (int, int) {
	s := math.Sqrt(float64(area) / (float64(w) * float64(h)))
	iw, ih := int(float64(w)*s), int(float64(h)*s)
	bw, bh := 0, 0
	for _, x := range []int{iw, iw + 1} {
		for _, y := range []int{ih, ih + 1} {
			x, y := max(1, min(x, w)), max(1, min(y, h))
			if x*y > area {
				switch {
				case x == 1:
					y = area
				case y == 1:
					x = area
				default:
					continue
				}
			}
			if x*y > bw*bh || x*y == bw*bh && aspectError(x, y, w, h) < aspectError(bw, bh, w, h) {
				bw, bh = x, y
			}
		}
	}
	return bw, bh
}

// aspectError is how far x:y is from w:h, as a log ratio.
func aspectError(x, y, w, h int) float64 {
	return math.Abs(math.Log(float64(x) * float64(h) / (float64(y) * float64(w))))
}

// applyOriented is auto-orient followed by t, resizing before orienting.
func (t thumbnail) applyOriented(f *frame) error {
	o := f.orient
	f.orient = 1
	w, h := f.size()
	if o >= 5 {
		w, h = h, w
	}
	tw, th := t.size(w, h) // upright; Processor.plan checked the size
	if o >= 5 {
		tw, th = th, tw
	}
	return f.eachFrame(func(img image.Image) (image.Image, error) { return orient(resample(img, tw, th), o), nil })
}

func (t thumbnail) outSize(w, h int, check sizeCheck) (int, int, error) {
	tw, th := t.size(w, h)
	return tw, th, check("imageMogr2: "+t.String(), tw, th)
}

func (t thumbnail) apply(f *frame) error {
	w, h := f.size()
	tw, th := t.size(w, h) // Processor.plan checked the size
	return f.eachFrame(func(img image.Image) (image.Image, error) { return resample(img, tw, th), nil })
}

// gravity is a compass point anchoring crops (and watermarks).
type gravity int

const (
	gravityNorthWest gravity = iota
	gravityNorth
	gravityNorthEast
	gravityWest
	gravityCenter
	gravityEast
	gravitySouthWest
	gravitySouth
	gravitySouthEast
)

var gravityNames = [...]string{"NorthWest", "North", "NorthEast", "West", "Center", "East", "SouthWest", "South", "SouthEast"}

func parseGravity(s string) (gravity, bool) {
	for i, n := range gravityNames {
		if strings.EqualFold(s, n) {
			return gravity(i), true
		}
	}
	return 0, false
}

func (g gravity) String() string { return gravityNames[g] }

// anchor returns the top-left corner of a w x h box placed by gravity g in
// a W x H area.
func (g gravity) anchor(W, H, w, h int) (int, int) {
	var x, y int
	switch g % 3 {
	case 1:
		x = (W - w) / 2
	case 2:
		x = W - w
	}
	switch g / 3 {
	case 1:
		y = (H - h) / 2
	case 2:
		y = H - h
	}
	return x, y
}

// cropAction is imageMogr2/crop/<geometry>, placed by the gravity in force.
type cropAction struct {
	w, h    int // 0: the whole side
	dx, dy  int
	offset  bool // the !WxHaXaY form
	gravity gravity
}

func parseCrop(g string, grav gravity) (cropAction, error) {
	bad := ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter crop: %q is not a geometry like 200x, x200, 200x200 or !200x200a10a20", g)
	c := cropAction{gravity: grav}
	size := g
	if strings.HasPrefix(g, "!") {
		c.offset = true
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
		c.dx, ok1 = signedOffset(rest[:j+1])
		c.dy, ok2 = signedOffset(rest[j+1:])
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
		return n, err == nil && n >= 1 && n <= maxGeometry && s[0] != '+'
	}
	var ok1, ok2 bool
	c.w, ok1 = num(ws)
	c.h, ok2 = num(hs)
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
	if err != nil || n < 0 || n > maxGeometry || s[1] == '+' || s[1] == '-' {
		return 0, false
	}
	if s[0] == '-' {
		n = -n
	}
	return n, true
}

func (c cropAction) String() string {
	var b strings.Builder
	if c.gravity != gravityNorthWest {
		b.WriteString("gravity/" + c.gravity.String() + "/")
	}
	b.WriteString("crop/")
	if c.offset {
		b.WriteString("!")
	}
	if c.w > 0 {
		b.WriteString(strconv.Itoa(c.w))
	}
	b.WriteString("x")
	if c.h > 0 {
		b.WriteString(strconv.Itoa(c.h))
	}
	if c.offset {
		for _, d := range []int{c.dx, c.dy} {
			if d < 0 {
				b.WriteString("-" + strconv.Itoa(-d))
			} else {
				b.WriteString("a" + strconv.Itoa(d))
			}
		}
	}
	return b.String()
}

// rect places the crop in a w x h image; ok is false when it misses it.
func (c cropAction) rect(w, h int) (image.Rectangle, bool) {
	cw, ch := c.w, c.h
	if cw == 0 || cw > w {
		cw = w
	}
	if ch == 0 || ch > h {
		ch = h
	}
	x, y := c.gravity.anchor(w, h, cw, ch)
	r := image.Rect(x+c.dx, y+c.dy, x+c.dx+cw, y+c.dy+ch).Intersect(image.Rect(0, 0, w, h))
	return r, !r.Empty()
}

func (c cropAction) outSize(w, h int, _ sizeCheck) (int, int, error) {
	r, ok := c.rect(w, h)
	if !ok {
		return 0, 0, c.outside(w, h)
	}
	return r.Dx(), r.Dy(), nil
}

func (c cropAction) outside(w, h int) error {
	return ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter crop: %s lies outside the %dx%d image", strings.TrimPrefix(c.String(), "crop/"), w, h)
}

func (c cropAction) apply(f *frame) error {
	w, h := f.size()
	r, ok := c.rect(w, h)
	if !ok {
		return c.outside(w, h)
	}
	return f.eachFrame(func(img image.Image) (image.Image, error) { return cropRect(img, r), nil })
}

// rotateAction is imageMogr2/rotate/<deg>, clockwise; corners that the
// rotation uncovers are transparent (the background for formats without
// alpha).
type rotateAction struct{ deg int }

func (r rotateAction) String() string { return "rotate/" + strconv.Itoa(r.deg) }

func (r rotateAction) outSize(w, h int, check sizeCheck) (int, int, error) {
	nw, nh := rotatedSize(w, h, r.deg)
	return nw, nh, check("imageMogr2: "+r.String(), nw, nh)
}

// apply turns the pixels; Processor.plan checked the bounding box.
func (r rotateAction) apply(f *frame) error {
	return f.eachFrame(func(img image.Image) (image.Image, error) {
		switch r.deg {
		case 90:
			return imaging.Rotate270(img), nil // imaging turns counter-clockwise
		case 180:
			return imaging.Rotate180(img), nil
		case 270:
			return imaging.Rotate90(img), nil
		}
		return imaging.Rotate(img, float64(360-r.deg), color.Transparent), nil
	})
}

// blurAction is imageMogr2/blur/<radius>x<sigma>.
type blurAction struct {
	radius int
	sigma  float64
}

func parseBlur(s string) (blurAction, error) {
	rs, ss, found := strings.Cut(s, "x")
	r, err1 := strconv.Atoi(rs)
	sig, err2 := strconv.ParseFloat(ss, 64)
	if !found || err1 != nil || err2 != nil || r < 1 || r > 50 || !(sig > 0 && sig <= 50) {
		return blurAction{}, ufop.Errorf(ufop.KindInvalid, "imageMogr2: parameter blur: %q is not <radius 1-50>x<sigma 0-50> like 3x5", s)
	}
	return blurAction{radius: r, sigma: sig}, nil
}

func (b blurAction) String() string {
	return "blur/" + strconv.Itoa(b.radius) + "x" + strconv.FormatFloat(b.sigma, 'f', -1, 64)
}

// apply blurs with a Gaussian of the given sigma. The radius is validated
// and kept in the normalized form for Qiniu compatibility, but imaging's
// kernel always spans 3 sigma, which is what the radius usually is.
func (b blurAction) outSize(w, h int, _ sizeCheck) (int, int, error) { return w, h, nil }

func (b blurAction) apply(f *frame) error {
	return f.eachFrame(func(img image.Image) (image.Image, error) { return imaging.Blur(img, b.sigma), nil })
}

// parseColor decodes a base64 colour: "#RGB", "#RRGGBB", "#RRGGBBAA" or a
// few names.
func parseColor(b64 string) (color.NRGBA, error) {
	s, err := decodeB64(b64)
	if err != nil {
		return color.NRGBA{}, err
	}
	return parseColorText(s)
}

func parseColorText(s string) (color.NRGBA, error) {
	switch strings.ToLower(s) {
	case "white":
		return color.NRGBA{0xff, 0xff, 0xff, 0xff}, nil
	case "black":
		return color.NRGBA{0, 0, 0, 0xff}, nil
	case "transparent", "none":
		return color.NRGBA{}, nil
	}
	h := strings.TrimPrefix(s, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) == 6 {
		h += "ff"
	}
	if len(h) != 8 {
		return color.NRGBA{}, strconv.ErrSyntax
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return color.NRGBA{}, err
	}
	return color.NRGBA{uint8(v >> 24), uint8(v >> 16), uint8(v >> 8), uint8(v)}, nil
}

// colorHex is the canonical text of a colour.
func colorHex(c color.NRGBA) string {
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
