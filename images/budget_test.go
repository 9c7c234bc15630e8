package images

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

func TestDecodeEstimate(t *testing.T) {
	huge := header{format: formatJPEG, width: 9643, height: 10328}
	for _, tc := range []struct {
		name        string
		h           header
		minW, minH  int
		frames      int
		progressive bool
		want        int64
	}{
		// 1/8 scale: 1206x1291 at 8 bytes a pixel, not 100 MP's 800 MB.
		{"100 MP JPEG to 500x500", huge, 500, 500, 1, false, 1206 * 1291 * 8},
		{"100 MP JPEG full size", huge, 0, 0, 1, false, 9643 * 10328 * 8},
		{"100 MP JPEG at 1/2", huge, 3000, 3000, 1, false, 4822 * 5164 * 8},
		{"progressive at 1/2 adds full-size coefficients", huge, 3000, 3000, 1, true, 4822*5164*8 + 9643*10328*6},
		{"progressive at 1/8 keeps only DC", huge, 500, 500, 1, true, 1206 * 1291 * 8},
		{"PNG has no shrink-on-load", header{format: formatPNG, width: 1000, height: 500}, 100, 100, 1, false, 1000 * 500 * 8},
		{"animated GIF, every frame", header{format: formatGIF, width: 100, height: 100}, 0, 0, 10, false, 100 * 100 * 8 * 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := decodeEstimate(tc.h, tc.minW, tc.minH, tc.frames, tc.progressive); got != tc.want {
				t.Fatalf("decodeEstimate = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestJPEGProgressive(t *testing.T) {
	prog, err := os.ReadFile("internal/jpegscale/testdata/prog-420-400x267.jpg")
	if err != nil {
		t.Fatal(err)
	}
	var base bytes.Buffer
	if err := jpeg.Encode(&base, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  []byte
		want bool
	}{
		{"progressive", prog, true},
		{"baseline", base.Bytes(), false},
		{"truncated", prog[:3], false},
		{"not a marker", []byte("\xff\xd8\x00\x00\x00\x00"), false},
	} {
		if got := jpegProgressive(tc.src); got != tc.want {
			t.Errorf("%s: jpegProgressive = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestDecodeBudget checks the pixel budget: a Run whose estimate does not fit
// in what other Runs left waits, and gives up with KindTimeout when its
// deadline passes first; it runs once memory is returned, and returns its
// own reservation.
func TestDecodeBudget(t *testing.T) {
	const budget = 10 << 20
	p := newTestProcessor(t, nil, func(c *Config) { c.MaxDecodes = 4; c.MaxDecodeBytes = budget })
	src := synth(t, 1000, 1000, formatPNG) // estimate 8 MB
	pl, err := fop.Parse("imageView2/2/w/10", 0)
	if err != nil {
		t.Fatal(err)
	}
	held, err := p.budget.acquire(context.Background(), 4<<20) // another Run holds 4 MB
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = p.Run(ctx, src, pl.Steps)
	if err == nil || kindOf(t, err) != ufop.KindTimeout || !strings.Contains(err.Error(), "memory") {
		t.Fatalf("err %v, want KindTimeout waiting for memory", err)
	}

	// The waiting Run starts when the other one releases.
	done := make(chan error, 1)
	go func() {
		_, err := p.Run(context.Background(), src, pl.Steps)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("Run finished (%v) while the budget was short", err)
	case <-time.After(50 * time.Millisecond):
	}
	p.budget.release(held)
	if err := <-done; err != nil {
		t.Fatalf("Run after release: %v", err)
	}
	if !p.budget.bytes.TryAcquire(budget) {
		t.Fatal("a Run did not return its reservation")
	}
	p.budget.bytes.Release(budget)
	if len(p.budget.slots) != 0 {
		t.Fatalf("%d slots still held", len(p.budget.slots))
	}
}

// TestDecodeBudgetOversized checks that a source whose estimate exceeds the
// whole budget still runs (alone) instead of waiting forever.
func TestDecodeBudgetOversized(t *testing.T) {
	p := newTestProcessor(t, nil, func(c *Config) { c.MaxDecodeBytes = 1 << 10 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := run(t, p, synth(t, 100, 100, formatPNG), "imageView2/2/w/10"); err != nil {
		t.Fatalf("oversized estimate: %v", err)
	}
	if n, err := p.budget.acquire(ctx, 1<<30); err != nil || n != 1<<10 {
		t.Fatalf("acquire over the budget = %d, %v; want the whole budget (1024)", n, err)
	}
}
