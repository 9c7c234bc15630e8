// Command quality scores thumbnails against a Lanczos reference made from the
// full decode of their source, for bench/images/http.sh:
//
//	quality -mode fill portrait.jpg ufop.jpg vips.jpg
//
// The reference is the source decoded at full size by image/jpeg, then
// imaging.Fill (mode fill: centre crop to the thumbnail's aspect) or
// imaging.Resize (mode fit) with the Lanczos filter to each thumbnail's own
// size. It prints one JSON line per thumbnail: its bytes, PSNR over RGB (dB)
// and the mean SSIM of luma over 8x8 windows.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"math"
	"os"

	"github.com/disintegration/imaging"
)

type score struct {
	File  string  `json:"file"`
	Bytes int64   `json:"bytes"`
	W     int     `json:"w"`
	H     int     `json:"h"`
	PSNR  float64 `json:"psnr_db"`
	SSIM  float64 `json:"ssim"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "quality:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) < 4 || args[0] != "-mode" || (args[1] != "fill" && args[1] != "fit") {
		return errors.New("usage: quality -mode fill|fit SOURCE THUMB...")
	}
	src, err := imaging.Open(args[2])
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	for _, name := range args[3:] {
		th, err := imaging.Open(name)
		if err != nil {
			return err
		}
		fi, err := os.Stat(name)
		if err != nil {
			return err
		}
		b := th.Bounds()
		var ref *image.NRGBA
		if args[1] == "fill" {
			ref = imaging.Fill(src, b.Dx(), b.Dy(), imaging.Center, imaging.Lanczos)
		} else {
			ref = imaging.Resize(src, b.Dx(), b.Dy(), imaging.Lanczos)
		}
		got := imaging.Clone(th)
		s := score{File: name, Bytes: fi.Size(), W: b.Dx(), H: b.Dy(), PSNR: psnr(ref, got), SSIM: ssim(ref, got)}
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

// identicalPSNR stands for identical images (infinite PSNR), which JSON
// cannot carry.
const identicalPSNR = 99

// psnr over the R, G and B samples of two images of the same size.
func psnr(a, b *image.NRGBA) float64 {
	var se float64
	n := 0
	for i := 0; i < len(a.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			d := float64(a.Pix[i+c]) - float64(b.Pix[i+c])
			se += d * d
			n++
		}
	}
	if se == 0 {
		return identicalPSNR
	}
	return 10 * math.Log10(255*255/(se/float64(n)))
}

func luma(m *image.NRGBA) []float64 {
	y := make([]float64, len(m.Pix)/4)
	for i := range y {
		p := m.Pix[i*4:]
		y[i] = 0.299*float64(p[0]) + 0.587*float64(p[1]) + 0.114*float64(p[2])
	}
	return y
}

// ssim is the mean SSIM of luma over non-overlapping 8x8 windows (the
// constants of Wang et al. 2004 for 8-bit samples).
func ssim(a, b *image.NRGBA) float64 {
	const c1, c2 = (0.01 * 255) * (0.01 * 255), (0.03 * 255) * (0.03 * 255)
	w, h := a.Bounds().Dx(), a.Bounds().Dy()
	ya, yb := luma(a), luma(b)
	var sum float64
	n := 0
	for y0 := 0; y0+8 <= h; y0 += 8 {
		for x0 := 0; x0+8 <= w; x0 += 8 {
			var ma, mb float64
			for y := y0; y < y0+8; y++ {
				for x := x0; x < x0+8; x++ {
					ma += ya[y*w+x]
					mb += yb[y*w+x]
				}
			}
			ma /= 64
			mb /= 64
			var va, vb, cov float64
			for y := y0; y < y0+8; y++ {
				for x := x0; x < x0+8; x++ {
					da, db := ya[y*w+x]-ma, yb[y*w+x]-mb
					va += da * da
					vb += db * db
					cov += da * db
				}
			}
			va /= 63
			vb /= 63
			cov /= 63
			sum += ((2*ma*mb + c1) * (2*cov + c2)) / ((ma*ma + mb*mb + c1) * (va + vb + c2))
			n++
		}
	}
	return sum / float64(n)
}
