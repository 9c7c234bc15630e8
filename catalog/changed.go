package catalog

import "sync"

// changed hands out channels that are signalled after every change the
// watch applies to the in-memory copy.
type changed struct {
	mu  sync.Mutex
	chs []chan struct{}
}

func (c *changed) signal() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.chs {
		select {
		case ch <- struct{}{}:
		default: // a signal is pending already
		}
	}
}

// Changed returns a channel that receives (coalesced) after each change
// of the in-memory copy: a reader acts on a scale-up at once rather than
// at its next tick. The channel lives as long as the catalog.
func (c *Catalog) Changed() <-chan struct{} {
	ch := make(chan struct{}, 1)
	c.changed.mu.Lock()
	c.changed.chs = append(c.changed.chs, ch)
	c.changed.mu.Unlock()
	return ch
}
