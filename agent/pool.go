package agent

import (
	"context"
	"sync"
	"time"

	"github.com/ufop/ufop"
)

// pool bounds the built-in work on one node: a fixed number of workers and
// a bounded wait queue. Free-tier requests are admitted only while the
// queue is shorter than maxFree, so a flood from free users leaves room for
// paid ones.
type pool struct {
	slots   chan struct{}
	max     int // queue bound for paid users
	maxFree int // queue bound for free users

	mu      sync.Mutex
	waiting int
}

func newPool(workers, maxQueue, maxFree int) *pool {
	return &pool{slots: make(chan struct{}, workers), max: maxQueue, maxFree: maxFree}
}

// errBusy is returned when the wait queue is full for the caller's tier.
func errBusy(tier ufop.Tier) error {
	return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
		Msg: "the processing queue is full (" + string(tier) + " tier); retry shortly"}
}

// acquire takes a worker slot, waiting in the queue when all are busy. It
// returns how long it waited.
func (p *pool) acquire(ctx context.Context, tier ufop.Tier) (release func(), waited time.Duration, err error) {
	release = func() { <-p.slots }
	select {
	case p.slots <- struct{}{}:
		return release, 0, nil
	default:
	}
	limit := p.max
	if tier != ufop.TierPaid {
		limit = p.maxFree
	}
	p.mu.Lock()
	if p.waiting >= limit {
		p.mu.Unlock()
		return nil, 0, errBusy(tier)
	}
	p.waiting++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
	}()
	start := time.Now()
	select {
	case p.slots <- struct{}{}:
		return release, time.Since(start), nil
	case <-ctx.Done():
		return nil, time.Since(start), ctx.Err()
	}
}

// load reports the pool's state for the registry.
func (p *pool) load() ufop.Load {
	p.mu.Lock()
	defer p.mu.Unlock()
	return ufop.Load{Running: len(p.slots), Queued: p.waiting, Workers: cap(p.slots), MaxQueue: p.max}
}
