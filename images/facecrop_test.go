package images

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/disintegration/imaging"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/testneed"
)

// portraitLandmarks are the eyes and mouth corners of the face in
// portrait.jpg, in its stored 800x533 coordinates, read off the image.
var portraitLandmarks = map[string]image.Point{
	"left eye":          {367, 168},
	"right eye":         {437, 171},
	"left mouth corner": {363, 236},
	"right mouth":       {433, 236},
	"chin":              {400, 300},
}

// orientPoint maps a point of a stored w x h image to where EXIF
// orientation o puts it.
func orientPoint(p image.Point, w, h, o int) image.Point {
	switch o {
	case 2:
		return image.Pt(w-1-p.X, p.Y)
	case 3:
		return image.Pt(w-1-p.X, h-1-p.Y)
	case 4:
		return image.Pt(p.X, h-1-p.Y)
	case 5:
		return image.Pt(p.Y, p.X)
	case 6:
		return image.Pt(h-1-p.Y, p.X)
	case 7:
		return image.Pt(h-1-p.Y, w-1-p.X)
	case 8:
		return image.Pt(p.Y, w-1-p.X)
	}
	return p
}

// decodeUpright decodes a fixture the way a Run does before a pixel step:
// full size, with its EXIF orientation applied. It returns the
// orientation it applied.
func decodeUpright(t *testing.T, name string) (image.Image, int) {
	t.Helper()
	src := fixture(t, name)
	h, err := probe(src)
	if err != nil {
		t.Fatalf("probe %s: %v", name, err)
	}
	img, err := decodePixels(src, h, 0, 0)
	if err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	o := readOrientation(src, h.format)
	return orient(img, o), o
}

// TestFacecropKeepsFace is the acceptance test of issue 3: the crop keeps
// both eyes and the mouth of every portrait, whatever its colour model,
// format or EXIF orientation, at several aspects.
func TestFacecropKeepsFace(t *testing.T) {
	testneed.Integration(t, "the shared photos (a real face to find)")
	var det faceDetector
	cls, err := det.classifier()
	if err != nil {
		t.Fatal(err)
	}
	files := []struct {
		name   string
		orient int // the fixture's EXIF orientation
	}{
		{"portrait.jpg", 1},
		{"portrait.png", 1},
		{"portrait-grayscale.jpg", 1},
		{"portrait-cmyk-orientation-exif.jpg", 6},
	}
	sizes := []image.Point{{200, 200}, {300, 100}, {100, 300}, {1000, 1000}, {16, 9}}
	for _, file := range files {
		t.Run(file.name, func(t *testing.T) {
			img, o := decodeUpright(t, file.name)
			if o != file.orient {
				t.Fatalf("EXIF orientation %d, the fixture has %d", o, file.orient)
			}
			faces := detectFaces(cls, img)
			if len(faces) != 1 {
				t.Fatalf("found %d faces %v, want 1", len(faces), faces)
			}
			for _, size := range sizes {
				rect, mode := facecropRect(img, faces, size.X, size.Y)
				if mode != "face" {
					t.Errorf("%v: mode %q, want face", size, mode)
				}
				checkCropRect(t, img.Bounds(), rect, size.X, size.Y)
				for what, p := range portraitLandmarks {
					p = orientPoint(p, 800, 533, o)
					if !p.In(rect.Inset(4)) {
						t.Errorf("%v: crop %v cuts off the %s at %v", size, rect, what, p)
					}
				}
			}
		})
	}
}

// checkCropRect checks that r lies in bounds and has the aspect w:h up to
// rounding.
func checkCropRect(t *testing.T, bounds, r image.Rectangle, w, h int) {
	t.Helper()
	if r.Empty() || !r.In(bounds) {
		t.Errorf("crop %v is empty or outside %v", r, bounds)
		return
	}
	// One pixel of rounding on the longer side of the crop.
	if d := r.Dx()*h - r.Dy()*w; d > max(w, h) || d < -max(w, h) {
		t.Errorf("crop %v does not have the aspect %d:%d", r, w, h)
	}
}

