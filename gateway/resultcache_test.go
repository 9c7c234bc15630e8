package gateway

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"

	"github.com/ufop/ufop/protocol"
)

func TestResultCache(t *testing.T) {
	c := newResultCache(64 << 10)
	body := bytes.Repeat([]byte("x"), 3<<10)
	h := http.Header{}
	h.Set(protocol.HeaderTiming, "queue;dur=1")
	h.Set(protocol.HeaderCache, "miss")
	for i := range 30 {
		c.put(fmt.Sprint(i), &result{body: body, contentType: "image/jpeg", header: h})
		if i == 0 {
			// Keep 0 recently used while the others push past the budget.
			continue
		}
		c.get("0")
	}
	if c.lru.Size() > c.max {
		t.Fatalf("holds %d bytes over its budget of %d", c.lru.Size(), c.max)
	}
	r, ok := c.get("0")
	if !ok || r.header.Get(protocol.HeaderCache) != "hit" || r.header.Get(protocol.HeaderTiming) != "" || r.contentType != "image/jpeg" {
		t.Fatalf("entry 0: %v %+v", ok, r)
	}
	if _, ok := c.get("1"); ok {
		t.Error("least recently used entry kept")
	}
	if h.Get(protocol.HeaderCache) != "miss" {
		t.Error("put changed the caller's headers")
	}
	c.put("big", &result{body: bytes.Repeat([]byte("y"), 8<<10)})
	if _, ok := c.get("big"); ok {
		t.Error("entry over a sixteenth of the budget kept")
	}
	if _, ok := newResultCache(0).get("0"); ok {
		t.Error("disabled cache answered")
	}
}
