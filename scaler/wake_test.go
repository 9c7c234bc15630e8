package scaler_test

import (
	"context"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/scaler"
)

// TestWakeScalesFromZero: with a pass interval far longer than the test,
// a UFOP at zero (min 0) gets an instance as soon as a gateway wakes the
// scaler for it (real etcd and NATS); without the wake, the lead's first
// pass left it at zero.
func TestWakeScalesFromZero(t *testing.T) {
	ctx := context.Background()
	logger, cli, q, cat := scalerEnv(t)

	const name = "wake-me"
	if _, err := cat.RegisterUFOP(ctx, ufop.UFOP{Name: name, Owner: "alice"}); err != nil {
		t.Fatal(err)
	}
	policy := ufop.ScalePolicy{Min: 0, Max: 3, Threshold: 2, Cooldown: time.Minute, Idle: time.Minute}
	setUFOP(t, cat, name, func(u *ufop.UFOP) { u.Version, u.Instances, u.Scale = 1, 0, &policy })

	cfg := scaler.DefaultConfig()
	cfg.Interval = time.Hour // only the lead's first pass, then wakes
	cfg.Windows = scaler.Windows{Stable: 2 * time.Hour, Panic: time.Hour, PanicThreshold: 2}
	s, err := scaler.New(cfg, cli, q, logger)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	t.Cleanup(func() { s.Close(); <-done })
	sampled := func() bool {
		mfs, err := s.Gatherer().Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "ufop_scaler_desired" && len(mf.GetMetric()) > 0 {
				return true
			}
		}
		return false
	}
	testenv.Eventually(t, 10*time.Second, sampled, "the leader's first pass")
	if n := metric(t, s.Gatherer(), "ufop_scaler_desired", name); n != 0 {
		t.Fatalf("first pass with an empty queue: desired %v, want 0", n)
	}

	instances := func() int {
		u, err := cat.UFOP(name)
		if err != nil {
			t.Fatal(err)
		}
		return u.Instances
	}
	// What a gateway does: publish the job, then wake.
	w, err := q.Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Publish(ctx, name, ufop.Job{ID: "first", Fops: name, Reply: w.Reply()}); err != nil {
		t.Fatal(err)
	}
	q.Wake(name)
	testenv.Eventually(t, 10*time.Second, func() bool { return instances() == 1 }, "one instance after the wake")
	if got := metric(t, s.Gatherer(), "ufop_scaler_decisions_total", name); got != 1 {
		t.Errorf("%v decisions, want 1 (the wake)", got)
	}
	// A wake for a UFOP with an empty queue that is not at zero changes
	// nothing.
	q.Wake("not-registered")
	q.Wake(name)
	time.Sleep(200 * time.Millisecond) // nothing to poll for: the count must stay
	if n := instances(); n != 1 {
		t.Errorf("%d instances after a second wake, want 1", n)
	}
}
