package images

import (
	"encoding/binary"
	"image/color"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"

	"github.com/ufop/ufop"
)

// systemFontDirs is where the tests look for installed fonts.
var systemFontDirs = DefaultConfig().FontDirs

func TestFontLookup(t *testing.T) {
	var l fontLibrary
	tests := []struct {
		name      string
		wantBase  string // the entry's file base name, or the built-in's name
		wantIndex int
		system    bool // needs an installed font: skipped when absent
	}{
		{"Go", "goregular", 0, false},
		{"go regular", "goregular", 0, false},
		{"Go Bold", "gobold", 0, false},
		{"GoMono", "gomono", 0, false},
		{"go-medium", "gomedium", 0, false},
		{"DejaVu Sans", "DejaVuSans", 0, true},
		{"dejavu sans bold", "DejaVuSans-Bold", 0, true},
		{"WenQuanYi Micro Hei", "wqy-microhei", 0, true},
		{"文泉驿微米黑", "wqy-microhei", 0, true},
		{"文泉驛等寬微米黑", "wqy-microhei", 1, true},
		{"wqy-microhei", "wqy-microhei", 0, true},
	}
	for _, tc := range tests {
		e := l.lookup(systemFontDirs, tc.name)
		if e == nil {
			if tc.system {
				t.Logf("%q is not installed: skipped", tc.name)
				continue
			}
			t.Errorf("lookup(%q): not found", tc.name)
			continue
		}
		base := strings.TrimSuffix(filepath.Base(e.path), filepath.Ext(e.path))
		if e.path == "" {
			base = e.faceNames[len(e.faceNames)-1]
		}
		if base != tc.wantBase || e.index != tc.wantIndex {
			t.Errorf("lookup(%q) = %s#%d, want %s#%d", tc.name, base, e.index, tc.wantBase, tc.wantIndex)
		}
	}
	if e := l.lookup(systemFontDirs, "No Such Font"); e != nil {
		t.Errorf("lookup of a missing font found %s", e.path)
	}
}

// misalign rebuilds a single-font sfnt with every table starting 2 bytes
// past a 4-byte boundary, as some real fonts ship.
func misalign(data []byte) []byte {
	numTables := int(binary.BigEndian.Uint16(data[4:]))
	out := make([]byte, 12+16*numTables)
	copy(out, data[:12+16*numTables])
	for i := range numTables {
		rec := out[12+16*i:]
		o := binary.BigEndian.Uint32(rec[8:])
		n := binary.BigEndian.Uint32(rec[12:])
		for len(out)%4 != 2 {
			out = append(out, 0)
		}
		binary.BigEndian.PutUint32(rec[8:], uint32(len(out)))
		out = append(out, data[o:o+n]...)
	}
	return out
}

// collection wraps single fonts in a TTC.
func collection(fonts ...[]byte) []byte {
	hdr := make([]byte, 12+4*len(fonts))
	copy(hdr, "ttcf")
	binary.BigEndian.PutUint32(hdr[4:], 0x00010000)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(fonts)))
	out := hdr
	for i, f := range fonts {
		for len(out)%4 != 0 {
			out = append(out, 0)
		}
		base := len(out)
		binary.BigEndian.PutUint32(out[12+4*i:], uint32(base))
		// Table offsets in a collection are from the file's start.
		numTables := int(binary.BigEndian.Uint16(f[4:]))
		g := append([]byte(nil), f...)
		for j := range numTables {
			rec := g[12+16*j:]
			binary.BigEndian.PutUint32(rec[8:], binary.BigEndian.Uint32(rec[8:])+uint32(base))
		}
		out = append(out, g...)
	}
	return out
}

func TestParseMisalignedFonts(t *testing.T) {
	bad := misalign(goregular.TTF)
	if _, err := sfnt.Parse(bad); err == nil {
		t.Fatal("sfnt parses misaligned tables now: realignFace may be unnecessary")
	}
	var buf sfnt.Buffer
	want, _ := sfnt.Parse(goregular.TTF)
	wantA, _ := want.GlyphIndex(&buf, 'A')
	tests := []struct {
		name  string
		data  []byte
		index int
	}{
		{"single", bad, 0},
		{"collection, first", collection(bad, misalign(gobold.TTF)), 0},
		{"collection, second", collection(misalign(gobold.TTF), bad), 1},
	}
	for _, tc := range tests {
		f, err := parseFontData(tc.data, tc.name, tc.index)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if gi, err := f.GlyphIndex(&buf, 'A'); err != nil || gi != wantA {
			t.Errorf("%s: glyph of A is %d (%v), want %d", tc.name, gi, err, wantA)
		}
		names, err := readFaceNames(strings.NewReader(string(tc.data)), tc.index)
		if err != nil || names[sfnt.NameIDFull][0] != "Go Regular" {
			t.Errorf("%s: names %v, %v", tc.name, names, err)
		}
	}
	for _, junk := range [][]byte{nil, []byte("ttcf"), []byte("ttcf\x00\x01\x00\x00\x00\x00\x00\x01\xff\xff\xff\xff"), goregular.TTF[:100]} {
		if _, err := parseFontData(junk, "junk", 0); err == nil {
			t.Errorf("junk %q parsed", junk)
		}
		if _, err := realignFace(junk, 0); err == nil && len(junk) < 100 {
			t.Errorf("junk %q realigned", junk)
		}
	}
}

