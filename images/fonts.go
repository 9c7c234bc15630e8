package images

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unicode/utf16"

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

// droidSansFallback is Droid Sans Fallback (Apache-2.0, from Debian's
// fonts-droid-fallback; see fonts/NOTICE): a CJK font shipped with ufop so
// that CJK text marks render on a machine with no CJK font installed.
//
//go:embed fonts/DroidSansFallbackFull.ttf
var droidSansFallback []byte

// preferredFallbacks are family names (normalized) tried first when a text
// needs a font other than the requested one: broad CJK fonts that also have
// Latin, so a mixed text is set in one consistent face.
var preferredFallbacks = []string{
	"wenquanyimicrohei", "wenquanyizenhei", "notosanscjksc", "notosanscjk",
	"sourcehansanssc", "sourcehansans", "droidsansfallback", "notosans", "dejavusans",
}

// fontLibrary is the set of fonts a Processor can set text in: Go's built-in
// fonts, the font files under Config.FontDirs and, last, the embedded Droid
// Sans Fallback. The zero value is ready;
// the directories are scanned once, on the first text mark.
type fontLibrary struct {
	once    sync.Once
	entries []*fontEntry
}

// fontEntry is one font face: its names, which runes it has, and (once
// used) the parsed font.
type fontEntry struct {
	// faceNames name this face alone (full name, PostScript name, file
	// base name); familyNames name its family (family, typographic family).
	// All normalized (see normFontName), in every language the font's name
	// table has, so that 文泉驿微米黑 finds WenQuanYi Micro Hei.
	faceNames, familyNames []string
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
	// cover has one bit per rune of the first coveragePlanes planes,
	// computed on first need: most faces are never asked.
	coverOnce sync.Once
	cover     []uint64

	load sync.Once
	font *sfnt.Font
	err  error
}

// has reports whether the face has a glyph for r.
func (e *fontEntry) has(r rune) bool {
	e.coverOnce.Do(e.computeCover)
	i := int(r)
	return i >= 0 && i/64 < len(e.cover) && e.cover[i/64]&(1<<(i%64)) != 0
}

// computeCover fills the coverage bitmap. A face not yet in use is parsed
// only for this and not kept, so asking many faces costs time once but no
// lasting memory beyond 24 KiB each.
func (e *fontEntry) computeCover() {
	e.cover = make([]uint64, coveragePlanes*0x10000/64)
	// A built-in font is parsed before the index is published; a system
	// font is parsed afresh rather than racing with parsed().
	f := e.font
	if e.data == nil {
		data, err := readFontFile(e.path)
		if err != nil {
			return // unreadable now: it has nothing
		}
		if f, err = parseFontData(data, e.path, e.index); err != nil {
			return
		}
	}
	var buf sfnt.Buffer
	for r := rune(0); r < coveragePlanes*0x10000; r++ {
		if gi, err := f.GlyphIndex(&buf, r); err == nil && gi != 0 {
			e.cover[r/64] |= 1 << (r % 64)
		}
	}
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
	var f *sfnt.Font
	var err error
	if isCollection(data) {
		var c *sfnt.Collection
		if c, err = sfnt.ParseCollection(data); err == nil {
			f, err = c.Font(index)
		}
	} else {
		f, err = sfnt.Parse(data)
	}
	if err != nil {
		// sfnt refuses tables that do not start on a 4-byte boundary, which
		// real fonts have (wqy-microhei.ttc, the CJK font Debian installs):
		// parse a copy of the face with its tables realigned.
		standalone, serr := realignFace(data, index)
		if serr != nil {
			return nil, fmt.Errorf("fonts: parse %s face %d: %w", path, index, err)
		}
		if f, serr = sfnt.Parse(standalone); serr != nil {
			return nil, fmt.Errorf("fonts: parse %s face %d: %w", path, index, err)
		}
	}
	return f, nil
}

