package images

import (
	"encoding/binary"
	"testing"
)

// tiffBlock builds a little-endian TIFF block whose IFD0 at offset 8 holds
// the given 12-byte entries and a next-IFD offset of 0, followed by extra.
func tiffBlock(entries [][12]byte, extra []byte) []byte {
	b := []byte("II*\x00\x08\x00\x00\x00")
	b = binary.LittleEndian.AppendUint16(b, uint16(len(entries)))
	for _, e := range entries {
		b = append(b, e[:]...)
	}
	b = binary.LittleEndian.AppendUint32(b, 0)
	return append(b, extra...)
}

func entry(tag, typ uint16, count, value uint32) [12]byte {
	var e [12]byte
	binary.LittleEndian.PutUint16(e[0:], tag)
	binary.LittleEndian.PutUint16(e[2:], typ)
	binary.LittleEndian.PutUint32(e[4:], count)
	binary.LittleEndian.PutUint32(e[8:], value)
	return e
}

func TestParseExifEntries(t *testing.T) {
	ifd0End := uint32(8 + 2 + 12*2 + 4)
	tests := []struct {
		name  string
		block []byte
		want  map[string]string // tag name -> value; nil: no tags
	}{
		{"orientation and rational", tiffBlock([][12]byte{
			entry(tagOrientation, 3, 1, 6),
			entry(0x829a, 5, 1, ifd0End), // ExposureTime at the end
		}, []byte{1, 0, 0, 0, 200, 0, 0, 0}), map[string]string{"Orientation": "6", "ExposureTime": "1/200"}},
		{"value outside the block is skipped", tiffBlock([][12]byte{
			entry(tagOrientation, 3, 1, 3),
			entry(0x010f, 2, 100, 5000), // Make far outside
		}, nil), map[string]string{"Orientation": "3"}},
		{"huge count", tiffBlock([][12]byte{entry(0x010f, 2, 0xffffffff, 8)}, nil), nil},
		{"unknown type", tiffBlock([][12]byte{entry(0x010f, 99, 1, 0)}, nil), nil},
		{"IFD loop", tiffBlock([][12]byte{entry(tagExifIFD, 4, 1, 8), entry(tagOrientation, 3, 1, 8)}, nil), map[string]string{"Orientation": "8"}},
		{"bad magic", []byte("II+\x00\x08\x00\x00\x00"), nil},
		{"short", []byte("II*"), nil},
		{"IFD offset outside", []byte("MM\x00*\xff\xff\xff\xf0"), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			entries, _ := parseExifEntries(tc.block, nil)
			got := map[string]string{}
			for _, e := range entries {
				got[e.name] = e.val
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("%s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}

// FuzzExif checks that the EXIF reader never panics on a hostile block.
func FuzzExif(f *testing.F) {
	f.Add(tiffBlock([][12]byte{entry(tagOrientation, 3, 1, 6)}, nil))
	f.Add(tiffBlock([][12]byte{entry(tagExifIFD, 4, 1, 26), entry(tagGPSIFD, 4, 1, 26)}, []byte{1, 0, 0x9a, 0x82, 5, 0, 1, 0, 0, 0, 8, 0, 0, 0}))
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, _ := parseExifEntries(b, nil)
		for _, e := range entries {
			if e.name == "" {
				t.Fatalf("tag 0x%04x without a name", e.tag)
			}
		}
		n := min(len(b)+8, 0xffff)
		app1 := append([]byte{0xff, 0xd8, 0xff, 0xe1, byte(n >> 8), byte(n)}, "Exif\x00\x00"...)
		readOrientation(append(app1, b...), formatJPEG)
	})
}
