package images

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"

	"github.com/HugoSmits86/nativewebp"
	"github.com/gen2brain/avif"
	libwebp "github.com/gen2brain/webp"
	"golang.org/x/image/bmp"
	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/images/internal/progjpeg"
)

// The format names Probe reports and the output formats steps may ask for.
const (
	formatJPEG = fop.FormatJPEG
	formatPNG  = fop.FormatPNG
	formatGIF  = fop.FormatGIF
	formatWebP = fop.FormatWebP
	formatBMP  = "bmp" // read only
	formatTIFF = "tiff"
	formatAVIF = fop.FormatAVIF
)

// contentTypes maps format names to MIME types.
var contentTypes = map[string]string{
	formatJPEG: "image/jpeg",
	formatPNG:  "image/png",
	formatGIF:  "image/gif",
	formatWebP: "image/webp",
	formatBMP:  "image/bmp",
	formatTIFF: "image/tiff",
	formatAVIF: "image/avif",
}

// encodable reports whether format can be written; sources in other
// decodable formats (bmp, tiff) are written as PNG, which keeps them
// lossless.
func encodable(format string) bool {
	switch format {
	case formatJPEG, formatPNG, formatGIF, formatWebP, formatAVIF:
		return true
	}
	return false
}

// header is what a source's header says, read without decoding pixels.
type header struct {
	format     string
	width      int
	height     int
	colorModel string
}

// sniff names the format of src from its magic bytes. Formats ufop cannot
// decode get a KindUnsupported error naming them.
func sniff(src []byte) (string, error) {
	switch {
	case bytes.HasPrefix(src, []byte("\xff\xd8\xff")):
		return formatJPEG, nil
	case bytes.HasPrefix(src, []byte("\x89PNG\r\n\x1a\n")):
		return formatPNG, nil
	case bytes.HasPrefix(src, []byte("GIF87a")), bytes.HasPrefix(src, []byte("GIF89a")):
		return formatGIF, nil
	case len(src) >= 12 && string(src[:4]) == "RIFF" && string(src[8:12]) == "WEBP":
		return formatWebP, nil
	case bytes.HasPrefix(src, []byte("BM")):
		return formatBMP, nil
	case bytes.HasPrefix(src, []byte("II*\x00")), bytes.HasPrefix(src, []byte("MM\x00*")):
		return formatTIFF, nil
	case len(src) >= 12 && string(src[4:8]) == "ftyp":
		if isAVIF(src) {
			return formatAVIF, nil
		}
		switch string(src[8:12]) {
		case "heic", "heix", "hevc", "hevx", "heim", "heis", "mif1", "msf1":
			return "", ufop.Errorf(ufop.KindUnsupported, "HEIC/HEIF images are not supported: convert the source to JPEG, PNG, GIF, WebP, AVIF, BMP or TIFF")
		}
	case bytes.HasPrefix(src, []byte("\xff\x0a")), bytes.HasPrefix(src, []byte("\x00\x00\x00\x0cJXL ")):
		return "", ufop.Errorf(ufop.KindUnsupported, "JPEG XL images are not supported: convert the source to JPEG, PNG, GIF, WebP, AVIF, BMP or TIFF")
	}
	return "", ufop.Errorf(ufop.KindUnsupported, "the source is not an image in a supported format (JPEG, PNG, GIF, WebP, AVIF, BMP, TIFF)")
}

// isAVIF reports whether an ISO BMFF file type box names AVIF as its major
// brand or, behind a generic HEIF major brand (mif1, msf1), as a compatible
// brand: both are how encoders mark AVIF files.
func isAVIF(src []byte) bool {
	size := int(binary.BigEndian.Uint32(src))
	if size < 16 || size > len(src) || size > 4096 {
		size = min(len(src), 16) // a bad box size: trust the major brand only
	}
	for i := 8; i+4 <= size; i += 4 {
		if i == 12 {
			continue // the minor version
		}
		switch string(src[i : i+4]) {
		case "avif", "avis":
			return true
		}
		if i == 8 {
			switch string(src[8:12]) {
			case "mif1", "msf1", "miaf":
			default:
				return false // another major brand (heic...): not AVIF
			}
		}
	}
	return false
}

