package fop

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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
var defaultFill = Color{A: 0xff}

// MarkKind says whether a mark is an image or a line of text.
type MarkKind uint8

// The mark kinds.
const (
	MarkImage MarkKind = iota + 1
	MarkText
)

// Mark is one watermark: an image or a line of text, and where and how
// opaque to draw it. The offsets DX and DY push it inwards from the edges
// its gravity anchors it to; on a centred axis they do not apply.
type Mark struct {
	Kind MarkKind
	// Ref is the image to draw: "bucket:key" or a URL (MarkImage).
	Ref string
	// WS scales the image to this fraction of the base image's width,
	// keeping its aspect; 0 keeps its size (MarkImage).
	WS float64
	// Text, Font (a name; "" is the built-in Go font), FontSize in twips and
	// Fill colour describe a text mark.
	Text     string
	Font     string
	FontSize int
	Fill     Color
	// Dissolve is the opacity in percent, 1-100.
	Dissolve int
	Gravity  Gravity
	DX, DY   int
}

func newMark(kind MarkKind) Mark {
	return Mark{
		Kind:     kind,
		FontSize: defaultFontSize,
		Fill:     defaultFill,
		Dissolve: defaultDissolve,
		Gravity:  SouthEast,
		DX:       defaultMarkDX,
		DY:       defaultMarkDY,
	}
}

// Watermark draws its marks in order.
type Watermark struct {
	Marks []Mark
}

// parseWatermark parses the arguments after "watermark": the mode, then
// key/value pairs. Mode 1 is one image mark, mode 2 one text mark, mode 3
// any sequence of them, each starting at its "image" or "text" key.
func parseWatermark(args []string) (Params, error) {
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
	var marks []Mark
	// seen records which parameters the current mark was given, to refuse
	// repeats.
	var seen map[string]bool
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
			kind := MarkImage
			if key == "text" {
				kind = MarkText
			}
			marks = append(marks, newMark(kind))
			seen = map[string]bool{}
		case len(marks) == 0:
			first := "image"
			if mode == "2" {
				first = "text"
			} else if mode == "3" {
				first = "image or text"
			}
			return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: must follow %s in watermark/%s", key, first, mode)
		}
		if seen[key] {
			return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: given twice for one mark", key)
		}
		seen[key] = true
		if err := marks[len(marks)-1].set(key, val); err != nil {
			return nil, err
		}
	}
	if len(marks) == 0 {
		what := map[string]string{"1": "image", "2": "text", "3": "image or text"}[mode]
		return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: missing; watermark/%s needs it", what, mode)
	}
	return &Watermark{Marks: marks}, nil
}

