package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/internal/testenv"
)

// fakeRuntime starts nothing: it hands out instance ids and records the
// starts and stops, so a test sees what reconcile applied.
type fakeRuntime struct {
	events chan container.Event

	mu         sync.Mutex
	n          int
	failStarts int // the next starts that fail
	running    map[string]bool
	starts     int
	stopped    []string
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{events: make(chan container.Event, 8), running: map[string]bool{}}
}

func (f *fakeRuntime) Run(ctx context.Context) error { <-ctx.Done(); return nil }
func (f *fakeRuntime) Close() error                  { return nil }
func (f *fakeRuntime) Ready() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

func (f *fakeRuntime) Start(ctx context.Context, spec container.Spec) (*container.Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.starts++
	if f.failStarts > 0 {
		f.failStarts--
		return nil, errors.New("no such image")
	}
	f.n++
	id := fmt.Sprintf("rt%d", f.n)
	f.running[id] = true
	return &container.Instance{ID: id, ContainerID: fmt.Sprintf("%064d", f.n), Name: spec.Name, Version: spec.Version,
		Addr: "http://127.0.0.1:1"}, nil
}

func (f *fakeRuntime) Stop(ctx context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.running, id)
	f.stopped = append(f.stopped, id)
	return nil
}

func (f *fakeRuntime) List(ctx context.Context) ([]*container.Instance, error) { return nil, nil }
func (f *fakeRuntime) Logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	return nil
}
func (f *fakeRuntime) Events() <-chan container.Event { return f.events }
func (f *fakeRuntime) SetCluster(id string) error     { return nil }
func (f *fakeRuntime) Sweep(ctx context.Context, gone func(string) bool, minAge time.Duration) (container.Swept, error) {
	return container.Swept{}, nil
}
func (f *fakeRuntime) AgentAddr() string { return "" }

func (f *fakeRuntime) counts() (running, starts int, stopped []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.running), f.starts, append([]string(nil), f.stopped...)
}

// newReconcileUfops runs the reconcile loop and the event handling of a
// ufops over a fake runtime until the test ends; then it stops every
// instance.
func newReconcileUfops(t *testing.T) (*ufops, *fakeRuntime, context.Context) {
	t.Helper()
	rt := newFakeRuntime()
	a := &Agent{cfg: DefaultConfig(), logger: testenv.Logger(t)}
	u := newUfops(a, rt, "/test/")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); u.reconciler(ctx) }()
	go func() { defer wg.Done(); u.events(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		u.stopAll(ctx)
		if n, _, _ := rt.counts(); n != 0 {
			t.Errorf("%d containers left running after stopAll", n)
		}
	})
	return u, rt, ctx
}

