package images

import (
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/disintegration/imaging"

	"github.com/ufop/ufop"
)

// Watermark parameters and their defaults (SPEC §1, Qiniu semantics).
const (
	defaultDissolve = 100
	defaultMarkDX   = 10
	defaultMarkDY   = 10
	// defaultFontSize is Qiniu's default text size in twips (1/20 pt):
	// 12 pt, which is 12 px at the 72 dpi marks are rendered at.
	defaultFontSize = 240
	// maxFontSize (1000 px) keeps one glyph's raster bounded.
	maxFontSize = 20000
	// maxMarkOffset bounds dx and dy; larger offsets only push the mark off
	// any image the output limit allows.
	maxMarkOffset = 1 << 16
	// maxMarks bounds watermark/3.
	maxMarks = 16
	// maxMarkText bounds the text of one mark, in runes.
	maxMarkText = 256
	// maxMarkRef bounds an image reference (URL or bucket:key).
	maxMarkRef = 2048
)

// defaultFill is Qiniu's default text colour, black.
var defaultFill = color.NRGBA{A: 0xff}

// markGravity is where a mark sits on the image. The offsets dx and dy push
// it inwards from the edges it is anchored to; on a centred axis they do not
// apply.
type markGravity uint8

const (
	markNorthWest markGravity = iota
	markNorth
	markNorthEast
	markWest
	markCenter
	markEast
	markSouthWest
	markSouth
	markSouthEast
)

// markGravityNames is indexed by markGravity: the spelling in URLs.
var markGravityNames = [...]string{
	markNorthWest: "NorthWest",
	markNorth:     "North",
	markNorthEast: "NorthEast",
	markWest:      "West",
	markCenter:    "Center",
	markEast:      "East",
	markSouthWest: "SouthWest",
	markSouth:     "South",
	markSouthEast: "SouthEast",
}

func (g markGravity) String() string { return markGravityNames[g] }

// column is -1 for the west edge, 0 for the centre, 1 for the east edge.
func (g markGravity) column() int { return int(g)%3 - 1 }

// row is -1 for the north edge, 0 for the centre, 1 for the south edge.
func (g markGravity) row() int { return int(g)/3 - 1 }

type markKind uint8

const (
	markImage markKind = iota + 1
	markText
)

// mark is one watermark: an image or a line of text, and where and how
// opaque to draw it.
type mark struct {
	kind markKind
	// ref is the image to draw: "bucket:key" or a URL (markImage).
	ref string
	// ws scales the image to this fraction of the base image's width,
	// keeping its aspect; 0 keeps its size (markImage).
	ws float64
	// text, font (a name; "" is the built-in Go font), fontSize in twips and
	// fill colour describe a text mark.
	text     string
	font     string
	fontSize int
	fill     color.NRGBA
	// dissolve is the opacity in percent, 1-100.
	dissolve int
	gravity  markGravity
	dx, dy   int
	// seen records which parameters were given, to refuse repeats.
	seen map[string]bool
}

func newMark(kind markKind) mark {
	return mark{
		kind:     kind,
		fontSize: defaultFontSize,
		fill:     defaultFill,
		dissolve: defaultDissolve,
		gravity:  markSouthEast,
		dx:       defaultMarkDX,
		dy:       defaultMarkDY,
		seen:     map[string]bool{},
	}
}

// watermarkOp draws its marks in order.
type watermarkOp struct {
	marks []mark
}

// parseWatermark parses the arguments after "watermark": the mode, then
// key/value pairs. Mode 1 is one image mark, mode 2 one text mark, mode 3
// any sequence of them, each starting at its "image" or "text" key.
func parseWatermark(args []string) (op, error) {
	if len(args) > 0 && args[len(args)-1] == "" {
		args = args[:len(args)-1] // trailing slash
	}
	if len(args) == 0 {
		return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter mode: missing; expected watermark/1 (image), watermark/2 (text) or watermark/3 (several marks)")
	}
	mode := args[0]
	if mode != "1" && mode != "2" && mode != "3" {
		return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter mode: %q is not 1 (image), 2 (text) or 3 (several marks)", mode)
	}
	kv := args[1:]
	if len(kv)%2 != 0 {
		return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: missing its value", kv[len(kv)-1])
	}
	var marks []mark
	for i := 0; i < len(kv); i += 2 {
		key, val := kv[i], kv[i+1]
		switch {
		case key == "image" && (mode == "1" || mode == "3"), key == "text" && (mode == "2" || mode == "3"):
			if mode != "3" && len(marks) == 1 {
				return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: given twice; use watermark/3 for several marks", key)
			}
			if len(marks) == maxMarks {
				return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: more than %d marks", key, maxMarks)
			}
			kind := markImage
			if key == "text" {
				kind = markText
			}
			marks = append(marks, newMark(kind))
		case len(marks) == 0:
			first := "image"
			if mode == "2" {
				first = "text"
			} else if mode == "3" {
				first = "image or text"
			}
			return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: must follow %s in watermark/%s", key, first, mode)
		}
		if err := marks[len(marks)-1].set(key, val); err != nil {
			return nil, err
		}
	}
	if len(marks) == 0 {
		what := map[string]string{"1": "image", "2": "text", "3": "image or text"}[mode]
		return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: missing; watermark/%s needs it", what, mode)
	}
	for i := range marks {
		marks[i].seen = nil
	}
	return &watermarkOp{marks: marks}, nil
}

