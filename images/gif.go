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

// decodeGIFAll decodes every frame of an animated GIF composed onto the
// logical screen. It returns nil (and no error) when the GIF has one frame
// or when keeping all frames would take more than a quarter of the pixel
// budget, in which case the caller uses the first frame only.
func decodeGIFAll(src []byte, h header, maxPixels int64) (a *animation, err error) {
	n := countGIFFrames(src)
	if n <= 1 || int64(n)*int64(h.width)*int64(h.height) > maxPixels/4 {
		return nil, nil
	}
	g, err := gif.DecodeAll(bytes.NewReader(src))
	if err != nil {
		return nil, decodeError(formatGIF, err)
	}
	screen := image.Rect(0, 0, h.width, h.height)
	canvas := image.NewNRGBA(screen)
	a = &animation{loopCount: g.LoopCount}
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

// gifPalette is Plan 9's palette with its last entry made transparent, so
// transparent areas survive re-encoding.
func gifPalette() color.Palette {
	p := append(color.Palette(nil), palette.Plan9[:255]...)
	return append(p, color.Transparent)
}

// encodeGIFAll writes an animation, each frame a full frame disposed to
// the background before the next, since frames were composed on decode.
func encodeGIFAll(a *animation) ([]byte, error) {
	pal := gifPalette()
	b := a.frames[0].Bounds()
	g := &gif.GIF{LoopCount: a.loopCount, Config: image.Config{ColorModel: pal, Width: b.Dx(), Height: b.Dy()}}
	for i, m := range a.frames {
		mb := m.Bounds()
		p := image.NewPaletted(image.Rect(0, 0, b.Dx(), b.Dy()), pal)
		draw.FloydSteinberg.Draw(p, p.Rect, m, mb.Min)
		g.Image = append(g.Image, p)
		g.Delay = append(g.Delay, a.delays[i])
		g.Disposal = append(g.Disposal, gif.DisposalBackground)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, g); err != nil {
		return nil, fmt.Errorf("images: encode animated gif: %w", err)
	}
	return buf.Bytes(), nil
}
