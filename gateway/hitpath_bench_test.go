package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
)

const (
	hitTarget = "/pics/portrait.jpg?imageView2/1/w/200/h/200"
	hitFops   = "imageView2/1/w/200/h/200"
)

// hitGateway runs a gateway on a real etcd and disk store, with bucket
// pics (owner "owner", rate limit lifted as in bench/gateway/run.sh),
// object portrait.jpg and, in its memory cache, the result of hitFops on
// it, as a warmed run.sh has. The logger is ufopd's (JSON, Info) into
// io.Discard: it formats every line as production does.
func hitGateway(tb testing.TB) *Gateway {
	tb.Helper()
	cli := testenv.EtcdClient(tb)
	store, err := storage.New(storage.Config{Dir: tb.TempDir()}, testenv.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Catalog.MasterKey = bytes.Repeat([]byte{9}, 32)
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	g, err := New(cfg, Deps{Etcd: cli, Store: store, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tb.Cleanup(func() { cancel(); wg.Wait() })
	wg.Add(1)
	go func() { defer wg.Done(); g.Run(ctx) }()
	<-g.Ready()
	if _, _, err := g.cat.CreateUser(ctx, "owner", ufop.TierPaid, false); err != nil {
		tb.Fatal(err)
	}
	rps, burst := 1e9, 1_000_000_000
	if _, err := g.cat.SetLimit(ctx, "owner", "", catalog.LimitChange{RPS: &rps, Burst: &burst}); err != nil {
		tb.Fatal(err)
	}
	if err := store.CreateBucket(ctx, "pics"); err != nil {
		tb.Fatal(err)
	}
	if _, err := g.cat.CreateBucket(ctx, ufop.Bucket{Name: "pics", Owner: "owner"}); err != nil {
		tb.Fatal(err)
	}
	src := bytes.Repeat([]byte("source"), 1000)
	obj, err := store.Put(ctx, "pics", "portrait.jpg", bytes.NewReader(src), storage.PutOptions{ContentType: "image/jpeg"})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := fop.Parse(hitFops, cfg.MaxPipeline)
	if err != nil {
		tb.Fatal(err)
	}
	h := http.Header{}
	h.Set("X-Ufop-Cache", "miss")
	g.results.put(`"`+fop.ResultKey(obj.ETag, p)+`"`, &result{body: bytes.Repeat([]byte{0xff}, 9000), contentType: "image/jpeg", header: h})
	return g
}

// discardWriter is a reusable http.ResponseWriter, so that the benchmark
// counts the gateway's allocations, not a recorder's.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) reset()                      { clear(w.h); w.status, w.n = 0, 0 }

// BenchmarkHitPath is a cached result served through the public
// listener's whole handler stack (echo, observe,
// serveObject or the fast path): request in, cached bytes out. The
// sub-benchmarks "part/..." are the pieces of the path on their own, so
// that what each costs can be read off (docs/benchmarks.md).
func BenchmarkHitPath(b *testing.B) {
	g := hitGateway(b)
	handler := g.publicHandler(false)
	serve := func(b *testing.B, h http.Handler) {
		req := httptest.NewRequest(http.MethodGet, hitTarget, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		w := &discardWriter{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n != 9000 || w.h.Get("X-Ufop-Cache") != "hit" {
			b.Fatalf("answer %d, %d bytes, headers %v", w.status, w.n, w.h)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			w.reset()
			h.ServeHTTP(w, req)
		}
		if w.status != http.StatusOK {
			b.Fatalf("answer %d", w.status)
		}
	}
	b.Run("hit", func(b *testing.B) { serve(b, handler) })
	b.Run("part/echo-noop", func(b *testing.B) {
		// echo's routing and context with a handler that writes the
		// cached bytes, and nothing else: the floor of the echo path.
		e := echo.New()
		body := bytes.Repeat([]byte{0xff}, 9000)
		e.GET("/*", func(c echo.Context) error { return c.Blob(http.StatusOK, "image/jpeg", body) })
		req := httptest.NewRequest(http.MethodGet, hitTarget, nil)
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			w.reset()
			e.ServeHTTP(w, req)
		}
	})
	b.Run("part/log-line", func(b *testing.B) {
		// One request line as observe writes it at Info.
		b.ReportAllocs()
		ctx := context.Background()
		for b.Loop() {
			g.logger.Log(ctx, slog.LevelInfo, "request", "reqid", "0123456789abcdef", "method", "GET", "path", "/pics/portrait.jpg",
				"status", 200, "dur_ms", 0.05, "bytes", int64(9000), "query", hitFops, "fop", "imageView2")
		}
	})
	b.Run("part/limiter", func(b *testing.B) {
		p, _ := fop.Parse(hitFops, 10)
		b.ReportAllocs()
		for b.Loop() {
			release, err := g.limits.admit("owner", "pics", p.Steps)
			if err != nil {
				b.Fatal(err)
			}
			release()
		}
	})
	b.Run("part/source-stat", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := g.store.Stat(ctx, "pics", "portrait.jpg"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("part/catalog-bucket", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := g.cat.Bucket("pics"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("part/catalog-user-and-limits", func(b *testing.B) {
		// What admit reads from the catalog: the owner, its user-wide
		// and per-command limit rows.
		b.ReportAllocs()
		for b.Loop() {
			g.cat.User("owner")
			g.cat.Limit("owner", "")
			g.cat.Limit("owner", "imageView2")
		}
	})
	b.Run("part/parse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			p, err := fop.Parse(hitFops, 10)
			if err != nil {
				b.Fatal(err)
			}
			_ = fop.ResultKey("etag", p)
		}
	})
}
