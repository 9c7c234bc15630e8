package images

import (
	"math"
	"testing"

	"github.com/ufop/ufop/fop"
)

// TestThumbnailAreaNeverOvershoots checks Qiniu's rule for <area>@: the
// result has at most area pixels, with the source's aspect kept as closely
// as whole pixels allow.
func TestThumbnailAreaNeverOvershoots(t *testing.T) {
	tests := []struct {
		w, h, area   int
		wantW, wantH int
	}{
		{800, 533, 10000, 123, 81}, // rounding gave 123x82 = 10086
		{800, 533, 40000, 245, 163},
		{800, 533, 1000000, 800, 533}, // only shrinks
		{800, 533, 426400, 800, 533},  // exactly the source's area
		{1000, 1000, 10000, 100, 100},
		{1000, 1000, 9999, 99, 100},
		{3, 1, 2, 2, 1},
		{10000, 1, 100, 100, 1}, // the short side cannot go under 1 px
		{1, 10000, 100, 1, 100},
		{640, 480, 1, 1, 1},
		{1920, 1080, 2073599, 1919, 1080},
	}
	for _, tc := range tests {
		th := thumbnail{fop.Thumbnail{Kind: fop.ThumbArea, A: tc.area}}
		w, h := th.size(tc.w, tc.h)
		if w != tc.wantW || h != tc.wantH {
			t.Errorf("%dx%d thumbnail/%d@ = %dx%d, want %dx%d", tc.w, tc.h, tc.area, w, h, tc.wantW, tc.wantH)
		}
	}
}

// FuzzThumbnailArea holds the area rule for any source size and area:
// never more pixels than asked, never larger than the source, never empty,
// and the aspect within a pixel of the source's.
func FuzzThumbnailArea(f *testing.F) {
	f.Add(uint16(800), uint16(533), uint32(10000))
	f.Add(uint16(10000), uint16(1), uint32(100))
	f.Add(uint16(7), uint16(3), uint32(5))
	f.Fuzz(func(t *testing.T, w16, h16 uint16, area32 uint32) {
		w, h, area := int(w16), int(h16), int(area32)
		if w == 0 || h == 0 || area == 0 {
			return
		}
		checkAreaThumb(t, w, h, area)
	})
}

// TestThumbnailAreaProperty runs the fuzz property over a grid, so plain
// go test covers many sizes.
func TestThumbnailAreaProperty(t *testing.T) {
	for _, w := range []int{1, 2, 3, 7, 99, 533, 800, 1023, 4000, 9643} {
		for _, h := range []int{1, 2, 5, 81, 533, 600, 2999, 10328} {
			for _, area := range []int{1, 2, 10, 99, 1000, 9999, 10000, 12345, 40000, 99999, 1 << 20, 5_000_000} {
				checkAreaThumb(t, w, h, area)
			}
		}
	}
}

func checkAreaThumb(t *testing.T, w, h, area int) {
	t.Helper()
	tw, th := thumbnail{fop.Thumbnail{Kind: fop.ThumbArea, A: area}}.size(w, h)
	if w*h <= area {
		if tw != w || th != h {
			t.Fatalf("%dx%d within %d@ changed to %dx%d", w, h, area, tw, th)
		}
		return
	}
	if tw < 1 || th < 1 || tw > w || th > h {
		t.Fatalf("%dx%d %d@ = %dx%d: empty or enlarged", w, h, area, tw, th)
	}
	if tw*th > area {
		t.Fatalf("%dx%d %d@ = %dx%d = %d px, over the area", w, h, area, tw, th, tw*th)
	}
	// Aspect: each side within a pixel of its ideal length (the exact w:h
	// size of area pixels), unless the ideal is under 1 px.
	s := math.Sqrt(float64(area) / float64(w*h))
	iw, ih := float64(w)*s, float64(h)*s
	if iw >= 1 && ih >= 1 && (math.Abs(float64(tw)-iw) > 1 || math.Abs(float64(th)-ih) > 1) {
		t.Fatalf("%dx%d %d@ = %dx%d: more than a pixel off the ideal %.2fx%.2f", w, h, area, tw, th, iw, ih)
	}
	// Not needlessly small: one more pixel on the long side would either
	// overshoot or be no better.
	if float64(tw) < math.Floor(float64(w)*s)-1 && float64(th) < math.Floor(float64(h)*s)-1 {
		t.Fatalf("%dx%d %d@ = %dx%d: smaller than needed", w, h, area, tw, th)
	}
}