// set parses one parameter of the mark.
func (m *Mark) set(key, val string) error {
	switch key {
	case "image":
		ref, err := decodeMarkB64(key, val)
		if err != nil {
			return err
		}
		if ref == "" || len(ref) > maxMarkRef || !utf8.ValidString(ref) || !strings.Contains(ref, ":") || strings.ContainsFunc(ref, unicode.IsControl) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter image: must be the URL-safe base64 of a URL or of bucket:key")
		}
		m.Ref = ref
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
		m.Text = text
	case "font":
		name, err := decodeMarkB64(key, val)
		if err != nil {
			return err
		}
		name = strings.TrimSpace(name)
		if name == "" || len(name) > 200 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter font: must be the URL-safe base64 of a font name")
		}
		m.Font = name
	case "fontsize":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > maxFontSize || !isDigits(val) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter fontsize: %q is not a size in twips from 1 to %d (240 is 12 pt)", val, maxFontSize)
		}
		m.FontSize = n
	case "fill":
		s, err := decodeMarkB64(key, val)
		if err != nil {
			return err
		}
		c, ok := parseMarkColor(s)
		if !ok {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter fill: %q is not a colour like #RRGGBB or a name like red", s)
		}
		m.Fill = c
	case "dissolve":
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 || n > 100 || !isDigits(val) {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter dissolve: %q is not an opacity from 1 to 100", val)
		}
		m.Dissolve = n
	case "gravity":
		g, ok := parseGravity(val)
		if !ok {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter gravity: %q is not one of %s", val, strings.Join(gravityNames[:], ", "))
		}
		m.Gravity = g
	case "dx", "dy":
		n, err := strconv.Atoi(val)
		if err != nil || n < -maxMarkOffset || n > maxMarkOffset {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: %q is not a whole number of pixels", key, val)
		}
		if key == "dx" {
			m.DX = n
		} else {
			m.DY = n
		}
	case "ws":
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(f) || f < 0 || f > 1 {
			return ufop.Errorf(ufop.KindInvalid, "watermark: parameter ws: %q is not a fraction from 0 to 1 of the image width", val)
		}
		m.WS = f
	default:
		return ufop.Errorf(ufop.KindInvalid, "watermark: parameter %s: unknown", key)
	}
	if m.Kind == MarkImage && (key == "text" || key == "font" || key == "fontsize" || key == "fill") ||
		m.Kind == MarkText && (key == "image" || key == "ws") {
		kind := "an image"
		if m.Kind == MarkText {
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

// markColorNames are the colour names fill accepts besides #RRGGBB.
var markColorNames = map[string]Color{
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
func parseMarkColor(s string) (Color, bool) {
	if c, ok := markColorNames[strings.ToLower(s)]; ok {
		return c, true
	}
	hex := strings.TrimPrefix(s, "#")
	if len(hex) == 3 {
		hex = string([]byte{hex[0], hex[0], hex[1], hex[1], hex[2], hex[2]})
	}
	if len(hex) != 6 {
		return Color{}, false
	}
	v, err := strconv.ParseUint(hex, 16, 32)
	if err != nil {
		return Color{}, false
	}
	return Color{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}, true
}

func (*Watermark) params()      {}
func (*Watermark) Name() string { return "watermark" }

// String spells the op with every parameter that differs from its default
// and affects the result, in a fixed order; one mark is mode 1 or 2.
func (o *Watermark) String() string {
	var b strings.Builder
	b.WriteString("watermark/")
	switch {
	case len(o.Marks) > 1:
		b.WriteString("3")
	case o.Marks[0].Kind == MarkImage:
		b.WriteString("1")
	default:
		b.WriteString("2")
	}
	for _, m := range o.Marks {
		m.writeTo(&b)
	}
	return b.String()
}

func (m *Mark) writeTo(b *strings.Builder) {
	if m.Kind == MarkImage {
		fmt.Fprintf(b, "/image/%s", encodeMarkB64(m.Ref))
	} else {
		fmt.Fprintf(b, "/text/%s", encodeMarkB64(m.Text))
		if m.Font != "" {
			fmt.Fprintf(b, "/font/%s", encodeMarkB64(m.Font))
		}
		if m.FontSize != defaultFontSize {
			fmt.Fprintf(b, "/fontsize/%d", m.FontSize)
		}
		if m.Fill != defaultFill {
			fmt.Fprintf(b, "/fill/%s", encodeMarkB64(fmt.Sprintf("#%02x%02x%02x", m.Fill.R, m.Fill.G, m.Fill.B)))
		}
	}
	if m.Dissolve != defaultDissolve {
		fmt.Fprintf(b, "/dissolve/%d", m.Dissolve)
	}
	if m.Gravity != SouthEast {
		fmt.Fprintf(b, "/gravity/%s", m.Gravity)
	}
	if m.DX != defaultMarkDX && m.Gravity.Column() != 0 {
		fmt.Fprintf(b, "/dx/%d", m.DX)
	}
	if m.DY != defaultMarkDY && m.Gravity.Row() != 0 {
		fmt.Fprintf(b, "/dy/%d", m.DY)
	}
	if m.Kind == MarkImage && m.WS != 0 {
		fmt.Fprintf(b, "/ws/%s", strconv.FormatFloat(m.WS, 'g', -1, 64))
	}
}

// refs are the images the marks read.
func (o *Watermark) refs() []string {
	var out []string
	for _, m := range o.Marks {
		if m.Kind == MarkImage {
			out = append(out, m.Ref)
		}
	}
	return out
}
