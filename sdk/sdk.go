// Package sdk is a small library for writing UFOPs in Go: it implements the
// instance protocol of SPEC §5 so that a UFOP author writes one function.
//
//	func main() {
//		sdk.Main(func(ctx context.Context, req *sdk.Request) (*sdk.Response, error) {
//			out, err := process(req.Body, req.Params)
//			if err != nil {
//				return nil, sdk.Errorf(http.StatusBadRequest, "my-fop: %v", err)
//			}
//			return &sdk.Response{Body: out, ContentType: "image/png"}, nil
//		})
//	}
//
// The protocol: the platform sends POST /handler?cmd=<name>/<params> with
// the source bytes as the body (or an url= to fetch them from, the agent's
// local fetcher), its Content-Type, and the X-Ufop-Bucket, X-Ufop-Key and
// X-Ufop-Reqid headers. A 200 answer carries the result and its
// Content-Type. Any other status is an error whose body, a plain-text
// sentence, the platform shows to the client. GET on the health path answers
// 200 while the instance is serving. On SIGTERM the instance stops accepting
// connections and finishes the requests in flight.
package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// DefaultPort is the protocol's port, used when $PORT_HTTP is not set.
const DefaultPort = "9100"

// InflightHeader on health answers carries the number of requests the
// instance is processing, for operators and tests.
const InflightHeader = "X-Ufop-Inflight"

// Request is one processing request.
type Request struct {
	// Cmd is the whole command, "my-sepia/0.8"; Name is the part before
	// the first slash, Params the rest ("" when there is none).
	Cmd, Name, Params string
	// Body is the source, read from the request or fetched from SourceURL.
	Body        []byte
	ContentType string
	Bucket, Key string
	Reqid       string
	// SourceURL is the url= the platform gave, if any.
	SourceURL string
}

// Response is a handler's result.
type Response struct {
	Body []byte
	// ContentType defaults to application/octet-stream.
	ContentType string
}

// HandlerFunc processes one request. The context ends when the platform
// gives up on the request.
type HandlerFunc func(ctx context.Context, req *Request) (*Response, error)

// StatusError is an error with the HTTP status the instance answers.
type StatusError struct {
	Status int
	Msg    string
}

func (e *StatusError) Error() string { return e.Msg }

// Errorf returns an error that makes the instance answer status with the
// formatted message, e.g. Errorf(400, "my-sepia: strength %q is not a
// number", p). Other errors answer 500.
func Errorf(status int, format string, args ...any) error {
	return &StatusError{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Options tune Serve. The zero value is usable.
type Options struct {
	// Addr is the listen address; default ":9100". Main sets it from
	// $PORT_HTTP.
	Addr string
	// Listener, when set, is served instead of listening on Addr.
	Listener net.Listener
	// HealthPath answers GET with 200 while serving; default "/health".
	HealthPath string
	// MaxBody caps the source size, read or fetched; default 64 MiB.
	MaxBody int64
	// GracePeriod bounds how long in-flight requests may run on after
	// shutdown starts; default 8s, under Docker's 10s before SIGKILL.
	GracePeriod time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Client fetches url= sources; default a client with a 30s timeout.
	Client *http.Client
}

func (o Options) withDefaults() Options {
	if o.Addr == "" {
		o.Addr = ":" + DefaultPort
	}
	if o.HealthPath == "" {
		o.HealthPath = "/health"
	}
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 20
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = 8 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	return o
}

// Server is the HTTP side of an instance; Serve runs one. It is exported
// for tests that mount it on an httptest.Server.
type Server struct {
	h        HandlerFunc
	opts     Options
	draining atomic.Bool
	inflight atomic.Int64
}

// NewServer returns the protocol handler for h.
func NewServer(h HandlerFunc, opts Options) *Server {
	return &Server{h: h, opts: opts.withDefaults()}
}

// ServeHTTP implements the protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == s.opts.HealthPath:
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeError(w, http.StatusMethodNotAllowed, "use GET for the health check")
			return
		}
		if s.draining.Load() {
			writeError(w, http.StatusServiceUnavailable, "shutting down")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set(InflightHeader, strconv.FormatInt(s.inflight.Load(), 10))
		io.WriteString(w, "ok\n")
	case r.URL.Path == "/handler":
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, "use POST /handler?cmd=...")
			return
		}
		s.handle(w, r)
	default:
		writeError(w, http.StatusNotFound, "no such path; the protocol has POST /handler and GET "+s.opts.HealthPath)
	}
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.inflight.Add(1)
	defer s.inflight.Add(-1)
	start := time.Now()
	q := r.URL.Query()
	req := &Request{
		Cmd:         q.Get("cmd"),
		ContentType: r.Header.Get("Content-Type"),
		Bucket:      r.Header.Get("X-Ufop-Bucket"),
		Key:         r.Header.Get("X-Ufop-Key"),
		Reqid:       r.Header.Get("X-Ufop-Reqid"),
		SourceURL:   q.Get("url"),
	}
	log := s.opts.Logger.With("reqid", req.Reqid, "cmd", req.Cmd)
	if req.Cmd == "" {
		writeError(w, http.StatusBadRequest, "missing cmd parameter")
		return
	}
	req.Name, req.Params, _ = strings.Cut(req.Cmd, "/")
	body, err := readLimited(r.Body, s.opts.MaxBody)
	if err != nil {
		s.fail(w, log, err)
		return
	}
	if len(body) == 0 && req.SourceURL != "" {
		var ct string
		if body, ct, err = s.fetch(r.Context(), req.SourceURL); err != nil {
			s.fail(w, log, err)
			return
		}
		if req.ContentType == "" {
			req.ContentType = ct
		}
	}
	req.Body = body
	resp, err := s.call(r.Context(), req)
	if err != nil {
		s.fail(w, log, err)
		return
	}
	if resp == nil {
		resp = &Response{}
	}
	ct := resp.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Content-Length", fmt.Sprint(len(resp.Body)))
	w.WriteHeader(http.StatusOK)
	w.Write(resp.Body)
	log.Debug("request done", "bytes_in", len(req.Body), "bytes_out", len(resp.Body), "elapsed", time.Since(start))
}

