package console

import (
	"slices"
	"sync"
	"time"
)

// Sample is one point of a UFOP's chart: its queue depth (waiting plus in
// flight), the instance count it should have and the healthy instances.
type Sample struct {
	Time    time.Time `json:"time"`
	Queue   int       `json:"queue"`
	Desired int       `json:"desired"`
	Healthy int       `json:"healthy"`
}

// History keeps the last samples of each UFOP in memory, a ring per UFOP.
// Each gateway samples on its own: after a restart the chart starts
// afresh, which suits a view of the last hour.
type History struct {
	size int
	mu   sync.Mutex
	ring map[string]*ring
}

type ring struct {
	buf  []Sample
	next int
	full bool
}

// NewHistory returns a history of size samples per UFOP.
func NewHistory(size int) *History { return &History{size: size, ring: map[string]*ring{}} }

// Add records a sample of UFOP name.
func (h *History) Add(name string, s Sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.ring[name]
	if r == nil {
		r = &ring{buf: make([]Sample, h.size)}
		h.ring[name] = r
	}
	r.buf[r.next] = s
	r.next = (r.next + 1) % h.size
	r.full = r.full || r.next == 0
}

// Keep forgets the UFOPs not in names (unregistered ones).
func (h *History) Keep(names []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for n := range h.ring {
		if !slices.Contains(names, n) {
			delete(h.ring, n)
		}
	}
}

// Samples returns UFOP name's samples, oldest first, never nil.
func (h *History) Samples(name string) []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.ring[name]
	if r == nil {
		return []Sample{}
	}
	if !r.full {
		return slices.Clone(r.buf[:r.next])
	}
	return append(slices.Clone(r.buf[r.next:]), r.buf[:r.next]...)
}

// ErrorLog keeps the last errors a gateway answered, for the overview.
type ErrorLog struct {
	size int
	mu   sync.Mutex
	buf  []ErrorEntry
}

// ErrorEntry is one error answer. Users are who may see it: the signed-in
// requester and the owner of the bucket it was about.
type ErrorEntry struct {
	Time   time.Time `json:"time"`
	Reqid  string    `json:"reqid"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	Status int       `json:"status"`
	Error  string    `json:"error"`
	Users  []string  `json:"-"`
}

// NewErrorLog keeps the last size errors.
func NewErrorLog(size int) *ErrorLog { return &ErrorLog{size: size} }

// Add records an error.
func (l *ErrorLog) Add(e ErrorEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == l.size {
		copy(l.buf, l.buf[1:])
		l.buf = l.buf[:l.size-1]
	}
	l.buf = append(l.buf, e)
}

// For returns the errors user may see (all for an admin), newest first.
func (l *ErrorLog) For(user string, admin bool) []ErrorEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []ErrorEntry{}
	for i := len(l.buf) - 1; i >= 0; i-- {
		if e := l.buf[i]; admin || slices.Contains(e.Users, user) {
			out = append(out, e)
		}
	}
	return out
}
