package fop

import (
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

func TestSplitStyled(t *testing.T) {
	tests := []struct {
		raw, seps string
		key, name string
		ok        bool
	}{
		{"a.jpg-thumb", "-", "a.jpg", "thumb", true},
		{"a.jpg!thumb", "-!", "a.jpg", "thumb", true},
		{"a-b.jpg", "-", "a", "b.jpg", true}, // a style b.jpg would win; the caller asks
		{"dir/a-b-c.jpg", "-", "dir/a-b", "c.jpg", true},
		{"a-b!c", "-!", "a-b", "c", true}, // the LAST separator of any kind
		{"a!b-c", "-!", "a!b", "c", true},
		{"photo.jpg/small", "/", "photo.jpg", "small", true},
		{"a.jpg", "-", "", "", false},      // no separator
		{"a.jpg-thumb", "", "", "", false}, // no separators set
		{"-thumb", "-", "", "", false},     // no key before it
		{"a.jpg-", "-", "", "", false},     // no name after it
		{"a%2Dthumb", "-", "", "", false},  // an escaped separator is part of the key
		{"a-th%75mb", "-", "", "", false},  // a name is never escaped
		{"a-" + strings.Repeat("x", 65), "-", "", "", false},
		{"a-thumb@2x", "-", "a", "thumb@2x", false}, // '@' is no name character
		{"a@thumb", "-@", "a", "thumb", true},
		{"a~b'c", "~'", "a~b", "c", true},
	}
	for _, tt := range tests {
		t.Run(tt.raw+" "+tt.seps, func(t *testing.T) {
			key, name, ok := SplitStyled(tt.raw, tt.seps)
			if ok != tt.ok || (ok && (key != tt.key || name != tt.name)) {
				t.Fatalf("SplitStyled(%q, %q) = %q, %q, %v; want %q, %q, %v", tt.raw, tt.seps, key, name, ok, tt.key, tt.name, tt.ok)
			}
		})
	}
}

func TestStyleNamesAndSeparators(t *testing.T) {
	names := []struct {
		name string
		ok   bool
	}{
		{"thumb", true}, {"w_200.webp", true}, {"A-1", true}, {strings.Repeat("n", 64), true},
		{"", false}, {strings.Repeat("n", 65), false}, {"a b", false}, {"a/b", false}, {"a!b", false}, {"缩略图", false},
	}
	for _, tt := range names {
		if err := ValidateStyleName(tt.name); (err == nil) != tt.ok {
			t.Errorf("ValidateStyleName(%q) = %v, want ok %v", tt.name, err, tt.ok)
		} else if err != nil && ufop.KindOf(err) != ufop.KindInvalid {
			t.Errorf("ValidateStyleName(%q): kind %s", tt.name, ufop.KindOf(err))
		}
	}
	seps := []struct {
		seps string
		ok   bool
	}{
		{"", true}, {"-", true}, {"-!", true}, {StyleSeparators, true},
		{"--", false}, {"?", false}, {"#", false}, {"%", false}, {"a", false}, {" ", false}, {"|", false},
	}
	for _, tt := range seps {
		if err := ValidateStyleSep(tt.seps); (err == nil) != tt.ok {
			t.Errorf("ValidateStyleSep(%q) = %v, want ok %v", tt.seps, err, tt.ok)
		}
	}
	clashes := []struct{ name, seps, want string }{
		{"thumb", "-!", ""}, {"a-b", "-!", "-"}, {"a.b", "!.", "."}, {"a-b", "", ""},
	}
	for _, tt := range clashes {
		if got := StyleNameClash(tt.name, tt.seps); got != tt.want {
			t.Errorf("StyleNameClash(%q, %q) = %q, want %q", tt.name, tt.seps, got, tt.want)
		}
	}
}

func TestParseStyle(t *testing.T) {
	tests := []struct {
		fops, msg string // msg "" means valid
	}{
		{"imageView2/2/w/200", ""},
		{"imageMogr2/thumbnail/300x/format/webp|imageInfo", ""},
		{"imageView2/9/w/200", "imageView2"},
		{"imageView2/2/w/200|saveas/YjprZXk", "saveas"},
		{"style/other", "another style"},
		{"imageInfo|style/other", "another style"},
		{"", "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.fops, func(t *testing.T) {
			_, err := ParseStyle(tt.fops, 10)
			if tt.msg == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || ufop.KindOf(err) != ufop.KindInvalid || !strings.Contains(ufop.Message(err), tt.msg) {
				t.Fatalf("err %v, want an invalid-input error saying %q", err, tt.msg)
			}
		})
	}
}