// set parses one parameter of the mark.
func (m *mark) set(key, val string) error {
	if m.seen[key] {
		return ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: given twice for one mark", key)
	}
	m.seen[key] = true
	switch key {
	case "image":
		ref, err := decodeMarkB64(key, val)
		if err != nil {
			return err
		}
		if ref == "" || len(ref) > maxMarkRef || !utf8.ValidString(ref) || !strings.Contains(ref, ":") || strings.ContainsFunc(ref, unicode.IsControl) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter image: must be the URL-safe base64 of a URL or of bucket:key")
		}
		m.ref = ref
	case "text":
		text, err := decodeMarkB64(key, val)
		if err != nil {
			return err
		}
		if text == "" || !utf8.ValidString(text) || utf8.RuneCountInString(text) > maxMarkText {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter text: must be the URL-safe base64 of 1 to %d characters of UTF-8", maxMarkText)
		}
		if strings.ContainsFunc(text, unicode.IsControl) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter text: must be one line without control characters")
		}
		m.text = text
	case "font":
		name, err := decodeMarkB64(key, val)
		if err != nil {
			return err
		}
		name = strings.TrimSpace(name)
		if name == "" || len(name) > 200 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter font: must be the URL-safe base64 of a font name")
		}
		m.font = name
	case "fontsize":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > maxFontSize || !isDigits(val) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter fontsize: %q is not a size in twips from 1 to %d (240 is 12 pt)", val, maxFontSize)
		}
		m.fontSize = n
	case "fill":
		s, err := decodeMarkB64(key, val)
		if err != nil {
			return err
		}
		c, ok := parseMarkColor(s)
		if !ok {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter fill: %q is not a colour like #RRGGBB or a name like red", s)
		}
		m.fill = c
	case "dissolve":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 100 || !isDigits(val) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter dissolve: %q is not an opacity from 1 to 100", val)
		}
		m.dissolve = n
	case "gravity":
		g, ok := parseMarkGravity(val)
		if !ok {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter gravity: %q is not one of %s", val, strings.Join(markGravityNames[:], ", "))
		}
		m.gravity = g
	case "dx", "dy":
		n, err := strconv.Atoi(val)
		if err != nil || n < -maxMarkOffset || n > maxMarkOffset {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: %q is not a whole number of pixels", key, val)
		}
		if key == "dx" {
			m.dx = n
		} else {
			m.dy = n
		}
	case "ws":
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter ws: %q is not a fraction from 0 to 1 of the image width", val)
		}
		m.ws = f
	default:
		return ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: unknown", key)
	}
	if m.kind == markImage && (key == "text" || key == "font" || key == "fontsize" || key == "fill") ||
		m.kind == markText && (key == "image" || key == "ws") {
		kind := "an image"
		if m.kind == markText {
			kind = "a text"
		}
		return ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: does not apply to %s mark", key, kind)
	}
	return nil
}

func isDigits(s string) bool { return s != "" && strings.TrimLeft(s, "0123456789") == "" }

// decodeMarkB64 decodes URL-safe base64 with optional padding (SPEC §1).
// The standard alphabet's + and / are accepted too, as saveas does: some
// clients encode with it (a / arrives percent-encoded as %2F).
func decodeMarkB64(param, s string) (string, error) {
	s = strings.NewReplacer("+", "-", "/", "_").Replace(strings.TrimRight(s, "="))
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return "", ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: %q is not URL-safe base64", param, s)
	}
	return string(b), nil
}

func encodeMarkB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// parseMarkGravity accepts the gravity names in any letter case.
func parseMarkGravity(s string) (markGravity, bool) {
	for g, n := range markGravityNames {
		if strings.EqualFold(s, n) {
			return markGravity(g), true
		}
	}
	return 0, false
}

