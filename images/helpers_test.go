package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// update regenerates golden images: go test ./images -update
var update = flag.Bool("update", false, "rewrite golden images under testdata/golden")

// testImagesDir holds the shared fixture images, relative to this package.
const testImagesDir = "../../shared/testdata/images"

// testImage returns the bytes of a shared fixture, skipping the test when
// the fixture folder is absent.
func fixture(t testing.TB, name string) []byte {
	t.Helper()
	if testing.Short() {
		return shortFixture(t, name)
	}
	if _, err := os.Stat(testImagesDir); err != nil {
		t.Skipf("fixture folder %s is absent: %v", testImagesDir, err)
	}
	b, err := os.ReadFile(filepath.Join(testImagesDir, name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return b
}

// newTestProcessor returns a Processor with the default config changed by
// mod (may be nil).
func newTestProcessor(t testing.TB, loader Loader, mod func(*Config)) *Processor {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	p, err := New(cfg, loader, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return p
}

// run parses query and runs it on src.
func run(t testing.TB, p *Processor, src []byte, query string) (*Result, error) {
	t.Helper()
	pl, err := fop.Parse(query, 0)
	if err != nil {
		t.Fatalf("fop.Parse(%q): %v", query, err)
	}
	return p.Run(context.Background(), src, pl.Steps)
}

// mustRun is run that fails the test on error.
func mustRun(t testing.TB, p *Processor, src []byte, query string) *Result {
	t.Helper()
	res, err := run(t, p, src, query)
	if err != nil {
		t.Fatalf("Run(%q): %v", query, err)
	}
	return res
}

// decodeResult decodes an image result with the package's own decoder
// path, checking its content type matches its bytes.
func decodeResult(t testing.TB, res *Result) image.Image {
	t.Helper()
	h, err := probe(res.Body)
	if err != nil {
		t.Fatalf("result does not probe: %v", err)
	}
	if want := contentTypes[h.format]; res.ContentType != want {
		t.Fatalf("content type %q, bytes are %s", res.ContentType, h.format)
	}
	img, err := decodePixels(res.Body, h, 0, 0)
	if err != nil {
		t.Fatalf("result does not decode: %v", err)
	}
	return img
}

// kindOf returns the kind of err, failing when err is not a *ufop.Error.
func kindOf(t testing.TB, err error) ufop.Kind {
	t.Helper()
	var e *ufop.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *ufop.Error", err, err)
	}
	return e.Kind
}

// writePNG is for debugging and golden files.
func writePNG(t testing.TB, path string, img image.Image) {
	t.Helper()
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// b64url is padded URL-safe base64, which the parser also accepts.
func b64url(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }

// opsOf returns the ops that run built-in steps.
func opsOf(t testing.TB, steps []fop.Step) []op {
	t.Helper()
	ops, err := compile(steps)
	if err != nil {
		t.Fatalf("compile %s: %v", stepsString(steps), err)
	}
	return ops
}

// opOf parses a one-step query and returns the op that runs it.
func opOf(t testing.TB, query string) op {
	t.Helper()
	pl, err := fop.Parse(query, 1)
	if err != nil {
		t.Fatalf("Parse(%q): %v", query, err)
	}
	return opsOf(t, pl.Steps)[0]
}