// realignFace copies face index of an sfnt file or collection into a
// standalone sfnt whose tables all start on 4-byte boundaries. Table
// contents are only moved: they refer to each other by table, not by file
// offset.
func realignFace(data []byte, index int) ([]byte, error) {
	errBad := errors.New("fonts: malformed sfnt table directory")
	off := 0
	if isCollection(data) {
		if index < 0 || 12+4*index+4 > len(data) {
			return nil, errBad
		}
		off = int(binary.BigEndian.Uint32(data[12+4*index:]))
	}
	if off < 0 || off+12 > len(data) {
		return nil, errBad
	}
	numTables := int(binary.BigEndian.Uint16(data[off+4:]))
	dirEnd := off + 12 + 16*numTables
	if numTables == 0 || dirEnd > len(data) {
		return nil, errBad
	}
	out := make([]byte, 12+16*numTables, len(data))
	copy(out, data[off:dirEnd])
	for i := range numTables {
		rec := out[12+16*i : 12+16*i+16]
		o := int64(binary.BigEndian.Uint32(rec[8:]))
		n := int64(binary.BigEndian.Uint32(rec[12:]))
		if o+n > int64(len(data)) {
			return nil, errBad
		}
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		binary.BigEndian.PutUint32(rec[8:], uint32(len(out)))
		out = append(out, data[o:o+n]...)
	}
	return out, nil
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

// index scans the built-in fonts and dirs, once. Scanning reads only each
// file's table directory and name table, not whole files: font directories
// hold hundreds of megabytes of CJK fonts.
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
			if e := builtinFont(b.data, b.name); e != nil {
				l.entries = append(l.entries, e)
			}
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
		// The embedded CJK font comes last: an installed CJK font, usually
		// more complete and chosen by the operator, is preferred.
		if e := builtinFont(droidSansFallback, "droidsansfallbackfull"); e != nil {
			l.entries = append(l.entries, e)
		}
	})
	return l.entries
}

// builtinFont indexes and parses a compiled-in font; nil cannot happen
// (the data is compiled in and tested).
func builtinFont(data []byte, name string) *fontEntry {
	f, err := sfnt.Parse(data)
	if err != nil {
		return nil
	}
	names, err := readFaceNames(bytes.NewReader(data), 0)
	if err != nil {
		return nil
	}
	e := describeFont(names, name)
	e.data, e.font = data, f
	e.load.Do(func() {}) // already parsed
	return e
}

// scanFontFile indexes every face of one font file; faces whose names
// cannot be read are skipped.
func scanFontFile(path string) []*fontEntry {
	file, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer file.Close()
	n, err := faceCount(file)
	if err != nil {
		return nil
	}
	base := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	var out []*fontEntry
	for i := range n {
		names, err := readFaceNames(file, i)
		if err != nil {
			continue
		}
		e := describeFont(names, base)
		e.path, e.index = path, i
		out = append(out, e)
	}
	return out
}

// describeFont builds the index entry of a face from its names.
func describeFont(names map[sfnt.NameID][]string, base string) *fontEntry {
	e := &fontEntry{rank: len(preferredFallbacks)}
	add := func(list *[]string, names ...string) {
		for _, s := range names {
			if n := normFontName(s); n != "" && !slices.Contains(*list, n) {
				*list = append(*list, n)
			}
		}
	}
	add(&e.faceNames, names[sfnt.NameIDFull]...)
	add(&e.faceNames, names[sfnt.NameIDPostScript]...)
	add(&e.faceNames, base)
	add(&e.familyNames, names[sfnt.NameIDFamily]...)
	add(&e.familyNames, names[sfnt.NameIDTypographicFamily]...)
	e.regular = len(names[sfnt.NameIDSubfamily]) == 0
	for _, sub := range names[sfnt.NameIDSubfamily] {
		switch strings.ToLower(sub) {
		case "regular", "book", "normal", "roman":
			e.regular = true
		}
	}
	for i, p := range preferredFallbacks {
		if slices.ContainsFunc(e.familyNames, func(n string) bool { return strings.HasPrefix(n, p) }) {
			e.rank = i
			break
		}
	}
	return e
}

// faceCount returns how many faces a font file holds: the count of a
// collection's header, else 1.
func faceCount(r io.ReaderAt) (int, error) {
	var hdr [12]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return 0, err
	}
	if string(hdr[:4]) != "ttcf" {
		return 1, nil
	}
	return int(min(binary.BigEndian.Uint32(hdr[8:]), 256)), nil
}

