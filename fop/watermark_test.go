package fop

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// b64 is the URL-safe base64 fops carry their text parameters in.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestParseWatermark(t *testing.T) {
	img := b64("test:watermark.png")
	good := []struct {
		args string // joined by "/"
		want string
	}{
		{"1/image/" + img, "watermark/1/image/" + img},
		{"1/image/" + base64.URLEncoding.EncodeToString([]byte("test:watermark.png")), "watermark/1/image/" + img},
		{"1/image/" + img + "/", "watermark/1/image/" + img},
		{"2/text/" + base64.StdEncoding.EncodeToString([]byte("??>")), "watermark/2/text/" + b64("??>")},
		{"1/image/" + img + "/dissolve/50/gravity/northwest/dx/20/dy/5/ws/0.25",
			"watermark/1/image/" + img + "/dissolve/50/gravity/NorthWest/dx/20/dy/5/ws/0.25"},
		{"1/ws/0.5/image/" + img, ""}, // ws before image: refused below, not here
		{"1/image/" + img + "/dissolve/100/gravity/SouthEast/dx/10/dy/10/ws/0", "watermark/1/image/" + img},
		{"1/image/" + img + "/gravity/Center/dx/30/dy/-4", "watermark/1/image/" + img + "/gravity/Center"},
		{"1/image/" + img + "/gravity/North/dx/30/dy/-4", "watermark/1/image/" + img + "/gravity/North/dy/-4"},
		{"1/image/" + img + "/gravity/West/dx/0/dy/99", "watermark/1/image/" + img + "/gravity/West/dx/0"},
		{"1/image/" + b64("https://example.com/m.png"), "watermark/1/image/" + b64("https://example.com/m.png")},
		{"2/text/" + b64("Hello"), "watermark/2/text/" + b64("Hello")},
		{"2/text/" + b64("水印") + "/font/" + b64("WenQuanYi Micro Hei") + "/fontsize/480/fill/" + b64("#FF0000") + "/dissolve/80/gravity/North/dy/4",
			"watermark/2/text/" + b64("水印") + "/font/" + b64("WenQuanYi Micro Hei") + "/fontsize/480/fill/" + b64("#ff0000") + "/dissolve/80/gravity/North/dy/4"},
		{"2/text/" + b64("Hi") + "/fill/" + b64("red"), "watermark/2/text/" + b64("Hi") + "/fill/" + b64("#ff0000")},
		{"2/text/" + b64("Hi") + "/fill/" + b64("F00"), "watermark/2/text/" + b64("Hi") + "/fill/" + b64("#ff0000")},
		{"2/text/" + b64("Hi") + "/fill/" + b64("#000000") + "/fontsize/240", "watermark/2/text/" + b64("Hi")},
		{"3/image/" + img, "watermark/1/image/" + img},
		{"3/text/" + b64("Hi") + "/dissolve/20", "watermark/2/text/" + b64("Hi") + "/dissolve/20"},
		{"3/image/" + img + "/gravity/NorthWest/text/" + b64("Hi") + "/gravity/SouthEast/image/" + img + "/ws/1",
			"watermark/3/image/" + img + "/gravity/NorthWest/text/" + b64("Hi") + "/image/" + img + "/ws/1"},
	}
	for _, tc := range good {
		if tc.want == "" {
			continue
		}
		o, err := parseWatermark(strings.Split(tc.args, "/"))
		if err != nil {
			t.Errorf("parseWatermark(%s): %v", tc.args, err)
			continue
		}
		if got := o.String(); got != tc.want {
			t.Errorf("parseWatermark(%s)\n got %s\nwant %s", tc.args, got, tc.want)
		}
		// The normalized spelling is a fixed point.
		again, err := parseWatermark(strings.Split(strings.TrimPrefix(o.String(), "watermark/"), "/"))
		if err != nil || again.String() != o.String() {
			t.Errorf("%s does not parse to itself: %v", o, err)
		}
	}

	many := "3"
	for range maxMarks + 1 {
		many += "/text/" + b64("x")
	}
	bad := []struct {
		args  string
		param string // the parameter the message must name
	}{
		{"", "mode"},
		{"4/image/" + img, "mode"},
		{"1", "image"},
		{"1/image", "image"},
		{"2", "text"},
		{"3", "image or text"},
		{"1/dissolve/50/image/" + img, "dissolve"},
		{"1/ws/0.5/image/" + img, "ws"},
		{"1/image/!!!", "image"},
		{"1/image/" + b64("no-colon"), "image"},
		{"1/image/" + b64(""), "image"},
		{"1/image/" + img + "/image/" + img, "image"},
		{"1/image/" + img + "/text/" + b64("x"), "text"},
		{"1/image/" + img + "/dissolve/0", "dissolve"},
		{"1/image/" + img + "/dissolve/101", "dissolve"},
		{"1/image/" + img + "/dissolve/5o", "dissolve"},
		{"1/image/" + img + "/dissolve/+50", "dissolve"},
		{"1/image/" + img + "/dissolve/50/dissolve/60", "dissolve"},
		{"1/image/" + img + "/gravity/Up", "gravity"},
		{"1/image/" + img + "/dx/1.5", "dx"},
		{"1/image/" + img + "/dy/99999999", "dy"},
		{"1/image/" + img + "/ws/1.5", "ws"},
		{"1/image/" + img + "/ws/-0.1", "ws"},
		{"1/image/" + img + "/ws/NaN", "ws"},
		{"1/image/" + img + "/foo/1", "foo"},
		{"1/image/" + img + "/fontsize/240", "fontsize"},
		{"2/text/" + b64(""), "text"},
		{"2/text/" + b64("\xff\xfe"), "text"},
		{"2/text/" + b64("two\nlines"), "text"},
		{"2/text/" + b64(strings.Repeat("x", maxMarkText+1)), "text"},
		{"2/text/" + b64("Hi") + "/fontsize/0", "fontsize"},
		{"2/text/" + b64("Hi") + "/fontsize/20001", "fontsize"},
		{"2/text/" + b64("Hi") + "/fontsize/12pt", "fontsize"},
		{"2/text/" + b64("Hi") + "/fill/" + b64("#GGHHII"), "fill"},
		{"2/text/" + b64("Hi") + "/fill/" + b64("#12345"), "fill"},
		{"2/text/" + b64("Hi") + "/font/" + b64(" "), "font"},
		{"2/text/" + b64("Hi") + "/ws/0.5", "ws"},
		{"2/image/" + img, "image"},
		{"3/dx/3/text/" + b64("x"), "dx"},
		{many, "text"},
	}
	for _, tc := range bad {
		_, err := parseWatermark(strings.Split(tc.args, "/"))
		if err == nil {
			t.Errorf("parseWatermark(%s) accepted", tc.args)
			continue
		}
		if k := kindOf(t, err); k != ufop.KindInvalid {
			t.Errorf("parseWatermark(%s): kind %s, want invalid", tc.args, k)
		}
		if want := "watermark: parameter " + tc.param; !strings.Contains(err.Error(), want) {
			t.Errorf("parseWatermark(%s): %q does not say %q", tc.args, err, want)
		}
	}
}

func FuzzParseWatermark(f *testing.F) {
	img := b64("test:watermark.png")
	for _, s := range []string{
		"1/image/" + img + "/dissolve/50/gravity/NorthWest/dx/20/dy/5/ws/0.25",
		"2/text/" + b64("水印") + "/font/" + b64("WenQuanYi Micro Hei") + "/fontsize/480/fill/" + b64("#FF0000"),
		"3/image/" + img + "/text/" + b64("Hi") + "/gravity/Center",
		"1/image/" + img + "/ws/1e-3",
		"2/text/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseWatermark(strings.Split(s, "/"))
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("%q: kind %s: %v", s, ufop.KindOf(err), err)
			}
			return
		}
		norm := o.String()
		again, err := parseWatermark(strings.Split(strings.TrimPrefix(norm, "watermark/"), "/"))
		if err != nil || again.String() != norm {
			t.Fatalf("%q → %s does not round-trip: %v", s, norm, err)
		}
	})
}
