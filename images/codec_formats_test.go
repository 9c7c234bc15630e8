package images

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/testneed"
)

// TestDecodeAVIFWebP decodes the shared AVIF and WebP fixtures: the header
// (read before any pixel, for the pixel guard) and the pixels agree.
func TestDecodeAVIFWebP(t *testing.T) {
	tests := []struct {
		file, format string
		w, h         int
	}{
		{"image.avif", formatAVIF, 300, 400},
		{"image.webp", formatWebP, 300, 400},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			src := fixture(t, tc.file)
			h, err := probe(src)
			if err != nil {
				t.Fatal(err)
			}
			if h.format != tc.format || h.width != tc.w || h.height != tc.h {
				t.Fatalf("header %+v, want %s %dx%d", h, tc.format, tc.w, tc.h)
			}
			img, err := decodePixels(src, h, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("decoded %v, want %dx%d", b, tc.w, tc.h)
			}
			if isBlank(img) {
				t.Fatal("decoded image is one flat colour")
			}
		})
	}
}

// isBlank reports whether every pixel of img is the same.
func isBlank(img image.Image) bool {
	b := img.Bounds()
	r0, g0, b0, a0 := img.At(b.Min.X, b.Min.Y).RGBA()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			if r, g, bb, a := img.At(x, y).RGBA(); r != r0 || g != g0 || bb != b0 || a != a0 {
				return false
			}
		}
	}
	return true
}

// meanChannelDiff is the mean absolute difference of two same-sized images, per
// 8-bit channel.
func meanChannelDiff(a, b image.Image) float64 {
	ba, bb := a.Bounds(), b.Bounds()
	var sum, n float64
	for y := 0; y < ba.Dy(); y += 2 {
		for x := 0; x < ba.Dx(); x += 2 {
			c1 := color.NRGBAModel.Convert(a.At(ba.Min.X+x, ba.Min.Y+y)).(color.NRGBA)
			c2 := color.NRGBAModel.Convert(b.At(bb.Min.X+x, bb.Min.Y+y)).(color.NRGBA)
			sum += float64(diff(c1.R, c2.R) + diff(c1.G, c2.G) + diff(c1.B, c2.B))
			n += 3
		}
	}
	return sum / n
}

// TestEncodeQuality round-trips a photo through WebP and AVIF at several
// qualities: q changes the size, lossy WebP is smaller than lossless, and
// every output decodes to the same picture.
func TestEncodeQuality(t *testing.T) {
	src, _ := decodeUpright(t, "portrait.jpg")
	// A crop: a sub-image whose rows are not contiguous in memory.
	crop := toNRGBA(src).SubImage(image.Rect(100, 50, 500, 350))
	for _, format := range []string{formatWebP, formatAVIF} {
		t.Run(format, func(t *testing.T) {
			if format == formatAVIF {
				testneed.Integration(t, "many seconds of AVIF encoding (TestAVIFRun checks AVIF q under -short)")
			}
			sizes := map[int]int{}
			for _, q := range []int{50, 90, 100} {
				if format == formatAVIF && q == 100 {
					continue
				}
				out, err := encodeImage(crop, output{format: format, quality: q}, specQuality)
				if err != nil {
					t.Fatalf("q %d: %v", q, err)
				}
				sizes[q] = len(out)
				h, err := probe(out)
				if err != nil {
					t.Fatalf("q %d: %v", q, err)
				}
				if h.format != format || h.width != 400 || h.height != 300 {
					t.Fatalf("q %d: header %+v, want %s 400x300", q, h, format)
				}
				img, err := decodePixels(out, h, 0, 0)
				if err != nil {
					t.Fatalf("q %d: %v", q, err)
				}
				limit := 6.0
				if q == 100 {
					limit = 0.01 // lossless
				}
				if d := meanChannelDiff(img, crop); d > limit {
					t.Errorf("q %d: mean difference %.2f from the source, over %.2f", q, d, limit)
				}
			}
			if sizes[50] >= sizes[90] {
				t.Errorf("q 50 is %d bytes, q 90 %d: quality does not change the size", sizes[50], sizes[90])
			}
			if format == formatWebP && sizes[90] >= sizes[100] {
				t.Errorf("lossy q 90 is %d bytes, lossless %d: WebP output is not lossy", sizes[90], sizes[100])
			}
			t.Logf("%s sizes by quality: %v", format, sizes)
		})
	}
}