func TestFaceCropRect(t *testing.T) {
	box := func(x0, y0, s int) faceBox { return faceBox{rect: image.Rect(x0, y0, x0+s, y0+s), score: 100} }
	sideways := box(600, 400, 100)
	sideways.up = faceRight
	tests := []struct {
		name     string
		bounds   image.Rectangle
		faces    []faceBox
		w, h     int
		wantN    int
		contains []image.Rectangle // must be inside the crop
	}{
		{"one face", image.Rect(0, 0, 1000, 1000), []faceBox{box(450, 300, 100)}, 200, 200, 1,
			[]image.Rectangle{image.Rect(415, 270, 585, 460)}},
		{"wide output", image.Rect(0, 0, 1000, 1000), []faceBox{box(450, 300, 100)}, 100, 50, 1,
			[]image.Rectangle{image.Rect(450, 300, 550, 400)}},
		{"two faces fit", image.Rect(0, 0, 1200, 800), []faceBox{box(300, 300, 100), box(700, 320, 80)}, 300, 200, 2,
			[]image.Rectangle{image.Rect(300, 300, 400, 400), image.Rect(700, 320, 780, 400)}},
		{"two faces too far apart: the largest", image.Rect(0, 0, 2000, 300), []faceBox{box(50, 100, 60), box(1800, 100, 90)}, 100, 100, 1,
			[]image.Rectangle{image.Rect(1800, 100, 1890, 190)}},
		{"face in the corner", image.Rect(0, 0, 1000, 700), []faceBox{box(0, 0, 120)}, 200, 200, 1,
			[]image.Rectangle{image.Rect(0, 0, 120, 120)}},
		{"offset bounds", image.Rect(100, 100, 1100, 800), []faceBox{box(900, 650, 100)}, 200, 200, 1,
			[]image.Rectangle{image.Rect(900, 650, 1000, 750)}},
		{"face bigger than the image allows", image.Rect(0, 0, 300, 200), []faceBox{box(50, 20, 180)}, 100, 100, 1, nil},
		{"tiny image", image.Rect(0, 0, 5, 3), []faceBox{box(1, 0, 3)}, 200, 200, 1, nil},
		{"sideways face", image.Rect(0, 0, 1000, 1000), []faceBox{sideways}, 200, 200, 1,
			[]image.Rectangle{image.Rect(600, 400, 700, 500)}},
		{"no face", image.Rect(0, 0, 1000, 1000), nil, 200, 200, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, n := faceCropRect(tc.bounds, tc.faces, tc.w, tc.h)
			if n != tc.wantN {
				t.Fatalf("framed %d faces, want %d", n, tc.wantN)
			}
			if n == 0 {
				return
			}
			checkCropRect(t, tc.bounds, r, tc.w, tc.h)
			for _, c := range tc.contains {
				if !c.In(r) {
					t.Errorf("crop %v does not contain %v", r, c)
				}
			}
		})
	}
}

// TestFaceCropRectPlacement checks the framing: a face is centred across
// and sits a little towards the top of its head along it.
func TestFaceCropRectPlacement(t *testing.T) {
	bounds := image.Rect(0, 0, 2000, 2000)
	for _, up := range []faceDir{faceUp, faceRight, faceDown, faceLeft} {
		fb := faceBox{rect: image.Rect(950, 950, 1050, 1050), up: up}
		// A large output makes the crop larger than the head region.
		r, _ := faceCropRect(bounds, []faceBox{fb}, 600, 600)
		c := r.Min.Add(r.Max).Div(2)
		ux, uy := up.upVector()
		// From the crop centre to the face centre, along up.
		along := float64(1000-c.X)*ux + float64(1000-c.Y)*uy
		across := float64(1000-c.X)*uy - float64(1000-c.Y)*ux
		if along < 20 || along > 80 {
			t.Errorf("up %d: face %.0f px towards the top of the head from the crop centre, want about 48", up, along)
		}
		if across < -1 || across > 1 {
			t.Errorf("up %d: face %.0f px off centre across", up, across)
		}
	}
}

