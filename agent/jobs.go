package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/queue"
)

// jobs pulls queued jobs for the UFOPs this agent hosts healthy instances
// of, never more at once than those instances' free concurrency, and runs
// them. A job whose instance failed is handed back (NAK) for another try,
// elsewhere if need be, until its last delivery, which answers with the
// error.
type jobs struct {
	a *Agent
	u *ufops
	q *queue.Queue

	mu        sync.Mutex
	pullers   map[string]context.CancelFunc
	consumers map[string]jetstream.Consumer
	wg        sync.WaitGroup

	canceled sync.Map // job id → time canceled
	// big holds results too large for a reply message until the gateway
	// fetches them.
	big sync.Map // job id → *bigResult
}

type bigResult struct {
	res     *Result
	expires time.Time
}

func newJobs(a *Agent, u *ufops, q *queue.Queue) *jobs {
	return &jobs{a: a, u: u, q: q, pullers: map[string]context.CancelFunc{}, consumers: map[string]jetstream.Consumer{}}
}

// run follows cancellations and expires stored results until ctx ends;
// then it waits for the pullers.
func (j *jobs) run(ctx context.Context) {
	stop, err := j.q.Cancellations(func(id string) { j.canceled.Store(id, time.Now()) })
	if err != nil {
		j.a.logger.Warn("no job cancellations", "err", err)
	} else {
		defer stop()
	}
	tick := time.NewTicker(10 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			j.mu.Lock()
			for _, cancel := range j.pullers {
				cancel()
			}
			j.mu.Unlock()
			j.wg.Wait()
			return
		case now := <-tick.C:
			j.canceled.Range(func(k, v any) bool {
				if now.Sub(v.(time.Time)) > j.q.Config().MaxAge {
					j.canceled.Delete(k)
				}
				return true
			})
			j.big.Range(func(k, v any) bool {
				if now.After(v.(*bigResult).expires) {
					j.big.Delete(k)
				}
				return true
			})
		}
	}
}

// sync runs one puller per UFOP in names.
func (j *jobs) sync(ctx context.Context, names []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
		if _, ok := j.pullers[n]; ok || ctx.Err() != nil {
			continue
		}
		pctx, cancel := context.WithCancel(ctx)
		j.pullers[n] = cancel
		j.wg.Add(1)
		go func() { defer j.wg.Done(); j.pull(pctx, n) }()
	}
	for n, cancel := range j.pullers {
		if !want[n] {
			cancel()
			delete(j.pullers, n)
		}
	}
}

func (j *jobs) pull(ctx context.Context, name string) {
	for ctx.Err() == nil {
		// The consumer is kept across pullers: a UFOP started again
		// from zero pulls without a consumer round trip first.
		j.mu.Lock()
		cons := j.consumers[name]
		j.mu.Unlock()
		if cons == nil {
			c, err := j.q.Consumer(ctx, name)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				j.a.logger.Warn("job consumer", "ufop", name, "err", err)
				time.Sleep(500 * time.Millisecond)
				continue
			}
			cons = c
			j.mu.Lock()
			j.consumers[name] = c
			j.mu.Unlock()
		}
		if err := j.fetch(ctx, name, cons); err != nil {
			j.a.logger.Warn("job consumer gone, creating it again", "ufop", name, "err", err)
			j.mu.Lock()
			delete(j.consumers, name)
			j.mu.Unlock()
		}
	}
}

// prefetch is how many jobs per unit of concurrency an agent takes ahead
// of a free slot: one waiting behind each running job keeps the instances
// busy across the pull's round trip, where taking the next job only once a
// slot frees leaves it idle for that round trip (issue 12).
const prefetch = 1

// fetchWait bounds one pull request: an agent with nothing to do asks
// again this often.
const fetchWait = time.Second