// Probe reads only the header of src: its format name ("jpeg", "png",
// "gif", "webp", "avif", "bmp", "tiff") and size. It allocates no pixels.
func Probe(src []byte) (format string, width, height int, err error) {
	h, err := probe(src)
	if err != nil {
		return "", 0, 0, err
	}
	return h.format, h.width, h.height, nil
}

// probe reads the header of src. It never panics: header parsers of the
// x/image decoders have panicked on hostile input before.
func probe(src []byte) (h header, err error) {
	format, err := sniff(src)
	if err != nil {
		return header{}, err
	}
	defer func() {
		if r := recover(); r != nil {
			h, err = header{}, ufop.Errorf(ufop.KindCorrupt, "the source %s header could not be read", format)
		}
	}()
	var cfg image.Config
	r := bytes.NewReader(src)
	switch format {
	case formatJPEG:
		cfg, err = jpeg.DecodeConfig(r)
	case formatPNG:
		cfg, err = png.DecodeConfig(r)
	case formatGIF:
		cfg, err = gif.DecodeConfig(r)
	case formatWebP:
		cfg, err = webp.DecodeConfig(r)
	case formatBMP:
		cfg, err = bmp.DecodeConfig(r)
	case formatTIFF:
		cfg, err = tiff.DecodeConfig(r)
	case formatAVIF:
		if err = checkBoxes(src); err != nil {
			break
		}
		// libavif parses the boxes only (avifDecoderParse): no AV1 frame is
		// decoded and no pixel buffer allocated, so the pixel guard still
		// runs before any pixel exists.
		cfg, err = avif.DecodeConfig(r)
	}
	if err != nil {
		return header{}, decodeError(format, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return header{}, ufop.Errorf(ufop.KindCorrupt, "the source %s image has an invalid size %dx%d", format, cfg.Width, cfg.Height)
	}
	return header{format: format, width: cfg.Width, height: cfg.Height, colorModel: colorModelName(cfg.ColorModel)}, nil
}

// decodeError classifies a decoder error: features the Go decoders do not
// implement are KindUnsupported, everything else (truncation, bad tables)
// KindCorrupt. The decoders' texts are safe to show and help the user.
func decodeError(format string, err error) error {
	var ue *ufop.Error
	if errors.As(err, &ue) {
		return err
	}
	msg := err.Error()
	if strings.Contains(strings.ToLower(msg), "unsupported") {
		return ufop.Errorf(ufop.KindUnsupported, "the source %s image uses a feature that is not supported (%s)", format, msg)
	}
	return ufop.Errorf(ufop.KindCorrupt, "the source %s image is truncated or corrupt (%s)", format, msg)
}

// colorModelName names a color model the way Qiniu's imageInfo does.
func colorModelName(m color.Model) string {
	switch m {
	case color.YCbCrModel:
		return "ycbcr"
	case color.NYCbCrAModel:
		return "nycbcra"
	case color.RGBAModel:
		return "rgba"
	case color.RGBA64Model:
		return "rgba64"
	case color.NRGBAModel:
		return "nrgba"
	case color.NRGBA64Model:
		return "nrgba64"
	case color.GrayModel:
		return "gray"
	case color.Gray16Model:
		return "gray16"
	case color.CMYKModel:
		return "cmyk"
	case color.AlphaModel:
		return "alpha"
	case color.Alpha16Model:
		return "alpha16"
	}
	if _, ok := m.(color.Palette); ok {
		return "palette"
	}
	return "unknown"
}

// decodePixels decodes src, whose header h has already passed the guards.
// minW and minH are the smallest size the caller needs (0 = full size); only
// JPEG uses them, to decode at 1/2, 1/4 or 1/8 scale.
func decodePixels(src []byte, h header, minW, minH int) (img image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, ufop.Errorf(ufop.KindCorrupt, "the source %s image is corrupt (the decoder failed on it)", h.format)
		}
	}()
	r := bytes.NewReader(src)
	switch h.format {
	case formatJPEG:
		img, err = decodeJPEG(src, minW, minH)
	case formatPNG:
		img, err = png.Decode(r)
	case formatGIF:
		img, err = decodeGIFFirst(r, h)
	case formatWebP:
		if img, err = webp.Decode(r); err == nil {
			expandVideoRange(img)
		}
	case formatBMP:
		img, err = bmp.Decode(r)
	case formatTIFF:
		img, err = tiff.Decode(r)
	case formatAVIF:
		if n := h.width * h.height; n > maxAVIFDecodePixels {
			return nil, ufop.Errorf(ufop.KindTooLarge, "the source avif image is %dx%d, over the AVIF decoder's limit of %d megapixels", h.width, h.height, maxAVIFDecodePixels/1_000_000)
		}
		img, err = decodeAVIF(src)
	default:
		return nil, ufop.Errorf(ufop.KindUnsupported, "the source format %q cannot be decoded", h.format)
	}
	if err != nil {
		return nil, decodeError(h.format, err)
	}
	if b := img.Bounds(); b.Dx() <= 0 || b.Dy() <= 0 {
		return nil, ufop.Errorf(ufop.KindCorrupt, "the source %s image has no pixels", h.format)
	}
	return img, nil
}

