package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/queue"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*queue.Config)
		ok   bool
	}{
		{"defaults", func(*queue.Config) {}, true},
		{"no stream", func(c *queue.Config) { c.Stream = "" }, false},
		{"no subject", func(c *queue.Config) { c.Subject = "" }, false},
		{"no cancel subject", func(c *queue.Config) { c.Cancel = "" }, false},
		{"zero max age", func(c *queue.Config) { c.MaxAge = 0 }, false},
		{"negative ack wait", func(c *queue.Config) { c.AckWait = -time.Second }, false},
		{"no delivery", func(c *queue.Config) { c.MaxDeliver = 0 }, false},
		{"tiny inline limit", func(c *queue.Config) { c.InlineLimit = 1023 }, false},
		{"1 KiB inline limit", func(c *queue.Config) { c.InlineLimit = 1 << 10 }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := queue.DefaultConfig()
			tc.mod(&cfg)
			if err := cfg.Validate(); (err == nil) != tc.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// connect returns a queue on a fresh embedded NATS JetStream.
func connect(t *testing.T, mod func(*queue.Config)) *queue.Queue {
	t.Helper()
	cfg := queue.DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	return connectTo(t, testenv.NATS(t), cfg)
}

func connectTo(t *testing.T, url string, cfg queue.Config) *queue.Queue {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	q, err := queue.Connect(ctx, url, cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(q.Close)
	return q
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func depth(t *testing.T, q *queue.Queue, name string) (int, int) {
	t.Helper()
	w, f, err := q.Depth(ctxT(t), name)
	if err != nil {
		t.Fatalf("Depth(%s): %v", name, err)
	}
	return w, f
}

// TestPublishConsume: a job goes through the stream to the UFOP's
// consumer intact; Depth counts it waiting (before and after the consumer
// exists), then in flight, then gone once acknowledged. A job published
// twice with one id (a client retry) is kept once, and another UFOP's jobs
// are not counted.
func TestPublishConsume(t *testing.T) {
	q := connect(t, nil)
	ctx := ctxT(t)
	job := ufop.Job{ID: "req-1", Fops: "sepia", Owner: "alice", Tier: ufop.TierPaid,
		Source: ufop.Source{Bucket: "b", Key: "k.jpg", ETag: "e"}, Deadline: time.Now().Add(time.Minute).UTC()}
	for range 2 {
		if err := q.Publish(ctx, "sepia", job); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Publish(ctx, "other", ufop.Job{ID: "req-2"}); err != nil {
		t.Fatal(err)
	}
	if w, f := depth(t, q, "sepia"); w != 1 || f != 0 {
		t.Fatalf("before a consumer: depth %d waiting %d in flight, want 1, 0", w, f)
	}
	cons, err := q.Consumer(ctx, "sepia")
	if err != nil {
		t.Fatal(err)
	}
	if w, f := depth(t, q, "sepia"); w != 1 || f != 0 {
		t.Fatalf("with a consumer: depth %d waiting %d in flight, want 1, 0", w, f)
	}
	msg, err := cons.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got ufop.Job
	if err := json.Unmarshal(msg.Data(), &got); err != nil {
		t.Fatal(err)
	}
	if got.ID != job.ID || got.Fops != job.Fops || got.Source != job.Source || !got.Deadline.Equal(job.Deadline) {
		t.Errorf("consumed %+v, want %+v", got, job)
	}
	if w, f := depth(t, q, "sepia"); w != 0 || f != 1 {
		t.Errorf("taken: depth %d waiting %d in flight, want 0, 1", w, f)
	}
	if err := msg.Ack(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 10*time.Second, func() bool { w, f := depth(t, q, "sepia"); return w == 0 && f == 0 },
		"acknowledged job still counted")
	if _, err := cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond)); err == nil {
		t.Error("the duplicate publish was delivered too")
	}
	if w, _ := depth(t, q, "other"); w != 1 {
		t.Errorf("other UFOP: %d waiting, want 1", w)
	}
}

// TestConsumerShared: agents hosting one UFOP share its consumer, so a job
// goes to one of them only; a job its agent does not acknowledge comes
// back (to any agent) after AckWait, at most MaxDeliver times.
func TestConsumerShared(t *testing.T) {
	q := connect(t, func(c *queue.Config) { c.AckWait = 300 * time.Millisecond; c.MaxDeliver = 2 })
	ctx := ctxT(t)
	a, err := q.Consumer(ctx, "sepia")
	if err != nil {
		t.Fatal(err)
	}
	b, err := q.Consumer(ctx, "sepia")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Publish(ctx, "sepia", ufop.Job{ID: "only"}); err != nil {
		t.Fatal(err)
	}
	m1, err := a.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// Not acknowledged: the other agent gets it again after AckWait.
	m2, err := b.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatalf("unacknowledged job not redelivered: %v", err)
	}
	md1, _ := m1.Metadata()
	md2, _ := m2.Metadata()
	if md1.NumDelivered != 1 || md2.NumDelivered != 2 {
		t.Errorf("deliveries %d then %d, want 1 then 2", md1.NumDelivered, md2.NumDelivered)
	}
	// MaxDeliver 2: no third attempt.
	if m, err := a.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
		md, _ := m.Metadata()
		t.Errorf("delivered again (attempt %d) past MaxDeliver", md.NumDelivered)
	}
}

// TestReplyWait: results reach the waiter on the reply subject: inline
// bodies with the headers meant for the client (X-Ufop-*, Server-Timing)
// and no others, references to large results, and errors with their kind,
// user message and retry hint, never their internal cause.
func TestReplyWait(t *testing.T) {
	q := connect(t, nil)
	tests := []struct {
		name string
		res  queue.Result
		want queue.Result
	}{
		{
			name: "inline",
			res: queue.Result{Body: []byte("JPEG"), ContentType: "image/jpeg",
				Header: map[string]string{"X-Ufop-Facecrop": "face", "Server-Timing": "run;dur=3", "Set-Cookie": "a=b"}},
			want: queue.Result{Body: []byte("JPEG"), ContentType: "image/jpeg",
				Header: map[string]string{"X-Ufop-Facecrop": "face", "Server-Timing": "run;dur=3"}},
		},
		{
			name: "fetch",
			res:  queue.Result{Body: []byte("not sent"), ContentType: "image/png", Fetch: "http://127.0.0.1:1/results/x"},
			want: queue.Result{ContentType: "image/png", Fetch: "http://127.0.0.1:1/results/x", Header: map[string]string{}},
		},
		{
			name: "error",
			res: queue.Result{Err: &ufop.Error{Kind: ufop.KindRateLimited, Msg: "too many jobs", RetryAfter: 2 * time.Second,
				Err: errors.New("internal detail 10.1.2.3")}},
			want: queue.Result{Err: &ufop.Error{Kind: ufop.KindRateLimited, Msg: "too many jobs", RetryAfter: 2 * time.Second}},
		},
		{
			name: "error without kind",
			res:  queue.Result{Err: errors.New("open /secret: denied")},
			want: queue.Result{Err: &ufop.Error{Kind: ufop.KindInternal, Msg: "internal error"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w, err := q.Wait()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := q.Reply(ufop.Job{ID: "j", Reply: w.Reply()}, tc.res); err != nil {
				t.Fatal(err)
			}
			got, err := w.Next(ctxT(t))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.Err != nil {
				var e *ufop.Error
				if !errors.As(got.Err, &e) {
					t.Fatalf("Err = %v, want %v", got.Err, tc.want.Err)
				}
				want := tc.want.Err.(*ufop.Error)
				if e.Kind != want.Kind || e.Msg != want.Msg || e.RetryAfter != want.RetryAfter || e.Err != nil {
					t.Errorf("Err = %+v, want %+v", e, want)
				}
				return
			}
			if got.Err != nil {
				t.Fatalf("Err = %v", got.Err)
			}
			if string(got.Body) != string(tc.want.Body) || got.ContentType != tc.want.ContentType || got.Fetch != tc.want.Fetch {
				t.Errorf("got body %q type %q fetch %q, want %q %q %q", got.Body, got.ContentType, got.Fetch,
					tc.want.Body, tc.want.ContentType, tc.want.Fetch)
			}
			if len(got.Header) != len(tc.want.Header) {
				t.Errorf("headers %v, want %v", got.Header, tc.want.Header)
			}
			for k, v := range tc.want.Header {
				if got.Header[k] != v {
					t.Errorf("header %s = %q, want %q", k, got.Header[k], v)
				}
			}
		})
	}
}

func TestWaitEndsWithContext(t *testing.T) {
	q := connect(t, nil)
	w, err := q.Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Next on a canceled context = %v", err)
	}
}

// TestCancellations: every subscriber sees each canceled id, until it
// stops.
func TestCancellations(t *testing.T) {
	q := connect(t, nil)
	var mu sync.Mutex
	var got []string
	stop, err := q.Cancellations(func(id string) { mu.Lock(); got = append(got, id); mu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	seen := func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
	q.Cancel("a")
	q.Cancel("b")
	testenv.Eventually(t, 10*time.Second, func() bool { return len(seen()) == 2 }, "cancellations seen: %v", seen())
	if s := seen(); s[0] != "a" || s[1] != "b" {
		t.Errorf("cancellations %v, want [a b]", s)
	}
	stop()
	if err := q.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	q.Cancel("c")
	// A later subscriber proves "c" went out; the stopped one must not
	// have it.
	done := make(chan struct{})
	stop2, err := q.Cancellations(func(id string) {
		if id == "d" {
			close(done)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer stop2()
	q.Conn().Flush()
	q.Cancel("d")
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("cancellation d not seen")
	}
	if s := seen(); len(s) != 2 {
		t.Errorf("stopped subscriber saw %v", s)
	}
}

func TestDeleteConsumer(t *testing.T) {
	q := connect(t, nil)
	ctx := ctxT(t)
	if err := q.DeleteConsumer(ctx, "never"); err != nil {
		t.Errorf("deleting a missing consumer: %v", err)
	}
	if err := q.Publish(ctx, "sepia", ufop.Job{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Consumer(ctx, "sepia"); err != nil {
		t.Fatal(err)
	}
	if err := q.DeleteConsumer(ctx, "sepia"); err != nil {
		t.Fatal(err)
	}
	// The job stays in the stream, counted without a consumer.
	if w, f := depth(t, q, "sepia"); w != 1 || f != 0 {
		t.Errorf("after delete: %d waiting, %d in flight, want 1, 0", w, f)
	}
}

// TestToken: a server that requires a token refuses a queue without it
// (Connect keeps trying until its context ends) and serves one with it.
func TestToken(t *testing.T) {
	n, err := embedded.StartNATS(embedded.NATSConfig{Dir: filepath.Join(t.TempDir(), "js"), Port: -1, Token: "s3cret"}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if q, err := queue.Connect(ctx, n.ClientURL(), queue.DefaultConfig(), testenv.Logger(t)); err == nil {
		q.Close()
		t.Fatal("connected without the token")
	}
	cfg := queue.DefaultConfig()
	cfg.Token = "s3cret"
	q := connectTo(t, n.ClientURL(), cfg)
	if err := q.Publish(ctxT(t), "sepia", ufop.Job{ID: "1"}); err != nil {
		t.Fatal(err)
	}
}

// TestPublishUnavailable: with the connection gone, Publish says the
// queue is unavailable, with a retry hint (a 503 at the gateway).
func TestPublishUnavailable(t *testing.T) {
	q := connect(t, nil)
	q.Close()
	err := q.Publish(ctxT(t), "sepia", ufop.Job{ID: "1"})
	if ufop.KindOf(err) != ufop.KindUnavailable || ufop.RetryAfterOf(err) <= 0 {
		t.Errorf("Publish on a closed queue = %v (kind %v)", err, ufop.KindOf(err))
	}
	if _, err := q.Wait(); ufop.KindOf(err) != ufop.KindUnavailable {
		t.Errorf("Wait on a closed queue = %v", err)
	}
}

func TestConnectRefusesBadConfig(t *testing.T) {
	cfg := queue.DefaultConfig()
	cfg.Stream = ""
	if _, err := queue.Connect(context.Background(), "nats://127.0.0.1:1", cfg, testenv.Logger(t)); err == nil {
		t.Fatal("Connect accepted an invalid config")
	}
}
