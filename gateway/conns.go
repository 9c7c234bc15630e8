package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ufop/ufop"
)

// ConnsConfig bounds the connections of each listener and how long a
// connection may sit without doing useful work.
type ConnsConfig struct {
	// MaxConns is the most connections a listener keeps open. Past it, a
	// new connection takes the place of the one that has waited longest
	// for a request (if it waited EvictAfter), else it gets a fast 503.
	MaxConns int
	// EvictAfter is how long a connection must have waited for a request
	// before a new connection may take its place at the cap.
	EvictAfter time.Duration
	// ReadHeaderTimeout bounds reading a request's header: a client that
	// trickles its header is cut when it passes.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long.
	IdleTimeout time.Duration
	// BodyIdleTimeout cuts a request whose body sends nothing for this
	// long (uploads may be long, so there is no overall bound).
	BodyIdleTimeout time.Duration
	// MaxRefusing bounds the connections being answered 503 at once; past
	// it, excess connections are closed without an answer.
	MaxRefusing int
	// MaxHeaderBytes bounds a request's header (http.Server's, which
	// allows 4 KiB over it); past it the answer is a 431.
	MaxHeaderBytes int
}

// DefaultConnsConfig returns the defaults (docs/limits.md).
func DefaultConnsConfig() ConnsConfig {
	return ConnsConfig{
		MaxConns:          4096,
		EvictAfter:        time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BodyIdleTimeout:   30 * time.Second,
		MaxRefusing:       64,
		MaxHeaderBytes:    64 << 10,
	}
}

// Validate reports a config that cannot work.
func (c ConnsConfig) Validate() error {
	switch {
	case c.MaxConns < 1:
		return errors.New("gateway: max conns must be at least 1")
	case c.EvictAfter < 0:
		return errors.New("gateway: evict-after must not be negative")
	case c.ReadHeaderTimeout <= 0 || c.IdleTimeout <= 0 || c.BodyIdleTimeout <= 0:
		return errors.New("gateway: connection timeouts must be positive")
	case c.MaxRefusing < 1:
		return errors.New("gateway: max refusing must be at least 1")
	case c.MaxHeaderBytes < 1<<10:
		return errors.New("gateway: max header bytes must be at least 1 KiB")
	}
	return nil
}

// connLimiter is a listener that caps open connections. It knows which
// connections are inside a handler (busy) and which wait for a request
// (a fresh connection, a slow client trickling its header, an idle
// keep-alive): at the cap the longest-waiting one is closed to make room,
// so clients that hold connections without sending requests cannot lock
// out the ones that do. Only when every connection is busy are new ones
// refused, with a 503 written straight to the socket.
type connLimiter struct {
	net.Listener
	cfg   ConnsConfig
	count func(outcome string)
	open  func(delta int)

	mu       sync.Mutex
	n        int
	waiting  connList // connections not in a handler, longest waiting first
	closed   bool
	refusing int
	wg       sync.WaitGroup // refusal goroutines
}

// Connection outcomes, the outcome label of ufop_gateway_conns_total.
const (
	connAccepted = "accepted"
	connEvicted  = "evicted"
	connRefused  = "refused"
	connDropped  = "dropped" // refused without an answer: too many refusals at once
)

func newConnLimiter(ln net.Listener, cfg ConnsConfig, count func(string), open func(int)) *connLimiter {
	return &connLimiter{Listener: ln, cfg: cfg, count: count, open: open}
}

// Accept returns the next admitted connection; refused ones are answered
// in the background.
func (l *connLimiter) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.admit(c); tc != nil {
			return tc, nil
		}
	}
}

func (l *connLimiter) admit(c net.Conn) *trackedConn {
	now := time.Now()
	l.mu.Lock()
	var victim *trackedConn
	if l.n >= l.cfg.MaxConns {
		if v := l.waiting.front(); v != nil && now.Sub(v.since) >= l.cfg.EvictAfter {
			victim = v
		} else {
			l.refuseLocked(c)
			l.mu.Unlock()
			return nil
		}
	}
	tc := &trackedConn{Conn: c, l: l, since: now}
	l.n++
	l.waiting.pushBack(tc)
	l.mu.Unlock()
	l.open(1)
	l.count(connAccepted)
	if victim != nil {
		l.count(connEvicted)
		victim.Close()
	}
	return tc
}

// refuseLocked answers c with a 503 in the background, or closes it when
// too many are being answered already.
func (l *connLimiter) refuseLocked(c net.Conn) {
	if l.closed || l.refusing >= l.cfg.MaxRefusing {
		c.Close()
		l.count(connDropped)
		return
	}
	l.refusing++
	l.wg.Add(1)
	l.count(connRefused)
	go func() {
		defer l.wg.Done()
		writeRefusal(c)
		l.mu.Lock()
		l.refusing--
		l.mu.Unlock()
	}()
}

