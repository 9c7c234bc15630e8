package fop

import "github.com/ufop/ufop"

// ImageInfo is imageInfo: the format, size and colour model of the image.
type ImageInfo struct{}

func parseImageInfo(args []string) (Params, error) {
	if len(args) > 0 {
		return nil, ufop.Errorf(ufop.KindInvalid, "imageInfo: takes no parameters, got %q", args[0])
	}
	return ImageInfo{}, nil
}

func (ImageInfo) params()        {}
func (ImageInfo) Name() string   { return "imageInfo" }
func (ImageInfo) String() string { return "imageInfo" }

// Exif is exif: the EXIF tags of the image.
type Exif struct{}

func parseExif(args []string) (Params, error) {
	if len(args) > 0 {
		return nil, ufop.Errorf(ufop.KindInvalid, "exif: takes no parameters, got %q", args[0])
	}
	return Exif{}, nil
}

func (Exif) params()        {}
func (Exif) Name() string   { return "exif" }
func (Exif) String() string { return "exif" }
