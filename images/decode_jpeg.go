package images

import (
	"bytes"
	"errors"
	"image"
	"io"

	ufop "github.com/ufop/ufop"
	"github.com/ufop/ufop/images/internal/jpegscale"
)

// decodeJPEG decodes a JPEG. minW and minH are the smallest size the caller
// still needs (0 = no constraint on that side; 0,0 = full size): the JPEG
// is decoded at 1/2, 1/4 or 1/8 scale in the DCT domain when that still
// yields at least minW x minH pixels (shrink-on-load, as in libvips), so a
// thumbnail of a large photo costs a fraction of a full decode in time and
// memory. The caller does the final resampling to the exact size.
//
// Header-only checks (pixel limits) are the caller's, before this call.
func decodeJPEG(data []byte, minW, minH int) (image.Image, error) {
	scale := 1
	if minW > 0 || minH > 0 {
		cfg, err := jpegscale.DecodeConfig(bytes.NewReader(data))
		if err != nil {
			return nil, jpegError(err)
		}
		scale = jpegShrink(cfg.Width, cfg.Height, minW, minH)
	}
	img, err := jpegscale.Decode(bytes.NewReader(data), jpegscale.Options{Scale: scale})
	if err != nil {
		return nil, jpegError(err)
	}
	return img, nil
}

// jpegShrink returns the largest DCT scale denominator s in {8, 4, 2, 1}
// such that a w x h JPEG decoded at 1/s is still at least minW x minH.
// libvips uses the same rule: the shrunk image must not be smaller than the
// target, because the final Lanczos step needs at least the target's
// detail; a margin above 1.0x would only cost speed.
func jpegShrink(w, h, minW, minH int) int {
	if minW <= 0 && minH <= 0 {
		return 1
	}
	for _, s := range []int{8, 4, 2} {
		sw, sh := jpegscale.ScaledSize(w, h, s)
		if sw >= minW && sh >= minH {
			return s
		}
	}
	return 1
}

// jpegError turns a decoder error into the platform's kinds: features the
// decoder does not implement are 415, everything else (truncated data, bad
// tables, not a JPEG at all) 422. The decoder's texts are safe to show.
func jpegError(err error) error {
	var ue jpegscale.UnsupportedError
	if errors.As(err, &ue) {
		return ufop.Errorf(ufop.KindUnsupported, "the source jpeg image uses a feature that is not supported (%w)", err)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return ufop.Errorf(ufop.KindCorrupt, "the source jpeg image is truncated (%w)", err)
	}
	return ufop.Errorf(ufop.KindCorrupt, "the source jpeg image is truncated or corrupt (%w)", err)
}