// TestSaliencyCropRect checks the fallback goes to the detailed part of an
// image and stays centred on a flat one.
func TestSaliencyCropRect(t *testing.T) {
	flat := image.NewNRGBA(image.Rect(0, 0, 400, 100))
	for i := range flat.Pix {
		flat.Pix[i] = 128
	}
	detailed := imaging.Clone(flat)
	for y := 20; y < 80; y++ {
		for x := 300; x < 380; x++ {
			if (x/4+y/4)%2 == 0 {
				detailed.Set(x, y, color.NRGBA{A: 255})
			}
		}
	}
	tall := imaging.Rotate90(detailed)
	tests := []struct {
		name string
		img  image.Image
		w, h int
		want image.Rectangle
	}{
		{"flat: centred", flat, 100, 100, image.Rect(150, 0, 250, 100)},
		{"detail on the right", detailed, 100, 100, image.Rect(300, 20, 380, 80)},
		{"detail at the top", tall, 100, 100, image.Rect(20, 20, 80, 100)},
		{"same aspect: whole image", detailed, 40, 10, image.Rect(0, 0, 400, 100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := saliencyCropRect(tc.img, tc.w, tc.h)
			checkCropRect(t, tc.img.Bounds(), r, tc.w, tc.h)
			if !tc.want.In(r) {
				t.Errorf("crop %v does not contain %v", r, tc.want)
			}
		})
	}
}

// TestSmallGray checks every pixel type reduces to the same luma as a
// plain Box resize of the NRGBA conversion would give.
func TestSmallGray(t *testing.T) {
	src, _ := decodeUpright(t, "portrait.jpg")
	ycc, ok := src.(*image.YCbCr)
	if !ok {
		t.Fatalf("portrait.jpg decodes to %T, want *image.YCbCr", src)
	}
	sub := image.Rect(13, 7, 713, 507)
	convert := func(dst draw.Image) image.Image {
		draw.Draw(dst, dst.Bounds(), src, dst.Bounds().Min, draw.Src)
		return dst
	}
	imgs := map[string]image.Image{
		"ycbcr":             ycc,
		"ycbcr sub":         ycc.SubImage(sub),
		"gray":              convert(image.NewGray(src.Bounds())),
		"nrgba sub":         convert(image.NewNRGBA(src.Bounds())).(*image.NRGBA).SubImage(sub),
		"rgba":              convert(image.NewRGBA(src.Bounds())),
		"cmyk":              convert(image.NewCMYK(src.Bounds())),
		"paletted":          convert(image.NewPaletted(src.Bounds(), palette.Plan9)),
		"gray16":            convert(image.NewGray16(src.Bounds())),
		"smaller than side": imaging.Resize(src, 90, 0, imaging.Box),
	}
	for name, img := range imgs {
		gray, cols, rows := smallGray(img, 100)
		ref := imaging.Resize(img, cols, rows, imaging.Box)
		if b := img.Bounds(); max(b.Dx(), b.Dy()) <= 100 {
			ref = imaging.Clone(img)
		}
		if max(cols, rows) > 100 || ref.Bounds().Dx() != cols || ref.Bounds().Dy() != rows {
			t.Errorf("%s: %dx%d", name, cols, rows)
			continue
		}
		sum := 0
		for i := range gray {
			p := ref.Pix[i*4 : i*4+3]
			want := (299*int(p[0]) + 587*int(p[1]) + 114*int(p[2])) / 1000
			sum += max(int(gray[i])-want, want-int(gray[i]))
		}
		if d := float64(sum) / float64(len(gray)); d > 3 {
			t.Errorf("%s: luma differs from the reference by %.1f on average", name, d)
		}
	}
}