func (u *ufops) instanceState(id string) (ufop.InstanceState, bool) {
	u.mu.Lock()
	in := u.insts[id]
	u.mu.Unlock()
	if in == nil {
		return "", false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.state, true
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func healthyIs(u *ufops, id string) func() bool {
	return func() bool { st, _ := u.instanceState(id); return st == ufop.InstanceHealthy }
}

// A placement removed while a job is in flight: the instance drains (no new
// work), stops once the job is done, and not before.
func TestReconcileDrainThenStop(t *testing.T) {
	u, rt, ctx := newReconcileUfops(t)
	p := placement("p1", 1)
	u.sync(ctx, desired(p))
	eventually(t, "p1 healthy", healthyIs(u, "p1"))
	in, err := u.pick(ctx, "thumb", nil) // a job in flight
	if err != nil {
		t.Fatal(err)
	}
	u.sync(ctx, desired())
	eventually(t, "p1 draining", func() bool { st, _ := u.instanceState("p1"); return st == ufop.InstanceStopping })
	if _, err := u.pick(ctx, "thumb", nil); ufop.KindOf(err) != ufop.KindUnavailable {
		t.Fatalf("pick of a draining instance: %v, want unavailable", err)
	}
	// Many reconcile passes later, the job still holds it.
	for range 5 {
		u.reconcile(ctx)
	}
	if _, kept := u.instanceState("p1"); !kept {
		t.Fatal("forgotten with a job in flight")
	}
	if n, _, stopped := rt.counts(); n != 1 || len(stopped) != 0 {
		t.Fatalf("stopped with a job in flight: running %d, stopped %v", n, stopped)
	}
	<-in.slots // the job is done
	eventually(t, "p1 stopped", func() bool { n, _, _ := rt.counts(); _, kept := u.instanceState("p1"); return n == 0 && !kept })
}

// An instance that dies mid-job has its job canceled and is restarted in
// place; past maxRestarts it is reported failed and not started again.
func TestReconcileDeath(t *testing.T) {
	u, rt, ctx := newReconcileUfops(t)
	u.sync(ctx, desired(placement("p1", 1)))
	eventually(t, "p1 healthy", healthyIs(u, "p1"))
	in, err := u.pick(ctx, "thumb", nil)
	if err != nil {
		t.Fatal(err)
	}
	in.mu.Lock()
	gone, rtID := in.gone, in.rtID
	in.mu.Unlock()
	rt.events <- container.Event{InstanceID: rtID, Kind: container.Died, ExitCode: 137}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the job in flight outlived its instance's death by 10s")
	}
	<-in.slots
	eventually(t, "p1 restarted", func() bool {
		_, starts, stopped := rt.counts()
		st, _ := u.instanceState("p1")
		return starts == 2 && len(stopped) == 1 && stopped[0] == rtID && st == ufop.InstanceHealthy
	})
	for i := 2; i <= maxRestarts+1; i++ {
		in.mu.Lock()
		rtID := in.rtID
		in.mu.Unlock()
		rt.events <- container.Event{InstanceID: rtID, Kind: container.Unhealthy}
		if i <= maxRestarts {
			eventually(t, "p1 restarted", func() bool {
				in.mu.Lock()
				defer in.mu.Unlock()
				return in.state == ufop.InstanceHealthy && in.rtID != rtID
			})
		}
	}
	eventually(t, "p1 failed", func() bool { st, _ := u.instanceState("p1"); return st == ufop.InstanceFailed })
	if n, starts, _ := rt.counts(); n != 0 || starts != maxRestarts+1 {
		t.Fatalf("after failing: %d running, %d starts; want 0, %d", n, starts, maxRestarts+1)
	}
}

// A failed start is tried again after a pause, in place.
func TestReconcileStartRetried(t *testing.T) {
	u, rt, ctx := newReconcileUfops(t)
	rt.mu.Lock()
	rt.failStarts = 1
	rt.mu.Unlock()
	u.sync(ctx, desired(placement("p1", 1)))
	eventually(t, "p1 healthy after a retry", healthyIs(u, "p1"))
	if _, starts, _ := rt.counts(); starts != 2 {
		t.Fatalf("%d starts, want 2", starts)
	}
}

// A version upgrade: the new placement starts beside the old; once the
// scheduler removes the old one, it drains and stops and the new one serves.
func TestReconcileUpgrade(t *testing.T) {
	u, rt, ctx := newReconcileUfops(t)
	old, next := placement("old", 1), placement("new", 2)
	u.sync(ctx, desired(old))
	eventually(t, "old healthy", healthyIs(u, "old"))
	u.sync(ctx, desired(old, next))
	eventually(t, "new healthy", healthyIs(u, "new"))
	if in, err := u.pick(ctx, "thumb", nil); err != nil || in.p.Version != 2 {
		t.Fatalf("pick during the upgrade: %v, %v; want the newer version on a tie", in, err)
	} else {
		<-in.slots
	}
	u.sync(ctx, desired(next))
	eventually(t, "old stopped", func() bool { _, kept := u.instanceState("old"); n, _, _ := rt.counts(); return !kept && n == 1 })
	if st, _ := u.instanceState("new"); st != ufop.InstanceHealthy {
		t.Fatalf("new instance %s", st)
	}
}
