package fop

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

func TestParseNormalizes(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		query, want string
	}{
		{"imageView2/1/w/200/h/200", "imageView2/1/w/200/h/200"},
		{"imageView2/1/h/200/w/200", "imageView2/1/w/200/h/200"},
		{"imageView2/2/w/0200/q/85", "imageView2/2/w/200"},
		{"imageView2/2/w/200/q/75/format/JPEG/interlace/0", "imageView2/2/w/200/q/75/format/jpg"},
		{"imageView2/0/h/10/interlace/1/format/webp", "imageView2/0/h/10/format/webp/interlace/1"},
		{"imageView2/3/w/5/ignore-error/1", "imageView2/3/w/5"},
		{"imageView2/4", "imageView2/4"},
		{"imageView2/5/w/%39", "imageView2/5/w/9"},
		{"imageInfo", "imageInfo"},
		{"exif", "exif"},
		{"imageView2/2/w/100|imageInfo", "imageView2/2/w/100|imageInfo"},
		{"imageView2/2/w/100%7CimageInfo", "imageView2/2/w/100|imageInfo"},
		{"imageMogr2/strip/auto-orient/thumbnail/300x/quality/85", "imageMogr2/auto-orient/thumbnail/300x"},
		{"imageMogr2/thumbnail/!50p", "imageMogr2/thumbnail/!50p"},
		{"imageMogr2/thumbnail/%2150px", "imageMogr2/thumbnail/!50px"},
		{"imageMogr2/thumbnail/!x50p", "imageMogr2/thumbnail/!x50p"},
		{"imageMogr2/thumbnail/x300", "imageMogr2/thumbnail/x300"},
		{"imageMogr2/thumbnail/300x200", "imageMogr2/thumbnail/300x200"},
		{"imageMogr2/thumbnail/!300x200r", "imageMogr2/thumbnail/!300x200r"},
		{"imageMogr2/thumbnail/300x200!", "imageMogr2/thumbnail/300x200!"},
		{"imageMogr2/thumbnail/300x200%3E", "imageMogr2/thumbnail/300x200>"},
		{"imageMogr2/thumbnail/300x200%3C", "imageMogr2/thumbnail/300x200<"},
		{"imageMogr2/thumbnail/40000@", "imageMogr2/thumbnail/40000@"},
		{"imageMogr2/gravity/center/crop/100x", "imageMogr2/gravity/Center/crop/100x"},
		{"imageMogr2/gravity/NorthWest/crop/x100", "imageMogr2/crop/x100"},
		{"imageMogr2/crop/!100x50a10-20", "imageMogr2/crop/!100x50a10-20"},
		{"imageMogr2/crop/!100x50-0a0", "imageMogr2/crop/!100x50a0a0"},
		{"imageMogr2/rotate/090", "imageMogr2/rotate/90"},
		{"imageMogr2/rotate/-90", "imageMogr2/rotate/270"},
		{"imageMogr2/rotate/360", "imageMogr2"},
		{"imageMogr2/blur/3x1.50", "imageMogr2/blur/3x1.5"},
		{"imageMogr2/format/png/quality/60/interlace/1", "imageMogr2/quality/60/format/png/interlace/1"},
		{"imageMogr2/background/" + b64("#fff"), "imageMogr2/background/" + b64("#FFFFFF")},
		{"imageMogr2/background/" + b64("white") + "==", "imageMogr2/background/" + b64("#FFFFFF")},
		{"my-ufop/any/thing%20raw", "my-ufop/any/thing%20raw"},
		{"my_ufop", "my_ufop"},
		{"imageView2/2/w/10|my-ufop/x|imageInfo", "imageView2/2/w/10|my-ufop/x|imageInfo"},
		{"imageInfo|saveas/" + b64("bucket:dir/key.jpg") + "=", "imageInfo|saveas/" + b64("bucket:dir/key.jpg")},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			p, err := Parse(tc.query, 10)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := p.String(); got != tc.want {
				t.Fatalf("String() = %q, want %q", got, tc.want)
			}
			// The normal form is a fixed point.
			again, err := Parse(p.String(), 10)
			if err != nil || again.String() != tc.want {
				t.Fatalf("reparse of %q: %q, %v", tc.want, again.String(), err)
			}
		})
	}
}

