package main

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// series is one line of a plot.
type series struct {
	name  string
	color color.RGBA
	ys    []float64
}

// plot draws series over xs (seconds) as a PNG line chart, with a shaded
// band over [shadeFrom, shadeTo] (the burst). A tiny writer of its own: the
// bench needs no plotting library or tool.
func plot(w io.Writer, title string, xs []float64, shadeFrom, shadeTo float64, ss []series) error {
	const (
		width, height          = 960, 420
		left, right, top, bott = 50, 20, 40, 40
	)
	img := image.NewRGBA(image.Rect(0, 0, width, height))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	xmax, ymax := 1.0, 1.0
	for _, x := range xs {
		xmax = math.Max(xmax, x)
	}
	for _, s := range ss {
		for _, y := range s.ys {
			ymax = math.Max(ymax, y)
		}
	}
	ystep := niceStep(ymax / 6)
	ymax = math.Ceil(ymax/ystep) * ystep
	pw, ph := float64(width-left-right), float64(height-top-bott)
	px := func(x float64) int { return left + int(x/xmax*pw) }
	py := func(y float64) int { return height - bott - int(y/ymax*ph) }

	shade := color.RGBA{255, 240, 220, 255}
	draw.Draw(img, image.Rect(px(shadeFrom), top, px(shadeTo), height-bott), &image.Uniform{shade}, image.Point{}, draw.Src)
	grid := color.RGBA{225, 225, 225, 255}
	ink := color.RGBA{40, 40, 40, 255}
	for y := 0.0; y <= ymax+1e-9; y += ystep {
		line(img, left, py(y), width-right, py(y), grid)
		text(img, 6, py(y)+4, fmt.Sprintf("%4g", y), ink)
	}
	xstep := niceStep(xmax / 10)
	for x := 0.0; x <= xmax+1e-9; x += xstep {
		line(img, px(x), top, px(x), height-bott, grid)
		text(img, px(x)-8, height-bott+16, fmt.Sprintf("%g", x), ink)
	}
	line(img, left, height-bott, width-right, height-bott, ink)
	line(img, left, top, left, height-bott, ink)
	text(img, width/2-30, height-6, "seconds", ink)
	text(img, left, 16, title, ink)
	lx := left + 10
	for _, s := range ss {
		for i := 1; i < len(s.ys) && i < len(xs); i++ {
			// Steps, not slopes: each sample holds until the next.
			line(img, px(xs[i-1]), py(s.ys[i-1]), px(xs[i]), py(s.ys[i-1]), s.color)
			line(img, px(xs[i]), py(s.ys[i-1]), px(xs[i]), py(s.ys[i]), s.color)
		}
		draw.Draw(img, image.Rect(lx, 26, lx+14, 32), &image.Uniform{s.color}, image.Point{}, draw.Src)
		text(img, lx+18, 33, s.name, ink)
		lx += 18 + 7*len(s.name) + 20
	}
	text(img, lx+10, 33, "(shaded: burst)", ink)
	return png.Encode(w, img)
}

// niceStep rounds a raw step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

// line draws a 2-pixel-wide segment (Bresenham).
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for {
		img.SetRGBA(x0, y0, c)
		img.SetRGBA(x0+1, y0, c)
		img.SetRGBA(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func text(img *image.RGBA, x, y int, s string, c color.RGBA) {
	d := font.Drawer{Dst: img, Src: &image.Uniform{c}, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
