package queue_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/queue"
)

func TestPfopConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*queue.PfopConfig)
		ok   bool
	}{
		{"defaults", func(*queue.PfopConfig) {}, true},
		{"no stream", func(c *queue.PfopConfig) { c.Stream = "" }, false},
		{"no bucket", func(c *queue.PfopConfig) { c.StateBucket = "" }, false},
		{"zero ack wait", func(c *queue.PfopConfig) { c.AckWait = 0 }, false},
		{"negative share", func(c *queue.PfopConfig) { c.PaidShare = -1 }, false},
		{"strict round robin", func(c *queue.PfopConfig) { c.PaidShare = 0 }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := queue.DefaultPfopConfig()
			tc.mod(&cfg)
			if err := cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func openPfop(t *testing.T, q *queue.Queue, mod func(*queue.PfopConfig)) *queue.Pfop {
	t.Helper()
	cfg := queue.DefaultPfopConfig()
	if mod != nil {
		mod(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := q.Pfop(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// serveOrder runs workers on p, each job taking work, and returns a
// snapshot of the order in which jobs finished so far.
func serveOrder(t *testing.T, p *queue.Pfop, workers int, work time.Duration) (snapshot func() []string) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var order []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Serve(ctx, workers, func(ctx context.Context, d *queue.Delivery) {
			time.Sleep(work)
			mu.Lock()
			order = append(order, string(d.Data()))
			mu.Unlock()
			d.Ack()
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), order...)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func publish(t *testing.T, p *queue.Pfop, tier ufop.Tier, owner, id string) {
	t.Helper()
	if err := p.Publish(context.Background(), tier, owner, id, []byte(id)); err != nil {
		t.Fatal(err)
	}
}

// TestPfopFairness: one owner's 10,000 queued jobs do not starve another
// owner's single job, which finishes within the first few completions
// after it is queued.
func TestPfopFairness(t *testing.T) {
	q := connect(t, nil)
	p := openPfop(t, q, nil)
	const many, workers = 10000, 4
	for i := range many {
		publish(t, p, ufop.TierFree, "alice", fmt.Sprintf("a%d", i))
	}
	order := serveOrder(t, p, workers, time.Millisecond)
	testenv.Eventually(t, 10*time.Second, func() bool { return len(order()) >= 20 }, "alice's backlog started")
	before := len(order())
	publish(t, p, ufop.TierFree, "bob", "b0")
	testenv.Eventually(t, 30*time.Second, func() bool { return indexOf(order(), "b0") >= 0 }, "bob's job done")
	pos := indexOf(order(), "b0")
	// Jobs already taken when bob's arrived finish first (one per
	// worker), then at most one more pick of alice's per worker before
	// the round robin comes to bob, with some slack for the owner list's
	// refresh.
	waited := pos - before
	t.Logf("bob's job finished after %d more of alice's (%d done before it was queued, %d queued)", waited, before, many)
	if waited > 4*workers {
		t.Fatalf("bob's job waited behind %d of alice's jobs, want at most %d", waited, 4*workers)
	}
}

// TestPfopPaidFirst: a paid owner's job is taken ahead of a free owner's
// backlog, and the free owner still progresses while paid jobs keep
// coming (PaidShare).
func TestPfopPaidFirst(t *testing.T) {
	q := connect(t, nil)
	p := openPfop(t, q, nil)
	for i := range 200 {
		publish(t, p, ufop.TierFree, "frank", fmt.Sprintf("f%d", i))
	}
	for i := range 40 {
		publish(t, p, ufop.TierPaid, "paula", fmt.Sprintf("p%d", i))
	}
	done := serveOrder(t, p, 1, 0)
	testenv.Eventually(t, 20*time.Second, func() bool { return len(done()) >= 50 }, "50 jobs done")
	order := done()
	first := order[:50]
	paid, free := 0, 0
	for _, id := range first {
		if id[0] == 'p' {
			paid++
		} else {
			free++
		}
	}
	// 4 of every 5 picks prefer paid: of the first 50, 40 paid and 10 free.
	if paid != 40 || free != 10 {
		t.Errorf("first 50 picks: %d paid, %d free; want 40 and 10 (%v)", paid, free, first)
	}
}

// TestPfopState: create, read, compare-and-swap update of job states.
func TestPfopState(t *testing.T) {
	q := connect(t, nil)
	p := openPfop(t, q, nil)
	ctx := context.Background()
	if _, _, err := p.State(ctx, "z0.none"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("missing state: %v, want not found", err)
	}
	if err := p.CreateState(ctx, "z0.a", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := p.CreateState(ctx, "z0.a", []byte("again")); ufop.KindOf(err) != ufop.KindConflict {
		t.Fatalf("second create: %v, want conflict", err)
	}
	v, rev, err := p.State(ctx, "z0.a")
	if err != nil || string(v) != "one" {
		t.Fatalf("State = %q, %v", v, err)
	}
	rev2, err := p.UpdateState(ctx, "z0.a", []byte("two"), rev)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpdateState(ctx, "z0.a", []byte("stale"), rev); !errors.Is(err, queue.ErrStateConflict) {
		t.Fatalf("stale update: %v, want conflict", err)
	}
	if v, r, _ := p.State(ctx, "z0.a"); string(v) != "two" || r != rev2 {
		t.Fatalf("after update: %q rev %d, want two rev %d", v, r, rev2)
	}
}

// TestPfopRedelivery: a job whose worker stops without acknowledging it
// goes to another worker after AckWait, and survives a new connection.
func TestPfopRedelivery(t *testing.T) {
	url := testenv.NATS(t)
	q1 := connectTo(t, url, queue.DefaultConfig())
	short := func(c *queue.PfopConfig) { c.AckWait = 500 * time.Millisecond }
	p1 := openPfop(t, q1, short)
	publish(t, p1, ufop.TierFree, "carol", "c0")
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan int, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p1.Serve(ctx, 1, func(ctx context.Context, d *queue.Delivery) { got <- d.Attempt })
	}()
	if a := <-got; a != 1 {
		t.Fatalf("first attempt %d", a)
	}
	cancel()
	<-done
	q1.Close()

	q2 := connectTo(t, url, queue.DefaultConfig())
	p2 := openPfop(t, q2, short)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go p2.Serve(ctx2, 1, func(ctx context.Context, d *queue.Delivery) { got <- d.Attempt; d.Ack() })
	select {
	case a := <-got:
		if a != 2 {
			t.Fatalf("redelivery attempt %d, want 2", a)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("job not redelivered")
	}
}

// TestPfopSurvivesServerRestart: a queued job and its state outlive the
// NATS server (file storage), and are there when it comes back.
func TestPfopSurvivesServerRestart(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "js")
	start := func(port int) *embedded.NATS {
		n, err := embedded.StartNATS(embedded.NATSConfig{Dir: dir, Port: port}, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	n := start(-1)
	url := n.ClientURL()
	q := connectTo(t, url, queue.DefaultConfig())
	p := openPfop(t, q, nil)
	ctx := context.Background()
	if err := p.CreateState(ctx, "z0.kept", []byte("state")); err != nil {
		t.Fatal(err)
	}
	publish(t, p, ufop.TierPaid, "dora", "z0.kept")
	q.Close()
	n.Close()

	_, portText, _ := strings.Cut(strings.TrimPrefix(url, "nats://"), ":")
	port, _ := strconv.Atoi(portText)
	n = start(port)
	t.Cleanup(n.Close)
	q = connectTo(t, n.ClientURL(), queue.DefaultConfig())
	p = openPfop(t, q, nil)
	if v, _, err := p.State(ctx, "z0.kept"); err != nil || string(v) != "state" {
		t.Fatalf("state after restart: %q, %v", v, err)
	}
	done := serveOrder(t, p, 1, 0)
	testenv.Eventually(t, 10*time.Second, func() bool { return indexOf(done(), "z0.kept") >= 0 }, "the queued job delivered after the restart")
}
