package gateway_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
)

func clusterToken(t *testing.T, c *cluster) string {
	t.Helper()
	tok, err := catalog.ClusterToken(c.ctx, testenv.EtcdClientOf(t, c.etcd), gateway.DefaultConfig().Catalog.Prefix)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func fetch(t *testing.T, url, authz string) (int, []byte, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// TestMetricsAccess: /metrics is not public. On a gateway with one
// listener it needs the cluster token; with a separate admin listener it
// is served there only.
func TestMetricsAccess(t *testing.T) {
	const series = "ufop_gateway_requests_total"
	t.Run("one listener", func(t *testing.T) {
		c := newCluster(t, 0)
		tok := clusterToken(t, c)
		for _, tc := range []struct {
			authz  string
			status int
		}{
			{"", 401},
			{"Bearer wrong", 401},
			{"Bearer " + tok + "x", 401},
			{"Bearer " + tok, 200},
		} {
			status, body, h := fetch(t, c.url+"/metrics", tc.authz)
			if status != tc.status {
				t.Errorf("%q: %d, want %d", tc.authz, status, tc.status)
			}
			if status == 200 && !bytes.Contains(body, []byte(series)) {
				t.Errorf("%q: no %s", tc.authz, series)
			}
			if status != 200 && (bytes.Contains(body, []byte(series)) || h.Get("Cache-Control") != "no-store") {
				t.Errorf("%q: refusal is not a SPEC error: %s", tc.authz, body)
			}
		}
	})
	t.Run("admin listener", func(t *testing.T) {
		c := newCluster(t, 0, func(cfg *gateway.Config, _ *gateway.Deps) { cfg.AdminAddr = "127.0.0.1:0" })
		tok := clusterToken(t, c)
		for _, authz := range []string{"", "Bearer " + tok} {
			if status, body, _ := fetch(t, c.url+"/metrics", authz); status != 404 || bytes.Contains(body, []byte(series)) {
				t.Errorf("public listener, %q: %d", authz, status)
			}
		}
		if status, body, _ := fetch(t, "http://"+c.gw.AdminAddr()+"/metrics", ""); status != 200 || !bytes.Contains(body, []byte(series)) {
			t.Errorf("admin listener: %d", status)
		}
	})
}

// TestSignedURLMaxLifetime: a signed URL whose e= is further away than
// the operator's limit is refused with a SPEC error naming the limit.
func TestSignedURLMaxLifetime(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit time.Duration // 0: the default
		exp   time.Duration
		want  int
	}{
		{"default, an hour", 0, time.Hour, 200},
		{"default, 6 days", 0, 6 * 24 * time.Hour, 200},
		{"default, 30 days", 0, 30 * 24 * time.Hour, 403},
		{"default, int64 max", 0, -1, 403},
		{"1h limit, 30 min", time.Hour, 30 * time.Minute, 200},
		{"1h limit, 2h", time.Hour, 2 * time.Hour, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t, 0, func(cfg *gateway.Config, _ *gateway.Deps) {
				if tc.limit > 0 {
					cfg.MaxURLLifetime = tc.limit
				}
			})
			c.mustAdmin(http.MethodPut, "/v1/buckets/vault", []byte(`{"private":true}`))
			c.mustAdmin(http.MethodPut, "/v1/objects/vault/a.txt", []byte("hello"))
			exp := time.Now().Add(tc.exp)
			if tc.exp < 0 {
				exp = time.Unix(math.MaxInt64, 0)
			}
			signed, err := auth.SignURL(c.url+"/vault/a.txt", c.ak, c.sk, exp)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := c.get(strings.TrimPrefix(signed, c.url))
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %s %s", signed, resp.Status, body)
			}
			if tc.want == 403 && (!bytes.Contains(body, []byte("limit for signed URLs")) || resp.Header.Get("Cache-Control") != "no-store") {
				t.Errorf("refusal does not say why: %s", body)
			}
		})
	}
}

