package etcdwatch_test

import (
	"context"
	"errors"
	"maps"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop/internal/etcdwatch"
	"github.com/ufop/ufop/internal/testenv"
)

// mirror is what a user of Follower keeps: a map of the prefix.
type mirror struct {
	mu     sync.Mutex
	rows   map[string]string
	loads  int
	broken []error
}

func (m *mirror) load(kvs []etcdwatch.KV) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rows = map[string]string{}
	for _, kv := range kvs {
		m.rows[kv.Key] = string(kv.Value)
	}
	m.loads++
}

func (m *mirror) apply(evs []etcdwatch.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ev := range evs {
		if ev.Delete {
			delete(m.rows, ev.KV.Key)
		} else {
			m.rows[ev.KV.Key] = string(ev.KV.Value)
		}
	}
}

func (m *mirror) equals(want map[string]string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Equal(m.rows, want)
}

func put(t *testing.T, cli *clientv3.Client, k, v string) int64 {
	t.Helper()
	resp, err := cli.Put(context.Background(), k, v)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func run(t *testing.T, f etcdwatch.Follower) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v after cancel, want nil", err)
		}
	})
}

func TestFollowLoadsThenWatches(t *testing.T) {
	cli := testenv.EtcdClient(t)
	put(t, cli, "/p/a", "1")
	put(t, cli, "/p/b", "2")
	put(t, cli, "/q/a", "outside")
	m := &mirror{}
	run(t, etcdwatch.Follower{Client: cli, Prefix: "/p/", Load: m.load, Apply: m.apply})
	testenv.Eventually(t, 10*time.Second, func() bool { return m.equals(map[string]string{"/p/a": "1", "/p/b": "2"}) }, "first load")

	put(t, cli, "/p/a", "3")
	put(t, cli, "/p/c", "4")
	put(t, cli, "/q/b", "outside")
	if _, err := cli.Delete(context.Background(), "/p/b"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return m.equals(map[string]string{"/p/a": "3", "/p/c": "4"}) }, "changes")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loads != 1 {
		t.Errorf("%d loads, want 1: a healthy watch needs no reload", m.loads)
	}
}

// A change made between the load and the start of the watch is not lost:
// the watch starts at the revision after the snapshot.
func TestFollowMissesNothingAfterTheSnapshot(t *testing.T) {
	cli := testenv.EtcdClient(t)
	put(t, cli, "/p/a", "1")
	m := &mirror{}
	var once sync.Once
	load := func(kvs []etcdwatch.KV) {
		m.load(kvs)
		once.Do(func() { put(t, cli, "/p/late", "x") })
	}
	run(t, etcdwatch.Follower{Client: cli, Prefix: "/p/", Load: load, Apply: m.apply})
	testenv.Eventually(t, 10*time.Second, func() bool { return m.equals(map[string]string{"/p/a": "1", "/p/late": "x"}) }, "the late put")
}

// A watch that cannot resume (its revision compacted away) ends in a
// reload that brings the copy up to date.
func TestFollowReloadsAfterCompaction(t *testing.T) {
	cli := testenv.EtcdClient(t)
	put(t, cli, "/p/a", "1")
	m := &mirror{}
	var once sync.Once
	load := func(kvs []etcdwatch.KV) {
		m.load(kvs)
		// Before the first watch starts: change the prefix and compact
		// past the snapshot, so the watch's start revision is gone.
		once.Do(func() {
			put(t, cli, "/p/a", "2")
			rev := put(t, cli, "/p/b", "3")
			if _, err := cli.Compact(context.Background(), rev); err != nil {
				t.Error(err)
			}
		})
	}
	broken := func(err error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		m.broken = append(m.broken, err)
	}
	run(t, etcdwatch.Follower{Client: cli, Prefix: "/p/", Load: load, Apply: m.apply, Broken: broken, Retry: 10 * time.Millisecond})
	testenv.Eventually(t, 10*time.Second, func() bool { return m.equals(map[string]string{"/p/a": "2", "/p/b": "3"}) }, "reloaded state")
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.loads < 2 || len(m.broken) == 0 || !errors.Is(m.broken[0], rpctypes.ErrCompacted) {
		t.Errorf("loads %d, broken %v: want a reload after ErrCompacted", m.loads, m.broken)
	}
}
