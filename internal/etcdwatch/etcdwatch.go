// Package etcdwatch keeps an in-memory copy of an etcd prefix: it loads the
// prefix, then watches it from the revision just after the snapshot, so no
// change between the two is missed, and answers a broken watch (compaction,
// leader loss, etcd restart) with a fresh load. The catalog and the agent
// registry both follow etcd this way.
package etcdwatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// DefaultRetry is the pause before a reload after a broken watch.
const DefaultRetry = 200 * time.Millisecond

// KV is one key of the prefix.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// Event is one change: a put of KV, or its deletion (Value empty).
type Event struct {
	Delete bool
	KV     KV
}

// Follower follows one prefix.
type Follower struct {
	Client *clientv3.Client
	Prefix string
	// Load receives the whole prefix, replacing what it held: first, and
	// again after every broken watch.
	Load func(kvs []KV)
	// Apply receives each batch of changes after the last Load, in order.
	Apply func(events []Event)
	// Broken, when set, hears why the copy is being reloaded.
	Broken func(err error)
	// Retry is the pause before a reload; 0 means DefaultRetry.
	Retry time.Duration
}

// Run loads and follows the prefix until ctx ends; it returns nil then.
// Load and Apply run on Run's goroutine, never at the same time.
func (f Follower) Run(ctx context.Context) error {
	retry := f.Retry
	if retry <= 0 {
		retry = DefaultRetry
	}
	for {
		err := f.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if f.Broken != nil {
			f.Broken(err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retry):
		}
	}
}

// follow loads once and watches until the watch breaks.
func (f Follower) follow(ctx context.Context) error {
	resp, err := f.Client.Get(ctx, f.Prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("load %s: %w", f.Prefix, err)
	}
	kvs := make([]KV, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		kvs[i] = KV{Key: string(kv.Key), Value: kv.Value, ModRevision: kv.ModRevision}
	}
	f.Load(kvs)
	// WithRequireLeader: a member cut off from its cluster ends the watch
	// instead of going silent.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range f.Client.Watch(wctx, f.Prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
		if err := wr.Err(); err != nil {
			return fmt.Errorf("watch %s: %w", f.Prefix, err)
		}
		evs := make([]Event, len(wr.Events))
		for i, ev := range wr.Events {
			evs[i] = Event{Delete: ev.Type == clientv3.EventTypeDelete,
				KV: KV{Key: string(ev.Kv.Key), Value: ev.Kv.Value, ModRevision: ev.Kv.ModRevision}}
		}
		f.Apply(evs)
	}
	return errors.New("watch channel closed")
}
