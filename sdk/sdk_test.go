package sdk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// echo answers with what it saw, so tests can check the Request fields.
func echo(ctx context.Context, req *Request) (*Response, error) {
	switch req.Params {
	case "bad":
		return nil, Errorf(http.StatusBadRequest, "%s: parameter %q is bad", req.Name, req.Params)
	case "plain":
		return nil, errors.New("plain failure")
	case "panic":
		panic("boom")
	}
	fields := strings.Join([]string{req.Cmd, req.Name, req.Params, req.ContentType, req.Bucket, req.Key, req.Reqid, req.SourceURL, string(req.Body)}, "|")
	return &Response{Body: []byte(fields), ContentType: "text/x-echo"}, nil
}

func post(t *testing.T, base, query, ct, body string, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/handler?"+query, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
}

func TestProtocol(t *testing.T) {
	source := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/src" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/png")
		io.WriteString(w, "fetched bytes")
	}))
	defer source.Close()
	srv := httptest.NewServer(NewServer(echo, Options{MaxBody: 100}))
	defer srv.Close()
	hdr := map[string]string{"X-Ufop-Bucket": "photos", "X-Ufop-Key": "a/b.jpg", "X-Ufop-Reqid": "r1"}
	srcURL := url.QueryEscape(source.URL + "/src")

	tests := []struct {
		name, query, ct, body string
		status                int
		wantCT, want          string
	}{
		{"fields", "cmd=my-sepia/0.8/x", "image/jpeg", "SRC", 200, "text/x-echo", "my-sepia/0.8/x|my-sepia|0.8/x|image/jpeg|photos|a/b.jpg|r1||SRC"},
		{"no params", "cmd=my-sepia", "", "", 200, "text/x-echo", "my-sepia|my-sepia|||photos|a/b.jpg|r1||"},
		{"fetch url", "cmd=my-fop/1&url=" + srcURL, "", "", 200, "text/x-echo", "my-fop/1|my-fop|1|image/png|photos|a/b.jpg|r1|" + source.URL + "/src|fetched bytes"},
		{"body wins over url", "cmd=my-fop/1&url=" + srcURL, "text/plain", "mine", 200, "text/x-echo", "my-fop/1|my-fop|1|text/plain|photos|a/b.jpg|r1|" + source.URL + "/src|mine"},
		{"fetch 404", "cmd=my-fop/1&url=" + url.QueryEscape(source.URL+"/nope"), "", "", 502, "text/plain; charset=utf-8", "fetching the source: status 404 Not Found\n"},
		{"url not http", "cmd=my-fop/1&url=file:///etc/passwd", "", "", 400, "text/plain; charset=utf-8", "url parameter \"file:///etc/passwd\" is not an http(s) URL\n"},
		{"status error", "cmd=my-fop/bad", "", "", 400, "text/plain; charset=utf-8", "my-fop: parameter \"bad\" is bad\n"},
		{"plain error", "cmd=my-fop/plain", "", "", 500, "text/plain; charset=utf-8", "plain failure\n"},
		{"panic", "cmd=my-fop/panic", "", "", 500, "text/plain; charset=utf-8", "my-fop: internal error in the handler\n"},
		{"missing cmd", "", "", "", 400, "text/plain; charset=utf-8", "missing cmd parameter\n"},
		{"body too large", "cmd=my-fop/1", "", strings.Repeat("x", 101), 413, "text/plain; charset=utf-8", "source over the limit of 100 bytes\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ct, body := post(t, srv.URL, tt.query, tt.ct, tt.body, hdr)
			if status != tt.status || ct != tt.wantCT || body != tt.want {
				t.Errorf("got %d %q %q\nwant %d %q %q", status, ct, body, tt.status, tt.wantCT, tt.want)
			}
		})
	}

	for _, c := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/health", 200},
		{http.MethodPost, "/health", 405},
		{http.MethodGet, "/handler", 405},
		{http.MethodGet, "/other", 404},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.status)
		}
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServeDrainsInFlight(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	started := make(chan struct{})
	release := make(chan struct{})
	h := func(ctx context.Context, req *Request) (*Response, error) {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return &Response{Body: []byte("done")}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, h, Options{Listener: ln, GracePeriod: 10 * time.Second}) }()

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Post(base+"/handler?cmd=slow-fop", "text/plain", bytes.NewReader([]byte("x")))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		inflight <- result{status: resp.StatusCode, body: string(b)}
	}()
	<-started
	resp, err := http.Get(base + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get(InflightHeader); got != "1" {
		t.Fatalf("health reports %q requests in flight, want 1", got)
	}
	cancel()
	// New connections are refused once draining has begun...
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	default:
	}
	// ...while the request in flight finishes normally.
	close(release)
	r := <-inflight
	if r.err != nil || r.status != 200 || r.body != "done" {
		t.Fatalf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve: %v", err)
	}
}

func TestServeGracePeriodEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	h := func(ctx context.Context, req *Request) (*Response, error) {
		close(started)
		<-ctx.Done() // never finishes on its own
		return nil, ctx.Err()
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, h, Options{Listener: ln, GracePeriod: 50 * time.Millisecond}) }()
	reqDone := make(chan struct{})
	go func() {
		defer close(reqDone)
		resp, err := http.Post("http://"+ln.Addr().String()+"/handler?cmd=stuck-fop", "", nil)
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-started
	cancel()
	if err := <-served; err == nil {
		t.Fatal("Serve returned nil although a request outlived the grace period")
	}
	<-reqDone
}

func TestServeListenError(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	err = Serve(context.Background(), echo, Options{Addr: ln.Addr().String()})
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Serve on a taken port: %v", err)
	}
}
