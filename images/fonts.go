package images

import (
	"fmt"
	"image"
	"image/color"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/gobolditalic"
	"golang.org/x/image/font/gofont/goitalic"
	"golang.org/x/image/font/gofont/gomedium"
	"golang.org/x/image/font/gofont/gomono"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"

	"github.com/ufop/ufop"
)

// Font files larger than this are skipped when indexing: no real font is,
// and reading one must not exhaust memory.
const maxFontFile = 64 << 20

// coveragePlanes is how many Unicode planes the coverage index records:
// the BMP, the supplementary multilingual plane (emoji, historic scripts)
// and the ideographic plane (rare CJK).
const coveragePlanes = 3

// preferredFallbacks are family names (normalized) tried first when a text
// needs a font other than the requested one: broad CJK fonts that also have
// Latin, so a mixed text is set in one consistent face.
var preferredFallbacks = []string{
	"wenquanyimicrohei", "wenquanyizenhei", "notosanscjksc", "notosanscjk",
	"sourcehansanssc", "sourcehansans", "droidsansfallback", "notosans", "dejavusans",
}

// fontLibrary is the set of fonts a Processor can set text in: Go's built-in
// fonts and the font files under Config.FontDirs. The zero value is ready;
// the directories are scanned once, on the first text mark.
type fontLibrary struct {
	once    sync.Once
	entries []*fontEntry
}

// fontEntry is one font face: its names, which runes it has, and (once
// used) the parsed font.
type fontEntry struct {
	// names are normalized (see normFontName): family, full name,
	// typographic family, PostScript name and the file's base name.
	names []string
	// regular is true for the upright, normal weight face of a family, the
	// one a bare family name picks.
	regular bool
	// rank orders fallback candidates: lower first.
	rank int
	// path and index locate a system font (index within a collection);
	// data holds a built-in font instead.
	path  string
	index int
	data  []byte
	// cover has one bit per rune of the first coveragePlanes planes.
	cover []uint64

	load sync.Once
	font *sfnt.Font
	err  error
}

func (e *fontEntry) has(r rune) bool {
	i := int(r)
	return i >= 0 && i/64 < len(e.cover) && e.cover[i/64]&(1<<(i%64)) != 0
}

// parsed returns the parsed font, reading a system font file on first use.
// The parsed font is kept: only fonts that texts actually use are held.
func (e *fontEntry) parsed() (*sfnt.Font, error) {
	e.load.Do(func() {
		data := e.data
		if data == nil {
			data, e.err = readFontFile(e.path)
			if e.err != nil {
				return
			}
		}
		e.font, e.err = parseFontData(data, e.path, e.index)
	})
	return e.font, e.err
}

func readFontFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("fonts: %w", err)
	}
	if fi.Size() > maxFontFile {
		return nil, fmt.Errorf("fonts: %s: %d bytes is over the %d byte limit", path, fi.Size(), maxFontFile)
	}
	return os.ReadFile(path)
}

// parseFontData parses face index of a font file; index is ignored for
// files that are not collections.
func parseFontData(data []byte, path string, index int) (*sfnt.Font, error) {
	if isCollection(data) {
		c, err := sfnt.ParseCollection(data)
		if err != nil {
			return nil, fmt.Errorf("fonts: parse %s: %w", path, err)
		}
		f, err := c.Font(index)
		if err != nil {
			return nil, fmt.Errorf("fonts: parse %s face %d: %w", path, index, err)
		}
		return f, nil
	}
	f, err := sfnt.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("fonts: parse %s: %w", path, err)
	}
	return f, nil
}

func isCollection(data []byte) bool { return len(data) >= 4 && string(data[:4]) == "ttcf" }

// normFontName folds the spellings of a font name together: letter case,
// spaces, hyphens and underscores do not matter.
func normFontName(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_':
			return -1
		}
		return toLowerRune(r)
	}, s)
}