// TestCropResize checks the fast plane path against imaging's crop and
// Lanczos resize, for several pixel types and offset bounds.
func TestCropResize(t *testing.T) {
	src, _ := decodeUpright(t, "portrait.jpg")
	ycc := src.(*image.YCbCr)
	gray := image.NewGray(src.Bounds())
	draw.Draw(gray, gray.Bounds(), src, image.Point{}, draw.Src)
	tests := []struct {
		name string
		img  image.Image
		rect image.Rectangle
		w, h int
	}{
		{"ycbcr", ycc, image.Rect(180, 1, 604, 425), 200, 200},
		{"ycbcr offset", ycc.SubImage(image.Rect(100, 0, 800, 533)), image.Rect(180, 1, 604, 425), 200, 200},
		{"ycbcr enlarge", ycc, image.Rect(300, 100, 350, 150), 120, 120},
		{"ycbcr big reduction", ycc, image.Rect(0, 0, 800, 533), 30, 20},
		{"gray", gray, image.Rect(181, 2, 605, 426), 150, 100},
		{"nrgba", imaging.Clone(src), image.Rect(0, 0, 800, 533), 200, 133},
		{"same size", ycc, image.Rect(10, 10, 210, 210), 200, 200},
	}
	for _, tc := range tests {
		got := cropResize(tc.img, tc.rect, tc.w, tc.h)
		if b := got.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%s: %v, want %dx%d", tc.name, b, tc.w, tc.h)
			continue
		}
		want := imaging.Resize(imaging.Crop(tc.img, tc.rect), tc.w, tc.h, imaging.Lanczos)
		if d, at := maxBlockDiff(imaging.Clone(got), want); d > 6 {
			t.Errorf("%s: differs from imaging by %.1f in the block at %v", tc.name, d, at)
		}
	}
}

// TestFacecropApply runs the op on frames, including degenerate sizes.
func TestFacecropApply(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	tests := []struct {
		src  image.Rectangle
		w, h int
	}{
		{image.Rect(0, 0, 1, 1), 200, 200},
		{image.Rect(0, 0, 3, 500), 200, 100},
		{image.Rect(0, 0, 500, 3), 10, 300},
		{image.Rect(0, 0, 640, 480), 1, 1},
		{image.Rect(0, 0, 50, 50), 50, 50},
	}
	for _, tc := range tests {
		img := image.NewNRGBA(tc.src)
		o := opOf(t, fmt.Sprintf("facecrop/%dx%d", tc.w, tc.h))
		f := &frame{img: img, header: http.Header{}, p: p}
		if err := o.apply(context.Background(), f); err != nil {
			t.Errorf("%v → %dx%d: %v", tc.src, tc.w, tc.h, err)
			continue
		}
		if b := f.img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
			t.Errorf("%v → %dx%d: got %v", tc.src, tc.w, tc.h, b)
		}
		if got := f.header.Get(HeaderFacecrop); got != "fallback" {
			t.Errorf("%v: header %q, want fallback", tc.src, got)
		}
	}
	// The size limit is the plan's, checked before any decode.
	pl, err := fop.Parse("facecrop/20000x10", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = p.plan(header{format: formatPNG, width: 10, height: 10}, 1, 1, opsOf(t, pl.Steps))
	if kindOf(t, err) != ufop.KindTooLarge {
		t.Errorf("over the output limit: %v, want too large", err)
	}
}

