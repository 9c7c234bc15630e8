package images

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/ufop/ufop"
)

// infoOp is imageInfo: the format, size and colour model of the image, from
// its header only.
type infoOp struct{}

func (infoOp) name() string   { return "imageInfo" }
func (infoOp) String() string { return "imageInfo" }
func (infoOp) describes()     {}

// outSize: imageInfo answers JSON and allocates no image.
func (infoOp) outSize(w, h, _ int, _ sizeCheck) (int, int, error) { return w, h, nil }

// imageInfo is the JSON answer of imageInfo.
type imageInfo struct {
	Format      string `json:"format"`
	Width       int    `json:"width"`
	Height      int    `json:"height"`
	ColorModel  string `json:"colorModel"`
	Size        int    `json:"size"`
	FrameNumber int    `json:"frameNumber,omitempty"`
}

func (infoOp) apply(ctx context.Context, f *frame) error {
	src, h, err := f.encoded()
	if err != nil {
		return err
	}
	info := imageInfo{Format: h.format, Width: h.width, Height: h.height, ColorModel: h.colorModel, Size: len(src)}
	if h.format == formatGIF {
		info.FrameNumber = countGIFFrames(src)
	}
	return f.setJSON(info)
}

// setJSON makes v the frame's (final) JSON answer.
func (f *frame) setJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("images: encode JSON answer: %w", err)
	}
	f.body, f.contentType = b, "application/json"
	return nil
}

// exifOp is exif: the EXIF tags of the image as JSON.
type exifOp struct{}

func (exifOp) name() string   { return "exif" }
func (exifOp) String() string { return "exif" }
func (exifOp) describes()     {}

// outSize: exif answers JSON and allocates no image.
func (exifOp) outSize(w, h, _ int, _ sizeCheck) (int, int, error) { return w, h, nil }

// exifValue is one tag of exif's answer, shaped like Qiniu's.
type exifValue struct {
	Type int    `json:"type"`
	Val  string `json:"val"`
}

func (exifOp) apply(ctx context.Context, f *frame) error {
	src, h, err := f.encoded()
	if err != nil {
		return err
	}
	// A damaged block still yields the tags before the damage; only a
	// block with nothing readable counts as no EXIF.
	entries, _ := parseExifEntries(exifBlock(src, h.format), nil)
	if len(entries) == 0 {
		return ufop.Errorf(ufop.KindNotFound, "exif: the image has no EXIF data")
	}
	out := make(map[string]exifValue, len(entries))
	for _, e := range entries {
		if _, dup := out[e.name]; !dup {
			out[e.name] = exifValue{Type: int(e.typ), Val: e.val}
		}
	}
	return f.setJSON(out)
}