func toLowerRune(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// index scans the built-in fonts and dirs, once.
func (l *fontLibrary) index(dirs []string) []*fontEntry {
	l.once.Do(func() {
		builtins := []struct {
			name string
			data []byte
		}{
			{"goregular", goregular.TTF}, {"gobold", gobold.TTF}, {"goitalic", goitalic.TTF},
			{"gobolditalic", gobolditalic.TTF}, {"gomedium", gomedium.TTF}, {"gomono", gomono.TTF},
		}
		for _, b := range builtins {
			f, err := sfnt.Parse(b.data)
			if err != nil {
				continue // cannot happen: the data is compiled in and tested
			}
			e := describeFont(f, b.name)
			e.data, e.font = b.data, f
			e.load.Do(func() {}) // already parsed
			l.entries = append(l.entries, e)
		}
		var system []*fontEntry
		for _, dir := range dirs {
			_ = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil // unreadable parts of a font dir are skipped
				}
				switch strings.ToLower(filepath.Ext(path)) {
				case ".ttf", ".otf", ".ttc", ".otc":
					system = append(system, scanFontFile(path)...)
				}
				return nil
			})
		}
		slices.SortStableFunc(system, func(a, b *fontEntry) int {
			if a.rank != b.rank {
				return a.rank - b.rank
			}
			return strings.Compare(a.path, b.path)
		})
		l.entries = append(l.entries, system...)
	})
	return l.entries
}

