package images

import (
	"cmp"
	"context"
	"fmt"
	"image"
	"math"
	"net/http"
	"slices"
	"strconv"
	"sync"

	"github.com/disintegration/imaging"
	pigo "github.com/esimov/pigo/core"

	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/images/internal/facefinder"
	"github.com/ufop/ufop/protocol"
)

// HeaderFacecrop is the response header in which facecrop says how it chose
// the crop: "face", "faces=N" or "fallback" (SPEC §1).
const HeaderFacecrop = protocol.HeaderFacecrop

// facecropOp runs facecrop.
type facecropOp struct{ fop.Facecrop }

func (o *facecropOp) name() string { return "facecrop" }

// cropZoom bounds how far facecrop can zoom in: the smallest crop is the
// head region of the smallest detectable face, minFacePx/detectSide of the
// long side times headAbove+headBelow, about a tenth of it. Decoding the
// long side at cropZoom times the output's keeps even that crop at full
// output resolution.
const cropZoom = float64(detectSide) / minFacePx / (headAbove + headBelow)

// need lets a JPEG source be decoded smaller (shrink-on-load) when even the
// tightest crop would still have the output's resolution, and detection
// its working size.
func (o *facecropOp) need(w, h, _ int) (int, int) {
	long := max(w, h)
	want := max(int(math.Ceil(cropZoom*float64(max(o.W, o.H)))), 2*detectSide)
	if want >= long {
		return w, h
	}
	// Orientation only swaps the sides; the scale is the same.
	return int(math.Ceil(float64(w) * float64(want) / float64(long))), int(math.Ceil(float64(h) * float64(want) / float64(long)))
}

var _ shrinker = (*facecropOp)(nil)

// outSize: the crop is scaled to exactly WxH, enlarging when the source
// is smaller, so the size alone decides (before decoding or detection).
func (o *facecropOp) outSize(_, _, _ int, check sizeCheck) (int, int, error) {
	return o.W, o.H, check("facecrop: parameter size", o.W, o.H)
}

