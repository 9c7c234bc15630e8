package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/lru"
)

// The fast path answers a repeated GET of a processed result held in the
// memory cache before echo's router, with what serveObject decided for the
// same URL the last time, re-checked cheaply on every request:
//
//   - the bucket's catalog row has the same etcd revision (so its ACL,
//     referers, style separator and cache policy are the ones seen);
//   - mayRead passes for this request (Referer, Host);
//   - the owner's limits admit it (read from the catalog every time);
//   - the source's ETag and modification time are unchanged (a stat);
//   - the result is still in the memory cache.
//
// Anything else, and every request the fast path does not know, goes the
// full way (serveObject), which answers it and its errors; a limiter
// refusal is answered as the full path answers it. Only
// unsigned GETs of built-in pipelines without styles, refs, mirror or
// conditional headers are remembered (fastRemember).

// fastKey names a request: the bucket may come from the Host.
type fastKey struct{ host, uri string }

type fastEntry struct {
	bucket   ufop.Bucket
	rev      int64 // bucket row revision bucket was read at
	key      string
	steps    []fop.Step
	fopLabel string
	usageCmd string // the command usage counts it under
	etag     string // the result's, quoted: the memory cache key
	srcETag  string
	modified time.Time

	// Pre-built answer headers.
	hdr      []hdrValue
	requests prometheus.Counter
	latency  prometheus.Observer
}

type hdrValue struct {
	k string
	v []string
}

type fastPath struct {
	served atomic.Int64 // answers given, for tests

	mu  sync.Mutex
	lru *lru.Cache[fastKey, *fastEntry]
}

func newFastPath(budget int64) *fastPath {
	return &fastPath{lru: lru.New[fastKey, *fastEntry](budget)}
}

func (f *fastPath) get(k fastKey) *fastEntry {
	f.mu.Lock()
	e, _ := f.lru.Get(k)
	f.mu.Unlock()
	return e
}

func (f *fastPath) forget(k fastKey) {
	f.mu.Lock()
	f.lru.Remove(k)
	f.mu.Unlock()
}

// publicHandler is the public listener's handler: the fast path in front
// of echo.
func (g *Gateway) publicHandler(admin bool) http.Handler {
	e := g.publicRoutes(admin)
	if g.fast == nil {
		return e
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served, fe, refused := g.serveFast(w, r)
		switch {
		case refused != nil:
			// The limiter's refusal, answered (and logged and counted,
			// usage included) as the full path would, without charging
			// it twice.
			c := e.AcquireContext()
			c.Reset(r, w)
			g.observe(func(c echo.Context) error {
				noteUsage(c, fe.bucket, fe.usageCmd)
				return refused
			})(c)
			e.ReleaseContext(c)
		case !served:
			e.ServeHTTP(w, r)
		}
	})
}

// serveFast answers r and returns true when the fast path may; false
// leaves r untouched for the full path, or, with an error, for its
// limiter's refusal of the entry's request to be answered.
func (g *Gateway) serveFast(w http.ResponseWriter, r *http.Request) (bool, *fastEntry, error) {
	if r.Method != http.MethodGet || r.URL.RawQuery == "" || r.Header.Get("If-None-Match") != "" {
		return false, nil, nil
	}
	k := fastKey{host: r.Host, uri: r.RequestURI}
	e := g.fast.get(k)
	if e == nil {
		return false, nil, nil
	}
	if g.cat.BucketRevision(e.bucket.Name) != e.rev {
		g.fast.forget(k)
		return false, nil, nil
	}
	if mayRead(requester{referer: r.Header.Get("Referer"), host: r.Host}, e.bucket) != nil {
		return false, nil, nil
	}
	res, ok := g.results.get(e.etag)
	if !ok {
		g.fast.forget(k)
		return false, nil, nil
	}
	start := time.Now()
	release, err := g.limits.admit(e.bucket.Owner, e.bucket.Name, e.steps)
	if err != nil {
		return false, e, err
	}
	defer release()
	obj, err := g.store.Stat(r.Context(), e.bucket.Name, e.key)
	if err != nil || obj.ETag != e.srcETag || !obj.Modified.Equal(e.modified) {
		g.fast.forget(k)
		return false, nil, nil
	}
	h := w.Header()
	for _, hv := range e.hdr {
		h[hv.k] = hv.v
	}
	id := newReqid()
	h["X-Reqid"] = []string{id}
	w.WriteHeader(http.StatusOK)
	n, _ := w.Write(res.body)
	g.fast.served.Add(1)
	g.metrics.resultCacheGateway()
	now := time.Now()
	d := now.Sub(start)
	g.usage.count(e.bucket.Owner, e.bucket.Name, e.usageCmd, now, http.StatusOK, int64(n), d)
	e.requests.Inc()
	e.latency.Observe(d.Seconds())
	// Built only when someone reads it: the line costs more than the rest.
	if ctx := r.Context(); g.logger.Enabled(ctx, slog.LevelInfo) {
		g.logFast(ctx, r, e, id, n, d)
	}
	return true, nil, nil
}

func (g *Gateway) logFast(ctx context.Context, r *http.Request, e *fastEntry, id string, n int, d time.Duration) {
	g.logger.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("reqid", id), slog.String("method", r.Method),
		slog.String("path", r.URL.Path), slog.Int("status", http.StatusOK), slog.Float64("dur_ms", float64(d.Microseconds())/1000),
		slog.Int("bytes", n), slog.String("query", redactQuery(r.URL.RawQuery)), slog.String("fop", e.fopLabel))
}

// fastRemember keeps what serveObject decided for r, a GET answered from
// the memory cache (res, the cached copy), when the fast path may repeat
// it; serveObject calls it only for unsigned requests without styles,
// refs or mirror fills. rev is the bucket row's revision read before b:
// a change racing the request leaves a memo that is never served.
func (g *Gateway) fastRemember(c echo.Context, b ufop.Bucket, rev int64, key string, p fop.Pipeline, obj ufop.Object, etag string, res *result) {
	r := c.Request()
	if g.fast == nil || r.Method != http.MethodGet || b.Mirror != "" || r.Header.Get("If-None-Match") != "" || p.SaveAs != nil {
		return
	}
	hdr := []hdrValue{{"Content-Type", []string{res.contentType}}}
	for k, v := range c.Response().Header() {
		if k != "X-Reqid" && k != "Content-Type" {
			hdr = append(hdr, hdrValue{k, append([]string(nil), v...)})
		}
	}
	label := fopLabel(p)
	e := &fastEntry{bucket: b, rev: rev, key: key, steps: p.Steps, fopLabel: label, usageCmd: g.usageCmd(p.Steps[0].Name()), etag: etag,
		srcETag: obj.ETag, modified: obj.Modified, hdr: hdr,
		requests: g.metrics.requests.WithLabelValues("public", label, "200"),
		latency:  g.metrics.latency.WithLabelValues("public", label)}
	k := fastKey{host: r.Host, uri: r.RequestURI}
	size := int64(len(k.host) + len(k.uri) + len(key) + 512)
	g.fast.mu.Lock()
	g.fast.lru.Add(k, e, size)
	g.fast.mu.Unlock()
}
