package scheduler_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/scheduler"
)

// fixture is a scheduler on a real etcd with announced agents and no
// containers: the test plays the agents' part by reporting instances.
type fixture struct {
	t   *testing.T
	cli *clientv3.Client
	cat *catalog.Catalog
	cfg scheduler.Config
	ctx context.Context
}

func (f *fixture) placements() map[string]ufop.Placement {
	resp, err := f.cli.Get(f.ctx, protocol.PlacementsPrefix(f.cfg.Prefix), clientv3.WithPrefix())
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]ufop.Placement{}
	for _, kv := range resp.Kvs {
		var p ufop.Placement
		json.Unmarshal(kv.Value, &p)
		out[p.ID] = p
	}
	return out
}

// report marks an instance as its agent would.
func (f *fixture) report(p ufop.Placement, state ufop.InstanceState) {
	b, _ := json.Marshal(ufop.Instance{ID: p.ID, UFOP: p.UFOP, Version: p.Version, Agent: p.Agent, State: state})
	if _, err := f.cli.Put(f.ctx, protocol.InstanceKey(f.cfg.Prefix, p.ID), string(b)); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) version(n int) {
	v := ufop.Version{UFOP: "my-ufop", N: n, State: ufop.BuildOK, Image: "ufop/my-ufop:v1",
		Manifest: json.RawMessage(`{"image":"scratch","run":["./h"],"health_check":{"path":"/health","timeout":"3s"},"concurrency":2,"timeout":"30s","resources":{"cpu":0.5,"memory":134217728,"pids":64}}`)}
	if err := f.cat.PutVersion(f.ctx, v); err != nil {
		f.t.Fatal(err)
	}
}

func TestPlaceAndUpgrade(t *testing.T) {
	cli := testenv.EtcdClient(t)
	log := testenv.Logger(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	run := func(fn func(context.Context) error) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(ctx) }()
	}
	for _, id := range []string{"a1", "a2"} {
		ann, err := discovery.NewAnnouncer(discovery.DefaultConfig(), cli, ufop.Agent{ID: id, Addr: "http://" + id, Slots: 4}, log)
		if err != nil {
			t.Fatal(err)
		}
		run(ann.Run)
	}
	cat, err := catalog.New(catalog.DefaultConfig(), cli, log)
	if err != nil {
		t.Fatal(err)
	}
	run(cat.Run)
	<-cat.Ready()
	cfg := scheduler.DefaultConfig()
	cfg.Interval = 50 * time.Millisecond
	s, err := scheduler.New(cfg, cli, log)
	if err != nil {
		t.Fatal(err)
	}
	run(s.Run)
	f := &fixture{t: t, cli: cli, cat: cat, cfg: cfg, ctx: ctx}

	if _, err := cat.RegisterUFOP(ctx, ufop.UFOP{Name: "my-ufop", Owner: "u"}); err != nil {
		t.Fatal(err)
	}
	f.version(1)
	cat.UpdateUFOP(ctx, "my-ufop", func(u *ufop.UFOP) error { u.Version, u.Rollout, u.Instances = 1, 1, 3; return nil })

	// Three instances, spread over both agents, with the manifest's spec.
	testenv.Eventually(t, 5*time.Second, func() bool { return len(f.placements()) == 3 }, "3 placements")
	perAgent := map[string]int{}
	for _, p := range f.placements() {
		perAgent[p.Agent]++
		if p.Spec.Concurrency != 2 || p.Spec.Memory != 128<<20 || p.Spec.HealthTimeout != 3*time.Second || p.Version != 1 {
			t.Fatalf("placement %+v", p)
		}
		f.report(p, ufop.InstanceHealthy)
	}
	if perAgent["a1"] == 0 || perAgent["a2"] == 0 {
		t.Fatalf("not spread: %v", perAgent)
	}

	// A failed instance is replaced.
	var victim ufop.Placement
	for _, p := range f.placements() {
		victim = p
		break
	}
	f.report(victim, ufop.InstanceFailed)
	testenv.Eventually(t, 5*time.Second, func() bool {
		ps := f.placements()
		_, still := ps[victim.ID]
		return !still && len(ps) == 3
	}, "failed instance replaced")
	for _, p := range f.placements() {
		f.report(p, ufop.InstanceHealthy)
	}

	// Upgrade one at a time: never fewer than 3 healthy, never more than
	// 3+1 placements.
	f.version(2)
	cat.UpdateUFOP(ctx, "my-ufop", func(u *ufop.UFOP) error { u.Version, u.Rollout, u.Step = 2, 2, 1; return nil })
	deadline := time.Now().Add(20 * time.Second)
	for {
		ps := f.placements()
		old, healthyNew := 0, 0
		for _, p := range ps {
			if p.Version == 1 {
				old++
			}
		}
		if len(ps) > 4 {
			t.Fatalf("%d placements during a step-1 upgrade", len(ps))
		}
		for _, p := range ps {
			if p.Version == 2 {
				// Hold each new instance unhealthy for a moment: the old ones
				// must stay until it turns healthy.
				time.Sleep(100 * time.Millisecond)
				if n := len(f.placements()); n < 3 {
					t.Fatalf("only %d placements while a new instance starts", n)
				}
				f.report(p, ufop.InstanceHealthy)
				healthyNew++
			}
		}
		if old == 0 && healthyNew == 3 && len(ps) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upgrade stuck: %d old, %d new healthy, %d placements", old, healthyNew, len(ps))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Scale down to 1, then unregister: placements follow.
	cat.UpdateUFOP(ctx, "my-ufop", func(u *ufop.UFOP) error { u.Instances = 1; return nil })
	testenv.Eventually(t, 5*time.Second, func() bool { return len(f.placements()) == 1 }, "scaled down to 1")
	if err := cat.DeleteUFOP(ctx, "my-ufop"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(f.placements()) == 0 }, "placements removed with the UFOP")
}
