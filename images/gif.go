package images

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/color/palette"
	"image/draw"
	"image/gif"
)

// animation is an animated GIF as fully composed frames, so that each can
// be resized or cropped on its own and written back as a full frame.
type animation struct {
	frames    []image.Image
	delays    []int
	loopCount int
	palette   color.Palette // the global (else first frame's) palette
}

// countGIFFrames counts the image descriptors of a GIF by walking its block
// structure, without decompressing any frame.
func countGIFFrames(b []byte) int {
	if len(b) < 13 {
		return 0
	}
	i := 13
	if b[10]&0x80 != 0 {
		i += 3 << (uint(b[10]&7) + 1)
	}
	// skipSubBlocks returns the index after a chain of data sub-blocks.
	skipSubBlocks := func(i int) int {
		for i < len(b) {
			n := int(b[i])
			i++
			if n == 0 {
				return i
			}
			i += n
		}
		return len(b)
	}
	frames := 0
	for i < len(b) {
		switch b[i] {
		case 0x2c: // image descriptor
			if i+10 > len(b) {
				return frames
			}
			packed := b[i+9]
			i += 10
			if packed&0x80 != 0 {
				i += 3 << (uint(packed&7) + 1)
			}
			i++ // LZW minimum code size
			i = skipSubBlocks(i)
			frames++
		case 0x21: // extension
			i = skipSubBlocks(i + 2)
		default: // trailer or garbage
			return frames
		}
	}
	return frames
}

// animatedFrames is the number of frames decodeGIFAll keeps of a GIF: all
// of them, or 1 when there is only one or keeping all would take more than
// a quarter of the pixel budget.
func animatedFrames(src []byte, h header, maxPixels int64) int {
	n := countGIFFrames(src)
	if n <= 1 || int64(n)*int64(h.width)*int64(h.height) > maxPixels/4 {
		return 1
	}
	return n
}

// decodeGIFAll decodes every frame of an animated GIF composed onto the
// logical screen. It returns nil (and no error) when the GIF has one frame
// or when keeping all frames would take more than a quarter of the pixel
// budget, in which case the caller uses the first frame only.
func decodeGIFAll(src []byte, h header, maxPixels int64) (a *animation, err error) {
	if animatedFrames(src, h, maxPixels) <= 1 {
		return nil, nil
	}
	g, err := gif.DecodeAll(bytes.NewReader(src))
	if err != nil {
		return nil, decodeError(formatGIF, err)
	}
	screen := image.Rect(0, 0, h.width, h.height)
	canvas := image.NewNRGBA(screen)
	a = &animation{loopCount: g.LoopCount}
	if pal, ok := g.Config.ColorModel.(color.Palette); ok && len(pal) > 0 {
		a.palette = pal
	} else if len(g.Image) > 0 {
		a.palette = g.Image[0].Palette
	}
	for i, m := range g.Image {
		var disposal byte
		if i < len(g.Disposal) {
			disposal = g.Disposal[i]
		}
		var prev *image.NRGBA
		if disposal == gif.DisposalPrevious {
			prev = cloneNRGBA(canvas)
		}
		draw.Draw(canvas, m.Bounds(), m, m.Bounds().Min, draw.Over)
		a.frames = append(a.frames, cloneNRGBA(canvas))
		delay := 0
		if i < len(g.Delay) {
			delay = g.Delay[i]
		}
		a.delays = append(a.delays, delay)
		switch disposal {
		case gif.DisposalBackground:
			draw.Draw(canvas, m.Bounds(), image.Transparent, image.Point{}, draw.Src)
		case gif.DisposalPrevious:
			canvas = prev
		}
	}
	if len(a.frames) == 0 {
		return nil, fmt.Errorf("images: gif without frames")
	}
	return a, nil
}

func cloneNRGBA(m *image.NRGBA) *image.NRGBA {
	c := *m
	c.Pix = append([]byte(nil), m.Pix...)
	return &c
}

// gifPalette is the source's palette when it has one (else Plan 9's), at
// most 255 colours, plus a transparent entry so transparent areas survive
// re-encoding.
func gifPalette(src color.Palette) color.Palette {
	if len(src) == 0 {
		src = palette.Plan9
	}
	var p color.Palette
	for _, c := range src {
		if _, _, _, a := c.RGBA(); a != 0 && len(p) < 255 {
			p = append(p, c)
		}
	}
	return append(p, color.Transparent)
}

// toPaletted prepares a still image for GIF: paletted images pass as they
// are, others are dithered to Plan 9's palette plus a transparent entry,
// partial transparency composed over bg.
func toPaletted(img image.Image, bg color.NRGBA) image.Image {
	if p, ok := img.(*image.Paletted); ok {
		return p
	}
	if o, ok := img.(interface{ Opaque() bool }); !ok || !o.Opaque() {
		b := img.Bounds()
		flat := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
		draw.Draw(flat, flat.Rect, &image.Uniform{C: color.NRGBA{R: bg.R, G: bg.G, B: bg.B, A: 0xff}}, image.Point{}, draw.Src)
		draw.Draw(flat, flat.Rect, img, b.Min, draw.Over)
		// Keep fully transparent pixels transparent.
		src := imageAsNRGBA(img)
		for i := 3; i < len(flat.Pix); i += 4 {
			if src.Pix[i] == 0 {
				flat.Pix[i] = 0
			}
		}
		img = flat
	}
	return newQuantizer(gifPalette(nil)).paletted(img)
}

// imageAsNRGBA returns img as a dense NRGBA image at the origin.
func imageAsNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	if n, ok := img.(*image.NRGBA); ok && b.Min == (image.Point{}) && n.Stride == 4*b.Dx() {
		return n
	}
	n := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(n, n.Rect, img, b.Min, draw.Src)
	return n
}

// encodeGIFAll writes an animation, each frame a full frame disposed to
// the background before the next, since frames were composed on decode.
func encodeGIFAll(a *animation) ([]byte, error) {
	pal := gifPalette(a.palette)
	q := newQuantizer(pal)
	b := a.frames[0].Bounds()
	g := &gif.GIF{LoopCount: a.loopCount, Config: image.Config{ColorModel: pal, Width: b.Dx(), Height: b.Dy()}}
	for i, m := range a.frames {
		g.Image = append(g.Image, q.paletted(m))
		g.Delay = append(g.Delay, a.delays[i])
		g.Disposal = append(g.Disposal, gif.DisposalBackground)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		return nil, fmt.Errorf("images: encode animated gif: %w", err)
	}
	return buf.Bytes(), nil
}
