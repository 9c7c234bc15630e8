package agent

import (
	"context"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func TestPoolTiers(t *testing.T) {
	p := newPool(1, 4, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	release, _, err := p.acquire(ctx, ufop.TierFree)
	if err != nil {
		t.Fatal(err)
	}
	// Two free jobs may wait; the third is refused with a retry hint.
	waiting := make(chan error, 8)
	enqueue := func(tier ufop.Tier) {
		go func() {
			rel, _, err := p.acquire(ctx, tier)
			if err == nil {
				rel()
			}
			waiting <- err
		}()
	}
	queued := func(n int) {
		deadline := time.Now().Add(5 * time.Second)
		for p.load().Queued != n {
			if time.Now().After(deadline) {
				t.Fatalf("queue length %d, want %d", p.load().Queued, n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	enqueue(ufop.TierFree)
	enqueue(ufop.TierFree)
	queued(2)
	_, _, err = p.acquire(ctx, ufop.TierFree)
	if ufop.KindOf(err) != ufop.KindUnavailable || ufop.RetryAfterOf(err) == 0 {
		t.Fatalf("third free job: %v", err)
	}
	// Paid jobs still get in, up to the full queue.
	enqueue(ufop.TierPaid)
	enqueue(ufop.TierPaid)
	queued(4)
	if _, _, err := p.acquire(ctx, ufop.TierPaid); ufop.KindOf(err) != ufop.KindUnavailable {
		t.Fatalf("paid job past the full queue: %v", err)
	}
	if l := p.load(); !l.Overloaded() || l.Running != 1 || l.Workers != 1 {
		t.Fatalf("load %+v", l)
	}
	release()
	for range 4 {
		if err := <-waiting; err != nil {
			t.Fatalf("queued job: %v", err)
		}
	}
}
