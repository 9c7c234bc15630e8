// Package lifecycle holds the pieces every long-running component of ufop
// shares: an idempotent Close that stops a Run, and a periodic loop.
package lifecycle

import (
	"context"
	"sync"
	"time"
)

// Closer turns Close into the cancellation of Run's context. The zero
// value is ready to use; embed it in a component to give it Close.
type Closer struct {
	once sync.Once
	mu   sync.Mutex
	ch   chan struct{}
}

func (c *Closer) done() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// Close stops a Run bound with Bind; it is safe to call more than once,
// and before Run.
func (c *Closer) Close() error {
	ch := c.done()
	c.once.Do(func() { close(ch) })
	return nil
}

// Bind returns a context that ends with ctx or with Close. Call cancel when
// Run returns.
func (c *Closer) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	ch := c.done()
	// The goroutine ends with ctx, at the latest when the caller cancels.
	go func() {
		select {
		case <-ch:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// Every calls fn each d until ctx ends, the first time after d. It
// returns when ctx ends, never while fn runs.
func Every(ctx context.Context, d time.Duration, fn func(context.Context)) {
	tick := time.NewTicker(d)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fn(ctx)
		}
	}
}