// refusalBody is the JSON of the answer to a connection over the cap.
const refusalBody = `{"code":503,"error":"the gateway is at its connection limit: retry shortly","reqid":""}` + "\n"

// writeRefusal writes the 503, then reads what the client sent until it
// closes (bounded by a deadline): closing with unread input would reset
// the connection and could destroy the answer before the client reads it.
func writeRefusal(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	resp := "HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: application/json\r\nCache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(refusalBody)) + "\r\n\r\n" + refusalBody
	if _, err := io.WriteString(c, resp); err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// Close stops accepting and waits for the refusals in progress.
func (l *connLimiter) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	err := l.Listener.Close()
	l.wg.Wait()
	return err
}

func (l *connLimiter) busy(tc *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if tc.busy == 0 && !tc.gone {
		l.waiting.remove(tc)
	}
	tc.busy++
}

func (l *connLimiter) idle(tc *trackedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	tc.busy--
	if tc.busy == 0 && !tc.gone {
		tc.since = time.Now()
		l.waiting.pushBack(tc)
	}
}

// trackedConn is an admitted connection.
type trackedConn struct {
	net.Conn
	l *connLimiter
	// guarded by l.mu
	since      time.Time // when it last started waiting for a request
	busy       int       // requests in handlers (1 for HTTP/1.1)
	gone       bool
	prev, next *trackedConn
	inList     bool
}

// Write passes everything on but net/http's own error answers, which it
// writes straight to the connection without calling a handler (a header
// over MaxHeaderBytes, a malformed request): those become SPEC §2 JSON.
func (c *trackedConn) Write(p []byte) (int, error) {
	if resp, ok := rewriteRawError(p, c.l.cfg.MaxHeaderBytes); ok {
		if _, err := io.WriteString(c.Conn, resp); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// rawErrorHeaders is what net/http writes after the status line of the
// answers it gives without a handler, in one write; a handler's answer
// always has a Date header, so never matches.
const rawErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// rewriteRawError returns the SPEC §2 JSON form of one of net/http's own
// plain-text error answers; ok is false for any other write.
func rewriteRawError(p []byte, maxHeader int) (resp string, ok bool) {
	const proto = "HTTP/1.1 "
	if len(p) < len(proto)+3 || string(p[:len(proto)]) != proto || (p[len(proto)] != '4' && p[len(proto)] != '5') {
		return "", false
	}
	eol := bytes.Index(p, []byte("\r\n"))
	if eol < 0 || !bytes.HasPrefix(p[eol:], []byte(rawErrorHeaders)) {
		return "", false
	}
	code, err := strconv.Atoi(string(p[len(proto) : len(proto)+3]))
	if err != nil {
		return "", false
	}
	msg := string(p[eol+len(rawErrorHeaders):])
	if code == http.StatusRequestHeaderFieldsTooLarge {
		msg = "the request header is over the limit of " + ufop.FormatBytes(int64(maxHeader)) + ": send fewer or smaller headers (cookies)"
	}
	body, _ := json.Marshal(errorBody{Code: code, Error: msg, Reqid: newReqid()})
	return fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s\n",
		code, http.StatusText(code), len(body)+1, body), true
}

func (c *trackedConn) Close() error {
	l := c.l
	l.mu.Lock()
	first := !c.gone
	if first {
		c.gone = true
		l.waiting.remove(c)
		l.n--
	}
	l.mu.Unlock()
	if first {
		l.open(-1)
	}
	return c.Conn.Close()
}

type connKey struct{}

// connContext is the servers' ConnContext: handlers find their connection
// in the request context.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*trackedConn); ok {
		return context.WithValue(ctx, connKey{}, tc)
	}
	return ctx
}

// track marks a connection busy while its request is in a handler, and
// cuts request bodies that stall for BodyIdleTimeout.
func (l *connLimiter) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tc, ok := r.Context().Value(connKey{}).(*trackedConn); ok && tc.l == l {
			l.busy(tc)
			defer l.idle(tc)
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &idleBody{ReadCloser: r.Body, rc: http.NewResponseController(w), idle: l.cfg.BodyIdleTimeout}
		}
		h.ServeHTTP(w, r)
	})
}

// idleBody extends the connection's read deadline before every read: a
// body may take long in total, but not stall.
type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.rc.SetReadDeadline(time.Now().Add(b.idle))
	return b.ReadCloser.Read(p)
}

// connList is an intrusive doubly linked list of connections.
type connList struct{ head, tail *trackedConn }

func (q *connList) front() *trackedConn { return q.head }

func (q *connList) pushBack(c *trackedConn) {
	if c.inList {
		return
	}
	c.inList, c.prev, c.next = true, q.tail, nil
	if q.tail != nil {
		q.tail.next = c
	} else {
		q.head = c
	}
	q.tail = c
}

func (q *connList) remove(c *trackedConn) {
	if !c.inList {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		q.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		q.tail = c.prev
	}
	c.prev, c.next, c.inList = nil, nil, false
}