// TestFontIndexSkipsJunk checks that unreadable font files are skipped.
func TestFontIndexSkipsJunk(t *testing.T) {
	dir := t.TempDir()
	files := map[string][]byte{
		"empty.ttf":     nil,
		"garbage.otf":   []byte("not a font at all"),
		"truncated.ttf": goregular.TTF[:300],
		"bomb.ttc":      []byte("ttcf\x00\x01\x00\x00\xff\xff\xff\xff"),
		"sub/good.TTF":  gobold.TTF,
		"notes.txt":     []byte("ignored"),
	}
	for name, data := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var l fontLibrary
	var system []string
	for _, e := range l.index([]string{dir, filepath.Join(dir, "missing")}) {
		if e.path != "" {
			system = append(system, filepath.Base(e.path))
		}
	}
	if len(system) != 1 || system[0] != "good.TTF" {
		t.Errorf("indexed %v, want only good.TTF", system)
	}
}

func TestLayout(t *testing.T) {
	var l fontLibrary
	entries := l.index(systemFontDirs)
	var cjk *fontEntry
	for _, e := range entries {
		// A CJK face with Latin too: the cases below set "水印 ufop" in one
		// face. (DroidSansFallback, which libgs pulls in, has no Latin.)
		if e.data == nil && coversAll(e, "水印 ufop!") {
			cjk = e
			break
		}
	}
	tests := []struct {
		name, text, font string
		wantRuns         int
		needCJK          bool
		kind             ufop.Kind // non-zero: the error expected
	}{
		{"latin, default font", "Hello, world", "", 1, false, 0},
		{"latin, named font", "Hello", "Go Bold", 1, false, 0},
		{"cjk, default font: one CJK face", "水印 ufop", "", 1, true, 0},
		{"cjk in a Latin font: per-rune fallback", "ufop 水印!", "Go", 3, true, 0},
		{"missing font", "Hi", "Comic Sans 3000", 0, false, ufop.KindInvalid},
		{"no font has it", "a\U0010FFFD", "", 0, false, ufop.KindInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.needCJK && cjk == nil {
				t.Skipf("no CJK font with Latin under %v: install fonts-wqy-microhei or fonts-noto-cjk", systemFontDirs)
			}
			runs, err := l.layout(systemFontDirs, tc.text, tc.font)
			if tc.kind != 0 {
				if err == nil || kindOf(t, err) != tc.kind {
					t.Fatalf("error %v, want kind %s", err, tc.kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(runs) != tc.wantRuns {
				t.Errorf("%d runs, want %d", len(runs), tc.wantRuns)
			}
			// Never tofu: every rune has a glyph in the font of its run.
			var text strings.Builder
			var buf sfnt.Buffer
			for _, r := range runs {
				text.WriteString(r.text)
				for _, c := range r.text {
					if gi, err := r.font.GlyphIndex(&buf, c); (err != nil || gi == 0) && c != ' ' {
						t.Errorf("%q is set in a font without it", c)
					}
				}
			}
			if text.String() != tc.text {
				t.Errorf("runs spell %q, want %q", text.String(), tc.text)
			}
		})
	}
}

func TestRenderText(t *testing.T) {
	var l fontLibrary
	runs, err := l.layout(nil, "Hig", "")
	if err != nil {
		t.Fatal(err)
	}
	fill := color.NRGBA{200, 10, 30, 255}
	img, err := renderText(runs, 40, fill, 10000)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	// Tight around the ink: cap height plus descender of 40 px Go Regular.
	if b.Dy() < 30 || b.Dy() > 42 || b.Dx() < 40 || b.Dx() > 80 {
		t.Errorf("bounds %v for 40 px \"Hig\"", b)
	}
	opaque := 0
	for i := 0; i < len(img.Pix); i += 4 {
		p := img.Pix[i : i+4]
		if p[3] == 0 {
			continue
		}
		if p[0] != fill.R || p[1] != fill.G || p[2] != fill.B {
			t.Fatalf("ink colour %v, want %v", p, fill)
		}
		if p[3] == 255 {
			opaque++
		}
	}
	if opaque < 100 {
		t.Errorf("only %d opaque pixels", opaque)
	}
	// The first and last rows and columns have ink: the bounds are tight.
	for _, edge := range []struct{ x0, y0, dx, dy, n int }{
		{0, 0, 1, 0, b.Dx()}, {0, b.Dy() - 1, 1, 0, b.Dx()}, {0, 0, 0, 1, b.Dy()}, {b.Dx() - 1, 0, 0, 1, b.Dy()},
	} {
		inked := false
		for i := range edge.n {
			if img.NRGBAAt(edge.x0+i*edge.dx, edge.y0+i*edge.dy).A > 0 {
				inked = true
			}
		}
		if !inked {
			t.Errorf("edge %+v has no ink: bounds not tight", edge)
		}
	}

	spaces, _ := l.layout(nil, "   ", "")
	if img, err := renderText(spaces, 40, fill, 10000); err != nil || img.Bounds().Dy() != 1 {
		t.Errorf("spaces: %v, %v", img.Bounds(), err)
	}
	long, _ := l.layout(nil, strings.Repeat("W", 100), "")
	if _, err := renderText(long, 1000, fill, 10000); kindOf(t, err) != ufop.KindTooLarge {
		t.Errorf("huge text: %v, want too large", err)
	}
}
