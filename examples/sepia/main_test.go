package main

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ufop/ufop/internal/testneed"
	"github.com/ufop/ufop/sdk"
)

const imagesDir = "../../../shared/testdata/images"

func server(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(sdk.NewServer(handle, sdk.Options{}))
	t.Cleanup(srv.Close)
	return srv
}

func call(t *testing.T, srv *httptest.Server, cmd, ct string, body []byte) (int, string, []byte) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/handler?cmd="+cmd, ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), out
}

func solidPNG(t *testing.T, w, h int, c color.NRGBA) []byte {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return encodePNG(t, img)
}

func encodePNG(t *testing.T, img image.Image) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func near(a, b uint8, tol int) bool {
	d := int(a) - int(b)
	return d >= -tol && d <= tol
}

func TestSepiaColours(t *testing.T) {
	srv := server(t)
	// Expected values from the sepia matrix, worked out by hand:
	// grey 128: R 1.351*128, G 1.203*128, B 0.937*128.
	tests := []struct {
		cmd  string
		in   color.NRGBA
		want color.NRGBA
	}{
		{"my-sepia", color.NRGBA{128, 128, 128, 255}, color.NRGBA{173, 154, 120, 255}},
		{"my-sepia/1", color.NRGBA{255, 255, 255, 255}, color.NRGBA{255, 255, 239, 255}},
		{"my-sepia/0", color.NRGBA{10, 200, 30, 255}, color.NRGBA{10, 200, 30, 255}},
		{"my-sepia/sepia/0.5", color.NRGBA{128, 128, 128, 255}, color.NRGBA{150, 141, 124, 255}},
		{"my-sepia/1", color.NRGBA{0, 0, 0, 255}, color.NRGBA{0, 0, 0, 255}},
		{"my-sepia/1", color.NRGBA{100, 50, 200, 128}, color.NRGBA{116, 103, 80, 128}}, // alpha kept
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			status, ct, body := call(t, srv, tt.cmd, "image/png", solidPNG(t, 3, 2, tt.in))
			if status != 200 || ct != "image/png" {
				t.Fatalf("%d %s %s", status, ct, body)
			}
			img, err := png.Decode(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			got := color.NRGBAModel.Convert(img.At(2, 1)).(color.NRGBA)
			if !near(got.R, tt.want.R, 1) || !near(got.G, tt.want.G, 1) || !near(got.B, tt.want.B, 1) || got.A != tt.want.A {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPixelate(t *testing.T) {
	srv := server(t)
	// A 6x5 gradient: with 4x4 blocks, the edge blocks are partial.
	src := image.NewNRGBA(image.Rect(0, 0, 6, 5))
	for y := 0; y < 5; y++ {
		for x := 0; x < 6; x++ {
			src.SetNRGBA(x, y, color.NRGBA{uint8(x * 40), uint8(y * 50), 7, 255})
		}
	}
	status, _, body := call(t, srv, "my-sepia/pixelate/4", "image/png", encodePNG(t, src))
	if status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	// Each block is uniform and holds the average of its source pixels.
	for _, blk := range []image.Rectangle{image.Rect(0, 0, 4, 4), image.Rect(4, 0, 6, 4), image.Rect(0, 4, 4, 5), image.Rect(4, 4, 6, 5)} {
		var sr, sg, n int
		for y := blk.Min.Y; y < blk.Max.Y; y++ {
			for x := blk.Min.X; x < blk.Max.X; x++ {
				c := src.NRGBAAt(x, y)
				sr += int(c.R)
				sg += int(c.G)
				n++
			}
		}
		want := color.NRGBA{uint8((sr + n/2) / n), uint8((sg + n/2) / n), 7, 255}
		for y := blk.Min.Y; y < blk.Max.Y; y++ {
			for x := blk.Min.X; x < blk.Max.X; x++ {
				if got := color.NRGBAModel.Convert(img.At(x, y)); got != want {
					t.Fatalf("block %v pixel (%d,%d) = %v, want %v", blk, x, y, got, want)
				}
			}
		}
	}
}

func TestRealImages(t *testing.T) {
	testneed.SharedImages(t)
	if _, err := os.Stat(imagesDir); err != nil {
		t.Skipf("test images not found at %s: %v", imagesDir, err)
	}
	srv := server(t)
	tests := []struct {
		file, cmd, wantCT string
		w, h              int
	}{
		{"portrait.jpg", "my-sepia/0.8", "image/jpeg", 800, 533},
		{"portrait.png", "my-sepia/pixelate/16", "image/png", 800, 533},
		{"portrait.jpg", "my-sepia/pixelate/8/format/png", "image/png", 800, 533},
		{"SmallFullColourGIF.gif", "my-sepia", "image/png", 0, 0},
		{"animated.gif", "my-sepia/format/jpg", "image/jpeg", 0, 0},
		{"paletted-transparent.png", "my-sepia", "image/png", 0, 0},
		{"grayscale.jpg", "my-sepia", "image/jpeg", 0, 0},
		{"cmyk.jpg", "my-sepia", "image/jpeg", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file+"/"+tt.cmd, func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(imagesDir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			in, _, err := image.DecodeConfig(bytes.NewReader(src))
			if err != nil {
				t.Fatal(err)
			}
			status, ct, body := call(t, srv, tt.cmd, "", src)
			if status != 200 || ct != tt.wantCT {
				t.Fatalf("%d %s %.200s", status, ct, body)
			}
			out, format, err := image.DecodeConfig(bytes.NewReader(body))
			if err != nil || "image/"+format != ct {
				t.Fatalf("output %q does not decode as %s: %v", format, ct, err)
			}
			if out.Width != in.Width || out.Height != in.Height || (tt.w != 0 && (out.Width != tt.w || out.Height != tt.h)) {
				t.Fatalf("output %dx%d, source %dx%d", out.Width, out.Height, in.Width, in.Height)
			}
		})
	}
	// A sepia photo is warm: red over green over blue almost everywhere.
	src, _ := os.ReadFile(filepath.Join(imagesDir, "portrait.png"))
	_, _, body := call(t, srv, "my-sepia", "image/png", src)
	img, err := png.Decode(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	warm, total := 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 7 {
		for x := b.Min.X; x < b.Max.X; x += 7 {
			c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			total++
			if c.R >= c.G && c.G >= c.B {
				warm++
			}
		}
	}
	if warm < total*99/100 {
		t.Fatalf("only %d of %d sampled pixels are sepia-toned", warm, total)
	}
}

func TestRefusals(t *testing.T) {
	srv := server(t)
	img := solidPNG(t, 2, 2, color.NRGBA{1, 2, 3, 255})
	tests := []struct {
		cmd    string
		body   []byte
		status int
		want   string
	}{
		{"my-sepia/2", img, 400, `my-sepia: unknown parameter "2"`},
		{"my-sepia/sepia/x", img, 400, `my-sepia: parameter sepia: "x" is not a number from 0 to 1`},
		{"my-sepia/pixelate/1", img, 400, `my-sepia: parameter pixelate: "1" is not a block size from 2 to 512`},
		{"my-sepia/pixelate", img, 400, "my-sepia: parameter pixelate needs a value"},
		{"my-sepia/format/webp", img, 400, `my-sepia: parameter format: "webp" is not jpg or png`},
		{"my-sepia/blur/3", img, 400, `my-sepia: unknown parameter "blur"`},
		{"my-sepia", []byte("not an image"), 415, "my-sepia: the source is not a JPEG, PNG or GIF image"},
		{"my-sepia", nil, 415, "my-sepia: the source is not"},
	}
	for _, tt := range tests {
		status, _, body := call(t, srv, tt.cmd, "image/png", tt.body)
		if status != tt.status || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s: %d %q, want %d %q", tt.cmd, status, body, tt.status, tt.want)
		}
	}
	if _, err := os.Stat(imagesDir); err == nil && !testing.Short() { // the quick run reads no ../shared
		for file, status := range map[string]int{"16384x16384.png": 413, "BlueSquare_truncated.jpg": 422, "image.webp": 415} {
			src, err := os.ReadFile(filepath.Join(imagesDir, file))
			if err != nil {
				t.Fatal(err)
			}
			if got, _, body := call(t, srv, "my-sepia", "", src); got != status {
				t.Errorf("%s: %d %q, want %d", file, got, body, status)
			}
		}
	}
}

func FuzzHandle(f *testing.F) {
	f.Add("0.8", []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"))
	f.Add("pixelate/3/format/jpg", []byte("\x89PNG\r\n\x1a\n"))
	f.Add("sepia/0.1", []byte{})
	f.Fuzz(func(t *testing.T, params string, body []byte) {
		// Keep each run small; the pixel guard itself is tested above.
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(body)); err == nil && cfg.Width*cfg.Height > 1<<20 {
			t.Skip()
		}
		resp, err := handle(context.Background(), &sdk.Request{Name: "my-sepia", Params: params, Body: body})
		if err != nil {
			var se *sdk.StatusError
			if !errors.As(err, &se) || se.Status < 400 || se.Status > 499 {
				t.Fatalf("error %v is not a client error with a status", err)
			}
			return
		}
		if _, _, err := image.DecodeConfig(bytes.NewReader(resp.Body)); err != nil {
			t.Fatalf("output does not decode: %v", err)
		}
	})
}