// expandVideoRange converts the planes of a lossy WebP, which VP8 stores
// in video range (Y 16-235, Cb/Cr 16-240, BT.601), to the full range Go's
// color.YCbCr assumes: x/image/webp hands the planes over unconverted, so
// without this every lossy WebP decodes washed out (black becomes 16).
func expandVideoRange(img image.Image) {
	var m *image.YCbCr
	switch t := img.(type) {
	case *image.YCbCr:
		m = t
	case *image.NYCbCrA:
		m = &t.YCbCr
	default:
		return // lossless WebP is RGB already
	}
	var lumaLUT, chromaLUT [256]uint8
	for i := range 256 {
		lumaLUT[i] = uint8(max(0, min(255, (float64(i)-16)*255/219+0.5)))
		chromaLUT[i] = uint8(max(0, min(255, (float64(i)-128)*255/224+128.5)))
	}
	for i, v := range m.Y {
		m.Y[i] = lumaLUT[v]
	}
	for i, v := range m.Cb {
		m.Cb[i] = chromaLUT[v]
	}
	for i, v := range m.Cr {
		m.Cr[i] = chromaLUT[v]
	}
}

// checkBoxes walks the top-level boxes of an ISO BMFF file (AVIF): each
// must fit in the file. libavif (as the avif package drives it) answers a
// file whose image data is cut off with an empty, transparent image
// instead of an error, so truncation is caught here.
func checkBoxes(src []byte) error {
	for off := 0; off < len(src); {
		if len(src)-off < 8 {
			return ufop.Errorf(ufop.KindCorrupt, "the source avif image is truncated (%d stray bytes at the end)", len(src)-off)
		}
		size := uint64(binary.BigEndian.Uint32(src[off:]))
		switch size {
		case 0: // the box runs to the end of the file
			return nil
		case 1: // a 64-bit size follows the type
			if len(src)-off < 16 {
				return ufop.Errorf(ufop.KindCorrupt, "the source avif image is truncated in a box header")
			}
			size = binary.BigEndian.Uint64(src[off+8:])
		}
		if size < 8 || size > uint64(len(src)-off) {
			return ufop.Errorf(ufop.KindCorrupt, "the source avif image is truncated: the %q box at byte %d needs %d bytes, %d are left", src[off+4:off+8], off, size, len(src)-off)
		}
		off += int(size)
	}
	return nil
}

// decodeAVIF decodes the first image of an AVIF file. The avif package
// reports success even when libavif fails to decode the AV1 data, leaving
// the pixels zero: an image without an alpha plane decodes opaque, so a
// transparent pixel there means the decode failed.
func decodeAVIF(src []byte) (image.Image, error) {
	img, err := avif.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, err
	}
	if bytes.Contains(src, []byte("auxiliary:alpha")) {
		return img, nil // an alpha plane: transparency may be real
	}
	if _, _, _, a := img.At(img.Bounds().Min.X, img.Bounds().Min.Y).RGBA(); a == 0 {
		return nil, ufop.Errorf(ufop.KindCorrupt, "the source avif image is corrupt (its AV1 data could not be decoded)")
	}
	return img, nil
}

