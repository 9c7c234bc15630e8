package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testJPEG writes a w×h JPEG into a temporary directory.
func testJPEG(t *testing.T, w, h int) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 4), 128, 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "src.jpg")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunReportsTheOperation(t *testing.T) {
	src := testJPEG(t, 64, 48)
	tests := []struct {
		name         string
		args         []string
		wantW, wantH int
	}{
		{"ufop fill", []string{"-op", "imageView2/1/w/20/h/20"}, 20, 20},
		{"ufop fit", []string{"-op", "imageView2/2/w/32/h/32"}, 32, 24},
		{"plain fill", []string{"-mode", "plain", "-op", "imageView2/1/w/20/h/10"}, 20, 10},
		{"plain fit", []string{"-mode", "plain", "-op", "imageView2/2/w/32/h/32"}, 32, 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.jpg")
			args := append(tt.args, "-n", "2", "-warmup", "1", "-out", out, src)
			var stdout bytes.Buffer
			if err := run(args, &stdout); err != nil {
				t.Fatal(err)
			}
			var r result
			if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
				t.Fatalf("output %q: %v", stdout.String(), err)
			}
			if r.N != 2 || r.File != src || r.OutW != tt.wantW || r.OutH != tt.wantH {
				t.Errorf("result %+v, want n 2, file %s, %dx%d", r, src, tt.wantW, tt.wantH)
			}
			if r.MsPerOp <= 0 || r.OpsPerSec <= 0 || r.MaxRSSMB <= 0 {
				t.Errorf("result %+v: want positive timings and RSS", r)
			}
			written, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(written) != r.OutBytes {
				t.Errorf("-out has %d bytes, result says %d", len(written), r.OutBytes)
			}
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(written))
			if err != nil || cfg.Width != tt.wantW || cfg.Height != tt.wantH {
				t.Errorf("-out is %dx%d (%v), want %dx%d", cfg.Width, cfg.Height, err, tt.wantW, tt.wantH)
			}
		})
	}
}

func TestRunRefusesBadArguments(t *testing.T) {
	src := testJPEG(t, 16, 16)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"-n", "1"}, "want one source file, got 0"},
		{"two files", []string{src, src}, "want one source file, got 2"},
		{"absent file", []string{filepath.Join(t.TempDir(), "absent.jpg")}, "no such file"},
		{"unknown mode", []string{"-mode", "magick", src}, `unknown mode "magick"`},
		{"plain unknown op", []string{"-mode", "plain", "-op", "imageMogr2/rotate/90", src}, "plain mode knows"},
		{"plain bad mode", []string{"-mode", "plain", "-op", "imageView2/3/w/10/h/10", src}, "plain mode knows"},
		{"ufop bad op", []string{"-op", "nosuchop/1", src}, "nosuchop"},
		{"bad flag", []string{"-n", "many", src}, "invalid value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(append([]string{"-warmup", "0"}, tt.args...), &stdout)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run = %v, want an error with %q", err, tt.want)
			}
			if stdout.Len() != 0 {
				t.Errorf("printed %q on error", stdout.String())
			}
		})
	}
}