func TestFacecropNeed(t *testing.T) {
	tests := []struct {
		w, h, ow, oh int
		wantW, wantH int
	}{
		{800, 533, 200, 200, 800, 533},         // small source: full size
		{9643, 10328, 200, 200, 1967, 2106},    // 1/4 of it is enough
		{10328, 9643, 100, 50, 1053, 984},      // detection needs 2*detectSide
		{9643, 10328, 2000, 2000, 9643, 10328}, // a large output needs it all
	}
	for _, tc := range tests {
		o := &facecropOp{fop.Facecrop{W: tc.ow, H: tc.oh}}
		if w, h := o.need(tc.w, tc.h, 1); w != tc.wantW || h != tc.wantH {
			t.Errorf("need(%dx%d) for %dx%d = %dx%d, want %dx%d", tc.w, tc.h, tc.ow, tc.oh, w, h, tc.wantW, tc.wantH)
		}
	}
}

// TestFacecropLarge runs facecrop on the 100 megapixel fixture, which the
// shrink-on-load decode makes affordable.
func TestFacecropLarge(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a 100 megapixel JPEG")
	}
	p := newTestProcessor(t, nil, nil)
	res := mustRun(t, p, fixture(t, "9643x10328.jpg"), "facecrop/200x200")
	if b := decodeResult(t, res).Bounds(); b.Dx() != 200 || b.Dy() != 200 {
		t.Errorf("output %v, want 200x200", b)
	}
	if res.Header.Get(HeaderFacecrop) == "" {
		t.Errorf("no %s header", HeaderFacecrop)
	}
}

// TestFacecropTwoFaces builds a group photo from two copies of the
// portrait: a wide crop frames both, a square one only the larger.
func TestFacecropTwoFaces(t *testing.T) {
	testneed.Integration(t, "the shared photo portrait.jpg (a real face to find)")
	one, _ := decodeUpright(t, "portrait.jpg")
	small := imaging.Resize(one, 400, 0, imaging.Lanczos)
	group := imaging.New(800, small.Bounds().Dy()+40, color.NRGBA{20, 40, 20, 255})
	group = imaging.Paste(group, small, image.Pt(0, 10))
	group = imaging.Paste(group, imaging.Resize(one, 360, 0, imaging.Lanczos), image.Pt(420, 30))
	p := newTestProcessor(t, nil, nil)
	cls, err := p.faces.classifier()
	if err != nil {
		t.Fatal(err)
	}
	faces := detectFaces(cls, group)
	if len(faces) != 2 {
		t.Fatalf("found %d faces %v, want 2", len(faces), faces)
	}
	// The eyes and mouth of both copies, in group coordinates.
	var left, right []image.Point
	for _, pt := range portraitLandmarks {
		left = append(left, image.Pt(pt.X/2, pt.Y/2+10))
		right = append(right, image.Pt(420+pt.X*360/800, 30+pt.Y*360/800))
	}
	tests := []struct {
		w, h int
		mode string
		keep [][]image.Point
	}{
		{600, 200, "faces=2", [][]image.Point{left, right}},
		{200, 200, "face", [][]image.Point{left}},
	}
	for _, tc := range tests {
		rect, mode := facecropRect(group, faces, tc.w, tc.h)
		if mode != tc.mode {
			t.Errorf("%dx%d: mode %q, want %q", tc.w, tc.h, mode, tc.mode)
		}
		checkCropRect(t, group.Bounds(), rect, tc.w, tc.h)
		for _, pts := range tc.keep {
			for _, pt := range pts {
				if !pt.In(rect) {
					t.Errorf("%dx%d: crop %v cuts off %v", tc.w, tc.h, rect, pt)
				}
			}
		}
	}
}