// fetch pulls name's jobs while ctx lasts: never more taken and not yet
// finished than the healthy instances' concurrency × (1 + prefetch), in
// batches as large as the free room, each job run as it arrives (pick
// holds a prefetched job until its instance has a free slot).
// It returns an error when the consumer is gone.
func (j *jobs) fetch(ctx context.Context, name string, cons jetstream.Consumer) error {
	var running sync.WaitGroup
	defer running.Wait()
	var taken atomic.Int32          // received, not yet finished
	freed := make(chan struct{}, 1) // a job finished
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for ctx.Err() == nil {
		room := j.u.capacity(name)*(1+prefetch) - int(taken.Load())
		if room <= 0 {
			// Full, or no healthy instance: wait for a job to finish or
			// the instances to change.
			select {
			case <-ctx.Done():
			case <-freed:
			case <-tick.C:
			}
			continue
		}
		// The pull request ends with the puller: a UFOP that lost its
		// last healthy instance here takes no job it cannot run (each
		// would count as a delivery).
		fctx, cancel := context.WithTimeout(ctx, fetchWait)
		batch, err := cons.Fetch(room, jetstream.FetchContext(fctx))
		if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
			cancel()
			return err
		}
		if err != nil {
			cancel()
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
			continue
		}
		for msg := range batch.Messages() {
			taken.Add(1)
			running.Add(1)
			go func() {
				defer running.Done()
				j.handle(ctx, name, msg)
				taken.Add(-1)
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
		}
		cancel()
		if err := batch.Error(); errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
	}
	return nil
}

func (j *jobs) handle(ctx context.Context, name string, msg jetstream.Msg) {
	var job ufop.Job
	if err := json.Unmarshal(msg.Data(), &job); err != nil {
		j.a.logger.Warn("bad job dropped", "ufop", name, "err", err)
		msg.Term()
		return
	}
	if _, gone := j.canceled.Load(job.ID); gone || (!job.Deadline.IsZero() && time.Now().After(job.Deadline)) {
		// Nobody waits for this answer any more.
		j.a.metrics.job(name, "dropped")
		msg.Term()
		return
	}
	md, _ := msg.Metadata()
	last := md == nil || int(md.NumDelivered) >= j.q.Config().MaxDeliver
	jctx := ctx
	if !job.Deadline.IsZero() {
		var cancel context.CancelFunc
		jctx, cancel = context.WithDeadline(ctx, job.Deadline)
		defer cancel()
	}
	// Keep the job ours while it runs.
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(j.q.Config().AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				msg.InProgress()
			}
		}
	}()

	res, err := j.a.Process(jctx, job)
	if err != nil && errors.Is(err, errInstanceDied) && !errors.Is(err, errRetried) && md != nil && md.NumDelivered == 1 && !last && ctx.Err() == nil {
		// Its instance died before answering and no other instance here
		// could try: one more try, on another agent's instance or this
		// one restarted; a second death is the answer.
		// The short delay lets the engine's death event take the dead
		// instance out of routing here first.
		j.a.metrics.job(name, "retried")
		msg.NakWithDelay(500 * time.Millisecond)
		return
	}
	if err != nil && ufop.KindOf(err) == ufop.KindUnavailable && !last && ctx.Err() == nil {
		// Another instance, here or on another agent, may do better.
		j.a.metrics.job(name, "retried")
		msg.NakWithDelay(100 * time.Millisecond)
		return
	}
	if ctx.Err() != nil && jctx.Err() != nil && err != nil {
		// The agent is stopping: let another agent have the job.
		msg.Nak()
		return
	}
	out := queue.Result{Err: err}
	if err == nil {
		out.ContentType, out.Header = res.ContentType, res.Header
		if len(res.Body) > j.q.Config().InlineLimit {
			j.big.Store(job.ID, &bigResult{res: res, expires: time.Now().Add(time.Minute)})
			out.Fetch = j.a.advertise + protocol.ResultPath(job.ID)
		} else {
			out.Body = res.Body
		}
	}
	if rerr := j.q.Reply(job, out); rerr != nil {
		j.a.logger.Warn("job reply", "ufop", name, "job", job.ID, "err", rerr)
	}
	outcome := "ok"
	if err != nil {
		outcome = "failed"
	}
	j.a.metrics.job(name, outcome)
	msg.Ack()
}

// handleResult serves a stored large result once.
func (j *jobs) handleResult(w http.ResponseWriter, r *http.Request) {
	v, ok := j.big.LoadAndDelete(r.PathValue("id"))
	if !ok {
		http.Error(w, "no such result", http.StatusNotFound)
		return
	}
	res := v.(*bigResult).res
	w.Header().Set("Content-Type", res.ContentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(res.Body)))
	w.Write(res.Body)
}
