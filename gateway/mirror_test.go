package gateway_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
)

// origin is a mirror origin on loopback that counts the requests of each
// path.
type origin struct {
	*httptest.Server
	mu      sync.Mutex
	counts  map[string]int
	version atomic.Int32 // changes the body of /v/ paths (prefetch)
	stall   chan struct{}
}

func (o *origin) count(path string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[path]
}

// testJPEG draws a small JPEG, so these tests need no shared images.
func testJPEG(t *testing.T, w, h int, c color.Color) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const mirrorMaxBytes = 64 << 10

func newOrigin(t *testing.T, photo []byte) *origin {
	o := &origin{counts: map[string]int{}, stall: make(chan struct{})}
	o.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.counts[r.URL.EscapedPath()]++
		o.mu.Unlock()
		p := r.URL.EscapedPath()
		switch {
		case strings.HasPrefix(p, "/ok/"):
			if p == "/ok/slow.jpg" { // slow enough for concurrent misses to overlap
				time.Sleep(300 * time.Millisecond)
			}
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write(photo)
		case strings.HasPrefix(p, "/v/"):
			fmt.Fprintf(w, "version %d of %s", o.version.Load(), p)
		case p == "/esc/a%20b/%C3%BC.txt":
			io.WriteString(w, "escaped")
		case p == "/err/x":
			http.Error(w, "boom", http.StatusInternalServerError)
		case p == "/slowheader/x":
			select {
			case <-o.stall:
			case <-r.Context().Done():
			}
		case p == "/slowbody/x":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "part")
			w.(http.Flusher).Flush()
			select {
			case <-o.stall:
			case <-r.Context().Done():
			}
		case p == "/big/x":
			w.Header().Set("Content-Length", fmt.Sprint(mirrorMaxBytes+1))
			w.Write(make([]byte, mirrorMaxBytes+1))
		case p == "/bigchunked/x":
			for range 20 {
				w.Write(make([]byte, 8<<10))
				w.(http.Flusher).Flush()
			}
		case p == "/truncated/x":
			w.Header().Set("Content-Length", "1000")
			io.WriteString(w, "only this")
			w.(http.Flusher).Flush()
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
		case p == "/redirect/ok":
			http.Redirect(w, r, "/ok/a.jpg", http.StatusFound)
		case p == "/redirect/refused":
			// 127.0.0.2 is loopback but outside the allowed 127.0.0.1/32.
			_, port, _ := net.SplitHostPort(r.Host)
			http.Redirect(w, r, "http://127.0.0.2:"+port+"/ok/a.jpg", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(o.stall); o.Close() })
	return o
}

func withMirror(allow string) clusterOption {
	return func(cfg *gateway.Config, _ *gateway.Deps) {
		a, err := egress.ParseAllow(allow)
		if err != nil {
			panic(err)
		}
		cfg.FetchAllow = a
		cfg.Mirror.HeaderTimeout = 500 * time.Millisecond
		cfg.Mirror.Timeout = 1500 * time.Millisecond
		cfg.Mirror.MaxBytes = mirrorMaxBytes
	}
}

type apiErr struct {
	Code  int
	Error string
}

func decodeErr(t *testing.T, b []byte) apiErr {
	t.Helper()
	var e apiErr
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("not an error body: %s", b)
	}
	return e
}

// stored reports whether bucket/key is in the store (the admin API reads
// the store without filling from the origin).
func (c *cluster) stored(bucket, key string) ([]byte, bool) {
	c.t.Helper()
	resp := c.admin(http.MethodGet, "/v1/objects/"+bucket+"/"+key, nil, c.ak, c.sk)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return b, resp.StatusCode == http.StatusOK
}