// markColorNames are the colour names fill accepts besides #RRGGBB.
var markColorNames = map[string]color.NRGBA{
	"black":   {0, 0, 0, 0xff},
	"white":   {0xff, 0xff, 0xff, 0xff},
	"red":     {0xff, 0, 0, 0xff},
	"green":   {0, 0x80, 0, 0xff},
	"lime":    {0, 0xff, 0, 0xff},
	"blue":    {0, 0, 0xff, 0xff},
	"yellow":  {0xff, 0xff, 0, 0xff},
	"cyan":    {0, 0xff, 0xff, 0xff},
	"magenta": {0xff, 0, 0xff, 0xff},
	"gray":    {0x80, 0x80, 0x80, 0xff},
	"grey":    {0x80, 0x80, 0x80, 0xff},
	"silver":  {0xc0, 0xc0, 0xc0, 0xff},
	"orange":  {0xff, 0xa5, 0, 0xff},
	"purple":  {0x80, 0, 0x80, 0xff},
}

// parseMarkColor parses #RRGGBB, #RGB (the # is optional) or a colour name.
func parseMarkColor(s string) (color.NRGBA, bool) {
	if c, ok := markColorNames[strings.ToLower(s)]; ok {
		return c, true
	}
	hex := strings.TrimPrefix(s, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	if len(hex) != 6 {
		return color.NRGBA{}, false
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return color.NRGBA{}, false
	}
	return color.NRGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}, true
}

func (o *watermarkOp) name() string { return "watermark" }

// String spells the op with every parameter that differs from its default
// and affects the result, in a fixed order; one mark is mode 1 or 2.
func (o *watermarkOp) String() string {
	var b strings.Builder
	b.WriteString("watermark/")
	switch {
	case len(o.marks) > 1:
		b.WriteString("3")
	case o.marks[0].kind == markImage:
		b.WriteString("1")
	default:
		b.WriteString("2")
	}
	for _, m := range o.marks {
		m.writeTo(&b)
	}
	return b.String()
}

func (m *mark) writeTo(b *strings.Builder) {
	if m.kind == markImage {
		fmt.Fprintf(b, "/image/%s", encodeMarkB64(m.ref))
	} else {
		fmt.Fprintf(b, "/text/%s", encodeMarkB64(m.text))
		if m.font != "" {
			fmt.Fprintf(b, "/font/%s", encodeMarkB64(m.font))
		}
		if m.fontSize != defaultFontSize {
			fmt.Fprintf(b, "/fontsize/%d", m.fontSize)
		}
		if m.fill != defaultFill {
			fmt.Fprintf(b, "/fill/%s", encodeMarkB64(fmt.Sprintf("#%02x%02x%02x", m.fill.R, m.fill.G, m.fill.B)))
		}
	}
	if m.dissolve != defaultDissolve {
		fmt.Fprintf(b, "/dissolve/%d", m.dissolve)
	}
	if m.gravity != markSouthEast {
		fmt.Fprintf(b, "/gravity/%s", m.gravity)
	}
	if m.dx != defaultMarkDX && m.gravity.column() != 0 {
		fmt.Fprintf(b, "/dx/%d", m.dx)
	}
	if m.dy != defaultMarkDY && m.gravity.row() != 0 {
		fmt.Fprintf(b, "/dy/%d", m.dy)
	}
	if m.kind == markImage && m.ws != 0 {
		fmt.Fprintf(b, "/ws/%s", strconv.FormatFloat(m.ws, 'g', -1, 64))
	}
}

// animates: an animated GIF keeps its frames, each watermarked.
func (o *watermarkOp) animates() {}

var _ animator = (*watermarkOp)(nil)

// outSize: marks are drawn onto the image, which keeps its size.
func (o *watermarkOp) outSize(w, h, _ int, _ sizeCheck) (int, int, error) { return w, h, nil }

func (o *watermarkOp) apply(ctx context.Context, f *frame) error {
	// Load and render every mark once, whatever the number of frames.
	width := f.img.Bounds().Dx()
	marks := make([]*image.NRGBA, len(o.marks))
	for i := range o.marks {
		if err := ctx.Err(); err != nil {
			return err
		}
		m := &o.marks[i]
		var err error
		if m.kind == markImage {
			marks[i], err = m.loadImage(ctx, f, width)
		} else {
			marks[i], err = m.renderText(f)
		}
		if err != nil {
			return err
		}
	}
	return f.eachFrame(func(img image.Image) (image.Image, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Draw on a copy: the frame's pixels may be shared with a decoder
		// cache, and a copy is needed anyway to get NRGBA.
		base := imaging.Clone(img)
		for i, m := range o.marks {
			drawWatermark(base, marks[i], m.gravity, m.dx, m.dy, m.dissolve)
		}
		return base, nil
	})
}