func (o *facecropOp) apply(ctx context.Context, f *frame) error {
	cls, err := f.p.faces.classifier()
	if err != nil {
		return fmt.Errorf("facecrop: load cascade: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	faces := detectFaces(cls, f.img)
	if err := ctx.Err(); err != nil {
		return err
	}
	rect, mode := facecropRect(f.img, faces, o.W, o.H)
	// Through eachFrame, so that the frame forgets a shrink-on-load size.
	err = f.eachFrame(func(img image.Image) (image.Image, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return cropResize(img, rect, o.W, o.H), nil
	})
	if err != nil {
		return err
	}
	if f.header == nil {
		f.header = http.Header{}
	}
	f.header.Set(HeaderFacecrop, mode)
	return nil
}

// facecropRect picks the source rectangle for a WxH facecrop and says how
// ("face", "faces=N" or "fallback").
func facecropRect(img image.Image, faces []faceBox, w, h int) (image.Rectangle, string) {
	if r, n := faceCropRect(img.Bounds(), faces, w, h); n > 0 {
		if n == 1 {
			return r, "face"
		}
		return r, "faces=" + strconv.Itoa(n)
	}
	return saliencyCropRect(img, w, h), "fallback"
}

// faceDetector owns the unpacked cascade of one Processor. The zero value is
// ready to use; the cascade is unpacked on first use, once.
type faceDetector struct {
	once sync.Once
	cls  *pigo.Pigo
	err  error
}

// classifier returns the unpacked cascade. pigo's classifier only reads its
// trees, so one instance serves concurrent requests.
func (d *faceDetector) classifier() (*pigo.Pigo, error) {
	d.once.Do(func() {
		d.cls, d.err = pigo.NewPigo().Unpack(facefinder.Cascade())
	})
	return d.cls, d.err
}

// faceBox is one detected face in source coordinates: a square roughly from
// the eyebrows to the chin.
type faceBox struct {
	rect image.Rectangle
	// up is the direction from the chin to the top of the head in the
	// image: faceUp for an upright face, faceRight when the top of the
	// head points right (a photo whose EXIF orientation turned it sideways).
	up faceDir
	// score is pigo's cluster score; higher is more certainly a face.
	score float32
}

// faceDir is a direction in the image, in quarter turns clockwise from up.
type faceDir uint8

const (
	faceUp faceDir = iota
	faceRight
	faceDown
	faceLeft
)

// Detection tuning, on the downscaled copy. pigo's window covers roughly
// brows to chin; faces under minFacePx on that copy are ignored (a face that
// small would not survive the crop's scaling anyway).
const (
	detectSide      = 400  // longest side of the copy searched for faces
	minFacePx       = 20   // smallest face window on the copy
	faceShift       = 0.15 // window step, as a fraction of its size
	faceScale       = 1.1  // window growth per scale step
	faceIoU         = 0.2  // pigo's clustering: detections overlapping more are one
	faceOverlap     = 0.4  // clusters sharing more of the smaller box are one face
	minFaceScore    = 8.0  // cluster score below which a detection is noise
	minFaceFraction = 0.02 // faces smaller than this share of the largest are dropped
)

// detectFaces finds frontal faces in img. It works on a grayscale copy whose
// longest side is at most detectSide, so its cost does not grow with the
// source size, and maps the boxes back to img's coordinates. When no
// upright face is found it looks for faces turned a quarter turn either
// way, as in photos whose camera was held sideways.
func detectFaces(cls *pigo.Pigo, img image.Image) []faceBox {
	b := img.Bounds()
	if b.Dx() < minFacePx || b.Dy() < minFacePx {
		return nil
	}
	gray, cols, rows := smallGray(img, detectSide)
	sx := float64(b.Dx()) / float64(cols)
	sy := float64(b.Dy()) / float64(rows)
	var faces []faceBox
	for _, up := range []faceDir{faceUp, faceRight, faceLeft} {
		pix, c, r := gray, cols, rows
		if up != faceUp {
			pix, c, r = rotateGray(gray, cols, rows, up), rows, cols
		}
		for _, d := range runCascade(cls, pix, c, r) {
			// Back to the unrotated copy's coordinates, then the source's.
			x, y := float64(d.Col), float64(d.Row)
			switch up {
			case faceRight: // the copy was turned counterclockwise
				x, y = float64(cols-1)-y, x
			case faceLeft: // turned clockwise
				x, y = y, float64(rows-1)-x
			}
			half := float64(d.Scale) / 2
			rect := image.Rect(
				b.Min.X+int(math.Round((x-half)*sx)),
				b.Min.Y+int(math.Round((y-half)*sy)),
				b.Min.X+int(math.Round((x+half)*sx)),
				b.Min.Y+int(math.Round((y+half)*sy)),
			).Intersect(b)
			if !rect.Empty() {
				faces = append(faces, faceBox{rect: rect, up: up, score: d.Q})
			}
		}
		if len(faces) > 0 {
			break
		}
	}
	return pruneFaces(faces)
}

// runCascade runs pigo over a grayscale copy and returns its clustered
// detections that are confident enough.
func runCascade(cls *pigo.Pigo, pix []uint8, cols, rows int) []pigo.Detection {
	if min(cols, rows) < minFacePx {
		return nil
	}
	params := pigo.CascadeParams{
		MinSize:     minFacePx,
		MaxSize:     min(rows, cols),
		ShiftFactor: faceShift,
		ScaleFactor: faceScale,
		ImageParams: pigo.ImageParams{Pixels: pix, Rows: rows, Cols: cols, Dim: cols},
	}
	dets := cls.ClusterDetections(cls.RunCascade(params, 0), faceIoU)
	kept := dets[:0]
	for _, d := range dets {
		if d.Q >= minFaceScore {
			kept = append(kept, d)
		}
	}
	return kept
}

// pruneFaces merges boxes that are one face (pigo's clustering can leave two
// overlapping clusters) keeping the better scored, and drops tiny boxes next
// to a big face, which are background texture far more often than people.
func pruneFaces(faces []faceBox) []faceBox {
	slices.SortFunc(faces, func(a, b faceBox) int { return cmp.Compare(b.score, a.score) })
	var kept []faceBox
	largest := 0
	for _, f := range faces {
		dup := false
		for _, k := range kept {
			inter := f.rect.Intersect(k.rect)
			small := min(area(f.rect), area(k.rect))
			if small > 0 && float64(area(inter)) > faceOverlap*float64(small) {
				dup = true
				break
			}
		}
		if !dup {
			kept = append(kept, f)
			largest = max(largest, area(f.rect))
		}
	}
	out := kept[:0]
	for _, f := range kept {
		if float64(area(f.rect)) >= minFaceFraction*float64(largest) {
			out = append(out, f)
		}
	}
	return out
}

func area(r image.Rectangle) int { return r.Dx() * r.Dy() }

// rotateGray turns a cols x rows grayscale image a quarter turn:
// counterclockwise for faceRight (so that a face whose top points right
// becomes upright), clockwise for faceLeft. The result is rows x cols.
func rotateGray(pix []uint8, cols, rows int, up faceDir) []uint8 {
	out := make([]uint8, len(pix))
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			var nx, ny int
			if up == faceRight {
				nx, ny = y, cols-1-x
			} else {
				nx, ny = rows-1-y, x
			}
			out[ny*rows+nx] = pix[y*cols+x]
		}
	}
	return out
}

