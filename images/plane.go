package images

import (
	"image"
	"math"
)

// This file resamples 8-bit planes with fixed-point separable filters. A
// JPEG decodes to *image.YCbCr (or *image.Gray), and the JPEG encoder takes
// those types directly, so resampling the planes themselves skips two colour
// conversions and works on 1.5 bytes per pixel (4:2:0) instead of the 4 of
// imaging's NRGBA path. Resampling in YCbCr rather than RGB differs only by
// rounding, since the conversion is linear. Only the output pixels inside
// the requested crop are computed.

// weightBits is the fixed-point precision of filter weights.
const weightBits = 14

// filterTaps are the precomputed contributions of source samples to each
// output sample along one axis.
type filterTaps struct {
	start []int   // first source index of each output sample
	n     int     // taps per output sample
	w     []int32 // n weights per output sample, summing to 1<<weightBits
}

// lanczos3 is the Lanczos kernel with a = 3.
func lanczos3(x float64) float64 {
	x = math.Abs(x)
	if x >= 3 {
		return 0
	}
	if x < 1e-9 {
		return 1
	}
	px := math.Pi * x
	return 3 * math.Sin(px) * math.Sin(px/3) / (px * px)
}

// box is the box kernel, for the cheap first step of big reductions.
func box(x float64) float64 {
	if x >= -0.5 && x < 0.5 {
		return 1
	}
	return 0
}

// kernel is a resampling filter and its support radius.
type kernel struct {
	f       func(float64) float64
	support float64
}

var (
	kernelLanczos3 = kernel{lanczos3, 3}
	kernelBox      = kernel{box, 0.5}
)

// newFilterTaps computes taps for count output samples over a source axis
// of srcLen samples, where output sample i is centred on source position
// a*i + c (in sample indices) and a is the number of source samples per
// output sample. When shrinking, the kernel is stretched by a.
func newFilterTaps(count, srcLen int, a, c float64, k kernel) filterTaps {
	stretch := math.Max(a, 1)
	radius := k.support * stretch
	n := min(int(math.Ceil(radius))*2+1, srcLen)
	t := filterTaps{start: make([]int, count), n: n, w: make([]int32, count*n)}
	fw := make([]float64, n)
	for i := 0; i < count; i++ {
		center := a*float64(i) + c
		start := int(math.Floor(center - radius + 1))
		start = max(0, min(start, srcLen-n))
		var sum float64
		for j := 0; j < n; j++ {
			fw[j] = k.f((float64(start+j) - center) / stretch)
			sum += fw[j]
		}
		if sum == 0 { // a box narrower than the sample spacing: nearest
			clear(fw)
			fw[max(0, min(int(math.Round(center))-start, n-1))] = 1
			sum = 1
		}
		t.start[i] = start
		// Accumulate before rounding so the integer weights sum to one.
		var acc float64
		var prev int32
		for j := 0; j < n; j++ {
			acc += fw[j] / sum
			cur := int32(math.Round(acc * (1 << weightBits)))
			t.w[i*n+j] = cur - prev
			prev = cur
		}
	}
	return t
}