// TestFacecropRun goes through Parse and Processor.Run: the decode path
// must orient the image before the op, the header says what was found, and
// the output matches the golden image.
func TestFacecropRun(t *testing.T) {
	testneed.Integration(t, "the shared photos (real faces) of the goldens")
	p := newTestProcessor(t, nil, nil)
	tests := []struct {
		file, query, header, golden string
	}{
		{"portrait.jpg", "facecrop/200x200", "face", "facecrop-portrait-200x200"},
		{"portrait.png", "facecrop/200x200", "face", ""},
		{"portrait-grayscale.jpg", "facecrop/200x200", "face", ""},
		{"portrait-cmyk-orientation-exif.jpg", "facecrop/200x200", "face", "facecrop-portrait-cmyk-orientation-exif-200x200"},
		{"portrait.jpg", "facecrop/300x100", "face", "facecrop-portrait-300x100"},
		{"no_face.jpg", "facecrop/200x200", "fallback", "facecrop-no_face-200x200"},
	}
	var det faceDetector
	cls, err := det.classifier()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.query, func(t *testing.T) {
			res := mustRun(t, p, fixture(t, tc.file), tc.query)
			if got := res.Header.Get(HeaderFacecrop); got != tc.header {
				t.Errorf("%s: %q, want %q", HeaderFacecrop, got, tc.header)
			}
			img := decodeResult(t, res)
			fo := opOf(t, tc.query).(*facecropOp)
			if b := img.Bounds(); b.Dx() != fo.W || b.Dy() != fo.H {
				t.Fatalf("output %v, want %dx%d", b, fo.W, fo.H)
			}
			if tc.header == "face" && fo.W == fo.H {
				// The face is whole in the output, so it is found there too.
				if faces := detectFaces(cls, img); len(faces) != 1 {
					t.Errorf("the output has %d faces, want 1", len(faces))
				}
			}
			if tc.golden != "" {
				// Compared small: a face box a few pixels off or a few
				// percent larger moves edges a little; a crop 20 px off
				// in the source differs by about 45, a centred one by 66.
				opGolden(t, tc.golden, img, 25, 25)
			}
		})
	}
}

// goldenSide is the longest side golden images are stored at: enough to
// see a misplaced crop or mark, small enough to keep the repository light.
const goldenSide = 256

// opGolden compares img with testdata/golden/<name>.png perceptually. The
// golden is stored reduced (longest side at most goldenSide); both are
// compared reduced to at most side pixels a side, and the mean absolute
// difference per channel of every 8x8 block there must be at most tol (of
// 255): codec and resampling noise and a pixel or two of shift pass, a
// missing or moved mark or a different crop does not. With -update it
// rewrites the golden instead.
func opGolden(t *testing.T, name string, img image.Image, side int, tol float64) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name+".png")
	got := goldenReduce(img, goldenSide)
	if *update {
		writePNG(t, path, got)
		return
	}
	want, err := imaging.Open(path)
	if err != nil {
		t.Fatalf("golden %s (run go test ./images -update to create it): %v", path, err)
	}
	if want.Bounds().Size() != got.Bounds().Size() {
		t.Fatalf("reduced size %v, golden %s is %v", got.Bounds().Size(), path, want.Bounds().Size())
	}
	if d, at := maxBlockDiff(goldenReduce(got, side), goldenReduce(want, side)); d > tol {
		out := filepath.Join(t.TempDir(), name+".png")
		writePNG(t, out, img)
		t.Errorf("differs from golden %s by %.1f per channel in the block at %v of its %d px copy (tolerance %.1f)", path, d, at, side, tol)
	}
}

// goldenReduce scales img down so that its longest side is at most side.
func goldenReduce(img image.Image, side int) *image.NRGBA {
	sz := img.Bounds().Size()
	if long := max(sz.X, sz.Y); long > side {
		return imaging.Resize(img, max(1, sz.X*side/long), max(1, sz.Y*side/long), imaging.Box)
	}
	return imaging.Clone(img)
}

// maxBlockDiff returns the largest mean absolute RGB difference of the 8x8
// blocks of two images of one size, and where that block is.
func maxBlockDiff(a, b *image.NRGBA) (float64, image.Point) {
	const block = 8
	sz := a.Bounds().Size()
	worst, at := 0.0, image.Point{}
	for by := 0; by < sz.Y; by += block {
		for bx := 0; bx < sz.X; bx += block {
			sum, n := 0, 0
			for y := by; y < min(by+block, sz.Y); y++ {
				for x := bx; x < min(bx+block, sz.X); x++ {
					i := y*a.Stride + x*4
					j := y*b.Stride + x*4
					for c := range 3 {
						d := int(a.Pix[i+c]) - int(b.Pix[j+c])
						sum += max(d, -d)
					}
					n += 3
				}
			}
			if d := float64(sum) / float64(n); d > worst {
				worst, at = d, image.Pt(bx, by)
			}
		}
	}
	return worst, at
}