// smallGray returns the luma of img scaled so that its longest side is at
// most side, row-major with stride cols. Common pixel types are read
// straight from their planes and box-averaged in one pass; a JPEG's Y plane
// is already the luma.
func smallGray(img image.Image, side int) (gray []uint8, cols, rows int) {
	b := img.Bounds()
	cols, rows = b.Dx(), b.Dy()
	if long := max(cols, rows); long > side {
		cols = max(1, int(math.Round(float64(cols)*float64(side)/float64(long))))
		rows = max(1, int(math.Round(float64(rows)*float64(side)/float64(long))))
	}
	line := make([]uint8, b.Dx())
	var lumaRow func(y int) []uint8 // row y (0-based) of the source's luma
	switch m := img.(type) {
	case *image.YCbCr:
		lumaRow = func(y int) []uint8 {
			i := m.YOffset(b.Min.X, b.Min.Y+y)
			return m.Y[i : i+b.Dx()]
		}
	case *image.Gray:
		lumaRow = func(y int) []uint8 {
			i := m.PixOffset(b.Min.X, b.Min.Y+y)
			return m.Pix[i : i+b.Dx()]
		}
	case *image.NRGBA:
		lumaRow = func(y int) []uint8 { return rgbaLuma(line, m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]) }
	case *image.RGBA:
		lumaRow = func(y int) []uint8 { return rgbaLuma(line, m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]) }
	default:
		// Anything else is converted once, at the reduced size when larger.
		var small *image.NRGBA
		if cols == b.Dx() && rows == b.Dy() {
			small = imaging.Clone(img)
		} else {
			small = imaging.Resize(img, cols, rows, imaging.Box)
		}
		b = small.Bounds()
		line = line[:b.Dx()]
		lumaRow = func(y int) []uint8 { return rgbaLuma(line, small.Pix[y*small.Stride:]) }
	}
	return boxReduce(b.Dx(), b.Dy(), cols, rows, lumaRow), cols, rows
}

// rgbaLuma writes the BT.601 luma of the RGBA or NRGBA pixels in pix into
// dst, in integer arithmetic with weights summing to 1<<16.
func rgbaLuma(dst, pix []uint8) []uint8 {
	for x := range dst {
		p := pix[x*4 : x*4+3 : x*4+3]
		dst[x] = uint8((19595*uint32(p[0]) + 38470*uint32(p[1]) + 7471*uint32(p[2]) + 1<<15) >> 16)
	}
	return dst
}

// boxReduce averages a w x h plane, read a row at a time, down to cols x
// rows: each output pixel is the mean of the source pixels whose index maps
// to it.
func boxReduce(w, h, cols, rows int, row func(y int) []uint8) []uint8 {
	out := make([]uint8, cols*rows)
	sum := make([]uint32, cols)
	xmap := make([]int, w)
	xcount := make([]uint32, cols)
	for x := range xmap {
		xmap[x] = x * cols / w
		xcount[xmap[x]]++
	}
	y := 0
	for oy := range rows {
		clear(sum)
		n := uint32(0)
		for ; y < h && y*rows/h == oy; y++ {
			for x, v := range row(y) {
				sum[xmap[x]] += uint32(v)
			}
			n++
		}
		if n == 0 {
			continue // cannot happen: rows <= h
		}
		for ox, s := range sum {
			c := xcount[ox] * n
			out[oy*cols+ox] = uint8((s + c/2) / c)
		}
	}
	return out
}

