package platform_test

import (
	"bytes"
	"encoding/json"
	"image"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/ufop/ufop/internal/testneed"
	"github.com/ufop/ufop/protocol"
)

// Usage survives a restart of the whole platform (embedded NATS included):
// the counts of requests made before it are all there after, since the
// stopping gateway flushes what it holds before NATS stops.
func TestUsageAfterRestart(t *testing.T) {
	testneed.Integration(t, "a whole platform, twice")
	dir := t.TempDir()
	p, stop := startPlatform(t, dir)
	var img bytes.Buffer
	jpeg.Encode(&img, image.NewGray(image.Rect(0, 0, 16, 16)), nil)
	file := filepath.Join(t.TempDir(), "o.jpg")
	if err := os.WriteFile(file, img.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ufopctlRun(t, p.AdminConfig(), "bucket", "create", "usage-pics")
	ufopctlRun(t, p.AdminConfig(), "put", "usage-pics", "o.jpg", file)
	var bytesOut int64
	const n = 7
	for i := range n {
		path := "/usage-pics/o.jpg"
		if i == 0 {
			path = "/usage-pics/missing.jpg"
		}
		resp, err := http.Get("http://" + p.Gateway().Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bytesOut += int64(len(b))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}

	p2, _ := startPlatform(t, dir)
	var rows []protocol.UsageRow
	out := ufopctlRun(t, p2.AdminConfig(), "usage", "--bucket", "usage-pics", "--from", "1h", "--by", "day", "-o", "json")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if len(rows) != 1 || rows[0].Cmd != "get" || rows[0].User != "admin" || rows[0].Requests != n || rows[0].Errors != 1 || rows[0].BytesOut != bytesOut {
		t.Fatalf("after the restart: %s; want one row of admin's usage-pics get: %d requests, 1 error, %d bytes", out, n, bytesOut)
	}
}