// TestAVIFRun runs the AVIF paths end to end: an AVIF source is processed
// and described, and format/avif writes AVIF.
func TestAVIFRun(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	tests := []struct {
		src, query, contentType string
		w, h                    int
	}{
		{"image.avif", "imageView2/2/w/100", "image/avif", 100, 133},
		{"image.avif", "imageMogr2/thumbnail/50x/format/png", "image/png", 50, 67},
		{"portrait.jpg", "imageView2/2/w/200/format/avif", "image/avif", 200, 133},
		{"portrait.jpg", "imageView2/2/w/200/q/40/format/avif", "image/avif", 200, 133},
		{"image.webp", "imageMogr2/thumbnail/100x/quality/60/format/webp", "image/webp", 100, 133},
	}
	for _, tc := range tests {
		t.Run(tc.src+"/"+tc.query, func(t *testing.T) {
			res := mustRun(t, p, fixture(t, tc.src), tc.query)
			if res.ContentType != tc.contentType {
				t.Fatalf("content type %q, want %q", res.ContentType, tc.contentType)
			}
			img := decodeResult(t, res)
			if b := img.Bounds(); b.Dx() != tc.w || b.Dy() != tc.h {
				t.Fatalf("output %v, want %dx%d", b, tc.w, tc.h)
			}
		})
	}
	src := fixture(t, "image.avif")
	res := mustRun(t, p, src, "imageInfo")
	var got imageInfo
	if err := json.Unmarshal(res.Body, &got); err != nil {
		t.Fatal(err)
	}
	if want := (imageInfo{Format: "avif", Width: 300, Height: 400, ColorModel: "rgba", Size: len(src)}); got != want {
		t.Fatalf("imageInfo %+v, want %+v", got, want)
	}
	// The quality parameter reaches the AVIF encoder.
	lo := mustRun(t, p, fixture(t, "portrait.jpg"), "imageView2/2/w/200/q/20/format/avif")
	hi := mustRun(t, p, fixture(t, "portrait.jpg"), "imageView2/2/w/200/q/95/format/avif")
	if len(lo.Body) >= len(hi.Body) {
		t.Errorf("q 20 is %d bytes, q 95 %d: q is ignored", len(lo.Body), len(hi.Body))
	}
}