func clampByte(v int32) uint8 {
	v = (v + 1<<(weightBits-1)) >> weightBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizePlane fills the dw x dh plane dst (row stride ds) from the plane src
// (sw x sh, row stride ss) with horizontal taps hx and vertical taps vy.
func resizePlane(dst []uint8, dw, dh, ds int, src []uint8, sw, sh, ss int, hx, vy filterTaps) {
	// Horizontal pass, only over the source rows the vertical taps read.
	y0 := vy.start[0]
	y1 := vy.start[dh-1] + vy.n
	tmp := make([]uint8, dw*(y1-y0))
	n := hx.n
	for y := y0; y < y1; y++ {
		row := src[y*ss : y*ss+sw]
		out := tmp[(y-y0)*dw : (y-y0+1)*dw]
		for x := range out {
			ws := hx.w[x*n : x*n+n]
			px := row[hx.start[x] : hx.start[x]+n]
			px = px[:len(ws)]
			var sum int32
			for j, w := range ws {
				sum += w * int32(px[j])
			}
			out[x] = clampByte(sum)
		}
	}
	// Vertical pass, accumulating whole rows for cache-friendly access.
	acc := make([]int32, dw)
	for y := 0; y < dh; y++ {
		clear(acc)
		for j, w := range vy.w[y*vy.n : (y+1)*vy.n] {
			if w == 0 {
				continue
			}
			r := vy.start[y] + j - y0
			row := tmp[r*dw : (r+1)*dw]
			row = row[:len(acc)]
			for x, p := range row {
				acc[x] += w * int32(p)
			}
		}
		out := dst[y*ds : y*ds+dw]
		out = out[:len(acc)]
		for x, a := range acc {
			out[x] = clampByte(a)
		}
	}
}

// axisTaps maps an output axis to a source plane axis. The image is
// resampled from srcLen luma samples (starting at luma position srcMin of a
// plane whose samples each cover sub luma samples, the plane starting at
// luma position planeMin) to full luma samples, of which the output keeps
// count samples of outSub luma samples each, starting at luma sample
// outMin of the full size.
func axisTaps(count, outMin, outSub, full, srcMin, srcLen, planeMin, sub, planeLen int, k kernel) filterTaps {
	s := float64(srcLen) / float64(full) // source luma per output luma
	a := float64(outSub) * s / float64(sub)
	// Centre of output sample 0, in continuous luma coordinates of the
	// full output, then of the source, then as a plane sample index.
	u := float64(outMin) + float64(outSub)/2
	srcLuma := float64(srcMin) + u*s
	c := (srcLuma-float64(planeMin))/float64(sub) - 0.5
	return newFilterTaps(count, planeLen, a, c, k)
}

// resizeGrayRect resamples src to rw x rh and returns the part r of that.
func resizeGrayRect(src *image.Gray, rw, rh int, r image.Rectangle, k kernel) *image.Gray {
	b := src.Bounds()
	dst := image.NewGray(image.Rect(0, 0, r.Dx(), r.Dy()))
	hx := axisTaps(r.Dx(), r.Min.X, 1, rw, 0, b.Dx(), 0, 1, b.Dx(), k)
	vy := axisTaps(r.Dy(), r.Min.Y, 1, rh, 0, b.Dy(), 0, 1, b.Dy(), k)
	resizePlane(dst.Pix, r.Dx(), r.Dy(), dst.Stride, src.Pix[src.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), src.Stride, hx, vy)
	return dst
}

// resizeYCbCrRect resamples src to rw x rh and returns the part r of that.
// The output keeps 4:4:4 sources at 4:4:4 and uses 4:2:0 for every other
// subsampling.
func resizeYCbCrRect(src *image.YCbCr, rw, rh int, r image.Rectangle, k kernel) *image.YCbCr {
	b := src.Bounds()
	ratio, osub := image.YCbCrSubsampleRatio420, 2
	if src.SubsampleRatio == image.YCbCrSubsampleRatio444 {
		ratio, osub = image.YCbCrSubsampleRatio444, 1
	}
	w, h := r.Dx(), r.Dy()
	dst := image.NewYCbCr(image.Rect(0, 0, w, h), ratio)
	hx := axisTaps(w, r.Min.X, 1, rw, 0, b.Dx(), 0, 1, b.Dx(), k)
	vy := axisTaps(h, r.Min.Y, 1, rh, 0, b.Dy(), 0, 1, b.Dy(), k)
	resizePlane(dst.Y, w, h, dst.YStride, src.Y[src.YOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), src.YStride, hx, vy)

	// The source chroma samples covering b.
	sx, sy := chromaSub(src.SubsampleRatio)
	cx0, cy0 := b.Min.X/sx, b.Min.Y/sy
	cx1, cy1 := (b.Max.X-1)/sx+1, (b.Max.Y-1)/sy+1
	off := (cy0-src.Rect.Min.Y/sy)*src.CStride + (cx0 - src.Rect.Min.X/sx) // as image.YCbCr.COffset
	dcw, dch := (w+osub-1)/osub, (h+osub-1)/osub
	chx := axisTaps(dcw, r.Min.X, osub, rw, b.Min.X, b.Dx(), cx0*sx, sx, cx1-cx0, k)
	chy := axisTaps(dch, r.Min.Y, osub, rh, b.Min.Y, b.Dy(), cy0*sy, sy, cy1-cy0, k)
	resizePlane(dst.Cb, dcw, dch, dst.CStride, src.Cb[off:], cx1-cx0, cy1-cy0, src.CStride, chx, chy)
	resizePlane(dst.Cr, dcw, dch, dst.CStride, src.Cr[off:], cx1-cx0, cy1-cy0, src.CStride, chx, chy)
	return dst
}

// chromaSub is the horizontal and vertical chroma subsampling factors.
func chromaSub(r image.YCbCrSubsampleRatio) (int, int) {
	switch r {
	case image.YCbCrSubsampleRatio422:
		return 2, 1
	case image.YCbCrSubsampleRatio420:
		return 2, 2
	case image.YCbCrSubsampleRatio440:
		return 1, 2
	case image.YCbCrSubsampleRatio411:
		return 4, 1
	case image.YCbCrSubsampleRatio410:
		return 4, 2
	}
	return 1, 1
}

// resizeRGBA fills the dw x dh RGBA pixels dst (row stride ds) from src
// (sw x sh, row stride ss), like resizePlane for four interleaved channels.
// The pixels are premultiplied, so each channel is filtered alike; colour
// is clamped to alpha afterwards, since negative lobes can push it over.
func resizeRGBA(dst []uint8, dw, dh, ds int, src []uint8, sw, sh, ss int, hx, vy filterTaps) {
	y0 := vy.start[0]
	y1 := vy.start[dh-1] + vy.n
	tw := 4 * dw
	tmp := make([]uint8, tw*(y1-y0))
	n := hx.n
	for y := y0; y < y1; y++ {
		row := src[y*ss : y*ss+4*sw]
		out := tmp[(y-y0)*tw : (y-y0+1)*tw]
		for x := 0; x < dw; x++ {
			ws := hx.w[x*n : x*n+n]
			px := row[4*hx.start[x] : 4*(hx.start[x]+n)]
			px = px[:4*len(ws)]
			var r, g, b, a int32
			for j, w := range ws {
				p := px[4*j : 4*j+4 : 4*j+4]
				r += w * int32(p[0])
				g += w * int32(p[1])
				b += w * int32(p[2])
				a += w * int32(p[3])
			}
			o := out[4*x : 4*x+4 : 4*x+4]
			o[0], o[1], o[2], o[3] = clampByte(r), clampByte(g), clampByte(b), clampByte(a)
		}
	}
	acc := make([]int32, tw)
	for y := 0; y < dh; y++ {
		clear(acc)
		for j, w := range vy.w[y*vy.n : (y+1)*vy.n] {
			if w == 0 {
				continue
			}
			r := vy.start[y] + j - y0
			row := tmp[r*tw : (r+1)*tw]
			row = row[:len(acc)]
			for x, p := range row {
				acc[x] += w * int32(p)
			}
		}
		out := dst[y*ds : y*ds+tw]
		out = out[:len(acc)]
		for x := 0; x < len(acc); x += 4 {
			a := clampByte(acc[x+3])
			out[x] = min(clampByte(acc[x]), a)
			out[x+1] = min(clampByte(acc[x+1]), a)
			out[x+2] = min(clampByte(acc[x+2]), a)
			out[x+3] = a
		}
	}
}

// resizeRGBARect resamples src to rw x rh and returns the part r of that.
func resizeRGBARect(src *image.RGBA, rw, rh int, r image.Rectangle, k kernel) *image.RGBA {
	b := src.Bounds()
	dst := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	hx := axisTaps(r.Dx(), r.Min.X, 1, rw, 0, b.Dx(), 0, 1, b.Dx(), k)
	vy := axisTaps(r.Dy(), r.Min.Y, 1, rh, 0, b.Dy(), 0, 1, b.Dy(), k)
	resizeRGBA(dst.Pix, r.Dx(), r.Dy(), dst.Stride, src.Pix[src.PixOffset(b.Min.X, b.Min.Y):], b.Dx(), b.Dy(), src.Stride, hx, vy)
	return dst
}

// premultiplied returns m as premultiplied RGBA: the same pixels when m is
// opaque (NRGBA and RGBA bytes are then identical), else a converted copy.
func premultiplied(m *image.NRGBA) *image.RGBA {
	if m.Opaque() {
		return &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
	}
	b := m.Bounds()
	dst := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		s := m.Pix[m.PixOffset(b.Min.X, y):]
		d := dst.Pix[dst.PixOffset(b.Min.X, y):]
		for x := 0; x < 4*b.Dx(); x += 4 {
			a := uint32(s[x+3])
			d[x] = uint8((uint32(s[x])*a + 127) / 255)
			d[x+1] = uint8((uint32(s[x+1])*a + 127) / 255)
			d[x+2] = uint8((uint32(s[x+2])*a + 127) / 255)
			d[x+3] = uint8(a)
		}
	}
	return dst
}