// decodeGIFFirst returns the first frame of a GIF on a canvas of the logical
// screen size: gif.Decode returns the frame's own rectangle, which may be
// smaller than the screen and offset.
func decodeGIFFirst(r *bytes.Reader, h header) (image.Image, error) {
	m, err := gif.Decode(r)
	if err != nil {
		return nil, err
	}
	screen := image.Rect(0, 0, h.width, h.height)
	if m.Bounds() == screen {
		return m, nil
	}
	canvas := image.NewNRGBA(screen)
	draw.Draw(canvas, m.Bounds(), m, m.Bounds().Min, draw.Src)
	return canvas, nil
}

// output says how a frame is encoded.
type output struct {
	format      string
	quality     int // 0: the Processor's default
	progressive bool
	background  color.NRGBA // behind transparent areas for formats without alpha
}

// maxProgressivePixels bounds progressive JPEG output, which holds all
// coefficients in memory (3 bytes a pixel); larger images are written
// baseline.
const maxProgressivePixels = 25_000_000

// white is the default background of SPEC §1.
func white() color.NRGBA { return color.NRGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff} }

// encodeImage writes img in the output format.
func encodeImage(img image.Image, o output, defaultQuality int) ([]byte, error) {
	if err := checkEncodeSize(img, o.format, o.quality, defaultQuality); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	var err error
	switch o.format {
	case formatJPEG:
		q := o.quality
		if q == 0 {
			q = defaultQuality
		}
		m := opaque(img, o.background)
		if b := m.Bounds(); o.progressive && b.Dx()*b.Dy() <= maxProgressivePixels {
			err = progjpeg.Encode(&buf, m, q)
		} else {
			err = jpeg.Encode(&buf, m, &jpeg.Options{Quality: q})
		}
	case formatPNG:
		enc := png.Encoder{CompressionLevel: png.DefaultCompression}
		err = enc.Encode(&buf, img)
	case formatGIF:
		err = gif.Encode(&buf, toPaletted(img, o.background), nil)
	case formatWebP:
		err = encodeWebP(&buf, img, o.quality, defaultQuality)
	case formatAVIF:
		err = encodeAVIF(&buf, img, o.quality, defaultQuality)
	default:
		return nil, ufop.Errorf(ufop.KindInvalid, "output format %q is not supported: use jpg, png, gif, webp or avif", o.format)
	}
	if err != nil {
		return nil, fmt.Errorf("images: encode %s: %w", o.format, err)
	}
	return buf.Bytes(), nil
}

// The WebAssembly codecs hold every buffer in one 32-bit linear memory
// (4 GiB at most) and cannot be interrupted by the deadline, so their image
// sizes are bounded below the general guards. Measured (docs/benchmarks.md):
// AVIF encode about 120 bytes and 1.1 ms CPU a pixel, AVIF decode 72 bytes,
// lossy WebP encode 34 bytes and 0.7 ms.
const (
	maxAVIFEncodePixels = 8_000_000
	maxAVIFDecodePixels = 16_000_000
	maxLossyWebPPixels  = 25_000_000
	maxWebPSide         = 16383 // the format's limit (14-bit sizes)
)

// checkEncodeSize refuses outputs a codec cannot write within its limits:
// 413, so the user can ask for a smaller size or another format.
func checkEncodeSize(img image.Image, format string, q, defaultQuality int) error {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	if q == 0 {
		q = defaultQuality
	}
	limit := 0
	switch {
	case format == formatWebP && (w > maxWebPSide || h > maxWebPSide):
		return ufop.Errorf(ufop.KindTooLarge, "the output is %dx%d, over WebP's limit of %d px a side: use a smaller size or another format", w, h, maxWebPSide)
	case format == formatWebP && q < losslessQuality:
		limit = maxLossyWebPPixels
	case format == formatAVIF:
		limit = maxAVIFEncodePixels
	}
	if limit > 0 && w*h > limit {
		return ufop.Errorf(ufop.KindTooLarge, "the output is %dx%d, over the %s encoder's limit of %d megapixels: use a smaller size or another format", w, h, format, limit/1_000_000)
	}
	return nil
}

