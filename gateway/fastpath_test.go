package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// TestFastPathHonoursChanges: once a cached result is served by the fast
// path, a change of the bucket's ACL (written to etcd by someone else, so
// it arrives by the catalog's watch), a deleted or replaced source, and a
// rate limit all still apply to the next request.
func TestFastPathHonoursChanges(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, g *Gateway)
		status int
	}{
		{"nothing", func(t *testing.T, g *Gateway) {}, http.StatusOK},
		{"bucket made private", func(t *testing.T, g *Gateway) {
			writeBucket(t, g, func(b *ufop.Bucket) { b.Private = true })
		}, http.StatusUnauthorized},
		{"referer allow-list", func(t *testing.T, g *Gateway) {
			writeBucket(t, g, func(b *ufop.Bucket) { b.Referers = []string{"pics.example"} })
		}, http.StatusForbidden},
		{"source deleted", func(t *testing.T, g *Gateway) {
			if err := g.store.Delete(context.Background(), "pics", "portrait.jpg"); err != nil {
				t.Fatal(err)
			}
		}, http.StatusNotFound},
		{"source replaced", func(t *testing.T, g *Gateway) {
			// A new ETag is a new result, which no agent is here to make.
			if _, err := g.store.Put(context.Background(), "pics", "portrait.jpg", strings.NewReader("other bytes"), storage.PutOptions{ContentType: "image/jpeg"}); err != nil {
				t.Fatal(err)
			}
		}, http.StatusServiceUnavailable},
		{"rate limit", func(t *testing.T, g *Gateway) {
			rps, burst := 0.001, 1
			if _, err := g.cat.SetLimit(context.Background(), "owner", "", catalog.LimitChange{RPS: &rps, Burst: &burst}); err != nil {
				t.Fatal(err)
			}
			// The first request under the new limit takes its one token.
			if w := getHit(g); w.Code != http.StatusOK {
				t.Fatalf("first request under the limit: %d", w.Code)
			}
		}, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := hitGateway(t)
			for range 2 { // the second is remembered, as a hit
				if w := getHit(g); w.Code != http.StatusOK {
					t.Fatalf("warm-up: %d %s", w.Code, w.Body)
				}
			}
			if n := g.fast.lru.Len(); n != 1 {
				t.Fatalf("fast path holds %d entries, want 1", n)
			}
			hits := g.fast.served.Load()
			if w := getHit(g); w.Code != http.StatusOK || w.Body.Len() != 9000 || g.fast.served.Load() != hits+1 {
				t.Fatalf("not served by the fast path: %d, %d bytes", w.Code, w.Body.Len())
			}
			tc.change(t, g)
			var w *httptest.ResponseRecorder
			testenv.Eventually(t, 5*time.Second, func() bool {
				w = getHit(g)
				return w.Code == tc.status
			}, "status %d after the change", tc.status)
			if tc.status != http.StatusOK && w.Body.Len() == 9000 {
				t.Errorf("refusal carries the cached bytes")
			}
		})
	}
}

func getHit(g *Gateway) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, hitTarget, nil)
	w := httptest.NewRecorder()
	g.publicHandler(false).ServeHTTP(w, req)
	return w
}

// writeBucket changes the bucket row in etcd behind the gateway's back,
// as another gateway or an operator would.
func writeBucket(t *testing.T, g *Gateway, change func(*ufop.Bucket)) {
	t.Helper()
	b, err := g.cat.Bucket("pics")
	if err != nil {
		t.Fatal(err)
	}
	change(&b)
	v, _ := json.Marshal(b)
	if _, err := g.deps.Etcd.Put(context.Background(), protocol.CatalogKey(g.cfg.Catalog.Prefix, protocol.TableBuckets, "pics"), string(v)); err != nil {
		t.Fatal(err)
	}
}
