package discovery_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/internal/testenv"
)

func start(t *testing.T, ctx context.Context, wg *sync.WaitGroup, run func(context.Context) error) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
}

func TestAnnounceWatchExpire(t *testing.T) {
	cli := testenv.EtcdClient(t)
	log := testenv.Logger(t)
	cfg := discovery.DefaultConfig()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	reg, err := discovery.NewRegistry(cfg, cli, log)
	if err != nil {
		t.Fatal(err)
	}
	start(t, ctx, &wg, reg.Run)

	actx := map[string]context.CancelFunc{}
	anns := map[string]*discovery.Announcer{}
	for _, id := range []string{"a1", "a2", "a3"} {
		a, err := discovery.NewAnnouncer(cfg, cli, ufop.Agent{ID: id, Addr: "http://" + id, Ops: []string{"imageView2"}}, log)
		if err != nil {
			t.Fatal(err)
		}
		c, cc := context.WithCancel(ctx)
		actx[id], anns[id] = cc, a
		start(t, c, &wg, a.Run)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(reg.Agents()) == 3 }, "3 agents registered")

	// Keys spread over all agents and stick to one.
	hits := map[string]int{}
	for i := range 300 {
		key := fmt.Sprintf("b/k%d", i)
		r := reg.Route(key, "imageView2")
		if len(r) != 3 {
			t.Fatalf("route %s: %d candidates", key, len(r))
		}
		if again := reg.Route(key, "imageView2"); again[0].ID != r[0].ID {
			t.Fatalf("route %s not stable", key)
		}
		hits[r[0].ID]++
	}
	for id, n := range hits {
		if n < 50 {
			t.Errorf("agent %s got only %d of 300 keys", id, n)
		}
	}
	if r := reg.Route("b/k", "facecrop"); len(r) != 0 {
		t.Errorf("route for an op nobody runs: %v", r)
	}

	// Load updates reach the registry; an overloaded agent goes last.
	first := reg.Route("b/x", "imageView2")[0].ID
	anns[first].Update(func(a *ufop.Agent) { a.Load = ufop.Load{Queued: 4, MaxQueue: 4} })
	testenv.Eventually(t, 5*time.Second, func() bool { return reg.Route("b/x", "imageView2")[0].ID != first },
		"overloaded agent demoted")

	// A graceful stop revokes the lease at once.
	actx["a1"]()
	testenv.Eventually(t, 2*time.Second, func() bool { return len(reg.Agents()) == 2 }, "a1 gone after stop")
}

func TestLeaseExpiry(t *testing.T) {
	log := testenv.Logger(t)
	cfg := discovery.DefaultConfig()
	cli := testenv.EtcdClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	reg, _ := discovery.NewRegistry(cfg, cli, log)
	start(t, ctx, &wg, reg.Run)

	// An agent whose process dies stops renewing: simulate by granting a
	// lease and never keeping it alive.
	lease, err := cli.Grant(ctx, int64(cfg.TTL/time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, cfg.Prefix+"dead", `{"id":"dead","addr":"http://x"}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 2*time.Second, func() bool { return len(reg.Agents()) == 1 }, "dead agent seen")
	began := time.Now()
	testenv.Eventually(t, 6*time.Second, func() bool { return len(reg.Agents()) == 0 }, "dead agent dropped")
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("dead agent dropped after %v, want ≤ 5s", took)
	}
}
