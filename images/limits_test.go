package images

import (
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// headerOnly keeps a JPEG up to just after its start-of-scan header: the
// header (size, EXIF) reads fine, decoding the pixels fails.
func headerOnly(t *testing.T, src []byte) []byte {
	t.Helper()
	// Walk the marker segments: FF DA bytes may occur inside APP data.
	for i := 2; i+4 <= len(src); {
		if src[i] != 0xff {
			t.Fatalf("no marker at %d", i)
		}
		n := int(src[i+2])<<8 | int(src[i+3])
		if src[i+1] == 0xda {
			return src[:i+2+n+16]
		}
		i += 2 + n
	}
	t.Fatal("no start of scan")
	return nil
}

// TestOversizedRefusedBeforeDecoding checks that requests whose sizes are
// over the limits are refused from the source header, before any decode or
// face detection: on a source whose pixels cannot be decoded they get 413,
// not the 422 a decode would give. Requests within the limits do reach the
// decoder (422), which shows the source is a fair probe.
func TestOversizedRefusedBeforeDecoding(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	portrait := headerOnly(t, fixture(t, "portrait.jpg")) // 800x533
	rotations := strings.Repeat("/rotate/45", 10)
	steps10 := strings.TrimSuffix(strings.Repeat("imageMogr2/rotate/45|", 10), "|")
	tests := []struct {
		query string
		kind  ufop.Kind
	}{
		{"facecrop/10000x10000", ufop.KindTooLarge}, // 100 megapixels
		{"facecrop/10001x100", ufop.KindTooLarge},
		{"imageMogr2" + rotations, ufop.KindTooLarge},
		{steps10, ufop.KindTooLarge},
		{"imageMogr2/thumbnail/9000x9000!", ufop.KindTooLarge},       // 81 megapixels
		{"imageMogr2/thumbnail/10001x", ufop.KindTooLarge},           // 10001 px wide
		{"imageMogr2/thumbnail/!1000p/rotate/30", ufop.KindTooLarge}, // the rotation's bounding box
		{"imageMogr2/thumbnail/!1000p|imageMogr2/rotate/90|imageMogr2/thumbnail/!300p", ufop.KindTooLarge},
		{"imageMogr2/crop/!10x10a900a0", ufop.KindInvalid}, // outside the image: also known at once
		// Within the limits: these do decode, and fail there.
		{"facecrop/200x200", ufop.KindCorrupt},
		{"imageMogr2/rotate/45/rotate/45", ufop.KindCorrupt},
		{"imageView2/2/w/100000/h/100000", ufop.KindCorrupt},  // imageView2 never enlarges
		{"imageMogr2/thumbnail/7000x7000!", ufop.KindCorrupt}, // 49 megapixels
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			_, err := run(t, p, portrait, tc.query)
			if err == nil {
				t.Fatalf("succeeded on an undecodable source")
			}
			if k := kindOf(t, err); k != tc.kind {
				t.Fatalf("kind %s, want %s: %v", k, tc.kind, err)
			}
		})
	}
}

// TestSizeMessagesReadable checks that byte limits are told in units a
// person reads, not raw byte counts.
func TestSizeMessagesReadable(t *testing.T) {
	p := newTestProcessor(t, nil, func(c *Config) { c.MaxSourceBytes = 1 << 10 })
	src := synth(t, 800, 533, formatJPEG)
	_, err := run(t, p, src, "imageInfo")
	if err == nil || kindOf(t, err) != ufop.KindTooLarge {
		t.Fatalf("err %v, want too large", err)
	}
	want := "the source is " + ufop.FormatBytes(int64(len(src))) + ", over the 1 KiB limit"
	if msg := ufop.Message(err); msg != want {
		t.Fatalf("message %q, want %q", msg, want)
	}
}

// TestWatermarkMarkPixels checks the one size plan cannot know: a mark
// scaled by ws is held to MaxOutputPixels once its image is loaded.
func TestWatermarkMarkPixels(t *testing.T) {
	src := synth(t, 800, 533, formatJPEG)
	q := "watermark/1/image/" + b64("test:watermark.png") + "/ws/0.5" // a 400x400 mark
	for _, tc := range []struct {
		budget int64
		ok     bool
	}{{160_000, true}, {159_999, false}} {
		p := newTestProcessor(t, markLoader{t}, func(c *Config) { c.MaxOutputPixels = tc.budget })
		_, err := run(t, p, src, q)
		if tc.ok && err != nil {
			t.Fatalf("budget %d: %v", tc.budget, err)
		}
		if !tc.ok && (err == nil || kindOf(t, err) != ufop.KindTooLarge) {
			t.Fatalf("budget %d: err %v, want too large", tc.budget, err)
		}
	}
}
