package images

import (
	"image"

	"github.com/disintegration/imaging"
)

// resample scales img to exactly w x h.
func resample(img image.Image, w, h int) image.Image {
	return resampleRect(img, w, h, image.Rect(0, 0, w, h))
}

// resampleRect scales img to rw x rh and returns the part r of the result,
// computing only that part where it can. Reductions of 4x or more first
// average blocks of k x k pixels (an exact box filter, each source pixel
// read once), leaving Lanczos-3 a reduction under 4x, whose kernel would
// otherwise span 6 source pixels per output pixel times the reduction. This
// is the shrink-then-reduce split of libvips. JPEG's YCbCr and Gray images
// are resampled plane by plane, RGBA and NRGBA as premultiplied interleaved
// pixels (plane.go); other types go through imaging.
func resampleRect(img image.Image, rw, rh int, r image.Rectangle) image.Image {
	b := img.Bounds()
	if b.Dx() == rw && b.Dy() == rh {
		return cropRect(img, r)
	}
	kx, ky := max(1, b.Dx()/rw/2), max(1, b.Dy()/rh/2)
	iw, ih := (b.Dx()+kx/2)/kx, (b.Dy()+ky/2)/ky
	pre := kx > 1 || ky > 1
	switch m := img.(type) {
	case *image.YCbCr:
		if pre {
			m = resizeYCbCrRect(m, iw, ih, image.Rect(0, 0, iw, ih), kernelBox)
		}
		return resizeYCbCrRect(m, rw, rh, r, kernelLanczos3)
	case *image.Gray:
		if pre {
			m = resizeGrayRect(m, iw, ih, image.Rect(0, 0, iw, ih), kernelBox)
		}
		return resizeGrayRect(m, rw, rh, r, kernelLanczos3)
	case *image.RGBA, *image.NRGBA:
		var rgba *image.RGBA
		opaqueSrc := false
		if n, ok := m.(*image.NRGBA); ok {
			rgba, opaqueSrc = premultiplied(n), n.Opaque()
		} else {
			rgba = m.(*image.RGBA)
		}
		if pre {
			rgba = resizeRGBARect(rgba, iw, ih, image.Rect(0, 0, iw, ih), kernelBox)
		}
		out := resizeRGBARect(rgba, rw, rh, r, kernelLanczos3)
		if opaqueSrc {
			// Still opaque: the same bytes are valid NRGBA, the type the
			// caller gave.
			return &image.NRGBA{Pix: out.Pix, Stride: out.Stride, Rect: out.Rect}
		}
		return out
	}
	if pre {
		img = imaging.Resize(img, iw, ih, imaging.Box)
	}
	return cropRect(imaging.Resize(img, rw, rh, imaging.Lanczos), r)
}

// cropRect returns the part r of img, r given relative to img's top-left
// corner. Images that support it share their pixels instead of copying.
func cropRect(img image.Image, r image.Rectangle) image.Image {
	b := img.Bounds()
	r = r.Add(b.Min).Intersect(b)
	if r == b {
		return img
	}
	if s, ok := img.(interface {
		SubImage(image.Rectangle) image.Image
	}); ok {
		return s.SubImage(r)
	}
	return imaging.Crop(img, r)
}

// orient applies an EXIF orientation (1-8) to img.
func orient(img image.Image, o int) image.Image {
	switch o {
	case 2:
		return imaging.FlipH(img)
	case 3:
		return imaging.Rotate180(img)
	case 4:
		return imaging.FlipV(img)
	case 5:
		return imaging.Transpose(img)
	case 6:
		return imaging.Rotate270(img)
	case 7:
		return imaging.Transverse(img)
	case 8:
		return imaging.Rotate90(img)
	}
	return img
}
