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

// panel is one chart of a plot: series sharing a y axis.
type panel struct {
	title  string
	series []series
}

// plot draws panels stacked over the same xs (seconds) as a PNG of step
// lines, with a shaded band over [shadeFrom, shadeTo] (the burst). A tiny
// writer of its own: the bench needs no plotting library or tool.
func plot(w io.Writer, xs []float64, shadeFrom, shadeTo float64, panels []panel) error {
	const width, height = 960, 320
	img := image.NewRGBA(image.Rect(0, 0, width, height*len(panels)))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	for i, p := range panels {
		sub := img.SubImage(image.Rect(0, i*height, width, (i+1)*height)).(*image.RGBA)
		chart(sub, p.title, xs, shadeFrom, shadeTo, p.series)
	}
	return png.Encode(w, img)
}

// chart draws one panel into img, whose bounds may not start at 0,0.
func chart(img *image.RGBA, title string, xs []float64, shadeFrom, shadeTo float64, ss []series) {
	const left, right, top, bott = 50, 20, 40, 40
	o := img.Bounds().Min
	width, height := img.Bounds().Dx(), img.Bounds().Dy()
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
	px := func(x float64) int { return o.X + left + int(x/xmax*pw) }
	py := func(y float64) int { return o.Y + height - bott - int(y/ymax*ph) }

	shade := color.RGBA{255, 240, 220, 255}
	draw.Draw(img, image.Rect(px(shadeFrom), o.Y+top, px(shadeTo), py(0)), &image.Uniform{shade}, image.Point{}, draw.Src)
	grid := color.RGBA{225, 225, 225, 255}
	ink := color.RGBA{40, 40, 40, 255}
	for y := 0.0; y <= ymax+1e-9; y += ystep {
		line(img, px(0), py(y), px(xmax), py(y), grid)
		text(img, o.X+6, py(y)+4, fmt.Sprintf("%4g", y), ink)
	}
	xstep := niceStep(xmax / 10)
	for x := 0.0; x <= xmax+1e-9; x += xstep {
		line(img, px(x), py(ymax), px(x), py(0), grid)
		text(img, px(x)-8, py(0)+16, fmt.Sprintf("%g", x), ink)
	}
	line(img, px(0), py(0), px(xmax), py(0), ink)
	line(img, px(0), py(ymax), px(0), py(0), ink)
	text(img, o.X+width/2-30, o.Y+height-6, "seconds", ink)
	text(img, o.X+left, o.Y+16, title, ink)
	lx := o.X + left + 10
	for _, s := range ss {
		for i := 1; i < len(s.ys) && i < len(xs); i++ {
			// Steps, not slopes: each sample holds until the next.
			line(img, px(xs[i-1]), py(s.ys[i-1]), px(xs[i]), py(s.ys[i-1]), s.color)
			line(img, px(xs[i]), py(s.ys[i-1]), px(xs[i]), py(s.ys[i]), s.color)
		}
		draw.Draw(img, image.Rect(lx, o.Y+26, lx+14, o.Y+32), &image.Uniform{s.color}, image.Point{}, draw.Src)
		text(img, lx+18, o.Y+33, s.name, ink)
		lx += 18 + 7*len(s.name) + 20
	}
	text(img, lx+10, o.Y+33, "(shaded: burst)", ink)
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
