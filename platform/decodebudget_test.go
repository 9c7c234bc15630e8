package platform_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ufop/ufop/ufopctl"
)

// TestConcurrentHugeSources fires 16 concurrent uncached 500x500 thumbnails
// of distinct 100-megapixel JPEGs at `ufopd up`'s platform with its default
// limits: they may queue (decode slots and the pixel budget) but none may
// fail. Peak memory is measured by bench/images/http.sh on the real process.
func TestConcurrentHugeSources(t *testing.T) {
	needImages(t)
	const n = 16
	src, err := os.ReadFile(filepath.Join(images, "9643x10328.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := startPlatform(t, t.TempDir())
	conf := p.AdminConfig()
	ufopctlRun(t, conf, "bucket", "create", "pics")
	cfg, err := ufopctl.LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := ufopctl.NewClient(cfg, nil)
	ctx := context.Background()
	for i := 0; i < n; i++ {
		// Distinct bytes after EOI: distinct objects and result keys, the
		// same decode.
		body := binary.BigEndian.AppendUint64(bytes.Clone(src), uint64(i))
		if _, err := cl.PutObject(ctx, "pics", fmt.Sprintf("huge-%d.jpg", i), bytes.NewReader(body), "image/jpeg", nil); err != nil {
			t.Fatal(err)
		}
	}
	base := "http://" + p.Gateway().Addr()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs <- fetchThumb(fmt.Sprintf("%s/pics/huge-%d.jpg?imageView2/2/w/500/h/500", base, i))
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// fetchThumb gets url and checks for a 200 answer with a JPEG fitting 500x500
// made by this request (not a cache hit).
func fetchThumb(url string) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s: %.200s", url, resp.Status, body)
	}
	if c := resp.Header.Get("X-Ufop-Cache"); c == "hit" {
		return fmt.Errorf("%s: a cache hit", url)
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || format != "jpeg" || cfg.Width != 467 || cfg.Height != 500 {
		return fmt.Errorf("%s: got %s %dx%d (%v), want a 467x500 jpeg", url, format, cfg.Width, cfg.Height, err)
	}
	return nil
}
