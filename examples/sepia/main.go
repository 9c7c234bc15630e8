// Command sepia is an example UFOP built on the sdk: it tints an image
// sepia, or pixelates it.
//
//	?my-sepia                  full sepia
//	?my-sepia/0.5              sepia blended 50% with the original
//	?my-sepia/sepia/0.8        the same, spelled out
//	?my-sepia/pixelate/12      12x12 pixel blocks
//	.../format/png             force the output format (jpg or png)
//
// It reads JPEG, PNG and GIF (first frame) and writes PNG for PNG and GIF
// sources, which may be transparent, JPEG otherwise.
package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decoder registration: GIF sources
	"image/jpeg"
	"image/png"
	"net/http"
	"strconv"

	"github.com/ufop/ufop/sdk"
)

// maxPixels refuses decompression bombs before decoding, like the
// platform's own guard.
const maxPixels = 50_000_000

func main() { sdk.Main(handle) }

// params is a parsed command.
type params struct {
	pixelate int     // block size; 0 means sepia
	strength float64 // sepia blend, 0..1
	format   string  // "jpeg", "png" or "" (follow the source)
}

func parseParams(name, s string) (params, error) {
	p := params{strength: 1}
	args := splitParams(s)
	bad := func(param, v, want string) error {
		return sdk.Errorf(http.StatusBadRequest, "%s: parameter %s: %q is not %s", name, param, v, want)
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		next := func() (string, error) {
			if i+1 >= len(args) {
				return "", sdk.Errorf(http.StatusBadRequest, "%s: parameter %s needs a value", name, arg)
			}
			i++
			return args[i], nil
		}
		switch arg {
		case "sepia":
			v, err := next()
			if err != nil {
				return p, err
			}
			if p.strength, err = strength(v); err != nil {
				return p, bad("sepia", v, "a number from 0 to 1")
			}
		case "pixelate":
			v, err := next()
			if err != nil {
				return p, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 2 || n > 512 {
				return p, bad("pixelate", v, "a block size from 2 to 512")
			}
			p.pixelate = n
		case "format":
			v, err := next()
			if err != nil {
				return p, err
			}
			switch v {
			case "jpg", "jpeg":
				p.format = "jpeg"
			case "png":
				p.format = "png"
			default:
				return p, bad("format", v, "jpg or png")
			}
		default:
			// A bare number first is the sepia strength: ?my-sepia/0.8.
			f, err := strength(arg)
			if i != 0 || err != nil {
				return p, sdk.Errorf(http.StatusBadRequest, "%s: unknown parameter %q (use <strength>, sepia/<0-1>, pixelate/<n>, format/<jpg|png>)", name, arg)
			}
			p.strength = f
		}
	}
	return p, nil
}

func splitParams(s string) []string {
	var out []string
	for _, a := range bytes.Split([]byte(s), []byte("/")) {
		if len(a) > 0 {
			out = append(out, string(a))
		}
	}
	return out
}

func strength(v string) (float64, error) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1 {
		return 0, fmt.Errorf("out of range")
	}
	return f, nil
}

func handle(ctx context.Context, req *sdk.Request) (*sdk.Response, error) {
	p, err := parseParams(req.Name, req.Params)
	if err != nil {
		return nil, err
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(req.Body))
	if err != nil {
		return nil, sdk.Errorf(http.StatusUnsupportedMediaType, "%s: the source is not a JPEG, PNG or GIF image", req.Name)
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, sdk.Errorf(http.StatusRequestEntityTooLarge, "%s: source of %dx%d pixels is over the limit of %d", req.Name, cfg.Width, cfg.Height, maxPixels)
	}
	src, _, err := image.Decode(bytes.NewReader(req.Body))
	if err != nil {
		return nil, sdk.Errorf(http.StatusUnprocessableEntity, "%s: the source could not be decoded: %v", req.Name, err)
	}
	img := toNRGBA(src)
	if p.pixelate > 0 {
		pixelate(img, p.pixelate)
	} else {
		sepia(img, p.strength)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := p.format
	if out == "" {
		out = "jpeg"
		if format == "png" || format == "gif" {
			out = "png"
		}
	}
	var buf bytes.Buffer
	if out == "png" {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, flatten(img), &jpeg.Options{Quality: 85})
	}
	if err != nil {
		return nil, fmt.Errorf("%s: encode %s: %w", req.Name, out, err)
	}
	return &sdk.Response{Body: buf.Bytes(), ContentType: "image/" + out}, nil
}

func toNRGBA(src image.Image) *image.NRGBA {
	b := src.Bounds()
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), src, b.Min, draw.Src)
	return dst
}

// flatten puts the image on white: JPEG has no alpha.
func flatten(img *image.NRGBA) image.Image {
	dst := image.NewRGBA(img.Bounds())
	draw.Draw(dst, dst.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(dst, dst.Bounds(), img, image.Point{}, draw.Over)
	return dst
}

// sepia applies the classic sepia matrix, blended with the original by s.
func sepia(img *image.NRGBA, s float64) {
	for i := 0; i+3 < len(img.Pix); i += 4 {
		r, g, b := float64(img.Pix[i]), float64(img.Pix[i+1]), float64(img.Pix[i+2])
		sr := 0.393*r + 0.769*g + 0.189*b
		sg := 0.349*r + 0.686*g + 0.168*b
		sb := 0.272*r + 0.534*g + 0.131*b
		img.Pix[i] = clamp(r + s*(sr-r))
		img.Pix[i+1] = clamp(g + s*(sg-g))
		img.Pix[i+2] = clamp(b + s*(sb-b))
	}
}

func clamp(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}

// pixelate replaces each n x n block with its average colour.
func pixelate(img *image.NRGBA, n int) {
	b := img.Bounds()
	for y0 := b.Min.Y; y0 < b.Max.Y; y0 += n {
		for x0 := b.Min.X; x0 < b.Max.X; x0 += n {
			block := image.Rect(x0, y0, x0+n, y0+n).Intersect(b)
			var sum [4]int
			for y := block.Min.Y; y < block.Max.Y; y++ {
				for x := block.Min.X; x < block.Max.X; x++ {
					o := img.PixOffset(x, y)
					for c := 0; c < 4; c++ {
						sum[c] += int(img.Pix[o+c])
					}
				}
			}
			count := block.Dx() * block.Dy()
			var avg [4]uint8
			for c := range avg {
				avg[c] = uint8((sum[c] + count/2) / count)
			}
			for y := block.Min.Y; y < block.Max.Y; y++ {
				for x := block.Min.X; x < block.Max.X; x++ {
					copy(img.Pix[img.PixOffset(x, y):], avg[:])
				}
			}
		}
	}
}
