package images

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// shortFixturesDir holds the small fixtures of the quick run (-short),
// which reads no ../shared.
const shortFixturesDir = "testdata/small"

// fixtureDir is where fixtures are read from: the shared folder, or the
// small copies under -short.
func fixtureDir() string {
	if testing.Short() {
		return shortFixturesDir
	}
	return testImagesDir
}

// shortFixture returns the quick run's fixture name: a stand-in drawn here
// for the shared photos, else a small copy from testdata/small. It skips
// the test for fixtures that have neither (large or content-specific ones).
func shortFixture(t testing.TB, name string) []byte {
	t.Helper()
	switch name {
	case "portrait.jpg":
		return encodeJPEG(t, portraitLike(800, 533), nil)
	case "portrait-cmyk-orientation-exif.jpg":
		// Stored sideways like the shared one: auto-orient turns the
		// 800x533 pixels upright to 533x800.
		return encodeJPEG(t, portraitLike(800, 533), exifOrientation(6))
	case "paletted-transparent.png":
		return palettedTransparent(t, 300, 225)
	}
	b, err := os.ReadFile(filepath.Join(shortFixturesDir, name))
	if err != nil {
		t.Skipf("needs the shared test image %s (integration test; run without -short)", name)
	}
	return b
}

// portraitLike draws a photo-like scene: a sky-to-ground gradient, a
// skin-toned head with dark eyes and a mouth, and shoulders. Edges are
// feathered like a photo's (hard edges would ring in JPEG and resampling
// far more than a photo does); the content is varied enough to show a
// misplaced crop or a swapped channel.
func portraitLike(w, h int) *image.NRGBA {
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	cx, cy := float64(w)/2, float64(h)*2/5
	rx, ry := float64(w)/9, float64(h)/5
	type shape struct {
		cx, cy, rx, ry float64
		c              [3]float64
	}
	shapes := []shape{ // painted in order
		{cx, float64(h), float64(w) / 3, float64(h) - cy - ry*0.8, [3]float64{40, 50, 90}}, // shoulders
		{cx, cy, rx, ry, [3]float64{224, 172, 140}},                                        // face
		{cx - rx/3, cy - ry/4, rx / 6, ry / 10, [3]float64{40, 30, 30}},                    // eyes
		{cx + rx/3, cy - ry/4, rx / 6, ry / 10, [3]float64{40, 30, 30}},
		{cx, cy + ry/2, rx / 3, ry / 12, [3]float64{150, 60, 60}}, // mouth
	}
	const feather = 6.0 // pixels
	for y := range h {
		for x := range w {
			c := [3]float64{110 + 60*float64(y)/float64(h), 150 + 30*float64(x)/float64(w), 200 - 70*float64(y)/float64(h)}
			for _, sh := range shapes {
				dx, dy := (float64(x)-sh.cx)/sh.rx, (float64(y)-sh.cy)/sh.ry
				// Distance outside the ellipse, in pixels, roughly.
				out := (math.Sqrt(dx*dx+dy*dy) - 1) * min(sh.rx, sh.ry)
				a := min(max(0.5-out/feather, 0), 1)
				for i := range c {
					c[i] = c[i]*(1-a) + sh.c[i]*a
				}
			}
			img.SetNRGBA(x, y, color.NRGBA{uint8(c[0]), uint8(c[1]), uint8(c[2]), 255})
		}
	}
	return img
}

// encodeJPEG encodes img with Go's encoder, with app1 (an EXIF segment's
// payload) after SOI when not nil.
func encodeJPEG(t testing.TB, img image.Image, app1 []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if app1 == nil {
		return b
	}
	seg := []byte{0xFF, 0xE1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(app1)+2))
	out := append([]byte{}, b[:2]...)
	out = append(out, seg...)
	out = append(out, app1...)
	return append(out, b[2:]...)
}

// exifOrientation is an EXIF APP1 payload holding only the orientation
// tag (little-endian TIFF, one IFD entry).
func exifOrientation(o uint16) []byte {
	b := []byte("Exif\x00\x00II*\x00\x08\x00\x00\x00")
	le := binary.LittleEndian
	b = le.AppendUint16(b, 1)      // one entry
	b = le.AppendUint16(b, 0x0112) // Orientation
	b = le.AppendUint16(b, 3)      // SHORT
	b = le.AppendUint32(b, 1)      // one value
	b = le.AppendUint16(b, o)
	b = le.AppendUint16(b, 0)    // padding of the 4-byte value field
	return le.AppendUint32(b, 0) // no next IFD
}

// palettedTransparent encodes a paletted PNG whose index 0 is transparent.
func palettedTransparent(t testing.TB, w, h int) []byte {
	t.Helper()
	pal := color.Palette{color.NRGBA{}, color.NRGBA{200, 30, 30, 255}, color.NRGBA{30, 160, 60, 255}, color.NRGBA{40, 60, 200, 255}}
	img := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for y := range h {
		for x := range w {
			switch {
			case (x-w/2)*(x-w/2)+(y-h/2)*(y-h/2) < (h/3)*(h/3):
				img.SetColorIndex(x, y, 1)
			case x < w/4 && y > h/4 && y < h*3/4:
				img.SetColorIndex(x, y, 2)
			case y > h*3/4 && x > w/4 && x < w*3/4:
				img.SetColorIndex(x, y, 3)
			} // else 0: transparent, as in the corners
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestShortFixtures checks the stand-ins decode to what the tests that use
// them assume of the shared images: size, format, orientation.
func TestShortFixtures(t *testing.T) {
	tests := []struct {
		name   string
		format string
		w, h   int
		orient int
	}{
		{"portrait.jpg", formatJPEG, 800, 533, 1},
		{"portrait-cmyk-orientation-exif.jpg", formatJPEG, 800, 533, 6},
		{"paletted-transparent.png", formatPNG, 300, 225, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := shortFixture(t, tc.name)
			h, err := probe(src)
			if err != nil {
				t.Fatalf("probe: %v", err)
			}
			if h.format != tc.format || h.width != tc.w || h.height != tc.h {
				t.Errorf("probe = %s %dx%d, want %s %dx%d", h.format, h.width, h.height, tc.format, tc.w, tc.h)
			}
			if o := readOrientation(src, h.format); o != tc.orient {
				t.Errorf("orientation = %d, want %d", o, tc.orient)
			}
		})
	}
}
