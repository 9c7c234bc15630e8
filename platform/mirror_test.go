package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/internal/testneed"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/ufopctl"
)

// TestMirrorBucket is the README's "Mirror buckets" walk-through on the
// whole platform: a bucket mirroring an origin on loopback (allowed with
// --fetch-allow), a processed GET of a key only the origin has, which
// asks the origin once and is then served from storage, and ufopctl
// prefetch.
func TestMirrorBucket(t *testing.T) {
	testneed.Integration(t, "the whole platform")
	img := image.NewRGBA(image.Rect(0, 0, 400, 300))
	for i := range img.Pix {
		img.Pix[i] = uint8(i)
	}
	img.Set(0, 0, color.White)
	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, img, nil); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	asked := map[string]int{}
	origin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path != "/img/photo.jpg" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(photo.Bytes())
	}))
	defer origin.Close()
	count := func(p string) int { mu.Lock(); defer mu.Unlock(); return asked[p] }

	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = testenv.FreeAddr(t), testenv.FreeAddr(t), -1
	allow, err := egress.ParseAllow("127.0.0.1/32")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Gateway.FetchAllow = allow
	p, _ := runPlatform(t, cfg)
	conf := p.AdminConfig()
	base := "http://" + p.Gateway().Addr()

	ufopctlRun(t, conf, "bucket", "create", "mirrored", "--mirror", origin.URL+"/img/")
	get := func(path string) (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	resp, body := get("/mirrored/photo.jpg?imageView2/1/w/100/h/100")
	if resp.StatusCode != 200 {
		t.Fatalf("first GET: %s %s", resp.Status, body)
	}
	c, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || format != "jpeg" || c.Width != 100 || c.Height != 100 {
		t.Fatalf("processed: %s %dx%d (%v)", format, c.Width, c.Height, err)
	}
	if n := count("/img/photo.jpg"); n != 1 {
		t.Fatalf("origin asked %d times, want 1", n)
	}
	// From storage now: the original and another size.
	if resp, body := get("/mirrored/photo.jpg"); resp.StatusCode != 200 || !bytes.Equal(body, photo.Bytes()) {
		t.Fatalf("second GET: %s, %d bytes", resp.Status, len(body))
	}
	if resp, body := get("/mirrored/photo.jpg?imageView2/2/w/50"); resp.StatusCode != 200 {
		t.Fatalf("third GET: %s %s", resp.Status, body)
	}
	if n := count("/img/photo.jpg"); n != 1 {
		t.Fatalf("origin asked %d times after GETs served from storage, want 1", n)
	}
	if out := ufopctlRun(t, conf, "ls", "mirrored"); !strings.Contains(out, "photo.jpg") {
		t.Fatalf("ls: %q", out)
	}
	if resp, _ := get("/mirrored/none.jpg?imageView2/2/w/50"); resp.StatusCode != 404 {
		t.Fatalf("missing at the origin: %s", resp.Status)
	}

	// prefetch: one line per key, a failed key makes the exit non-zero.
	code, out, errOut := ufopctlCode(conf, "prefetch", "mirrored", "photo.jpg", "none.jpg")
	if code != 1 || !strings.Contains(out, "fetched mirrored/photo.jpg") || !strings.Contains(out, "failed mirrored/none.jpg: 404") ||
		!strings.Contains(errOut, "1 of 2 keys failed") {
		t.Fatalf("prefetch: exit %d\n%s%s", code, out, errOut)
	}
	if n := count("/img/photo.jpg"); n != 2 {
		t.Fatalf("prefetch did not fetch again: origin asked %d times", n)
	}
	code, out, errOut = ufopctlCode(conf, "-o", "json", "prefetch", "mirrored", "photo.jpg")
	var res []struct {
		Key    string `json:"key"`
		OK     bool   `json:"ok"`
		Object struct {
			Size int64 `json:"size"`
		} `json:"object"`
	}
	if err := json.Unmarshal([]byte(out), &res); code != 0 || err != nil || len(res) != 1 || !res[0].OK ||
		res[0].Object.Size != int64(photo.Len()) {
		t.Fatalf("prefetch -o json: exit %d %v\n%s%s", code, err, out, errOut)
	}
}

// ufopctlCode runs ufopctl and returns its exit status and output.
func ufopctlCode(conf string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := ufopctl.Main(context.Background(), append([]string{"--config", conf}, args...), ufopctl.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
	})
	return code, out.String(), errb.String()
}