// losslessQuality is the quality that asks WebP and AVIF for lossless
// output: lossy codecs at 100 still lose, so 100 means exact.
const losslessQuality = 100

// encodeWebP writes lossy WebP (libwebp) at quality q, or lossless WebP
// (pure Go nativewebp) at q 100.
func encodeWebP(w *bytes.Buffer, img image.Image, q, defaultQuality int) error {
	if q == 0 {
		q = defaultQuality
	}
	if q >= losslessQuality {
		return nativewebp.Encode(w, img, nil)
	}
	return libwebp.Encode(w, packedNRGBA(img), libwebp.Options{Quality: q, Method: libwebp.DefaultMethod})
}

// avifSpeed trades AVIF encoding time for size (0 slowest ... 10 fastest).
// The fastest keeps a large output within the deadline: the encoder runs
// as WebAssembly, several times slower than native libaom.
const avifSpeed = 10

// encodeAVIF writes AVIF (libavif, 4:2:0) at quality q; q 100 is lossless
// (libavif then uses 4:4:4 and lossless AV1).
func encodeAVIF(w *bytes.Buffer, img image.Image, q, defaultQuality int) error {
	if q == 0 {
		q = defaultQuality
	}
	sub := image.YCbCrSubsampleRatio420
	if q >= losslessQuality {
		sub = image.YCbCrSubsampleRatio444
	}
	return avif.Encode(w, packedRGBA(img), avif.Options{Quality: q, QualityAlpha: q, Speed: avifSpeed, ChromaSubsampling: sub})
}

// packedRGBA returns img as an *image.RGBA whose rows follow each other
// with no gap: the WebAssembly encoders copy Pix as one width*height*4
// block, so a sub-image (a crop) must be copied first.
func packedRGBA(img image.Image) *image.RGBA {
	b := img.Bounds()
	if m, ok := img.(*image.RGBA); ok && m.Stride == 4*b.Dx() && len(m.Pix) == 4*b.Dx()*b.Dy() {
		return m
	}
	dst := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

// packedNRGBA is packedRGBA for libwebp, which takes straight alpha.
func packedNRGBA(img image.Image) *image.NRGBA {
	b := img.Bounds()
	if m, ok := img.(*image.NRGBA); ok && m.Stride == 4*b.Dx() && len(m.Pix) == 4*b.Dx()*b.Dy() {
		return m
	}
	dst := image.NewNRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(dst, dst.Bounds(), img, b.Min, draw.Src)
	return dst
}

// opaque returns img with transparent areas composed over bg, in a type the
// JPEG encoder converts quickly (*image.RGBA, *image.YCbCr, *image.Gray).
// Opaque NRGBA pixels are bit-identical to RGBA ones, so that case shares
// the pixel buffer instead of copying it.
func opaque(img image.Image, bg color.NRGBA) image.Image {
	switch m := img.(type) {
	case *image.YCbCr, *image.Gray, *image.RGBA:
		if m.(interface{ Opaque() bool }).Opaque() {
			return img
		}
	case *image.NRGBA:
		if m.Opaque() {
			return &image.RGBA{Pix: m.Pix, Stride: m.Stride, Rect: m.Rect}
		}
	case *image.CMYK:
		dst := image.NewRGBA(m.Bounds())
		draw.Draw(dst, dst.Bounds(), m, m.Bounds().Min, draw.Src)
		return dst
	}
	b := img.Bounds()
	dst := image.NewRGBA(b)
	draw.Draw(dst, b, &image.Uniform{C: color.NRGBA{R: bg.R, G: bg.G, B: bg.B, A: 0xff}}, image.Point{}, draw.Src)
	draw.Draw(dst, b, img, b.Min, draw.Over)
	return dst
}
