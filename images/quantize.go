package images

import (
	"image"
	"image/color"
	"image/draw"
)

// quantizer maps colours to a palette quickly: nearest entries are cached
// per 15-bit colour, so dithering costs a table look-up per pixel instead of
// a search of the palette (draw.FloydSteinberg's cost, 256 comparisons).
type quantizer struct {
	pal         color.Palette
	rgb         [][3]int32
	transparent int // index of a fully transparent entry, -1 if none
	cache       []int16
}

func newQuantizer(pal color.Palette) *quantizer {
	q := &quantizer{pal: pal, transparent: -1, cache: make([]int16, 1<<15)}
	for i := range q.cache {
		q.cache[i] = -1
	}
	q.rgb = make([][3]int32, len(pal))
	for i, c := range pal {
		n := color.NRGBAModel.Convert(c).(color.NRGBA)
		if n.A == 0 && q.transparent < 0 {
			q.transparent = i
		}
		q.rgb[i] = [3]int32{int32(n.R), int32(n.G), int32(n.B)}
	}
	return q
}

// nearest is the palette index closest to an opaque colour.
func (q *quantizer) nearest(r, g, b int32) uint8 {
	key := (r>>3)<<10 | (g>>3)<<5 | b>>3
	if v := q.cache[key]; v >= 0 {
		return uint8(v)
	}
	best, bestD := 0, int32(1<<30)
	for i, c := range q.rgb {
		if i == q.transparent {
			continue
		}
		dr, dg, db := r-c[0], g-c[1], b-c[2]
		if d := dr*dr + dg*dg + db*db; d < bestD {
			best, bestD = i, d
		}
	}
	q.cache[key] = int16(best)
	return uint8(best)
}

// paletted dithers src (Floyd-Steinberg) to the palette. Pixels with
// alpha under one half become the transparent entry when there is one;
// others are taken as opaque.
func (q *quantizer) paletted(src image.Image) *image.Paletted {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	dst := image.NewPaletted(image.Rect(0, 0, w, h), q.pal)
	nrgba, ok := src.(*image.NRGBA)
	if !ok {
		nrgba = image.NewNRGBA(image.Rect(0, 0, w, h))
		draw.Draw(nrgba, nrgba.Rect, src, b.Min, draw.Src)
		b = nrgba.Rect
	}
	// Error rows: current and next, with a guard column on each side.
	cur := make([][3]int32, w+2)
	next := make([][3]int32, w+2)
	clamp := func(v int32) int32 { return max(0, min(v, 255)) }
	for y := 0; y < h; y++ {
		row := nrgba.Pix[nrgba.PixOffset(b.Min.X, b.Min.Y+y):]
		out := dst.Pix[y*dst.Stride:]
		for x := 0; x < w; x++ {
			p := row[4*x : 4*x+4]
			if p[3] < 0x80 && q.transparent >= 0 {
				out[x] = uint8(q.transparent)
				continue
			}
			r := clamp(int32(p[0]) + cur[x+1][0]/16)
			g := clamp(int32(p[1]) + cur[x+1][1]/16)
			bl := clamp(int32(p[2]) + cur[x+1][2]/16)
			i := q.nearest(r, g, bl)
			out[x] = i
			c := q.rgb[i]
			er, eg, eb := r-c[0], g-c[1], bl-c[2]
			for _, t := range [...]struct {
				col *[3]int32
				w   int32
			}{{&cur[x+2], 7}, {&next[x], 3}, {&next[x+1], 5}, {&next[x+2], 1}} {
				t.col[0] += er * t.w
				t.col[1] += eg * t.w
				t.col[2] += eb * t.w
			}
		}
		cur, next = next, cur
		clear(next)
	}
	return dst
}