// BenchmarkFacecrop measures whole Runs, decode and encode included.
func BenchmarkFacecrop(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"portrait", "portrait.jpg"},
		{"no_face", "no_face.jpg"},
		{"100MP", "9643x10328.jpg"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p := newTestProcessor(b, nil, nil)
			src := fixture(b, bc.file)
			pl, err := fop.Parse("facecrop/200x200", 0)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			reportCPU(b)
			for b.Loop() {
				if _, err := p.Run(context.Background(), src, pl.Steps); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDetectFaces shows detection cost does not grow with the image:
// it works on a copy of at most detectSide pixels a side.
func BenchmarkDetectFaces(b *testing.B) {
	var det faceDetector
	cls, err := det.classifier()
	if err != nil {
		b.Fatal(err)
	}
	src, err := imaging.Decode(bytes.NewReader(fixture(b, "portrait.jpg")))
	if err != nil {
		b.Fatal(err)
	}
	for _, width := range []int{800, 1600, 3200} {
		img := imaging.Resize(src, width, 0, imaging.Linear)
		b.Run(fmt.Sprintf("%dx%d", img.Bounds().Dx(), img.Bounds().Dy()), func(b *testing.B) {
			reportCPU(b)
			for b.Loop() {
				if len(detectFaces(cls, img)) != 1 {
					b.Fatal("face not found")
				}
			}
		})
	}
}

// FuzzFacecropImage runs detection, framing and scaling on arbitrary small
// images and output sizes: no panic, the crop inside the image with the
// output's aspect, the output exactly the requested size.
func FuzzFacecropImage(f *testing.F) {
	f.Add(uint8(40), uint8(30), uint16(200), uint16(200), []byte("portrait"))
	f.Add(uint8(1), uint8(1), uint16(1), uint16(1), []byte{0})
	f.Add(uint8(255), uint8(2), uint16(3), uint16(999), []byte{255, 0, 255, 0})
	var det faceDetector
	cls, err := det.classifier()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, w, h uint8, ow, oh uint16, pix []byte) {
		if w == 0 || h == 0 || ow == 0 || oh == 0 || len(pix) == 0 || ow > 1000 || oh > 1000 {
			return
		}
		// The first byte picks the pixel type: each has its own luma path.
		r := image.Rect(3, 5, 3+int(w), 5+int(h))
		var img draw.Image
		switch pix[0] % 4 {
		case 0:
			img = image.NewGray(r)
		case 1:
			img = image.NewPaletted(r, palette.WebSafe)
		case 2:
			img = image.NewNRGBA(r)
		default:
			img = image.NewCMYK(r)
		}
		i := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				v := pix[i%len(pix)]
				img.Set(x, y, color.NRGBA{v, v ^ 0x55, v / 2, 255})
				i++
			}
		}
		faces := detectFaces(cls, img)
		for _, fb := range faces {
			if !fb.rect.In(img.Bounds()) {
				t.Fatalf("face %v outside %v", fb.rect, img.Bounds())
			}
		}
		rect, _ := facecropRect(img, faces, int(ow), int(oh))
		if rect.Empty() || !rect.In(img.Bounds()) {
			t.Fatalf("crop %v outside %v", rect, img.Bounds())
		}
		out := cropResize(img, rect, int(ow), int(oh))
		if out.Bounds().Dx() != int(ow) || out.Bounds().Dy() != int(oh) {
			t.Fatalf("output %v, want %dx%d", out.Bounds(), ow, oh)
		}
	})
}
