package gateway

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connServer serves h behind a connLimiter on a loopback port.
type connServer struct {
	l        *connLimiter
	addr     string
	outcomes sync.Map // outcome → *atomic.Int64
	open     atomic.Int64
}

func startConnServer(t *testing.T, cfg ConnsConfig, h http.Handler) *connServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cs := &connServer{addr: ln.Addr().String()}
	cs.l = newConnLimiter(ln, cfg, func(o string) {
		v, _ := cs.outcomes.LoadOrStore(o, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}, func(d int) { cs.open.Add(int64(d)) })
	srv := &http.Server{Handler: cs.l.track(h), ConnContext: connContext, ReadHeaderTimeout: cfg.ReadHeaderTimeout, IdleTimeout: cfg.IdleTimeout}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(cs.l) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return cs
}

func (cs *connServer) count(outcome string) int64 {
	v, ok := cs.outcomes.Load(outcome)
	if !ok {
		return 0
	}
	return v.(*atomic.Int64).Load()
}

func testConnsConfig() ConnsConfig {
	c := DefaultConnsConfig()
	c.MaxConns = 4
	c.EvictAfter = 200 * time.Millisecond
	return c
}

// rawGet sends a GET on a new connection and returns the status line.
func rawGet(t *testing.T, addr string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
		return "", errors.New("503 without Retry-After")
	}
	return resp.Status, nil
}

// At the cap, a connection that waited long enough for a request is
// closed to make room; connections inside handlers never are.
func TestConnCapEvictsWaiting(t *testing.T) {
	cs := startConnServer(t, testConnsConfig(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	// Fill every slot with connections that never send a request.
	var idle []net.Conn
	for range 4 {
		c, err := net.Dial("tcp", cs.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	waitFor(t, func() bool { return cs.open.Load() == 4 }, "4 connections open")
	// Too young to evict: the new connection gets a fast 503.
	if status, err := rawGet(t, cs.addr); err != nil || !strings.HasPrefix(status, "503") {
		t.Fatalf("at the cap with young connections: %q, %v", status, err)
	}
	time.Sleep(300 * time.Millisecond) // let them pass EvictAfter
	for i := range 3 {
		if status, err := rawGet(t, cs.addr); err != nil || status != "200 OK" {
			t.Fatalf("request %d with old idle connections at the cap: %q, %v", i, status, err)
		}
		// The server closes its side of the request's connection just
		// after answering; wait, so the next request finds the slot free.
		waitFor(t, func() bool { return cs.open.Load() == 3 }, "the request's connection closed")
	}
	// The first request took the place of the oldest idle connection;
	// the later ones found the slot it freed.
	if n := cs.count(connEvicted); n != 1 {
		t.Errorf("%d evictions, want 1", n)
	}
	for i, c := range idle {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var ne net.Error
		_, err := c.Read(make([]byte, 1))
		if closed := err != nil && !(errors.As(err, &ne) && ne.Timeout()); closed != (i == 0) {
			t.Errorf("idle connection %d: closed %v (%v); only the oldest should be", i, closed, err)
		}
	}
	waitFor(t, func() bool { return cs.open.Load() <= 4 }, "open count back within the cap")
}

// When every connection is inside a handler, a new one is refused with a
// 503 at once rather than left hanging.
func TestConnCapRefusesWhenBusy(t *testing.T) {
	release := make(chan struct{})
	var entered atomic.Int64
	cs := startConnServer(t, testConnsConfig(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered.Add(1)
		<-release
		io.WriteString(w, "ok")
	}))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(release)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if status, err := rawGet(t, cs.addr); err != nil || status != "200 OK" {
				t.Errorf("busy request: %q, %v", status, err)
			}
		}()
	}
	waitFor(t, func() bool { return entered.Load() == 4 }, "4 requests in handlers")
	time.Sleep(300 * time.Millisecond) // older than EvictAfter, but busy
	for range 3 {
		if status, err := rawGet(t, cs.addr); err != nil || !strings.HasPrefix(status, "503") {
			t.Fatalf("all busy: %q, %v", status, err)
		}
	}
	if n := cs.count(connEvicted); n != 0 {
		t.Errorf("%d busy connections evicted", n)
	}
}

// A client that trickles its header is cut at ReadHeaderTimeout; a body
// that stalls is cut at BodyIdleTimeout.
func TestSlowClientTimeouts(t *testing.T) {
	cfg := testConnsConfig()
	cfg.ReadHeaderTimeout = 300 * time.Millisecond
	cfg.BodyIdleTimeout = 300 * time.Millisecond
	bodyErr := make(chan error, 1)
	cs := startConnServer(t, cfg, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		bodyErr <- err
	}))

	c, err := net.Dial("tcp", cs.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\n")
	start := time.Now()
	cut := false
	for time.Since(start) < 5*time.Second {
		if _, err := io.WriteString(c, "X-Slow: 1\r\n"); err != nil {
			cut = true
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !cut {
		t.Fatal("a trickling header was not cut")
	}

	b, err := net.Dial("tcp", cs.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	io.WriteString(b, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nsome of it")
	select {
	case err := <-bodyErr:
		if err == nil {
			t.Fatal("a stalled body read to the end")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled body was not cut")
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
