package gateway

import (
	"net/http"
	"sync"

	"github.com/ufop/ufop/internal/lru"
	"github.com/ufop/ufop/protocol"
)

// resultCache keeps small processed results in memory, keyed by their
// ETag (source ETag + normalized pipeline): a hit is answered without a
// trip to an agent. Only built-in pipelines are cached, and the key
// changes with the source, so entries never go stale; the least recently
// used leave when the byte budget is full.
type resultCache struct {
	max int64

	mu  sync.Mutex
	lru *lru.Cache[string, *result]
}

func newResultCache(max int64) *resultCache {
	return &resultCache{max: max, lru: lru.New[string, *result](max)}
}

func (c *resultCache) get(key string) (*result, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Get(key)
}

// put keeps r, unless it is larger than a sixteenth of the budget. The
// stored copy says it is a cache hit and drops the miss's timings.
func (c *resultCache) put(key string, r *result) {
	size := int64(len(r.body) + len(key) + 256)
	if c.max <= 0 || size > c.max/16 {
		return
	}
	h := http.Header{}
	for k, v := range r.header {
		h[k] = v
	}
	h.Del(protocol.HeaderTiming)
	h.Set(protocol.HeaderCache, "hit")
	stored := &result{body: r.body, contentType: r.contentType, header: h}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.lru.Get(key); ok {
		return // the same key is the same result: keep the first
	}
	c.lru.Add(key, stored, size)
}