// TestErrorShapes: errors that net/http or http.ServeContent would answer
// in plain text come out as SPEC §2 JSON, over a real loopback connection.
func TestErrorShapes(t *testing.T) {
	c := newCluster(t, 0)
	c.mustAdmin(http.MethodPut, "/v1/buckets/pub", nil)
	c.mustAdmin(http.MethodPut, "/v1/objects/pub/a.txt", []byte("hello"))
	big := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
		word   string
	}{
		{"range ok", []string{"Range", "bytes=0-1"}, 206, ""},
		{"range past the end", []string{"Range", "bytes=100-200"}, 416, "Range"},
		{"if-match fails", []string{"If-Match", `"nope"`}, 412, "If-Match"},
		{"32 KiB header", []string{"X-Pad", big[:32<<10]}, 200, ""},
		{"1 MiB header", []string{"X-Pad", big}, 431, "over the limit of 64 KiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := c.get("/pub/a.txt", tc.hdr...)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %.100s, want %d", resp.Status, body, tc.status)
			}
			if tc.status < 400 {
				return
			}
			checkSpecError(t, resp.StatusCode, resp.Header, body, tc.word)
			if tc.status == 416 && resp.Header.Get("Content-Range") != "bytes */5" {
				t.Errorf("Content-Range %q", resp.Header.Get("Content-Range"))
			}
		})
	}
	t.Run("malformed request", func(t *testing.T) {
		conn, err := net.Dial("tcp", c.gw.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		io.WriteString(conn, "GET /pub/a.txt HTTP/1.1\r\nHost: a b\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 {
			t.Fatalf("%s %s", resp.Status, body)
		}
		checkSpecError(t, resp.StatusCode, resp.Header, body, "Host")
	})
}

func checkSpecError(t *testing.T, status int, h http.Header, body []byte, word string) {
	t.Helper()
	var e struct {
		Code  int
		Error string
		Reqid string
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Code != status || e.Reqid == "" || !strings.Contains(e.Error, word) {
		t.Errorf("body %q is not SPEC JSON naming %q (%v)", body, word, err)
	}
	if h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" {
		t.Errorf("Cache-Control %q, Content-Type %q", h.Get("Cache-Control"), h.Get("Content-Type"))
	}
}

// lockedBuffer collects log output written from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// records returns the logged JSON records with the given message.
func (l *lockedBuffer) records(msg string) []map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range bytes.Split(l.b.Bytes(), []byte("\n")) {
		var r map[string]any
		if json.Unmarshal(line, &r) == nil && r["msg"] == msg {
			out = append(out, r)
		}
	}
	return out
}

// TestRequestLogQuery: request logs carry the whole query, with the
// download token's signature redacted.
func TestRequestLogQuery(t *testing.T) {
	var logs lockedBuffer
	c := newCluster(t, 0, func(_ *gateway.Config, d *gateway.Deps) {
		d.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	})
	c.mustAdmin(http.MethodPut, "/v1/buckets/vault", []byte(`{"private":true}`))
	c.mustAdmin(http.MethodPut, "/v1/objects/vault/a.txt", []byte("hello"))
	signed, err := auth.SignURL(c.url+"/vault/a.txt?x=1", c.ak, c.sk, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	_, sig, _ := strings.Cut(signed[strings.LastIndex(signed, "token="):], ":")
	path := strings.TrimPrefix(signed, c.url)
	for _, tc := range []struct{ path, want string }{
		{path, "x=1&e=" + signed[strings.Index(signed, "&e=")+3:strings.LastIndex(signed, "&")] + "&token=" + c.ak + ":REDACTED"},
		{strings.Replace(path, "token="+c.ak+":", "token="+c.ak+"%3A", 1), "&token=" + c.ak + "%3AREDACTED"},
		{"/vault/a.txt?imageView2/2/w/100&token=nocolon", "imageView2/2/w/100&token=REDACTED"},
	} {
		c.get(tc.path)
		var found bool
		testenv.Eventually(t, 5*time.Second, func() bool {
			for _, r := range logs.records("request") {
				q, _ := r["query"].(string)
				if strings.Contains(q, tc.want) {
					found = true
				}
			}
			return found
		}, "a request log with query %q", tc.want)
	}
	for _, r := range logs.records("request") {
		if q, _ := r["query"].(string); strings.Contains(q, sig) {
			t.Errorf("the signature is in the log: %q", q)
		}
	}
}
