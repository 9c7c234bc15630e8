package jpegscale

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// imagesDir holds the shared test images, relative to this package.
const imagesDir = "../../../../shared/testdata/images"

// testJPEGs returns the contents of every .jpg in the shared test images
// and in testdata (small files of every layout: subsamplings, progressive,
// restart intervals, CMYK, RGB, arithmetic coding), by name.
func testJPEGs(t testing.TB) map[string][]byte {
	t.Helper()
	shared, err := filepath.Glob(filepath.Join(imagesDir, "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	if testing.Short() {
		shared = nil // the quick run reads no ../shared: testdata only
	}
	if len(shared) == 0 {
		t.Logf("shared test images skipped: %s is absent (it is ../shared/testdata/images from the repository root)", imagesDir)
	}
	local, err := filepath.Glob(filepath.Join("testdata", "*.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string][]byte)
	for _, n := range append(shared, local...) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(n)] = b
	}
	return files
}

func readImage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(imagesDir, name))
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("test image %s is absent: %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestScale1MatchesStdlib checks that at full size the decoder is the
// standard library's, pixel for pixel, on every JPEG it decodes, and that
// it fails on the ones it refuses.
func TestScale1MatchesStdlib(t *testing.T) {
	for name, data := range testJPEGs(t) {
		t.Run(name, func(t *testing.T) {
			if len(data) > 1<<20 && testing.Short() {
				t.Skip("large image skipped in -short mode")
			}
			want, wantErr := jpeg.Decode(bytes.NewReader(data))
			got, err := Decode(bytes.NewReader(data), Options{Scale: 1})
			if wantErr != nil {
				if err == nil {
					t.Fatalf("image/jpeg fails with %v, jpegscale decodes it", wantErr)
				}
				if err.Error() != wantErr.Error() {
					t.Errorf("error %q, image/jpeg's %q", err, wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("image/jpeg decodes it, jpegscale fails: %v", err)
			}
			if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", want) {
				t.Fatalf("type %T, want %T", got, want)
			}
			if got.Bounds() != want.Bounds() {
				t.Fatalf("bounds %v, want %v", got.Bounds(), want.Bounds())
			}
			if err := samePixels(got, want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// samePixels compares two images of the same type and bounds plane by
// plane, row by row (At on 100 megapixels takes seconds).
func samePixels(got, want image.Image) error {
	type plane struct {
		name     string
		g, w     []byte
		gs, ws   int
		rows, bw int
	}
	var planes []plane
	b := want.Bounds()
	switch w := want.(type) {
	case *image.YCbCr:
		g := got.(*image.YCbCr)
		cw, ch := g.COffset(b.Max.X-1, b.Max.Y-1)-g.COffset(b.Min.X, b.Max.Y-1)+1, 0
		for y := b.Min.Y; y < b.Max.Y; y++ {
			if y == b.Min.Y || g.COffset(b.Min.X, y) != g.COffset(b.Min.X, y-1) {
				ch++
			}
		}
		planes = []plane{
			{"Y", g.Y[g.YOffset(b.Min.X, b.Min.Y):], w.Y[w.YOffset(b.Min.X, b.Min.Y):], g.YStride, w.YStride, b.Dy(), b.Dx()},
			{"Cb", g.Cb[g.COffset(b.Min.X, b.Min.Y):], w.Cb[w.COffset(b.Min.X, b.Min.Y):], g.CStride, w.CStride, ch, cw},
			{"Cr", g.Cr[g.COffset(b.Min.X, b.Min.Y):], w.Cr[w.COffset(b.Min.X, b.Min.Y):], g.CStride, w.CStride, ch, cw},
		}
	case *image.Gray:
		g := got.(*image.Gray)
		planes = []plane{{"gray", g.Pix[g.PixOffset(b.Min.X, b.Min.Y):], w.Pix[w.PixOffset(b.Min.X, b.Min.Y):], g.Stride, w.Stride, b.Dy(), b.Dx()}}
	case *image.CMYK:
		g := got.(*image.CMYK)
		planes = []plane{{"cmyk", g.Pix[g.PixOffset(b.Min.X, b.Min.Y):], w.Pix[w.PixOffset(b.Min.X, b.Min.Y):], g.Stride, w.Stride, b.Dy(), 4 * b.Dx()}}
	case *image.RGBA:
		g := got.(*image.RGBA)
		planes = []plane{{"rgba", g.Pix[g.PixOffset(b.Min.X, b.Min.Y):], w.Pix[w.PixOffset(b.Min.X, b.Min.Y):], g.Stride, w.Stride, b.Dy(), 4 * b.Dx()}}
	default:
		return fmt.Errorf("unexpected image type %T", want)
	}
	for _, p := range planes {
		for y := range p.rows {
			gr, wr := p.g[y*p.gs:y*p.gs+p.bw], p.w[y*p.ws:y*p.ws+p.bw]
			if !bytes.Equal(gr, wr) {
				for x := range gr {
					if gr[x] != wr[x] {
						return fmt.Errorf("plane %s, row %d, byte %d: %d, want %d", p.name, y, x, gr[x], wr[x])
					}
				}
			}
		}
	}
	return nil
}

// TestScaledCloseToBoxDownscale checks sizes and pixels of 1/2, 1/4 and 1/8
// decodes against a full decode followed by a box filter.
func TestScaledCloseToBoxDownscale(t *testing.T) {
	files := testJPEGs(t)
	for name, data := range files {
		if len(data) > 1<<20 && testing.Short() {
			continue
		}
		full, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			continue // TestScale1MatchesStdlib covers the failures.
		}
		for _, s := range []int{2, 4, 8} {
			t.Run(fmt.Sprintf("%s/scale=%d", name, s), func(t *testing.T) {
				got, err := Decode(bytes.NewReader(data), Options{Scale: s})
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprintf("%T", got) != fmt.Sprintf("%T", full) {
					t.Fatalf("type %T, want %T", got, full)
				}
				fb := full.Bounds()
				wantW, wantH := (fb.Dx()+s-1)/s, (fb.Dy()+s-1)/s
				if got.Bounds() != image.Rect(0, 0, wantW, wantH) {
					t.Fatalf("bounds %v, want %dx%d", got.Bounds(), wantW, wantH)
				}
				mad, maxd := compareBox(full, got, s)
				t.Logf("mean abs diff %.2f, max %d (per channel, 0-255)", mad, maxd)
				// A reduced IDCT is a band-limited sample, not a box mean:
				// edges differ by a few levels, flat areas not at all.
				if mad > 3 {
					t.Errorf("mean absolute difference to a box downscale is %.2f, want <= 3", mad)
				}
			})
		}
	}
}

// compareBox box-downscales full by s and returns the mean and the maximum
// absolute difference to got over all channels, skipping the last partial
// row and column of output pixels (whose box is clipped). Large images are
// sampled: at most about 256 evenly spaced output rows.
func compareBox(full, got image.Image, s int) (float64, int) {
	fb := full.Bounds()
	w, h := fb.Dx()/s, fb.Dy()/s
	step := max(1, h/256)
	var sum float64
	var n, maxd int
	for y := 0; y < h; y += step {
		for x := 0; x < w; x++ {
			var acc [4]int
			for dy := 0; dy < s; dy++ {
				for dx := 0; dx < s; dx++ {
					c := rgba8(full.At(fb.Min.X+x*s+dx, fb.Min.Y+y*s+dy))
					for i := range acc {
						acc[i] += int(c[i])
					}
				}
			}
			g := rgba8(got.At(x, y))
			for i := range acc {
				want := (acc[i] + s*s/2) / (s * s)
				d := want - int(g[i])
				if d < 0 {
					d = -d
				}
				sum += float64(d)
				maxd = max(maxd, d)
				n++
			}
		}
	}
	if n == 0 {
		return 0, 0
	}
	return sum / float64(n), maxd
}

// rgba8 returns the colour's native channels: Y for gray, CMYK for CMYK,
// RGBA otherwise.
func rgba8(c color.Color) [4]uint8 {
	switch c := c.(type) {
	case color.Gray:
		return [4]uint8{c.Y}
	case color.CMYK:
		return [4]uint8{c.C, c.M, c.Y, c.K}
	case color.YCbCr:
		return [4]uint8{c.Y, c.Cb, c.Cr}
	}
	r, g, b, a := c.RGBA()
	return [4]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
}

// TestHostileInput checks that broken files give errors of the documented
// kinds (and no panic) at every scale.
func TestHostileInput(t *testing.T) {
	portrait := readImage(t, "portrait.jpg")
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", readImage(t, "image_invalid.jpg")},
		{"truncated file", readImage(t, "BlueSquare_truncated.jpg")},
		{"invalid quantization", readImage(t, "invalid_quantization.jpg")},
		{"SOI only", []byte{0xff, 0xd8}},
		{"portrait cut in the header", portrait[:300]},
		{"portrait cut in the scan", portrait[:len(portrait)/2]},
		{"not a JPEG", []byte("GIF89a, or anything else really")},
	}
	for _, tc := range tests {
		for _, s := range []int{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("%s/scale=%d", tc.name, s), func(t *testing.T) {
				_, err := Decode(bytes.NewReader(tc.data), Options{Scale: s})
				_, wantErr := jpeg.Decode(bytes.NewReader(tc.data))
				if (err == nil) != (wantErr == nil) {
					t.Fatalf("error %v, image/jpeg's %v", err, wantErr)
				}
				if err == nil {
					return
				}
				var fe FormatError
				var ue UnsupportedError
				if !errors.As(err, &fe) && !errors.As(err, &ue) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("error %T %v is not a FormatError, UnsupportedError or io.ErrUnexpectedEOF", err, err)
				}
			})
		}
	}
}

func TestDecodeRejectsBadScale(t *testing.T) {
	data := readImage(t, "grayscale.jpg")
	for _, s := range []int{-1, 3, 16} {
		if _, err := Decode(bytes.NewReader(data), Options{Scale: s}); err == nil {
			t.Errorf("scale %d: no error", s)
		}
	}
}

func TestDecodeConfigMatchesStdlib(t *testing.T) {
	for name, data := range testJPEGs(t) {
		want, wantErr := jpeg.DecodeConfig(bytes.NewReader(data))
		got, err := DecodeConfig(bytes.NewReader(data))
		if (err == nil) != (wantErr == nil) || got != want {
			t.Errorf("%s: DecodeConfig = %+v, %v; image/jpeg %+v, %v", name, got, err, want, wantErr)
		}
	}
}

// TestReducedIDCTConstants recomputes the fixed-point constants.
func TestReducedIDCTConstants(t *testing.T) {
	fix := func(x float64) int32 { return int32(math.Round(x * (1 << redConstBits))) }
	for _, tc := range []struct {
		name      string
		got, want int32
	}{
		{"fixA", fixA, fix(0.5 / math.Sqrt2)},
		{"fixB1", fixB1, fix(0.5 * math.Cos(math.Pi/8))},
		{"fixB2", fixB2, fix(0.5 * math.Cos(3*math.Pi/8))},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %d, want %d", tc.name, tc.got, tc.want)
		}
	}
}

// TestProgressiveEighthKeepsOnlyDC checks that a 1/8 decode of a
// progressive JPEG does not hold 64 coefficients per block: it allocates a
// small fraction of what a 1/2 decode does.
func TestProgressiveEighthKeepsOnlyDC(t *testing.T) {
	data, err := os.ReadFile("testdata/prog-420-400x267.jpg")
	if err != nil {
		t.Fatal(err)
	}
	allocated := func(scale int) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := Decode(bytes.NewReader(data), Options{Scale: scale}); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	// Coefficients for 400x267 4:2:0: 2550 blocks of 128 bytes = 326 kB.
	// The pool may serve the 1/2 decode's buffer from a previous test, so
	// compare against the coefficient size, not a measurement.
	const coeffBytes = 2550 * blockSize * 2
	t.Logf("allocated: 1/8 %d bytes, 1/2 %d bytes", allocated(8), allocated(2))
	if got := allocated(8); got > coeffBytes/4 {
		t.Errorf("1/8 decode allocated %d bytes, want well under the %d bytes of full coefficients", got, coeffBytes)
	}
}

// TestConcurrentDecodes decodes progressive files at every scale from
// several goroutines at once: the coefficient pool is shared, and each
// result must equal the same decode done alone (run with -race).
func TestConcurrentDecodes(t *testing.T) {
	names := []string{"prog-420.jpg", "prog-444.jpg", "prog-gray.jpg", "prog-420-400x267.jpg"}
	type job struct {
		data  []byte
		scale int
		want  image.Image
	}
	var jobs []job
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []int{1, 2, 4, 8} {
			want, err := Decode(bytes.NewReader(data), Options{Scale: s})
			if err != nil {
				t.Fatalf("%s at 1/%d: %v", n, s, err)
			}
			jobs = append(jobs, job{data, s, want})
		}
	}
	errs := make(chan error, 4*len(jobs))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, j := range jobs {
				got, err := Decode(bytes.NewReader(j.data), Options{Scale: j.scale})
				if err == nil {
					err = samePixels(got, j.want)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
