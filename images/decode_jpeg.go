package images

import (
	"bytes"
	"image"
	"image/jpeg"
)

// decodeJPEG decodes a JPEG. minW and minH are the smallest size the caller
// still needs (0 = full size): a shrink-on-load decoder may return any image
// at least that large, decoding at 1/2, 1/4 or 1/8 scale in the DCT domain.
//
// This file is owned by the shrink-on-load work; until it lands the decoder
// is the standard library's, at full size.
func decodeJPEG(data []byte, minW, minH int) (image.Image, error) {
	return jpeg.Decode(bytes.NewReader(data))
}
