package queue

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// replies is one wildcard subscription for the results of every job this
// connection waits for: a waiter costs a map entry, not a SUB and an UNSUB
// on the server per job (the way nats.go's own request mux works).
type replies struct {
	once   sync.Once
	err    error
	prefix string // <inbox>. ; a job's reply subject is prefix + token

	mu      sync.Mutex
	next    uint64
	waiters map[string]chan *nats.Msg
}

// start subscribes once, on first use.
func (r *replies) start(nc *nats.Conn) error {
	r.once.Do(func() {
		r.prefix = nc.NewInbox() + "."
		r.waiters = map[string]chan *nats.Msg{}
		var sub *nats.Subscription
		sub, r.err = nc.Subscribe(r.prefix+"*", func(m *nats.Msg) {
			// One answer per waiter: the first wins, a second (a job
			// answered twice after a redelivery) finds no waiter.
			token := m.Subject[len(r.prefix):]
			r.mu.Lock()
			ch := r.waiters[token]
			delete(r.waiters, token)
			r.mu.Unlock()
			if ch != nil {
				ch <- m // buffered for one
			}
		})
		if r.err == nil {
			// The callback never blocks; a burst of large inline results
			// must not count as a slow consumer and be dropped.
			r.err = sub.SetPendingLimits(-1, -1)
		}
	})
	return r.err
}

// Waiter receives the result of one job.
type Waiter struct {
	q     *Queue
	token string
	reply string
	ch    chan *nats.Msg
	ack   jetstream.PubAckFuture // nil until Publish
}

// Wait registers a fresh reply subject; call it before Publish, and Close
// the waiter after.
func (q *Queue) Wait() (*Waiter, error) {
	unavailable := func(err error) error {
		return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "the job queue is not available", Err: err}
	}
	if q.nc.IsClosed() {
		return nil, unavailable(nats.ErrConnectionClosed)
	}
	r := &q.replies
	if err := r.start(q.nc); err != nil {
		return nil, unavailable(err)
	}
	w := &Waiter{q: q, ch: make(chan *nats.Msg, 1)}
	r.mu.Lock()
	r.next++
	w.token = strconv.FormatUint(r.next, 36)
	r.waiters[w.token] = w.ch
	r.mu.Unlock()
	w.reply = r.prefix + w.token
	return w, nil
}

// Reply is the subject to put in the job.
func (w *Waiter) Reply() string { return w.reply }

// Close forgets the reply subject.
func (w *Waiter) Close() {
	r := &w.q.replies
	r.mu.Lock()
	delete(r.waiters, w.token)
	r.mu.Unlock()
}

// Publish enqueues job (whose Reply is w.Reply()) for the UFOP name
// without waiting for the stream's acknowledgement: Next waits for it
// and the result together, so the job travels to an agent while the
// acknowledgement comes back (one round trip less per job).
func (w *Waiter) Publish(ctx context.Context, name string, job ufop.Job) error {
	b, err := marshalJob(job)
	if err != nil {
		return err
	}
	f, err := w.q.js.PublishAsync(protocol.JobSubject(w.q.cfg.Subject, name), b, jetstream.WithMsgID(job.ID))
	if err != nil {
		return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "the job queue is not available", Err: err}
	}
	w.ack = f
	return nil
}

// Next waits for the result, until ctx ends. A job published with
// (*Waiter).Publish that the stream refuses ends the wait with a
// KindUnavailable error.
func (w *Waiter) Next(ctx context.Context) (Result, error) {
	var acked <-chan error
	if w.ack != nil {
		acked = w.ack.Err()
	}
	for {
		select {
		case m := <-w.ch:
			return parseResult(m), nil
		case err := <-acked:
			if err != nil {
				return Result{}, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: "the job queue is not available", Err: err}
			}
			acked = nil
		case <-ctx.Done():
			return Result{}, ctx.Err()
		}
	}
}

func parseResult(m *nats.Msg) Result {
	res := Result{ContentType: m.Header.Get(hdrContentType), Fetch: m.Header.Get(hdrFetch), Header: map[string]string{}}
	if kind := m.Header.Get(hdrKind); kind != "" {
		e := &ufop.Error{Kind: ufop.ParseKind(kind), Msg: string(m.Data)}
		if ra, err := strconv.Atoi(m.Header.Get(hdrRetry)); err == nil {
			e.RetryAfter = time.Duration(ra) * time.Second
		}
		res.Err = e
		return res
	}
	for k := range m.Header {
		if strings.HasPrefix(k, hdrPrefix) || k == protocol.HeaderTiming {
			res.Header[k] = m.Header.Get(k)
		}
	}
	res.Body = m.Data
	return res
}
