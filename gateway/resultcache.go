package gateway

import (
	"container/list"
	"net/http"
	"sync"

	"github.com/ufop/ufop/protocol"
)

// resultCache keeps small processed results in memory, keyed by their
// ETag (source ETag + normalized pipeline): a hit is answered without a
// trip to an agent. Only built-in pipelines are cached, and the key
// changes with the source, so entries never go stale; the least recently
// used leave when the byte budget is full.
type resultCache struct {
	max int64

	mu    sync.Mutex
	size  int64
	lru   *list.List // front = most recent; values are *cachedResult
	items map[string]*list.Element
}

type cachedResult struct {
	key string
	r   *result
}

func newResultCache(max int64) *resultCache {
	return &resultCache{max: max, lru: list.New(), items: map[string]*list.Element{}}
}

func (c *resultCache) get(key string) (*result, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.lru.MoveToFront(el)
	return el.Value.(*cachedResult).r, true
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
	if el, ok := c.items[key]; ok {
		c.lru.MoveToFront(el)
		return
	}
	c.items[key] = c.lru.PushFront(&cachedResult{key: key, r: stored})
	c.size += size
	for c.size > c.max {
		el := c.lru.Back()
		cr := el.Value.(*cachedResult)
		c.lru.Remove(el)
		delete(c.items, cr.key)
		c.size -= int64(len(cr.r.body) + len(cr.key) + 256)
	}
}