// scanFontFile indexes every face of one font file; files that do not parse
// are skipped.
func scanFontFile(path string) []*fontEntry {
	data, err := readFontFile(path)
	if err != nil {
		return nil
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var fonts []*sfnt.Font
	if isCollection(data) {
		c, err := sfnt.ParseCollection(data)
		if err != nil {
			return nil
		}
		for i := range c.NumFonts() {
			if f, err := c.Font(i); err == nil {
				fonts = append(fonts, f)
			} else {
				fonts = append(fonts, nil)
			}
		}
	} else if f, err := sfnt.Parse(data); err == nil {
		fonts = append(fonts, f)
	}
	var out []*fontEntry
	for i, f := range fonts {
		if f == nil {
			continue
		}
		e := describeFont(f, base)
		e.path, e.index = path, i
		out = append(out, e)
	}
	return out
}

// describeFont reads a face's names and rune coverage.
func describeFont(f *sfnt.Font, base string) *fontEntry {
	var buf sfnt.Buffer
	e := &fontEntry{rank: len(preferredFallbacks)}
	add := func(s string) {
		if n := normFontName(s); n != "" && !slices.Contains(e.names, n) {
			e.names = append(e.names, n)
		}
	}
	family, _ := f.Name(&buf, sfnt.NameIDFamily)
	sub, _ := f.Name(&buf, sfnt.NameIDSubfamily)
	full, _ := f.Name(&buf, sfnt.NameIDFull)
	typo, _ := f.Name(&buf, sfnt.NameIDTypographicFamily)
	ps, _ := f.Name(&buf, sfnt.NameIDPostScript)
	add(family)
	add(full)
	add(typo)
	add(ps)
	add(base)
	switch strings.ToLower(sub) {
	case "regular", "book", "normal", "roman", "":
		e.regular = true
	}
	for i, p := range preferredFallbacks {
		if strings.HasPrefix(normFontName(family), p) || strings.HasPrefix(normFontName(typo), p) {
			e.rank = i
			break
		}
	}
	e.cover = make([]uint64, coveragePlanes*0x10000/64)
	for r := rune(0); r < coveragePlanes*0x10000; r++ {
		if gi, err := f.GlyphIndex(&buf, r); err == nil && gi != 0 {
			e.cover[r/64] |= 1 << (r % 64)
		}
	}
	return e
}

// lookup finds the face a font parameter names: an exact full name first,
// then the regular face of a family, then any face of it.
func (l *fontLibrary) lookup(dirs []string, name string) *fontEntry {
	n := normFontName(name)
	var family *fontEntry
	for _, e := range l.index(dirs) {
		if len(e.names) > 1 && e.names[1] == n { // full name
			return e
		}
		if slices.Contains(e.names, n) && (family == nil || e.regular && !family.regular) {
			family = e
		}
	}
	return family
}

// textRun is a stretch of text set in one font.
type textRun struct {
	font *sfnt.Font
	text string
}

// layout splits text into runs of one font each. name is the requested
// font ("" for the default, Go Regular). Characters the font lacks are set
// in the first installed font that has them; with the default font, a text
// that needs another font goes entirely into one that has all of it, when
// there is one, so that it reads as one face. Nothing is ever drawn as a
// missing-glyph box: a character no font has is an error naming it.
func (l *fontLibrary) layout(dirs []string, text, name string) ([]textRun, error) {
	entries := l.index(dirs)
	var primary *fontEntry
	if name == "" {
		primary = entries[0] // Go Regular
	} else if primary = l.lookup(dirs, name); primary == nil {
		return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter font: no font named %q is installed", name)
	}
	pf, err := primary.parsed()
	if err != nil {
		return nil, fmt.Errorf("watermark: font %q: %w", name, err)
	}
	if name == "" && !coversAll(primary, text) {
		for _, e := range entries {
			if coversAll(e, text) {
				f, err := e.parsed()
				if err != nil {
					continue // an unreadable file: try the next candidate
				}
				return []textRun{{font: f, text: text}}, nil
			}
		}
	}
	var runs []textRun
	for _, r := range text {
		f := pf
		if !primary.has(r) && !(r == ' ' || r == '\u00a0') {
			f = nil
			for _, e := range entries {
				if !e.has(r) {
					continue
				}
				if f, err = e.parsed(); err == nil {
					break
				}
				f = nil
			}
			if f == nil {
				return nil, ufop.Errorf(ufop.KindInvalid, "watermark: parameter text: no installed font has the character %q (U+%04X)", r, r)
			}
		}
		if n := len(runs); n > 0 && runs[n-1].font == f {
			runs[n-1].text += string(r)
		} else {
			runs = append(runs, textRun{font: f, text: string(r)})
		}
	}
	return runs, nil
}

func coversAll(e *fontEntry, text string) bool {
	for _, r := range text {
		if !e.has(r) {
			return false
		}
	}
	return true
}

// maxTextPixels bounds the raster of one text mark (about 40 MB as NRGBA).
const maxTextPixels = 10_000_000

// renderText rasterizes runs at size px (pixels per em) in fill colour, on a
// transparent background just large enough for the inked glyphs.
func renderText(runs []textRun, px float64, fill color.NRGBA, maxSide int) (*image.NRGBA, error) {
	faces := make([]font.Face, len(runs))
	for i, r := range runs {
		face, err := opentype.NewFace(r.font, &opentype.FaceOptions{Size: px, DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			return nil, fmt.Errorf("watermark: font face: %w", err)
		}
		defer face.Close()
		faces[i] = face
	}
	// Measure the inked bounds of the whole line, runs side by side on one
	// baseline at y=0.
	var bounds fixed.Rectangle26_6
	var dot fixed.Int26_6
	for i, r := range runs {
		b, adv := font.BoundString(faces[i], r.text)
		b = b.Add(fixed.Point26_6{X: dot})
		if i == 0 {
			bounds = b
		} else {
			bounds = bounds.Union(b)
		}
		dot += adv
	}
	x0, y0 := bounds.Min.X.Floor(), bounds.Min.Y.Floor()
	w, h := bounds.Max.X.Ceil()-x0, bounds.Max.Y.Ceil()-y0
	if w <= 0 || h <= 0 {
		// Only spaces: an invisible mark of the line's advance.
		return image.NewNRGBA(image.Rect(0, 0, max(1, dot.Ceil()), 1)), nil
	}
	if (maxSide > 0 && (w > maxSide || h > maxSide)) || int64(w)*int64(h) > maxTextPixels {
		return nil, ufop.Errorf(ufop.KindTooLarge, "watermark: parameter fontsize: the text would be %dx%d px, over the limit; use a smaller size or a shorter text", w, h)
	}
	mask := image.NewAlpha(image.Rect(0, 0, w, h))
	d := font.Drawer{Dst: mask, Src: image.Opaque, Dot: fixed.Point26_6{X: fixed.I(-x0), Y: fixed.I(-y0)}}
	for i, r := range runs {
		d.Face = faces[i]
		d.DrawString(r.text)
	}
	out := image.NewNRGBA(mask.Rect)
	for i, a := range mask.Pix {
		if a == 0 {
			continue
		}
		p := out.Pix[i*4 : i*4+4 : i*4+4]
		p[0], p[1], p[2] = fill.R, fill.G, fill.B
		p[3] = uint8((uint32(a)*uint32(fill.A) + 127) / 255)
	}
	return out, nil
}