// Head framing around a face box of side s, centred on the box: how far the
// crop must reach so that hair, chin and a little neck stay in.
const (
	headSide  = 0.85 // to each side of the box centre, in box sides
	headAbove = 0.8  // towards the top of the head
	headBelow = 1.1  // towards the chin and neck
	// faceLine is where the face centre sits in the crop, from the top of
	// the head's side, when the crop is larger than the head region: a
	// little before the middle, as portraits are framed.
	faceLine = 0.42
)

// headRect is the region around a face that a crop should keep.
func headRect(fb faceBox) image.Rectangle {
	s := float64(fb.rect.Dx())
	cx := float64(fb.rect.Min.X+fb.rect.Max.X) / 2
	cy := float64(fb.rect.Min.Y+fb.rect.Max.Y) / 2
	// Extents left, up, right and down of the centre, in box sides.
	l, u, r, d := headSide, headAbove, headSide, headBelow
	switch fb.up {
	case faceRight:
		l, u, r, d = headBelow, headSide, headAbove, headSide
	case faceDown:
		u, d = headBelow, headAbove
	case faceLeft:
		l, u, r, d = headAbove, headSide, headBelow, headSide
	}
	return image.Rect(int(cx-l*s), int(cy-u*s), int(math.Ceil(cx+r*s)), int(math.Ceil(cy+d*s)))
}

// upVector is the unit vector of a direction in image coordinates.
func (d faceDir) upVector() (float64, float64) {
	switch d {
	case faceRight:
		return 1, 0
	case faceDown:
		return 0, 1
	case faceLeft:
		return -1, 0
	}
	return 0, -1
}

// faceCropRect returns the rectangle of aspect w:h inside bounds that frames
// all faces, or only the largest when all do not fit, and how many faces it
// framed; 0 when there are none.
func faceCropRect(bounds image.Rectangle, faces []faceBox, w, h int) (image.Rectangle, int) {
	if len(faces) == 0 || bounds.Empty() {
		return image.Rectangle{}, 0
	}
	maxW, maxH := fitAspect(bounds.Dx(), bounds.Dy(), w, h)
	if r, ok := frameFaces(bounds, faces, w, h, maxW, maxH); ok || len(faces) == 1 {
		return r, len(faces)
	}
	largest := faces[0]
	for _, fb := range faces[1:] {
		if area(fb.rect) > area(largest.rect) {
			largest = fb
		}
	}
	r, _ := frameFaces(bounds, []faceBox{largest}, w, h, maxW, maxH)
	return r, 1
}

// frameFaces computes the crop for a set of faces; ok is false when their
// head region is larger than the biggest crop of the aspect (maxW x maxH),
// in which case the crop is that biggest one, centred on the faces.
func frameFaces(bounds image.Rectangle, faces []faceBox, w, h, maxW, maxH int) (image.Rectangle, bool) {
	var head, core image.Rectangle
	for i, fb := range faces {
		hr := headRect(fb)
		if i == 0 {
			head, core = hr, fb.rect
		} else {
			head, core = head.Union(hr), core.Union(fb.rect)
		}
	}
	head = head.Intersect(bounds)
	aspect := float64(w) / float64(h)
	// The smallest crop of the aspect holding the head region, but not
	// smaller than the output so that it is never enlarged when avoidable.
	cw := max(float64(head.Dx()), float64(head.Dy())*aspect, float64(w))
	ch := cw / aspect
	ok := cw <= float64(maxW)+0.5 && ch <= float64(maxH)+0.5
	iw, ih := int(math.Round(cw)), int(math.Round(ch))
	if iw > maxW || ih > maxH || !ok {
		iw, ih = maxW, maxH
	}
	fx := float64(core.Min.X+core.Max.X) / 2
	fy := float64(core.Min.Y+core.Max.Y) / 2
	// Shift the crop so that the faces sit a little towards the top of
	// their heads from the centre.
	ux, uy := faces[0].up.upVector()
	x0 := int(math.Round(fx - (ux*(0.5-faceLine)+0.5)*float64(iw)))
	y0 := int(math.Round(fy - (uy*(0.5-faceLine)+0.5)*float64(ih)))
	// Keep the whole head region when the crop can hold it.
	if ok {
		x0 = clampInt(x0, head.Max.X-iw, head.Min.X)
		y0 = clampInt(y0, head.Max.Y-ih, head.Min.Y)
	}
	x0 = clampInt(x0, bounds.Min.X, bounds.Max.X-iw)
	y0 = clampInt(y0, bounds.Min.Y, bounds.Max.Y-ih)
	return image.Rect(x0, y0, x0+iw, y0+ih), ok
}

