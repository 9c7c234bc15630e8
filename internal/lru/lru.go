// Package lru is the one least-recently-used index bounded by bytes that
// the gateway's in-memory result cache and the agent's disk caches share.
// It holds only the bookkeeping: callers keep the bytes (in memory or in
// files) and act on what Add evicts, so the decisions stay apart from I/O.
package lru

import "container/list"

// Entry is one kept value and the bytes it stands for.
type Entry[K comparable, V any] struct {
	Key   K
	Value V
	Size  int64
}

// Cache is a byte-bounded LRU index. It is not safe for concurrent use:
// its owner holds its own lock around it.
type Cache[K comparable, V any] struct {
	max   int64
	size  int64
	order *list.List // front = most recent; values are *Entry[K, V]
	items map[K]*list.Element
}

// New returns an empty cache holding at most max bytes.
func New[K comparable, V any](max int64) *Cache[K, V] {
	return &Cache[K, V]{max: max, order: list.New(), items: map[K]*list.Element{}}
}

// Get returns the value at key and marks it the most recently used.
func (c *Cache[K, V]) Get(key K) (V, bool) {
	el, ok := c.items[key]
	if !ok {
		var zero V
		return zero, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*Entry[K, V]).Value, true
}

// Contains reports whether key is held, without marking it used.
func (c *Cache[K, V]) Contains(key K) bool {
	_, ok := c.items[key]
	return ok
}

// Add keeps value at key as the most recently used, replacing what key
// held, then evicts the least recently used entries until the total fits
// the budget, and returns them, oldest first. An entry larger than the
// whole budget is evicted at once (and returned).
func (c *Cache[K, V]) Add(key K, value V, size int64) (evicted []Entry[K, V]) {
	if el, ok := c.items[key]; ok {
		c.size -= el.Value.(*Entry[K, V]).Size
		c.order.Remove(el)
	}
	c.items[key] = c.order.PushFront(&Entry[K, V]{Key: key, Value: value, Size: size})
	c.size += size
	for c.size > c.max {
		el := c.order.Back()
		if el == nil {
			break
		}
		e := el.Value.(*Entry[K, V])
		c.order.Remove(el)
		delete(c.items, e.Key)
		c.size -= e.Size
		evicted = append(evicted, *e)
	}
	return evicted
}

// Remove drops key; ok is false when it was not held.
func (c *Cache[K, V]) Remove(key K) (Entry[K, V], bool) {
	el, ok := c.items[key]
	if !ok {
		return Entry[K, V]{}, false
	}
	e := el.Value.(*Entry[K, V])
	c.order.Remove(el)
	delete(c.items, key)
	c.size -= e.Size
	return *e, true
}

// Len returns the number of entries.
func (c *Cache[K, V]) Len() int { return len(c.items) }

// Size returns the bytes held.
func (c *Cache[K, V]) Size() int64 { return c.size }

// Max returns the budget.
func (c *Cache[K, V]) Max() int64 { return c.max }

// Keys returns the keys from the most to the least recently used.
func (c *Cache[K, V]) Keys() []K {
	out := make([]K, 0, len(c.items))
	for el := c.order.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*Entry[K, V]).Key)
	}
	return out
}