// faceOffset returns where face index's table directory starts.
func faceOffset(r io.ReaderAt, index int) (int64, error) {
	var hdr [4]byte
	if _, err := r.ReadAt(hdr[:], 0); err != nil {
		return 0, err
	}
	if string(hdr[:]) != "ttcf" {
		return 0, nil
	}
	var off [4]byte
	if _, err := r.ReadAt(off[:], 12+4*int64(index)); err != nil {
		return 0, err
	}
	return int64(binary.BigEndian.Uint32(off[:])), nil
}

// readFaceNames returns the names of face index of a font file, in every
// language its name table's Unicode records have (sfnt's Name gives one
// language only; this is how 文泉驿微米黑 finds WenQuanYi Micro Hei).
func readFaceNames(r io.ReaderAt, index int) (map[sfnt.NameID][]string, error) {
	errBad := errors.New("fonts: malformed name table")
	off, err := faceOffset(r, index)
	if err != nil {
		return nil, err
	}
	var hdr [12]byte
	if _, err := r.ReadAt(hdr[:], off); err != nil {
		return nil, err
	}
	numTables := int(binary.BigEndian.Uint16(hdr[4:]))
	dir := make([]byte, 16*numTables)
	if _, err := r.ReadAt(dir, off+12); err != nil {
		return nil, err
	}
	var name []byte
	for i := 0; i < len(dir); i += 16 {
		if string(dir[i:i+4]) != "name" {
			continue
		}
		o := int64(binary.BigEndian.Uint32(dir[i+8:]))
		n := int64(binary.BigEndian.Uint32(dir[i+12:]))
		if n > 1<<20 {
			return nil, errBad
		}
		name = make([]byte, n)
		if _, err := r.ReadAt(name, o); err != nil {
			return nil, err
		}
		break
	}
	if len(name) < 6 {
		return nil, errBad
	}
	out := map[sfnt.NameID][]string{}
	count := int(binary.BigEndian.Uint16(name[2:]))
	storage := int(binary.BigEndian.Uint16(name[4:]))
	for i := range count {
		rec := 6 + 12*i
		if rec+12 > len(name) {
			break
		}
		platform := binary.BigEndian.Uint16(name[rec:])
		id := sfnt.NameID(binary.BigEndian.Uint16(name[rec+6:]))
		length := int(binary.BigEndian.Uint16(name[rec+8:]))
		start := storage + int(binary.BigEndian.Uint16(name[rec+10:]))
		// Platforms 0 (Unicode) and 3 (Windows) store UTF-16BE; Macintosh
		// records repeat them in legacy encodings.
		if platform != 0 && platform != 3 || start+length > len(name) || length%2 != 0 {
			continue
		}
		switch id {
		case sfnt.NameIDFamily, sfnt.NameIDSubfamily, sfnt.NameIDFull, sfnt.NameIDPostScript, sfnt.NameIDTypographicFamily:
		default:
			continue
		}
		u := make([]uint16, length/2)
		for j := range u {
			u[j] = binary.BigEndian.Uint16(name[start+2*j:])
		}
		if v := string(utf16.Decode(u)); !slices.Contains(out[id], v) {
			out[id] = append(out[id], v)
		}
	}
	if len(out[sfnt.NameIDFamily]) == 0 && len(out[sfnt.NameIDFull]) == 0 {
		return nil, errBad
	}
	return out, nil
}

// lookup finds the face a font parameter names: a face's own name first,
// then the regular face of a family, then any face of it.
func (l *fontLibrary) lookup(dirs []string, name string) *fontEntry {
	n := normFontName(name)
	var best *fontEntry
	bestScore := 0
	for _, e := range l.index(dirs) {
		score := 0
		switch {
		case slices.Contains(e.faceNames, n):
			score = 3
		case slices.Contains(e.familyNames, n) && e.regular:
			score = 2
		case slices.Contains(e.familyNames, n):
			score = 1
		}
		if score > bestScore {
			best, bestScore = e, score
		}
	}
	return best
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
		if !primary.has(r) {
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