func TestMirror(t *testing.T) {
	photo := testJPEG(t, 320, 240, color.RGBA{200, 40, 40, 255})
	o := newOrigin(t, photo)
	c := newCluster(t, 1, withMirror("127.0.0.1/32"))
	c.mustAdmin(http.MethodPut, "/v1/buckets/mir", []byte(`{"mirror":"`+o.URL+`"}`))
	dead := "http://" + testenv.FreeAddr(t)
	c.mustAdmin(http.MethodPut, "/v1/buckets/dead", []byte(`{"mirror":"`+dead+`/"}`))

	t.Run("create", func(t *testing.T) {
		for _, tc := range []struct {
			origin string
			status int
			word   string
		}{
			{"ftp://example.test/", 400, "ftp"},
			{"file:///etc/", 400, "file"},
			{"http:///nohost", 400, "host"},
			{"http://user:pw@example.test/", 400, "user info"},
			{"http://example.test/?x=1", 400, "query"},
			{"http://127.0.0.2:80/", 403, "127.0.0.2"},
			{"http://10.1.2.3/", 403, "--fetch-allow"},
			{"http://[::1]:80/", 403, "::1"},
			{"http://169.254.169.254/", 403, "169.254.169.254"},
		} {
			resp := c.admin(http.MethodPut, "/v1/buckets/bad", []byte(`{"mirror":"`+tc.origin+`"}`), c.ak, c.sk)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			e := decodeErr(t, b)
			if resp.StatusCode != tc.status || !strings.Contains(e.Error, tc.word) || !strings.Contains(e.Error, "mirror") {
				t.Errorf("--mirror %s: %s %q, want %d naming %q", tc.origin, resp.Status, e.Error, tc.status, tc.word)
			}
		}
		if _, err := c.gw.Catalog().Bucket("bad"); ufop.KindOf(err) != ufop.KindNotFound {
			t.Errorf("a refused bucket was created: %v", err)
		}
		// An origin named by host is checked when dialled, not now.
		c.mustAdmin(http.MethodPut, "/v1/buckets/named", []byte(`{"mirror":"http://origin.example.test"}`))
		var b ufop.Bucket
		json.Unmarshal(c.mustAdmin(http.MethodGet, "/v1/buckets/named", nil), &b)
		if b.Mirror != "http://origin.example.test/" {
			t.Errorf("stored origin %q", b.Mirror)
		}
	})

	t.Run("get", func(t *testing.T) {
		for _, tc := range []struct {
			name, path string
			status     int
			word       string // in the error
			origin     string // the origin path asked, once
			body       string // the answer, when 200
		}{
			{"plain", "/mir/ok/a.jpg", 200, "", "/ok/a.jpg", string(photo)},
			{"escaped key", "/mir/esc/a%20b/%C3%BC.txt", 200, "", "/esc/a%20b/%C3%BC.txt", "escaped"},
			{"redirect to allowed", "/mir/redirect/ok", 200, "", "/redirect/ok", string(photo)},
			{"origin 404", "/mir/nope.jpg", 404, "nope.jpg", "/nope.jpg", ""},
			{"origin 404 with fop", "/mir/nope2.jpg?imageView2/2/w/10", 404, "nope2.jpg", "/nope2.jpg", ""},
			{"origin 500", "/mir/err/x", 502, "500", "/err/x", ""},
			{"header timeout", "/mir/slowheader/x", 502, "timed out", "/slowheader/x", ""},
			{"body timeout", "/mir/slowbody/x", 502, "within", "/slowbody/x", ""},
			{"over limit (Content-Length)", "/mir/big/x", 413, "64 KiB", "/big/x", ""},
			{"over limit (streamed)", "/mir/bigchunked/x", 413, "64 KiB", "/bigchunked/x", ""},
			{"truncated body", "/mir/truncated/x", 502, "mirror origin", "/truncated/x", ""},
			{"redirect to refused address", "/mir/redirect/refused", 403, "127.0.0.2", "/redirect/refused", ""},
			{"unreachable origin", "/dead/a.jpg", 502, "could not be reached", "", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				resp, body := c.get(tc.path)
				if resp.StatusCode != tc.status {
					t.Fatalf("%s: %s %s, want %d", tc.path, resp.Status, body, tc.status)
				}
				if tc.origin != "" {
					if n := o.count(tc.origin); n != 1 {
						t.Errorf("origin asked %d times for %s", n, tc.origin)
					}
				}
				bucket, key, _ := strings.Cut(strings.TrimPrefix(strings.Split(tc.path, "?")[0], "/"), "/")
				stored, ok := c.stored(bucket, key)
				if tc.status != 200 {
					e := decodeErr(t, body)
					t.Logf("%s: %s %s", tc.path, resp.Status, e.Error)
					if !strings.Contains(e.Error, tc.word) || resp.Header.Get("Cache-Control") != "no-store" {
						t.Errorf("error %q does not name %q", e.Error, tc.word)
					}
					if ok {
						t.Errorf("a failed fetch stored %d bytes", len(stored))
					}
					return
				}
				if string(body) != tc.body || !ok || string(stored) != tc.body {
					t.Fatalf("answer %d bytes, stored %v %d bytes; want %d", len(body), ok, len(stored), len(tc.body))
				}
				// Served from storage afterwards.
				before := o.count(tc.origin)
				if resp, body := c.get(tc.path); resp.StatusCode != 200 || string(body) != tc.body || o.count(tc.origin) != before {
					t.Errorf("second GET: %s, origin asked %d more times", resp.Status, o.count(tc.origin)-before)
				}
			})
		}
	})

	t.Run("fop", func(t *testing.T) {
		resp, body := c.get("/mir/ok/b.jpg?imageView2/2/w/100")
		if resp.StatusCode != 200 {
			t.Fatalf("%s %s", resp.Status, body)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil || format != "jpeg" || cfg.Width != 100 || cfg.Height != 75 {
			t.Fatalf("got %s %dx%d (%v)", format, cfg.Width, cfg.Height, err)
		}
		if resp, _ := c.get("/mir/ok/b.jpg"); resp.StatusCode != 200 || o.count("/ok/b.jpg") != 1 {
			t.Fatalf("plain GET after the fop: %s, origin asked %d times", resp.Status, o.count("/ok/b.jpg"))
		}
	})

	t.Run("private mirror bucket", func(t *testing.T) {
		c.mustAdmin(http.MethodPut, "/v1/buckets/pmir", []byte(`{"private":true,"mirror":"`+o.URL+`/ok/"}`))
		if resp, _ := c.get("/pmir/p.jpg?imageView2/2/w/10"); resp.StatusCode != 401 || o.count("/ok/p.jpg") != 0 {
			t.Fatalf("unsigned: %s, origin asked %d times", resp.Status, o.count("/ok/p.jpg"))
		}
		signed, err := auth.SignURL(c.url+"/pmir/p.jpg", c.ak, c.sk, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := c.get(strings.TrimPrefix(signed, c.url)); resp.StatusCode != 200 || !bytes.Equal(body, photo) || o.count("/ok/p.jpg") != 1 {
			t.Fatalf("signed: %s, origin asked %d times", resp.Status, o.count("/ok/p.jpg"))
		}
	})

	t.Run("watermark image from a mirror bucket", func(t *testing.T) {
		c.mustAdmin(http.MethodPut, "/v1/buckets/base", nil)
		c.mustAdmin(http.MethodPut, "/v1/objects/base/bg.jpg", testJPEG(t, 200, 200, color.White))
		mark := base64.RawURLEncoding.EncodeToString([]byte("mir:ok/mark.jpg"))
		resp, body := c.get("/base/bg.jpg?watermark/1/image/" + mark)
		if resp.StatusCode != 200 || o.count("/ok/mark.jpg") != 1 {
			t.Fatalf("%s %s; origin asked %d times", resp.Status, body, o.count("/ok/mark.jpg"))
		}
		if _, ok := c.stored("mir", "ok/mark.jpg"); !ok {
			t.Fatal("the watermark image was not stored")
		}
	})

	t.Run("concurrent misses share one fetch", func(t *testing.T) {
		const n = 24
		var wg sync.WaitGroup
		statuses := make([]int, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := "/mir/ok/slow.jpg"
				if i%2 == 1 {
					path += "?imageView2/2/w/50"
				}
				resp, err := http.Get(c.url + path)
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				statuses[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		for i, s := range statuses {
			if s != 200 {
				t.Errorf("request %d: status %d", i, s)
			}
		}
		if got := o.count("/ok/slow.jpg"); got != 1 {
			t.Fatalf("%d concurrent misses made %d origin requests, want 1", n, got)
		}
	})

	t.Run("prefetch", func(t *testing.T) {
		o.version.Store(1)
		if resp, body := c.get("/mir/v/p.txt"); resp.StatusCode != 200 || string(body) != "version 1 of /v/p.txt" {
			t.Fatalf("first GET: %s %s", resp.Status, body)
		}
		o.version.Store(2)
		var obj ufop.Object
		if err := json.Unmarshal(c.mustAdmin(http.MethodPost, "/v1/prefetch/mir/v/p.txt", nil), &obj); err != nil || obj.Key != "v/p.txt" {
			t.Fatalf("prefetch answer %+v (%v)", obj, err)
		}
		if resp, body := c.get("/mir/v/p.txt"); resp.StatusCode != 200 || string(body) != "version 2 of /v/p.txt" {
			t.Fatalf("after prefetch: %s %s", resp.Status, body)
		}
		if n := o.count("/v/p.txt"); n != 2 {
			t.Errorf("origin asked %d times, want 2", n)
		}
		var nu gateway.NewUser
		json.Unmarshal(c.mustAdmin(http.MethodPost, "/v1/users", []byte(`{"name":"mallory"}`)), &nu)
		c.mustAdmin(http.MethodPut, "/v1/buckets/plain", nil)
		for _, tc := range []struct {
			name, path string
			ak, sk     string
			status     int
			word       string
		}{
			{"not the owner", "/v1/prefetch/mir/v/p.txt", nu.AK, nu.SK, 403, "another user"},
			{"not a mirror bucket", "/v1/prefetch/plain/a.jpg", c.ak, c.sk, 400, "no mirror origin"},
			{"missing at the origin", "/v1/prefetch/mir/gone.jpg", c.ak, c.sk, 404, "gone.jpg"},
			{"bad key", "/v1/prefetch/mir/a/../b", c.ak, c.sk, 400, ".."},
			{"no such bucket", "/v1/prefetch/nosuch/a", c.ak, c.sk, 404, "nosuch"},
		} {
			resp := c.admin(http.MethodPost, tc.path, nil, tc.ak, tc.sk)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if e := decodeErr(t, b); resp.StatusCode != tc.status || !strings.Contains(e.Error, tc.word) {
				t.Errorf("%s: %s %q, want %d naming %q", tc.name, resp.Status, e.Error, tc.status, tc.word)
			}
		}
	})
}

// TestMirrorDefaultPolicy: without --fetch-allow, a loopback origin is
// refused when the bucket is created, and, named by host, when dialled.
func TestMirrorDefaultPolicy(t *testing.T) {
	o := newOrigin(t, nil)
	c := newCluster(t, 0)
	resp := c.admin(http.MethodPut, "/v1/buckets/mir", []byte(`{"mirror":"`+o.URL+`"}`), c.ak, c.sk)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(decodeErr(t, b).Error, "--fetch-allow") {
		t.Fatalf("loopback origin: %s %s", resp.Status, b)
	}
	// "localhost" resolves to loopback: refused at dial time, so a name
	// that resolves (or is rebound) to a refused address gets nothing.
	port := netip.MustParseAddrPort(o.Listener.Addr().String()).Port()
	c.mustAdmin(http.MethodPut, "/v1/buckets/byname", []byte(fmt.Sprintf(`{"mirror":"http://localhost:%d/"}`, port)))
	r, body := c.get("/byname/ok/a.jpg")
	if r.StatusCode != 403 || !strings.Contains(decodeErr(t, body).Error, "not public") {
		t.Fatalf("origin by name: %s %s", r.Status, body)
	}
	if n := o.count("/ok/a.jpg"); n != 0 {
		t.Fatalf("the refused origin was asked %d times", n)
	}
	if _, ok := c.stored("byname", "ok/a.jpg"); ok {
		t.Fatal("a refused fetch stored something")
	}
}
