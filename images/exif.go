package images

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// This file is a small, defensive EXIF reader: it finds the EXIF block of a
// JPEG, PNG, WebP or TIFF file and walks its IFDs (IFD0, Exif, GPS,
// Interoperability). Every offset and count comes from untrusted data, so
// each is bounds-checked, IFD loops are cut, and sizes are capped.

// exifEntry is one decoded EXIF tag.
type exifEntry struct {
	tag  uint16
	typ  uint16
	name string
	val  string
}

// The IFD pointer tags and the orientation tag.
const (
	tagExifIFD     = 0x8769
	tagGPSIFD      = 0x8825
	tagInteropIFD  = 0xa005
	tagOrientation = 0x0112
	tagMakerNote   = 0x927c
	tagUserComment = 0x9286

	maxIFDEntries = 512
	maxIFDs       = 8
	maxValueItems = 64
)

// exifBlock returns the TIFF-structured EXIF data of src, or nil.
func exifBlock(src []byte, format string) []byte {
	switch format {
	case formatJPEG:
		return jpegExif(src)
	case formatPNG:
		return pngChunk(src, "eXIf")
	case formatWebP:
		return trimExifHeader(riffChunk(src, "EXIF"))
	case formatTIFF:
		return src
	}
	return nil
}

// jpegExif walks the markers before the first scan looking for an APP1
// segment holding "Exif\0\0".
func jpegExif(b []byte) []byte {
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xff {
			return nil
		}
		marker := b[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		if marker == 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker == 0x01 {
			i += 2
			continue
		}
		if marker == 0xda || marker == 0xd9 { // start of scan, end of image
			return nil
		}
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return nil
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xe1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return seg[6:]
		}
		i += 2 + n
	}
	return nil
}

// pngChunk returns the data of the first chunk of type typ.
func pngChunk(b []byte, typ string) []byte {
	i := 8
	for i+8 <= len(b) {
		n := int(binary.BigEndian.Uint32(b[i:]))
		t := string(b[i+4 : i+8])
		if n < 0 || n > len(b)-i-12 {
			return nil
		}
		if t == typ {
			return b[i+8 : i+8+n]
		}
		if t == "IEND" {
			return nil
		}
		i += 12 + n
	}
	return nil
}

// riffChunk returns the data of the first top-level RIFF chunk fourcc.
func riffChunk(b []byte, fourcc string) []byte {
	i := 12
	for i+8 <= len(b) {
		n := int(binary.LittleEndian.Uint32(b[i+4:]))
		if n < 0 || n > len(b)-i-8 {
			return nil
		}
		if string(b[i:i+4]) == fourcc {
			return b[i+8 : i+8+n]
		}
		i += 8 + n + n&1
	}
	return nil
}

func trimExifHeader(b []byte) []byte {
	return bytes.TrimPrefix(b, []byte("Exif\x00\x00"))
}

// readOrientation returns the EXIF orientation of src (1-8), 1 when absent
// or invalid.
func readOrientation(src []byte, format string) int {
	if format == formatTIFF {
		// TIFF orientation is left to the decoder's conventions: x/image/tiff
		// ignores it and so does ufop.
		return 1
	}
	entries, _ := parseExifEntries(exifBlock(src, format), func(tag uint16, ifd string) bool {
		return ifd == "IFD0" && tag == tagOrientation
	})
	for _, e := range entries {
		if n, err := strconv.Atoi(e.val); err == nil && n >= 1 && n <= 8 {
			return n
		}
	}
	return 1
}

// exifTypeSize is the size in bytes of one value of each TIFF field type.
var exifTypeSize = [...]int{0, 1, 1, 2, 4, 8, 1, 1, 2, 4, 8, 4, 8}