// loadImage fetches the mark's image through the Processor's loader and
// scales it for ws.
func (m *mark) loadImage(ctx context.Context, f *frame, baseWidth int) (*image.NRGBA, error) {
	img, err := f.p.loadImage(ctx, m.ref)
	if err != nil {
		// Keep the loader's kind (404, 413, 415...) and say which parameter.
		return nil, &ufop.Error{Kind: ufop.KindOf(err), Msg: "watermark: parameter image: " + ufop.Message(err), Err: err}
	}
	if m.ws == 0 {
		return imaging.Clone(img), nil
	}
	b := img.Bounds()
	w := max(1, int(math.Round(m.ws*float64(baseWidth))))
	h := max(1, int(math.Round(float64(w)*float64(b.Dy())/float64(b.Dx()))))
	if limit := f.p.cfg.MaxOutputSide; limit > 0 && h > limit {
		return nil, ufop.Errorf(ufop.KindTooLarge, "watermark: parameter ws: the scaled mark would be %d px tall, over the output limit of %d px", h, limit)
	}
	if px := int64(w) * int64(h); px > f.p.cfg.MaxOutputPixels {
		// A tall mark scaled to a wide image: its size is only known now.
		return nil, ufop.Errorf(ufop.KindTooLarge, "watermark: parameter ws: the scaled mark would be %dx%d (%s megapixels), over the limit of %s megapixels",
			w, h, megapixels(px), megapixels(f.p.cfg.MaxOutputPixels))
	}
	return imaging.Resize(img, w, h, imaging.Lanczos), nil
}

// renderText rasterizes a text mark with its font, falling back to an
// installed font for characters the chosen one lacks.
func (m *mark) renderText(f *frame) (*image.NRGBA, error) {
	px := float64(m.fontSize) / 20 // twips → points, and 1 pt = 1 px at 72 dpi
	runs, err := f.p.fonts.layout(f.p.cfg.FontDirs, m.text, m.font)
	if err != nil {
		return nil, err
	}
	return renderText(runs, px, m.fill, f.p.cfg.MaxOutputSide)
}

// drawWatermark composites mark over dst at the position given by gravity
// and the offsets, with dissolve percent opacity. Parts outside dst are
// clipped.
func drawWatermark(dst, mark *image.NRGBA, g markGravity, dx, dy, dissolve int) {
	db, mb := dst.Bounds(), mark.Bounds()
	x, y := markOrigin(db, mb.Dx(), mb.Dy(), g, dx, dy)
	r := image.Rect(x, y, x+mb.Dx(), y+mb.Dy()).Intersect(db)
	if r.Empty() || dissolve <= 0 {
		return
	}
	op := uint32(min(dissolve, 100))
	for py := r.Min.Y; py < r.Max.Y; py++ {
		di := dst.PixOffset(r.Min.X, py)
		si := mark.PixOffset(mb.Min.X+r.Min.X-x, mb.Min.Y+py-y)
		for px := r.Min.X; px < r.Max.X; px, di, si = px+1, di+4, si+4 {
			s := mark.Pix[si : si+4 : si+4]
			d := dst.Pix[di : di+4 : di+4]
			sa := uint32(s[3]) * op / 100
			switch {
			case sa == 0:
				continue
			case sa == 255:
				d[0], d[1], d[2], d[3] = s[0], s[1], s[2], 255
				continue
			}
			// Porter-Duff "over" on non-premultiplied colour, scaled by 255.
			dw := uint32(d[3]) * (255 - sa)
			a := sa*255 + dw
			for c := 0; c < 3; c++ {
				d[c] = uint8((uint32(s[c])*sa*255 + uint32(d[c])*dw + a/2) / a)
			}
			d[3] = uint8((a + 127) / 255)
		}
	}
}

// markOrigin returns the top-left corner of a w x h mark on an image with
// bounds b.
func markOrigin(b image.Rectangle, w, h int, g markGravity, dx, dy int) (int, int) {
	var x, y int
	switch g.column() {
	case -1:
		x = b.Min.X + dx
	case 0:
		x = b.Min.X + (b.Dx()-w)/2
	default:
		x = b.Max.X - w - dx
	}
	switch g.row() {
	case -1:
		y = b.Min.Y + dy
	case 0:
		y = b.Min.Y + (b.Dy()-h)/2
	default:
		y = b.Max.Y - h - dy
	}
	return x, y
}