// fitAspect returns the largest size of aspect w:h that fits in bw x bh,
// at least 1x1.
func fitAspect(bw, bh, w, h int) (int, int) {
	if int64(bw)*int64(h) >= int64(bh)*int64(w) {
		// The source is wider than the target: full height.
		return max(1, min(bw, int(math.Round(float64(bh)*float64(w)/float64(h))))), bh
	}
	return bw, max(1, min(bh, int(math.Round(float64(bw)*float64(h)/float64(w)))))
}

func clampInt(v, lo, hi int) int {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// saliencySide is the longest side of the copy the fallback crop is chosen on.
const saliencySide = 160

// saliencyCropRect is the fallback when there is no face: the largest crop of
// aspect w:h, slid along the free axis to where the image has the most edge
// energy (detail is where the subject usually is), with a slight preference
// for the centre so that flat images get a centred crop.
func saliencyCropRect(img image.Image, w, h int) image.Rectangle {
	b := img.Bounds()
	cw, ch := fitAspect(b.Dx(), b.Dy(), w, h)
	if cw == b.Dx() && ch == b.Dy() {
		return b
	}
	gray, cols, rows := smallGray(img, saliencySide)
	// Edge energy per column (or row) of the small copy.
	horizontal := cw < b.Dx()
	n := rows
	if horizontal {
		n = cols
	}
	energy := make([]float64, n+1) // prefix sums
	line := make([]float64, n)
	for y := 1; y < rows-1; y++ {
		for x := 1; x < cols-1; x++ {
			i := y*cols + x
			gx := int(gray[i+1]) - int(gray[i-1])
			gy := int(gray[i+cols]) - int(gray[i-cols])
			e := math.Sqrt(float64(gx*gx + gy*gy))
			if horizontal {
				line[x] += e
			} else {
				line[y] += e
			}
		}
	}
	for i, e := range line {
		energy[i+1] = energy[i] + e
	}
	// Window length on the small copy.
	win := int(math.Round(float64(cw) * float64(cols) / float64(b.Dx())))
	if !horizontal {
		win = int(math.Round(float64(ch) * float64(rows) / float64(b.Dy())))
	}
	win = clampInt(win, 1, n)
	total := energy[n] + 1e-9
	score := func(s int) float64 {
		sc := (energy[s+win] - energy[s]) / total
		if n > win {
			// Up to 10% penalty at the edges.
			off := math.Abs(float64(s)-float64(n-win)/2) / (float64(n-win) / 2)
			sc *= 1 - 0.1*off
		}
		return sc
	}
	// Start from the centre, so that only more detail moves the crop.
	best := (n - win) / 2
	bestScore := score(best)
	for s := 0; s+win <= n; s++ {
		if sc := score(s); sc > bestScore+1e-9 {
			best, bestScore = s, sc
		}
	}
	if horizontal {
		x0 := b.Min.X + int(math.Round(float64(best)*float64(b.Dx())/float64(cols)))
		x0 = clampInt(x0, b.Min.X, b.Max.X-cw)
		return image.Rect(x0, b.Min.Y, x0+cw, b.Min.Y+ch)
	}
	y0 := b.Min.Y + int(math.Round(float64(best)*float64(b.Dy())/float64(rows)))
	y0 = clampInt(y0, b.Min.Y, b.Max.Y-ch)
	return image.Rect(b.Min.X, y0, b.Min.X+cw, y0+ch)
}

// cropResize returns the rect part of img scaled to exactly w x h, with the
// package's resampler: JPEG's YCbCr and Gray planes are scaled directly,
// big reductions are box-shrunk before the final Lanczos step.
func cropResize(img image.Image, rect image.Rectangle, w, h int) image.Image {
	part := cropRect(img, rect.Sub(img.Bounds().Min))
	if pb := part.Bounds(); pb.Dx() == w && pb.Dy() == h {
		// Unchanged pixels still get their own copy: the frame's image may
		// share them with the source.
		return imaging.Clone(part)
	}
	return resample(part, w, h)
}