// parseExifEntries decodes the tags of a TIFF-structured block that want
// accepts (nil: all). A malformed block yields the tags read before the
// damage and an error.
func parseExifEntries(b []byte, want func(tag uint16, ifd string) bool) ([]exifEntry, error) {
	if len(b) < 8 {
		return nil, fmt.Errorf("exif: block too short")
	}
	var bo binary.ByteOrder
	switch string(b[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("exif: bad byte order")
	}
	if bo.Uint16(b[2:]) != 42 {
		return nil, fmt.Errorf("exif: bad TIFF magic")
	}
	type ifdRef struct {
		off  uint32
		name string
	}
	queue := []ifdRef{{bo.Uint32(b[4:]), "IFD0"}}
	seen := map[uint32]bool{}
	var out []exifEntry
	for len(queue) > 0 && len(seen) < maxIFDs {
		ref := queue[0]
		queue = queue[1:]
		if seen[ref.off] {
			continue
		}
		seen[ref.off] = true
		off := int64(ref.off)
		if off+2 > int64(len(b)) {
			return out, fmt.Errorf("exif: %s offset out of range", ref.name)
		}
		n := int(bo.Uint16(b[off:]))
		if n > maxIFDEntries {
			return out, fmt.Errorf("exif: %s has %d entries", ref.name, n)
		}
		for i := 0; i < n; i++ {
			e := off + 2 + int64(i)*12
			if e+12 > int64(len(b)) {
				return out, fmt.Errorf("exif: %s truncated", ref.name)
			}
			tag, typ, count := bo.Uint16(b[e:]), bo.Uint16(b[e+2:]), bo.Uint32(b[e+4:])
			if int(typ) >= len(exifTypeSize) || typ == 0 {
				continue
			}
			size := int64(exifTypeSize[typ]) * int64(count)
			data := b[e+8 : e+12]
			if size > 4 {
				vo := int64(bo.Uint32(b[e+8:]))
				if vo+size > int64(len(b)) {
					continue // points outside the block: skip the tag
				}
				data = b[vo : vo+size]
			} else {
				data = data[:size]
			}
			switch tag {
			case tagExifIFD, tagGPSIFD, tagInteropIFD:
				if (typ == 3 || typ == 4) && count >= 1 {
					var sub uint32
					if typ == 3 {
						sub = uint32(bo.Uint16(data))
					} else {
						sub = bo.Uint32(data)
					}
					queue = append(queue, ifdRef{sub, map[uint16]string{tagExifIFD: "Exif", tagGPSIFD: "GPS", tagInteropIFD: "Interop"}[tag]})
				}
				continue
			case tagMakerNote:
				continue // vendor binary, not meaningful as text
			}
			if want != nil && !want(tag, ref.name) {
				continue
			}
			out = append(out, exifEntry{tag: tag, typ: typ, name: exifTagName(tag, ref.name), val: formatExifValue(tag, typ, int(count), data, bo)})
		}
	}
	return out, nil
}

// formatExifValue renders a tag's value as text.
func formatExifValue(tag, typ uint16, count int, data []byte, bo binary.ByteOrder) string {
	switch typ {
	case 2: // ASCII
		return strings.TrimRight(strings.ToValidUTF8(string(bytes.TrimRight(data, "\x00")), "?"), " ")
	case 7: // UNDEFINED
		switch tag {
		case 0x9000, 0xa000, 0x0002: // ExifVersion, FlashpixVersion, InteroperabilityVersion
			return strings.ToValidUTF8(string(data), "?")
		case tagUserComment:
			if len(data) >= 8 {
				return strings.TrimRight(strings.ToValidUTF8(string(bytes.TrimRight(data[8:], "\x00")), "?"), " ")
			}
		case 0x0001: // InteroperabilityIndex
			return strings.ToValidUTF8(string(bytes.TrimRight(data, "\x00")), "?")
		}
		if len(data) > 16 {
			return fmt.Sprintf("%d bytes undefined data", len(data))
		}
	}
	size := exifTypeSize[typ]
	items := make([]string, 0, min(count, maxValueItems))
	for i := 0; i < count && i < maxValueItems; i++ {
		v := data[i*size : (i+1)*size]
		switch typ {
		case 1, 7:
			items = append(items, strconv.Itoa(int(v[0])))
		case 6:
			items = append(items, strconv.Itoa(int(int8(v[0]))))
		case 3:
			items = append(items, strconv.Itoa(int(bo.Uint16(v))))
		case 8:
			items = append(items, strconv.Itoa(int(int16(bo.Uint16(v)))))
		case 4:
			items = append(items, strconv.FormatUint(uint64(bo.Uint32(v)), 10))
		case 9:
			items = append(items, strconv.Itoa(int(int32(bo.Uint32(v)))))
		case 5:
			items = append(items, formatRational(tag, int64(bo.Uint32(v)), int64(bo.Uint32(v[4:]))))
		case 10:
			items = append(items, formatRational(tag, int64(int32(bo.Uint32(v))), int64(int32(bo.Uint32(v[4:])))))
		case 11:
			items = append(items, strconv.FormatFloat(float64(math.Float32frombits(bo.Uint32(v))), 'g', -1, 32))
		case 12:
			items = append(items, strconv.FormatFloat(math.Float64frombits(bo.Uint64(v)), 'g', -1, 64))
		}
	}
	s := strings.Join(items, ", ")
	if count > maxValueItems {
		s += ", ..."
	}
	return s
}

// formatRational writes exposure times as fractions ("1/200") and other
// rationals as decimals ("5.6").
func formatRational(tag uint16, n, d int64) string {
	if d == 0 {
		return strconv.FormatInt(n, 10) + "/0"
	}
	if tag == 0x829a && n != 0 && d%n == 0 { // ExposureTime
		return "1/" + strconv.FormatInt(d/n, 10)
	}
	v := strconv.FormatFloat(float64(n)/float64(d), 'f', 4, 64)
	v = strings.TrimRight(strings.TrimRight(v, "0"), ".")
	if v == "-0" {
		v = "0"
	}
	return v
}

// exifTagName names a tag the way exiftool and Qiniu do; unknown tags get
// their number.
func exifTagName(tag uint16, ifd string) string {
	if ifd == "GPS" {
		if n, ok := gpsTagNames[tag]; ok {
			return n
		}
		return fmt.Sprintf("GPSTag0x%04X", tag)
	}
	if ifd == "Interop" {
		switch tag {
		case 0x0001:
			return "InteroperabilityIndex"
		case 0x0002:
			return "InteroperabilityVersion"
		}
	}
	if n, ok := exifTagNames[tag]; ok {
		return n
	}
	return fmt.Sprintf("Tag0x%04X", tag)
}

// exifTagNames names the IFD0 and Exif IFD tags of EXIF 2.32.
var exifTagNames = map[uint16]string{
	0x0100: "ImageWidth", 0x0101: "ImageLength", 0x0102: "BitsPerSample", 0x0103: "Compression",
	0x0106: "PhotometricInterpretation", 0x010a: "FillOrder", 0x011d: "PageName", 0x0118: "MinSampleValue",
	0x0119: "MaxSampleValue", 0x0129: "PageNumber", 0x013d: "Predictor", 0x0140: "ColorMap", 0x0142: "TileWidth",
	0x0143: "TileLength", 0x0144: "TileOffsets", 0x0145: "TileByteCounts", 0x0152: "ExtraSamples",
	0x0153: "SampleFormat", 0x010e: "ImageDescription", 0x010f: "Make", 0x0110: "Model",
	0x0111: "StripOffsets", 0x0112: "Orientation", 0x0115: "SamplesPerPixel", 0x0116: "RowsPerStrip",
	0x0117: "StripByteCounts", 0x011a: "XResolution", 0x011b: "YResolution", 0x011c: "PlanarConfiguration",
	0x0128: "ResolutionUnit", 0x012d: "TransferFunction", 0x0131: "Software", 0x0132: "DateTime",
	0x013b: "Artist", 0x013e: "WhitePoint", 0x013f: "PrimaryChromaticities", 0x0201: "JPEGInterchangeFormat",
	0x0202: "JPEGInterchangeFormatLength", 0x0211: "YCbCrCoefficients", 0x0212: "YCbCrSubSampling",
	0x0213: "YCbCrPositioning", 0x0214: "ReferenceBlackWhite", 0x8298: "Copyright",
	0x829a: "ExposureTime", 0x829d: "FNumber", 0x8822: "ExposureProgram", 0x8824: "SpectralSensitivity",
	0x8827: "ISOSpeedRatings", 0x8828: "OECF", 0x8830: "SensitivityType", 0x8832: "RecommendedExposureIndex",
	0x9000: "ExifVersion", 0x9003: "DateTimeOriginal", 0x9004: "DateTimeDigitized", 0x9010: "OffsetTime",
	0x9011: "OffsetTimeOriginal", 0x9012: "OffsetTimeDigitized", 0x9101: "ComponentsConfiguration",
	0x9102: "CompressedBitsPerPixel", 0x9201: "ShutterSpeedValue", 0x9202: "ApertureValue",
	0x9203: "BrightnessValue", 0x9204: "ExposureBiasValue", 0x9205: "MaxApertureValue",
	0x9206: "SubjectDistance", 0x9207: "MeteringMode", 0x9208: "LightSource", 0x9209: "Flash",
	0x920a: "FocalLength", 0x9214: "SubjectArea", 0x9286: "UserComment", 0x9290: "SubSecTime",
	0x9291: "SubSecTimeOriginal", 0x9292: "SubSecTimeDigitized", 0xa000: "FlashpixVersion",
	0xa001: "ColorSpace", 0xa002: "PixelXDimension", 0xa003: "PixelYDimension", 0xa004: "RelatedSoundFile",
	0xa20b: "FlashEnergy", 0xa20c: "SpatialFrequencyResponse", 0xa20e: "FocalPlaneXResolution",
	0xa20f: "FocalPlaneYResolution", 0xa210: "FocalPlaneResolutionUnit", 0xa214: "SubjectLocation",
	0xa215: "ExposureIndex", 0xa217: "SensingMethod", 0xa300: "FileSource", 0xa301: "SceneType",
	0xa302: "CFAPattern", 0xa401: "CustomRendered", 0xa402: "ExposureMode", 0xa403: "WhiteBalance",
	0xa404: "DigitalZoomRatio", 0xa405: "FocalLengthIn35mmFilm", 0xa406: "SceneCaptureType",
	0xa407: "GainControl", 0xa408: "Contrast", 0xa409: "Saturation", 0xa40a: "Sharpness",
	0xa40b: "DeviceSettingDescription", 0xa40c: "SubjectDistanceRange", 0xa420: "ImageUniqueID",
	0xa430: "CameraOwnerName", 0xa431: "BodySerialNumber", 0xa432: "LensSpecification", 0xa433: "LensMake",
	0xa434: "LensModel", 0xa435: "LensSerialNumber",
}

// gpsTagNames names the GPS IFD tags.
var gpsTagNames = map[uint16]string{
	0x00: "GPSVersionID", 0x01: "GPSLatitudeRef", 0x02: "GPSLatitude", 0x03: "GPSLongitudeRef",
	0x04: "GPSLongitude", 0x05: "GPSAltitudeRef", 0x06: "GPSAltitude", 0x07: "GPSTimeStamp",
	0x08: "GPSSatellites", 0x09: "GPSStatus", 0x0a: "GPSMeasureMode", 0x0b: "GPSDOP", 0x0c: "GPSSpeedRef",
	0x0d: "GPSSpeed", 0x0e: "GPSTrackRef", 0x0f: "GPSTrack", 0x10: "GPSImgDirectionRef",
	0x11: "GPSImgDirection", 0x12: "GPSMapDatum", 0x13: "GPSDestLatitudeRef", 0x14: "GPSDestLatitude",
	0x15: "GPSDestLongitudeRef", 0x16: "GPSDestLongitude", 0x17: "GPSDestBearingRef",
	0x18: "GPSDestBearing", 0x19: "GPSDestDistanceRef", 0x1a: "GPSDestDistance",
	0x1b: "GPSProcessingMethod", 0x1c: "GPSAreaInformation", 0x1d: "GPSDateStamp", 0x1e: "GPSDifferential",
}
