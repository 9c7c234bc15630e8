package lifecycle

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// ended reports whether ctx ends within a generous deadline.
func ended(ctx context.Context) bool {
	select {
	case <-ctx.Done():
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

func TestCloseEndsBoundContext(t *testing.T) {
	var c Closer
	ctx, cancel := c.Bind(context.Background())
	defer cancel()
	if ctx.Err() != nil {
		t.Fatal("bound context ended before Close")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !ended(ctx) {
		t.Fatal("bound context still running after Close")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Errorf("ctx.Err() = %v, want canceled", ctx.Err())
	}
}

func TestCloseBeforeBind(t *testing.T) {
	// A component closed before it runs must not run on.
	var c Closer
	c.Close()
	ctx, cancel := c.Bind(context.Background())
	defer cancel()
	if !ended(ctx) {
		t.Fatal("Bind after Close gave a running context")
	}
}

func TestCloseIdempotent(t *testing.T) {
	var c Closer
	ctx, cancel := c.Bind(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil { // once more, after all
		t.Fatalf("Close again: %v", err)
	}
	if !ended(ctx) {
		t.Fatal("bound context still running")
	}
}

func TestParentEndsBoundContext(t *testing.T) {
	var c Closer
	parent, stop := context.WithCancel(context.Background())
	ctx, cancel := c.Bind(parent)
	defer cancel()
	stop()
	if !ended(ctx) {
		t.Fatal("bound context outlived its parent")
	}
	// Close after the parent ended is still fine, and a later Bind sees
	// the Close.
	c.Close()
	ctx2, cancel2 := c.Bind(context.Background())
	defer cancel2()
	if !ended(ctx2) {
		t.Fatal("Bind after Close gave a running context")
	}
}

func TestCancelLeavesCloserUsable(t *testing.T) {
	// A Run that returns (cancel) before Close: a second Run binds a fresh
	// context that Close still ends.
	var c Closer
	ctx1, cancel1 := c.Bind(context.Background())
	cancel1()
	if !ended(ctx1) {
		t.Fatal("cancel did not end the context")
	}
	ctx2, cancel2 := c.Bind(context.Background())
	defer cancel2()
	if ctx2.Err() != nil {
		t.Fatal("second Bind gave an ended context before Close")
	}
	c.Close()
	if !ended(ctx2) {
		t.Fatal("Close did not end the second bound context")
	}
}

// Embedding gives a component Close without more code.
func TestEmbedded(t *testing.T) {
	type component struct{ Closer }
	var comp component
	ctx, cancel := comp.Bind(context.Background())
	defer cancel()
	var closer interface{ Close() error } = &comp
	closer.Close()
	if !ended(ctx) {
		t.Fatal("embedded Closer did not end the context")
	}
}

// Every calls fn repeatedly until its context ends, then returns.
func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls int
	done := make(chan struct{})
	go func() {
		defer close(done)
		Every(ctx, time.Millisecond, func(context.Context) {
			calls++
			if calls == 3 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
	if calls != 3 {
		t.Errorf("fn ran %d times, want 3", calls)
	}
}
