package main

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScanScaler(t *testing.T) {
	const metrics = `# HELP ufop_scaler_queue_depth Jobs waiting or in flight.
# TYPE ufop_scaler_queue_depth gauge
ufop_scaler_queue_depth{ufop="burst-1"} 17
ufop_scaler_queue_depth{ufop="burst-10"} 99
ufop_scaler_desired{ufop="other"} 8
ufop_scaler_desired{ufop="burst-1"} 4.5
ufop_requests_total{ufop="burst-1"} 1234
`
	tests := []struct {
		name, text          string
		wantDepth, wantDesi float64
	}{
		{"both series", metrics, 17, 4.5},
		{"absent UFOP keeps the state's view", strings.ReplaceAll(metrics, `"burst-1"`, `"gone"`), -1, -1},
		{"empty", "", -1, -1},
		{"garbage value", `ufop_scaler_desired{ufop="burst-1"} NaNa` + "\n", -1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sample{queue: 3, scalerDepth: -1, scalerDesired: -1}
			scanScaler(strings.NewReader(tt.text), "burst-1", &s)
			if s.scalerDepth != tt.wantDepth || s.scalerDesired != tt.wantDesi || s.queue != 3 {
				t.Errorf("got depth %g desired %g queue %d, want %g %g 3", s.scalerDepth, s.scalerDesired, s.queue, tt.wantDepth, tt.wantDesi)
			}
		})
	}
}

func TestScaleTimes(t *testing.T) {
	ramp := []sample{
		{t: -1, healthy: 5}, // before the burst: ignored
		{t: 0, healthy: 1},
		{t: 0.5, healthy: 1},
		{t: 1.25, healthy: 2},
		{t: 2, healthy: 4},
		{t: 3.5, healthy: 5},
		{t: 9, healthy: 1},
	}
	tests := []struct {
		name       string
		samples    []sample
		lo, hi     int
		first, all float64
		maxSeen    int
	}{
		{"full ramp", ramp, 1, 5, 1.25, 3.5, 5},
		{"max never reached", ramp[:5], 1, 5, 1.25, -1, 4},
		{"no scale-up", ramp[:3], 1, 5, -1, -1, 1},
		{"no samples", nil, 1, 5, -1, -1, 0},
		{"higher minimum", ramp, 2, 4, 2, 2, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first, all, maxSeen := scaleTimes(tt.samples, tt.lo, tt.hi)
			if first != tt.first || all != tt.all || maxSeen != tt.maxSeen {
				t.Errorf("scaleTimes = %g, %g, %d; want %g, %g, %d", first, all, maxSeen, tt.first, tt.all, tt.maxSeen)
			}
		})
	}
}

func TestNiceStep(t *testing.T) {
	tests := []struct{ raw, want float64 }{
		{0, 1}, {-3, 1}, {0.3, 0.5}, {1, 1}, {1.2, 2}, {2, 2}, {3, 5}, {6, 10}, {13, 20}, {40, 50}, {0.07, 0.1},
	}
	for _, tt := range tests {
		if got := niceStep(tt.raw); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("niceStep(%g) = %g, want %g", tt.raw, got, tt.want)
		}
	}
}

func TestPlotIsAPNGOfThePanels(t *testing.T) {
	red := color.RGBA{200, 60, 40, 255}
	blue := color.RGBA{40, 90, 200, 255}
	xs := []float64{0, 1, 2, 3, 4, 5}
	for n := 1; n <= 3; n++ {
		panels := make([]panel, n)
		for i := range panels {
			panels[i] = panel{"p", []series{{"s", red, []float64{0, 3, 7, 7, 2, 0}}}}
		}
		panels[n-1].series = append(panels[n-1].series, series{"t", blue, []float64{1, 1, 2, 2, 1, 1}})
		var buf bytes.Buffer
		if err := plot(&buf, xs, 1, 3, panels); err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(&buf)
		if err != nil {
			t.Fatalf("%d panels: not a PNG: %v", n, err)
		}
		if b := img.Bounds(); b.Dx() != 960 || b.Dy() != 320*n {
			t.Errorf("%d panels: %v, want 960×%d", n, b, 320*n)
		}
		// Each panel draws its own series and burst band.
		for i := range n {
			band := image.Rect(0, i*320, 960, (i+1)*320)
			if !has(img, band, red) || !has(img, band, color.RGBA{255, 240, 220, 255}) {
				t.Errorf("%d panels: panel %d lacks its line or its burst band", n, i)
			}
			if want := i == n-1; has(img, band, blue) != want {
				t.Errorf("%d panels: panel %d has the blue series: %v, want %v", n, i, !want, want)
			}
		}
	}
}

// has reports whether any pixel of img within r is c.
func has(img image.Image, r image.Rectangle, c color.RGBA) bool {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if color.RGBAModel.Convert(img.At(x, y)) == c {
				return true
			}
		}
	}
	return false
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	if err := write(dir, "empty", nil, 1); err == nil {
		t.Error("write with no samples = nil, want an error")
	}
	samples := []sample{
		{t: -0.5, queue: 0, healthy: 1, desired: 1},
		{t: 0.25, queue: 12, waiting: 10, inflight: 2, healthy: 1, desired: 3, scalerDepth: 12, scalerDesired: 3},
		{t: 1.5, queue: 4, waiting: 3, inflight: 1, healthy: 3, desired: 3, scalerDepth: 4.5, scalerDesired: 3},
	}
	if err := write(dir, "test", samples, 1); err != nil {
		t.Fatal(err)
	}
	csv, err := os.ReadFile(filepath.Join(dir, "samples.csv"))
	if err != nil {
		t.Fatal(err)
	}
	want := "t_s,queue,waiting,inflight,healthy,desired,scaler_depth,scaler_desired\n" +
		"-0.500,0,0,0,1,1,0,0\n" +
		"0.250,12,10,2,1,3,12,3\n" +
		"1.500,4,3,1,3,3,4.5,3\n"
	if string(csv) != want {
		t.Errorf("samples.csv:\n%s\nwant:\n%s", csv, want)
	}
	f, err := os.Open(filepath.Join(dir, "burst.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("burst.png: %v", err)
	}
	if cfg.Width != 960 || cfg.Height != 640 {
		t.Errorf("burst.png is %d×%d, want 960×640 (two panels)", cfg.Width, cfg.Height)
	}
}