func TestParseSteps(t *testing.T) {
	p, err := Parse("imageView2/2/w/10|my-ufop/a%2Fb/c|saveas/"+b64url("b:k"), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Steps) != 2 || p.SaveAs == nil || *p.SaveAs != (SaveAs{Bucket: "b", Key: "k"}) {
		t.Fatalf("parsed %+v", p)
	}
	if s := p.Steps[0]; !s.Builtin() || s.Name() != "imageView2" || s.Args() != "2/w/10" {
		t.Fatalf("step 0: builtin=%v name=%q args=%q", s.Builtin(), s.Name(), s.Args())
	}
	if s := p.Steps[1]; s.Builtin() || s.Name() != "my-ufop" || s.Args() != "a%2Fb/c" {
		t.Fatalf("step 1: builtin=%v name=%q args=%q", s.Builtin(), s.Name(), s.Args())
	}
	want := []string{"exif", "facecrop", "imageInfo", "imageMogr2", "imageView2", "watermark"}
	if got := Builtins(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("Builtins() = %v", got)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		query string
		kind  ufop.Kind
		msg   string // the message must contain this: the fop and parameter
	}{
		{"", ufop.KindInvalid, "empty"},
		{"x", ufop.KindInvalid, `unknown fop "x"`},
		{"Bad!Name/1", ufop.KindInvalid, "unknown fop"},
		{"imageview2/1/w/2", ufop.KindInvalid, "did you mean imageView2"},
		{"imageView2", ufop.KindInvalid, "imageView2: parameter mode"},
		{"imageView2/6/w/1", ufop.KindInvalid, "imageView2: parameter mode"},
		{"imageView2/1/w/0", ufop.KindInvalid, "imageView2: parameter w"},
		{"imageView2/1/w/-5", ufop.KindInvalid, "imageView2: parameter w"},
		{"imageView2/1/h/abc", ufop.KindInvalid, "imageView2: parameter h"},
		{"imageView2/1/w", ufop.KindInvalid, "imageView2: parameter w has no value"},
		{"imageView2/1/w/1/w/2", ufop.KindInvalid, "imageView2: parameter w is given twice"},
		{"imageView2/1/q/101", ufop.KindInvalid, "imageView2: parameter q"},
		{"imageView2/1/format/bmp", ufop.KindInvalid, "imageView2: parameter format"},
		{"imageView2/1/interlace/2", ufop.KindInvalid, "imageView2: parameter interlace"},
		{"imageView2/1/x/2", ufop.KindInvalid, `imageView2: unknown parameter "x"`},
		{"imageView2/1/w/%zz", ufop.KindInvalid, "percent-encoding"},
		{"imageInfo/x", ufop.KindInvalid, "imageInfo: takes no parameters"},
		{"exif/x", ufop.KindInvalid, "exif: takes no parameters"},
		{"imageMogr2/thumbnail/abc", ufop.KindInvalid, "imageMogr2: parameter thumbnail"},
		{"imageMogr2/thumbnail/0x10", ufop.KindInvalid, "imageMogr2: parameter thumbnail"},
		{"imageMogr2/thumbnail/!0p", ufop.KindInvalid, "imageMogr2: parameter thumbnail"},
		{"imageMogr2/thumbnail/!1001p", ufop.KindInvalid, "imageMogr2: parameter thumbnail"},
		{"imageMogr2/thumbnail/10x10r", ufop.KindInvalid, "imageMogr2: parameter thumbnail"},
		{"imageMogr2/thumbnail", ufop.KindInvalid, "imageMogr2: parameter thumbnail has no value"},
		{"imageMogr2/crop/abc", ufop.KindInvalid, "imageMogr2: parameter crop"},
		{"imageMogr2/crop/x", ufop.KindInvalid, "imageMogr2: parameter crop"},
		{"imageMogr2/crop/!10x10a5", ufop.KindInvalid, "imageMogr2: parameter crop"},
		{"imageMogr2/crop/!10x10a5b5", ufop.KindInvalid, "imageMogr2: parameter crop"},
		{"imageMogr2/gravity/Up", ufop.KindInvalid, "imageMogr2: parameter gravity"},
		{"imageMogr2/rotate/1.5", ufop.KindInvalid, "imageMogr2: parameter rotate"},
		{"imageMogr2/rotate/361", ufop.KindInvalid, "imageMogr2: parameter rotate"},
		{"imageMogr2/blur/3", ufop.KindInvalid, "imageMogr2: parameter blur"},
		{"imageMogr2/blur/0x1", ufop.KindInvalid, "imageMogr2: parameter blur"},
		{"imageMogr2/blur/3x0", ufop.KindInvalid, "imageMogr2: parameter blur"},
		{"imageMogr2/quality/0", ufop.KindInvalid, "imageMogr2: parameter quality"},
		{"imageMogr2/background/!!", ufop.KindInvalid, "imageMogr2: parameter background"},
		{"imageMogr2/background/" + b64url("#12345"), ufop.KindInvalid, "imageMogr2: parameter background"},
		{"imageMogr2/sharpen/1", ufop.KindInvalid, `imageMogr2: unknown parameter "sharpen"`},
		{"imageMogr2//strip", ufop.KindInvalid, "imageMogr2: empty parameter"},
		{"imageInfo||exif", ufop.KindInvalid, "step 2 of the pipeline is empty"},
		{"saveas/" + b64url("b:k"), ufop.KindInvalid, "saveas needs a processing step"},
		{"imageInfo|saveas/" + b64url("b:k") + "|exif", ufop.KindInvalid, "saveas must be the last step"},
		{"imageInfo|saveas/" + b64url("nocolon"), ufop.KindInvalid, "saveas: parameter"},
		{"imageInfo|saveas/" + b64url(":k"), ufop.KindInvalid, "saveas: parameter"},
		{"imageInfo|saveas/***", ufop.KindInvalid, "saveas: parameter"},
		{"imageInfo|saveas", ufop.KindInvalid, "saveas: parameter is missing"},
		{strings.Repeat("imageInfo|", 10) + "exif", ufop.KindInvalid, "more than the limit of 10"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			_, err := Parse(tc.query, 10)
			if err == nil {
				t.Fatal("parsed, want an error")
			}
			if k := kindOf(t, err); k != tc.kind {
				t.Fatalf("kind %s, want %s: %v", k, tc.kind, err)
			}
			if !strings.Contains(ufop.Message(err), tc.msg) {
				t.Fatalf("message %q does not contain %q", ufop.Message(err), tc.msg)
			}
		})
	}
}

// FuzzParse checks that Parse never panics and that its normal form is a
// fixed point: parsing String() again gives the same string.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"imageView2/1/w/200/h/200", "imageMogr2/auto-orient/thumbnail/!50p/gravity/Center/crop/!100x100a10-5/rotate/45/blur/3x2",
		"imageInfo|exif", "my-ufop/a/b|saveas/YjprZXk", "facecrop/200x200", "watermark/2/text/aGVsbG8",
		"imageView2/2/w/10%7CimageInfo", "imageMogr2/thumbnail/300x200%3E/quality/80!/format/webp/interlace/1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		p, err := Parse(q, 10)
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid {
				t.Fatalf("error kind %s for %q: %v", k, q, err)
			}
			return
		}
		s := p.String()
		p2, err := Parse(s, 10)
		if err != nil {
			t.Fatalf("normal form %q of %q does not parse: %v", s, q, err)
		}
		if s2 := p2.String(); s2 != s {
			t.Fatalf("normal form not stable: %q -> %q -> %q", q, s, s2)
		}
	})
}

func b64url(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }

func kindOf(t testing.TB, err error) ufop.Kind {
	t.Helper()
	var e *ufop.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *ufop.Error", err, err)
	}
	return e.Kind
}
