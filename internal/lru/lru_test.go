package lru

import (
	"slices"
	"testing"
)

func keysOf(es []Entry[string, int]) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Key)
	}
	return out
}

func TestCache(t *testing.T) {
	type step struct {
		op      string // add, get, remove
		key     string
		size    int64
		evicted []string // add: evicted keys, oldest first
		hit     bool     // get, remove
	}
	tests := []struct {
		name  string
		max   int64
		steps []step
		keys  []string // most recent first, at the end
		size  int64
	}{
		{"under budget", 10, []step{{op: "add", key: "a", size: 3}, {op: "add", key: "b", size: 3}}, []string{"b", "a"}, 6},
		{"evicts the least recently used", 10, []step{
			{op: "add", key: "a", size: 4}, {op: "add", key: "b", size: 4},
			{op: "get", key: "a", hit: true},
			{op: "add", key: "c", size: 4, evicted: []string{"b"}},
		}, []string{"c", "a"}, 8},
		{"evicts several, oldest first", 10, []step{
			{op: "add", key: "a", size: 3}, {op: "add", key: "b", size: 3}, {op: "add", key: "c", size: 3},
			{op: "add", key: "d", size: 8, evicted: []string{"a", "b", "c"}},
		}, []string{"d"}, 8},
		{"too large for the budget", 10, []step{
			{op: "add", key: "a", size: 3},
			{op: "add", key: "huge", size: 11, evicted: []string{"a", "huge"}},
		}, []string{}, 0},
		{"replace updates the size", 10, []step{
			{op: "add", key: "a", size: 3}, {op: "add", key: "b", size: 3},
			{op: "add", key: "a", size: 7, evicted: nil},
			{op: "add", key: "c", size: 1, evicted: []string{"b"}},
		}, []string{"c", "a"}, 8},
		{"remove frees its bytes", 10, []step{
			{op: "add", key: "a", size: 6}, {op: "remove", key: "a", hit: true}, {op: "remove", key: "a", hit: false},
			{op: "get", key: "a", hit: false},
			{op: "add", key: "b", size: 10},
		}, []string{"b"}, 10},
		{"zero budget keeps nothing", 0, []step{{op: "add", key: "a", size: 1, evicted: []string{"a"}}}, []string{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New[string, int](tt.max)
			for i, s := range tt.steps {
				switch s.op {
				case "add":
					if got := keysOf(c.Add(s.key, i, s.size)); !slices.Equal(got, s.evicted) {
						t.Fatalf("step %d: Add(%s) evicted %v, want %v", i, s.key, got, s.evicted)
					}
				case "get":
					if _, ok := c.Get(s.key); ok != s.hit {
						t.Fatalf("step %d: Get(%s) hit %v, want %v", i, s.key, ok, s.hit)
					}
				case "remove":
					if _, ok := c.Remove(s.key); ok != s.hit {
						t.Fatalf("step %d: Remove(%s) %v, want %v", i, s.key, ok, s.hit)
					}
				}
				if c.Size() > c.Max() {
					t.Fatalf("step %d: size %d over the budget %d", i, c.Size(), c.Max())
				}
			}
			if got := c.Keys(); !slices.Equal(got, tt.keys) {
				t.Errorf("keys %v, want %v", got, tt.keys)
			}
			if c.Size() != tt.size || c.Len() != len(tt.keys) {
				t.Errorf("size %d len %d, want %d and %d", c.Size(), c.Len(), tt.size, len(tt.keys))
			}
		})
	}
}

func TestGetReturnsTheValue(t *testing.T) {
	c := New[string, *int](100)
	v := 7
	c.Add("k", &v, 1)
	got, ok := c.Get("k")
	if !ok || got != &v {
		t.Fatalf("Get = %v, %v", got, ok)
	}
	if !c.Contains("k") || c.Contains("other") {
		t.Error("Contains is wrong")
	}
}

// FuzzCache checks the invariants under any sequence of operations: the
// size is the sum of the entries', never over the budget after Add, and
// Keys agrees with Len.
func FuzzCache(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 1, 200, 4}, int64(10))
	f.Fuzz(func(t *testing.T, ops []byte, max int64) {
		if max < 0 || max > 1<<20 {
			return
		}
		c := New[byte, int](max)
		for i, op := range ops {
			key := op % 8
			switch op % 3 {
			case 0:
				c.Add(key, i, int64(op%32))
			case 1:
				c.Get(key)
			case 2:
				c.Remove(key)
			}
			if c.Size() > max || c.Size() < 0 {
				t.Fatalf("size %d, budget %d", c.Size(), max)
			}
		}
		var sum int64
		keys := c.Keys()
		for _, k := range keys {
			if !c.Contains(k) {
				t.Fatalf("key %d listed but not held", k)
			}
		}
		for el := c.order.Front(); el != nil; el = el.Next() {
			sum += el.Value.(*Entry[byte, int]).Size
		}
		if sum != c.Size() || len(keys) != c.Len() {
			t.Fatalf("sum %d size %d keys %d len %d", sum, c.Size(), len(keys), c.Len())
		}
	})
}