func TestExpandStyles(t *testing.T) {
	defs := map[string]string{"thumb": "imageView2/2/w/200", "info": "imageInfo", "two": "imageView2/2/w/50|imageMogr2/rotate/90"}
	lookup := func(name string) (string, error) {
		if d, ok := defs[name]; ok {
			return d, nil
		}
		return "", ufop.Errorf(ufop.KindNotFound, "no style %q", name)
	}
	tests := []struct {
		query, want string
		names       []string
		kind        ufop.Kind // of the error, when want is ""
	}{
		{"imageInfo", "imageInfo", nil, 0},
		{"style/thumb", "imageView2/2/w/200", []string{"thumb"}, 0},
		{"style/thumb|imageInfo", "imageView2/2/w/200|imageInfo", []string{"thumb"}, 0},
		{"imageMogr2/rotate/90%7Cstyle/thumb", "imageMogr2/rotate/90|imageView2/2/w/200", []string{"thumb"}, 0},
		{"style/two|style/info", "imageView2/2/w/50|imageMogr2/rotate/90|imageInfo", []string{"two", "info"}, 0},
		{"style/thumb|saveas/YjprZXk", "imageView2/2/w/200|saveas/YjprZXk", []string{"thumb"}, 0},
		{"%73tyle/thumb", "imageView2/2/w/200", []string{"thumb"}, 0},
		{"stylish/thumb", "stylish/thumb", nil, 0}, // a UFOP name, not a style
		{"style/nosuch", "", nil, ufop.KindNotFound},
		{"style", "", nil, ufop.KindInvalid},
		{"style/a b", "", nil, ufop.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, names, err := ExpandStyles(tt.query, lookup)
			if tt.want == "" {
				if err == nil || ufop.KindOf(err) != tt.kind {
					t.Fatalf("err %v, want kind %s", err, tt.kind)
				}
				return
			}
			if err != nil || got != tt.want || strings.Join(names, ",") != strings.Join(tt.names, ",") {
				t.Fatalf("ExpandStyles(%q) = %q, %v, %v; want %q, %v", tt.query, got, names, err, tt.want, tt.names)
			}
			if _, err := Parse(got, 10); err != nil {
				t.Fatalf("expansion %q does not parse: %v", got, err)
			}
		})
	}
	only := []struct {
		query, name string
		ok          bool
	}{
		{"style/thumb", "thumb", true}, {"style/thumb|imageInfo", "", false}, {"imageInfo", "", false}, {"", "", false},
		{"style/thumb%7CimageInfo", "", false},
	}
	for _, tt := range only {
		if name, ok := OnlyStyle(tt.query); ok != tt.ok || name != tt.name {
			t.Errorf("OnlyStyle(%q) = %q, %v; want %q, %v", tt.query, name, ok, tt.name, tt.ok)
		}
	}
}

// FuzzSplitStyled checks the styled-path splitter's promises: a split
// gives back the input, at a separator, with a non-empty key and a valid
// name that holds no separator; no split happens without separators.
func FuzzSplitStyled(f *testing.F) {
	for _, s := range [][2]string{
		{"a.jpg-thumb", "-"}, {"dir/a-b.jpg", "-!"}, {"a%2Dthumb", "-"}, {"-x", "-"}, {"x-", "-"},
		{"photo.jpg/small", "/"}, {"a!b-c", "-!"}, {"é-ü", "-"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, raw, seps string) {
		key, name, ok := SplitStyled(raw, seps)
		if !ok {
			if key != "" || name != "" {
				t.Fatalf("no split but %q, %q", key, name)
			}
			return
		}
		if seps == "" || key == "" || len(key)+1+len(name) != len(raw) || raw[:len(key)] != key || raw[len(key)+1:] != name {
			t.Fatalf("SplitStyled(%q, %q) = %q, %q", raw, seps, key, name)
		}
		if strings.IndexByte(seps, raw[len(key)]) < 0 {
			t.Fatalf("split of %q at %q, not a separator of %q", raw, raw[len(key)], seps)
		}
		if err := ValidateStyleName(name); err != nil {
			t.Fatalf("split of %q gave an invalid name: %v", raw, err)
		}
		if StyleNameClash(name, seps) != "" {
			t.Fatalf("split of %q at %q is not at the last separator: name %q", raw, seps, name)
		}
	})
}

// FuzzExpandStyles checks that expansion never panics, that a query
// without style steps comes back unchanged, and that every style step is
// replaced.
func FuzzExpandStyles(f *testing.F) {
	for _, s := range []string{"style/thumb", "imageInfo|style/thumb", "style/", "style", "style/x%7Cstyle/y", "%73tyle/thumb|saveas/YjprZXk"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		out, names, err := ExpandStyles(q, func(name string) (string, error) { return "imageInfo", nil })
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid {
				t.Fatalf("error kind %s for %q: %v", k, q, err)
			}
			return
		}
		if names == nil && out != q {
			t.Fatalf("no style in %q but expanded to %q", q, out)
		}
		for _, part := range splitSteps(out) {
			if _, ok := styleStep(part); ok {
				t.Fatalf("%q expanded to %q, which still has a style step", q, out)
			}
		}
	})
}

// FuzzParseStyle checks a style definition (a user's admin request body):
// never a panic, only invalid-input errors, and what it accepts neither
// writes (saveas) nor names a style.
func FuzzParseStyle(f *testing.F) {
	for _, s := range []string{"imageView2/2/w/200", "imageInfo|saveas/YjprZXk", "style/x", "imageInfo%7Cstyle/x", "my-ufop/a|imageInfo", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, def string) {
		p, err := ParseStyle(def, 10)
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid {
				t.Fatalf("error kind %s for %q: %v", k, def, err)
			}
			return
		}
		if p.SaveAs != nil || len(p.Steps) == 0 {
			t.Fatalf("%q accepted as %q", def, p)
		}
		for _, s := range p.Steps {
			if s.Name() == StyleStep {
				t.Fatalf("%q accepted with a style step", def)
			}
		}
	})
}

// BenchmarkStyleResolve compares parsing a pipeline written out with
// resolving a styled path to the same pipeline and parsing it: the cost
// styles add to a request, lookups aside.
func BenchmarkStyleResolve(b *testing.B) {
	const def = "imageView2/1/w/200/h/200/q/80"
	lookup := func(string) (string, error) { return def, nil }
	b.Run("fops", func(b *testing.B) {
		for b.Loop() {
			if _, err := Parse(def, 10); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("styled-path", func(b *testing.B) {
		for b.Loop() {
			_, name, ok := SplitStyled("photos/2026/portrait.jpg-thumb", "-!")
			if !ok {
				b.Fatal("no split")
			}
			q, _, err := ExpandStyles(StyleStep+"/"+name, lookup)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Parse(q, 10); err != nil {
				b.Fatal(err)
			}
		}
	})
}
