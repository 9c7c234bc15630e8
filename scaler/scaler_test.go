package scaler_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/scaler"
)

// TestScalerFollowsQueue runs two scalers against a real etcd and a real
// JetStream queue: one leads; jobs piling up raise the UFOP's instance
// count, draining them brings it back after the cool-down; when the
// leader stops, the other takes over.
func TestScalerFollowsQueue(t *testing.T) {
	ctx := context.Background()
	logger, cli, q, cat := scalerEnv(t)

	const name = "scale-me"
	if _, err := cat.RegisterUFOP(ctx, ufop.UFOP{Name: name, Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	policy := ufop.ScalePolicy{Min: 1, Max: 4, Threshold: 2, Cooldown: time.Second}
	setUFOP(t, cat, name, func(u *ufop.UFOP) { u.Version, u.Instances, u.Scale = 1, 1, &policy })
	// One healthy instance, reported the way agents report them.
	report := ufop.Instance{ID: name + "-1", UFOP: name, Version: 1, Agent: "a1", State: ufop.InstanceHealthy}
	b, _ := json.Marshal(report)
	if _, err := cli.Put(ctx, protocol.InstanceKey(protocol.SchedulerPrefix, "a1/"+report.ID), string(b)); err != nil {
		t.Fatal(err)
	}

	cfg := scaler.DefaultConfig()
	cfg.Interval = 100 * time.Millisecond
	cfg.Windows = scaler.Windows{Stable: 2 * time.Second, Panic: 300 * time.Millisecond, PanicThreshold: 2}
	cfg.LeaseTTL = time.Second
	var scalers []*scaler.Scaler
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for i := range 2 {
		s, err := scaler.New(cfg, cli, q, logger.With("scaler", i))
		if err != nil {
			t.Fatal(err)
		}
		scalers = append(scalers, s)
		wg.Add(1)
		go func() { defer wg.Done(); s.Run(ctx) }()
		t.Cleanup(func() { s.Close() })
	}
	for _, s := range scalers {
		<-s.Ready()
	}
	var leader, other *scaler.Scaler
	testenv.Eventually(t, 10*time.Second, func() bool {
		l0, l1 := metric(t, scalers[0].Gatherer(), "ufop_scaler_leader", ""), metric(t, scalers[1].Gatherer(), "ufop_scaler_leader", "")
		leader, other = scalers[0], scalers[1]
		if l1 == 1 {
			leader, other = scalers[1], scalers[0]
		}
		return l0+l1 == 1
	}, "exactly one scaler leads")

	instances := func() int {
		u, err := cat.UFOP(name)
		if err != nil {
			t.Fatal(err)
		}
		return u.Instances
	}
	for i := range 20 {
		if err := q.Publish(ctx, name, ufop.Job{ID: fmt.Sprintf("job-%d", i), Fops: name}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.Eventually(t, 10*time.Second, func() bool { return instances() == 4 }, "20 jobs at 2 per instance: the maximum, 4")
	g := leader.Gatherer()
	for _, m := range []struct {
		name string
		want float64
	}{{"ufop_scaler_queue_depth", 20}, {"ufop_scaler_inflight", 0}, {"ufop_scaler_instances", 1}, {"ufop_scaler_desired", 4}} {
		if got := metric(t, g, m.name, name); got != m.want {
			t.Errorf("%s = %v, want %v", m.name, got, m.want)
		}
	}
	if got := metric(t, g, "ufop_scaler_decisions_total", name); got < 1 {
		t.Errorf("no decision counted")
	}
	if got := metric(t, other.Gatherer(), "ufop_scaler_desired", name); got != 0 {
		t.Errorf("the follower reports a desired count (%v): it should not sample", got)
	}

	// Drain the queue as an agent would, and wait for the way back.
	cons, err := q.Consumer(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	drained := 0
	for drained < 20 {
		batch, err := cons.Fetch(20-drained, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for msg := range batch.Messages() {
			msg.Ack()
			drained++
		}
	}
	testenv.Eventually(t, 20*time.Second, func() bool { return instances() == 1 }, "back to the minimum once drained")

	// The leader goes; the other takes over and acts: a count below the
	// minimum is raised to it.
	leader.Close()
	testenv.Eventually(t, 10*time.Second, func() bool { return metric(t, other.Gatherer(), "ufop_scaler_leader", "") == 1 }, "the other scaler leads")
	setUFOP(t, cat, name, func(u *ufop.UFOP) { u.Instances = 0 })
	testenv.Eventually(t, 10*time.Second, func() bool { return instances() == 1 }, "the new leader restores the minimum")
}

func setUFOP(t *testing.T, cat *catalog.Catalog, name string, fn func(*ufop.UFOP)) {
	t.Helper()
	if _, err := cat.UpdateUFOP(context.Background(), name, func(u *ufop.UFOP) error { fn(u); return nil }); err != nil {
		t.Fatal(err)
	}
}

// metric sums the samples of the named family, limited to one UFOP's
// series when ufopName is set; 0 when there are none.
func metric(t *testing.T, g prometheus.Gatherer, family, ufopName string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if ufopName != "" && l.GetName() == "ufop" && l.GetValue() != ufopName {
					continue series
				}
			}
			switch {
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestConfigValidate(t *testing.T) {
	ok := scaler.DefaultConfig()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	tests := []struct {
		name string
		edit func(*scaler.Config)
	}{
		{"prefix without slash", func(c *scaler.Config) { c.Prefix = "/ufop/scaler" }},
		{"zero interval", func(c *scaler.Config) { c.Interval = 0 }},
		{"short lease", func(c *scaler.Config) { c.LeaseTTL = 100 * time.Millisecond }},
		{"panic window under the interval", func(c *scaler.Config) { c.Windows.Panic = c.Interval / 2 }},
		{"stable window under the panic window", func(c *scaler.Config) { c.Windows.Stable = c.Windows.Panic / 2 }},
		{"panic threshold 1", func(c *scaler.Config) { c.Windows.PanicThreshold = 1 }},
	}
	for _, tt := range tests {
		c := scaler.DefaultConfig()
		tt.edit(&c)
		if c.Validate() == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// scalerEnv starts what a scaler works against: a real etcd, a JetStream
// queue on a real NATS server and a running catalog.
func scalerEnv(t *testing.T) (*slog.Logger, *clientv3.Client, *queue.Queue, *catalog.Catalog) {
	t.Helper()
	logger := testenv.Logger(t)
	cli := testenv.EtcdClient(t)
	q, err := queue.Connect(context.Background(), testenv.NATS(t), queue.DefaultConfig(), logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	cat, err := catalog.New(catalog.DefaultConfig(), cli, logger)
	if err != nil {
		t.Fatal(err)
	}
	cctx, stopCat := context.WithCancel(context.Background())
	catDone := make(chan struct{})
	go func() { defer close(catDone); cat.Run(cctx) }()
	t.Cleanup(func() { stopCat(); <-catDone })
	<-cat.Ready()
	return logger, cli, q, cat
}
