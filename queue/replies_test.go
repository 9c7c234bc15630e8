package queue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/queue"
)

// TestWaitersShareOneInbox: jobs published through their waiters (no
// wait for the stream's ack) reach the consumer; each waiter gets the
// answer to its own job, over one reply subscription; a second answer to
// one job (a redelivery) does not reach another waiter.
func TestWaitersShareOneInbox(t *testing.T) {
	q := connect(t, nil)
	ctx := ctxT(t)
	const n = 5
	var ws []*queue.Waiter
	for i := range n {
		w, err := q.Wait()
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		if err := w.Publish(ctx, "sepia", ufop.Job{ID: fmt.Sprintf("job-%d", i), Reply: w.Reply()}); err != nil {
			t.Fatal(err)
		}
		ws = append(ws, w)
	}
	cons, err := q.Consumer(ctx, "sepia")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		var job ufop.Job
		if err := json.Unmarshal(m.Data(), &job); err != nil {
			t.Fatal(err)
		}
		res := queue.Result{Body: []byte("answer to " + job.ID), ContentType: "text/plain"}
		for range 2 { // the second is a duplicate
			if err := q.Reply(job, res); err != nil {
				t.Fatal(err)
			}
		}
		m.Ack()
		got++
	}
	if got != n {
		t.Fatalf("consumer got %d jobs, want %d", got, n)
	}
	for i, w := range ws {
		res, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("answer to job-%d", i); string(res.Body) != want {
			t.Errorf("waiter %d got %q, want %q", i, res.Body, want)
		}
		// Nothing more for it: the duplicate was dropped.
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		if res, err := w.Next(short); err == nil {
			t.Errorf("waiter %d got a second answer %q", i, res.Body)
		}
		cancel()
	}
}

// TestWaiterPublishRefused: a job nothing takes (its stream is gone) ends the wait with a 503-kind error, not at the deadline.
func TestWaiterPublishRefused(t *testing.T) {
	q := connect(t, func(c *queue.Config) { c.Stream, c.Subject = "REFUSED", "ufop.refused." })
	js, err := jetstream.New(q.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctxT(t), "REFUSED"); err != nil { // nothing takes ufop.refused.> now
		t.Fatal(err)
	}
	w, err := q.Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Publish(ctxT(t), "sepia", ufop.Job{ID: "x", Reply: w.Reply()}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = w.Next(ctxT(t))
	if ufop.KindOf(err) != ufop.KindUnavailable {
		t.Errorf("Next after a refused publish = %v (kind %v), want unavailable", err, ufop.KindOf(err))
	}
	if time.Since(start) > 15*time.Second {
		t.Errorf("the refusal took %v", time.Since(start))
	}
}