// TestSniffAVIF: AVIF is recognised by its major brand or, behind a
// generic HEIF major brand, by a compatible brand; HEIC stays a 415.
func TestSniffAVIF(t *testing.T) {
	ftyp := func(major string, compat ...string) []byte {
		b := []byte{0, 0, 0, byte(16 + 4*len(compat))}
		b = append(b, "ftyp"+major+"\x00\x00\x00\x00"...)
		for _, c := range compat {
			b = append(b, c...)
		}
		return append(b, "\x00\x00\x00\x08mdat"...)
	}
	tests := []struct {
		name string
		src  []byte
		want string
		kind ufop.Kind
	}{
		{"avif major", ftyp("avif", "mif1"), formatAVIF, 0},
		{"avis major", ftyp("avis"), formatAVIF, 0},
		{"mif1 with avif brand", ftyp("mif1", "miaf", "avif"), formatAVIF, 0},
		{"heic", ftyp("heic", "mif1"), "", ufop.KindUnsupported},
		{"heic listing avif", ftyp("heic", "avif"), "", ufop.KindUnsupported},
		{"mif1 without avif", ftyp("mif1", "heic"), "", ufop.KindUnsupported},
		{"bad box size", append([]byte("\xff\xff\xff\xffftypavif"), 0, 0, 0, 0), formatAVIF, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sniff(tc.src)
			if tc.kind != 0 {
				if err == nil || kindOf(t, err) != tc.kind {
					t.Fatalf("sniff = %q, %v; want kind %s", got, err, tc.kind)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("sniff = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestHostileAVIFWebP: damaged AVIF and WebP sources are 422, never a
// panic or a 500.
func TestHostileAVIFWebP(t *testing.T) {
	p := newTestProcessor(t, nil, nil)
	avifSrc, webpSrc := fixture(t, "image.avif"), fixture(t, "image.webp")
	flip := func(b []byte, from int) []byte {
		c := bytes.Clone(b)
		for i := from; i < len(c); i++ {
			c[i] ^= 0x5a
		}
		return c
	}
	tests := []struct {
		name string
		src  []byte
	}{
		{"avif truncated in the header", avifSrc[:40]},
		{"avif truncated in the data", avifSrc[:len(avifSrc)-100]},
		{"avif ftyp only", avifSrc[:32]},
		{"avif with scrambled data", flip(avifSrc, len(avifSrc)-200)},
		{"webp truncated", webpSrc[:len(webpSrc)/2]},
		{"webp header only", webpSrc[:30]},
		{"webp scrambled", flip(webpSrc, 40)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// imageInfo reads the header only: an intact one answers.
			if _, err := run(t, p, tc.src, "imageInfo"); err != nil && kindOf(t, err) != ufop.KindCorrupt {
				t.Fatalf("imageInfo: kind %s (%v), want %s", kindOf(t, err), err, ufop.KindCorrupt)
			}
			_, err := run(t, p, tc.src, "imageView2/2/w/50")
			if err == nil {
				t.Fatal("no error")
			}
			if k := kindOf(t, err); k != ufop.KindCorrupt {
				t.Fatalf("kind %s (%v), want %s", k, err, ufop.KindCorrupt)
			}
		})
	}
}

// FuzzDecodeAVIFWebP feeds arbitrary bytes to the AVIF and WebP entry
// points (header, then pixels under a small pixel limit): a result or an
// error of a 4xx kind, never a panic.
func FuzzDecodeAVIFWebP(f *testing.F) {
	for _, name := range []string{"image.avif", "image.webp"} {
		src, err := os.ReadFile(filepath.Join(fixtureDir(), name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := probe(data)
		if err != nil {
			checkFuzzKind(t, err)
			return
		}
		if h.format != formatAVIF && h.format != formatWebP {
			return
		}
		if h.width*h.height > 1<<20 {
			return // the pixel guard would refuse it
		}
		img, err := decodePixels(data, h, 0, 0)
		if err != nil {
			checkFuzzKind(t, err)
			return
		}
		if b := img.Bounds(); b.Dx() != h.width || b.Dy() != h.height {
			t.Fatalf("decoded %v, header said %dx%d", b, h.width, h.height)
		}
	})
}

func checkFuzzKind(t *testing.T, err error) {
	t.Helper()
	switch k := ufop.KindOf(err); k {
	case ufop.KindUnsupported, ufop.KindCorrupt:
	default:
		t.Fatalf("error kind %s: %v", k, err)
	}
}

// TestParseFormatAVIF: format/avif parses and prints back.
func TestParseFormatAVIF(t *testing.T) {
	for _, q := range []string{"imageView2/2/w/10/format/avif", "imageMogr2/quality/50/format/avif"} {
		pl, err := fop.Parse(q, 0)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if got := pl.String(); got != q {
			t.Errorf("%s prints as %s", q, got)
		}
	}
}

// TestWasmCodecLimits: images too large for the WebAssembly codecs'
// memory (or WebP's format) are 413 before any codec runs.
func TestWasmCodecLimits(t *testing.T) {
	tests := []struct {
		name    string
		w, h, q int
		format  string
		kind    ufop.Kind // 0: encodes
	}{
		{"avif over the limit", 4000, 2001, 0, formatAVIF, ufop.KindTooLarge},
		{"lossy webp over the limit", 6000, 4200, 50, formatWebP, ufop.KindTooLarge},
		{"webp side", 16384, 1, losslessQuality, formatWebP, ufop.KindTooLarge},
		{"lossless webp large", 5000, 5001, losslessQuality, formatWebP, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			img := image.NewNRGBA(image.Rect(0, 0, tc.w, tc.h))
			if tc.kind == 0 {
				if err := checkEncodeSize(img, tc.format, tc.q, specQuality); err != nil {
					t.Fatal(err)
				}
				return
			}
			_, err := encodeImage(img, output{format: tc.format, quality: tc.q}, specQuality)
			if err == nil || kindOf(t, err) != tc.kind {
				t.Fatalf("error %v, want kind %s", err, tc.kind)
			}
		})
	}
	src := fixture(t, "image.avif")
	_, err := decodePixels(src, header{format: formatAVIF, width: 5000, height: 4000}, 0, 0)
	if err == nil || kindOf(t, err) != ufop.KindTooLarge {
		t.Fatalf("a 20 megapixel AVIF decode: error %v, want kind %s", err, ufop.KindTooLarge)
	}
}

// FuzzAVIFBoxes fuzzes the pure-Go AVIF checks (brand sniffing, box walk)
// alone: FuzzDecodeAVIFWebP runs libavif per input and manages few
// executions a second.
func FuzzAVIFBoxes(f *testing.F) {
	for _, name := range []string{"image.avif"} {
		src, err := os.ReadFile(filepath.Join(fixtureDir(), name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
		f.Add(src[:40])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 12 {
			return // sniff's precondition
		}
		isAVIF(data)
		if err := checkBoxes(data); err != nil {
			checkFuzzKind(t, err)
		}
	})
}