// call runs the handler, turning a panic into an error so that one bad
// input does not take the instance down.
func (s *Server) call(ctx context.Context, req *Request) (resp *Response, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.opts.Logger.Error("handler panicked", "reqid", req.Reqid, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = Errorf(http.StatusInternalServerError, "%s: internal error in the handler", req.Name)
		}
	}()
	return s.h(ctx, req)
}

func (s *Server) fail(w http.ResponseWriter, log *slog.Logger, err error) {
	status := http.StatusInternalServerError
	var se *StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status <= 599 {
		status = se.Status
	}
	log.Info("request failed", "status", status, "err", err)
	writeError(w, status, err.Error())
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	io.WriteString(w, strings.ReplaceAll(msg, "\n", " ")+"\n")
}

// readLimited reads r whole, refusing more than max bytes with 413.
func readLimited(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, Errorf(http.StatusBadRequest, "reading the request body: %v", err)
	}
	if int64(len(b)) > max {
		return nil, Errorf(http.StatusRequestEntityTooLarge, "source over the limit of %d bytes", max)
	}
	return b, nil
}

// fetch GETs the source from the agent's local fetcher.
func (s *Server) fetch(ctx context.Context, raw string) ([]byte, string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, "", Errorf(http.StatusBadRequest, "url parameter %q is not an http(s) URL", raw)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", Errorf(http.StatusBadRequest, "url parameter: %v", err)
	}
	resp, err := s.opts.Client.Do(req)
	if err != nil {
		return nil, "", Errorf(http.StatusBadGateway, "fetching the source: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", Errorf(http.StatusBadGateway, "fetching the source: status %s", resp.Status)
	}
	if resp.ContentLength > s.opts.MaxBody {
		return nil, "", Errorf(http.StatusRequestEntityTooLarge, "source over the limit of %d bytes", s.opts.MaxBody)
	}
	body, err := readLimited(resp.Body, s.opts.MaxBody)
	if err != nil {
		var se *StatusError
		if errors.As(err, &se) && se.Status == http.StatusRequestEntityTooLarge {
			return nil, "", err
		}
		return nil, "", Errorf(http.StatusBadGateway, "fetching the source: %v", err)
	}
	return body, resp.Header.Get("Content-Type"), nil
}

// Serve runs the protocol until ctx ends, then stops accepting, lets the
// requests in flight finish within opts.GracePeriod and returns nil (or the
// listen error). The health check answers 503 while draining.
func Serve(ctx context.Context, h HandlerFunc, opts Options) error {
	if h == nil {
		return errors.New("sdk: nil handler")
	}
	s := NewServer(h, opts)
	ln := s.opts.Listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.opts.Addr); err != nil {
			return fmt.Errorf("sdk: listen on %s: %w", s.opts.Addr, err)
		}
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		// Handlers outlive the shutdown signal: they get their own
		// context, not ctx, so in-flight work is not cancelled.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.opts.Logger.Info("ufop instance serving", "addr", ln.Addr().String(), "health", s.opts.HealthPath)
	select {
	case err := <-errc:
		return fmt.Errorf("sdk: serve: %w", err)
	case <-ctx.Done():
	}
	s.draining.Store(true)
	s.opts.Logger.Info("ufop instance draining", "grace", s.opts.GracePeriod)
	sctx, cancel := context.WithTimeout(context.Background(), s.opts.GracePeriod)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err != nil {
		// Grace period over: cut the stragglers.
		srv.Close()
	}
	<-errc // Serve has returned ErrServerClosed
	if err != nil {
		return fmt.Errorf("sdk: requests still running after the grace period: %w", err)
	}
	return nil
}

// Main serves h for a program's main: it listens on $PORT_HTTP (default
// 9100), logs JSON to stderr, drains on SIGTERM or SIGINT and exits with
// status 1 on failure.
func Main(h HandlerFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	port := os.Getenv("PORT_HTTP")
	if port == "" {
		port = DefaultPort
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := Serve(ctx, h, Options{Addr: ":" + port, Logger: logger}); err != nil {
		logger.Error("ufop instance failed", "err", err)
		stop()
		os.Exit(1)
	}
}
