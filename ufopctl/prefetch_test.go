package ufopctl

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// prefetch stands in for the gateway's prefetch (its own tests fetch from
// real origins): a key the fake store holds is "fetched", any other is
// missing at the origin.
func (f *fakeAPI) prefetch(w http.ResponseWriter, r *http.Request, rest string) error {
	bucket, key, _ := strings.Cut(rest, "/")
	obj, err := f.store.Stat(r.Context(), bucket, key)
	if err != nil {
		return ufop.Errorf(ufop.KindNotFound, "no such key %q in bucket %q, nor at its mirror origin", key, bucket)
	}
	writeJSON(w, obj)
	return nil
}

func TestPrefetch(t *testing.T) {
	h := newHarness(t)
	h.api.seed(t, "mir", false, map[string]string{"a b/ü.jpg": "hello", "c.jpg": "world!"})

	r := h.run("prefetch", "mir", "a b/ü.jpg", "c.jpg")
	if r.code != 0 || r.stdout != "fetched mir/a b/ü.jpg (5 B, text/plain; charset=utf-8)\nfetched mir/c.jpg (6 B, text/plain; charset=utf-8)\n" {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := h.api.last(); got.Method != "POST" || got.URI != "/v1/prefetch/mir/c.jpg" || !got.Signed {
		t.Fatalf("last request %+v", got)
	}
	h.api.mu.Lock()
	first := h.api.reqs[len(h.api.reqs)-2]
	h.api.mu.Unlock()
	if first.URI != "/v1/prefetch/mir/a%20b/%C3%BC.jpg" {
		t.Fatalf("key not escaped per segment: %s", first.URI)
	}

	r = h.run("prefetch", "mir", "c.jpg", "gone.jpg", "-o", "json")
	res := decodeJSON[[]prefetchResult](t, r.stdout)
	if r.code != 1 || len(res) != 2 || !res[0].OK || res[0].Object.Size != 6 || res[1].OK || res[1].Code != 404 ||
		!strings.Contains(res[1].Error, "gone.jpg") || !strings.Contains(r.stderr, "1 of 2 keys failed") {
		t.Fatalf("exit %d %+v\n%s", r.code, res, r.stderr)
	}
	r = h.run("prefetch", "mir", "gone.jpg")
	if r.code != 1 || !strings.HasPrefix(r.stdout, "failed mir/gone.jpg: 404 ") {
		t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r = h.run("prefetch", "mir"); r.code != 2 {
		t.Fatalf("no key: exit %d %s", r.code, r.stderr)
	}
}
