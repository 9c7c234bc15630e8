package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/protocol"
)

// PfopConfig configures the persistent-processing (pfop) queue: a JetStream
// stream of its own, apart from the UFOP jobs, with one subject per owner
// (<Subject><tier>.<owner>) and a KV bucket holding each job's state.
type PfopConfig struct {
	// Stream names the JetStream stream of pfop jobs.
	Stream string
	// Subject is the subject prefix; a job of owner u in tier t is on
	// <Subject><t>.<u>.
	Subject string
	// Wake is the core NATS subject on which submitters announce a new
	// job, so idle workers look at once instead of at their next poll.
	Wake string
	// StateBucket names the JetStream KV bucket of job states.
	StateBucket string
	// Retention is how long a job waits to be taken and how long its
	// status is kept.
	Retention time.Duration
	// AckWait is how long a job may go without a heartbeat before it is
	// given to another worker (a worker that died).
	AckWait time.Duration
	// PaidShare is how many of every PaidShare+1 picks look at paid users
	// first; the rest look at free users first, so that free users are
	// served behind paid ones but never starved.
	PaidShare int
	// Poll is how often an idle worker looks for jobs without a wake-up.
	Poll time.Duration
	// IdleConsumer is how long an owner's consumer lives with nothing to
	// deliver.
	IdleConsumer time.Duration
	// Replicas of the stream and the bucket (1 for a single server).
	Replicas int
}

// DefaultPfopConfig returns the defaults.
func DefaultPfopConfig() PfopConfig {
	return PfopConfig{Stream: protocol.PfopStream, Subject: protocol.PfopSubjectPrefix, Wake: protocol.PfopWakeSubject,
		StateBucket: protocol.PfopStateBucket, Retention: 7 * 24 * time.Hour, AckWait: 30 * time.Second, PaidShare: 4,
		Poll: time.Second, IdleConsumer: time.Hour, Replicas: 1}
}

// Validate reports a config that cannot work.
func (c PfopConfig) Validate() error {
	switch {
	case c.Stream == "" || c.Subject == "" || c.Wake == "" || c.StateBucket == "":
		return errors.New("queue: pfop stream, subject, wake subject and state bucket are required")
	case c.Retention <= 0 || c.AckWait <= 0 || c.Poll <= 0 || c.IdleConsumer <= 0:
		return errors.New("queue: pfop retention, ack wait, poll and idle consumer must be positive")
	case c.PaidShare < 0:
		return errors.New("queue: pfop paid share must not be negative")
	}
	return nil
}

// Pfop is the pfop job queue and state store. Jobs are pulled fairly:
// round-robin over the owners that have jobs waiting, paid tier first
// (see PfopConfig.PaidShare), so one owner's thousands of jobs delay
// another owner's job by one pick per worker, not by the backlog.
type Pfop struct {
	cfg    PfopConfig
	q      *Queue
	stream jetstream.Stream
	kv     jetstream.KeyValue
	logger *slog.Logger

	mu   sync.Mutex
	cons map[string]jetstream.Consumer // subject → consumer
}

// Pfop opens (creating on first use) the pfop stream and state bucket.
func (q *Queue) Pfop(ctx context.Context, cfg PfopConfig) (*Pfop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	s, err := q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:       cfg.Stream,
		Subjects:   []string{cfg.Subject + ">"},
		Retention:  jetstream.WorkQueuePolicy,
		MaxAge:     cfg.Retention,
		Storage:    jetstream.FileStorage,
		Replicas:   cfg.Replicas,
		Duplicates: 2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: pfop stream %s: %w", cfg.Stream, err)
	}
	kv, err := q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: cfg.StateBucket, TTL: cfg.Retention, Storage: jetstream.FileStorage, Replicas: cfg.Replicas, History: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("queue: pfop state bucket %s: %w", cfg.StateBucket, err)
	}
	return &Pfop{cfg: cfg, q: q, stream: s, kv: kv, logger: q.logger, cons: map[string]jetstream.Consumer{}}, nil
}

// Config returns the configuration.
func (p *Pfop) Config() PfopConfig { return p.cfg }

func unavailable(what string, err error) error {
	return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second, Msg: what + " is not available", Err: err}
}

// Publish enqueues job id of owner in tier; publishing the same id twice
// within two minutes keeps one.
func (p *Pfop) Publish(ctx context.Context, tier ufop.Tier, owner, id string, body []byte) error {
	if _, err := p.q.js.Publish(ctx, p.subject(tier, owner), body, jetstream.WithMsgID(id)); err != nil {
		return unavailable("the pfop queue", err)
	}
	p.q.nc.Publish(p.cfg.Wake, nil)
	return nil
}

func tierToken(t ufop.Tier) string {
	if t == ufop.TierPaid {
		return string(ufop.TierPaid)
	}
	return string(ufop.TierFree)
}

func (p *Pfop) subject(tier ufop.Tier, owner string) string {
	return p.cfg.Subject + tierToken(tier) + "." + owner
}

// ErrStateConflict is returned by UpdateState when the state changed since
// it was read.
var ErrStateConflict = errors.New("queue: pfop state changed meanwhile")

// CreateState stores the first state of job id.
func (p *Pfop) CreateState(ctx context.Context, id string, state []byte) error {
	if _, err := p.kv.Create(ctx, id, state); err != nil {
		if errors.Is(err, jetstream.ErrKeyExists) {
			return ufop.Errorf(ufop.KindConflict, "pfop job %q exists", id)
		}
		return unavailable("the pfop state store", err)
	}
	return nil
}

// State returns job id's state and its revision (KindNotFound when there
// is none, or no more).
func (p *Pfop) State(ctx context.Context, id string) ([]byte, uint64, error) {
	e, err := p.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return nil, 0, ufop.Errorf(ufop.KindNotFound, "no such pfop job %q", id)
	}
	if err != nil {
		return nil, 0, unavailable("the pfop state store", err)
	}
	return e.Value(), e.Revision(), nil
}

// UpdateState replaces job id's state if it is still at revision rev,
// returning the new revision; ErrStateConflict otherwise.
func (p *Pfop) UpdateState(ctx context.Context, id string, state []byte, rev uint64) (uint64, error) {
	r, err := p.kv.Update(ctx, id, state, rev)
	if err != nil {
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
			return 0, ErrStateConflict
		}
		return 0, unavailable("the pfop state store", err)
	}
	return r, nil
}

// Delivery is one job handed to a worker.
type Delivery struct {
	msg   jetstream.Msg
	Tier  ufop.Tier
	Owner string
	// Attempt counts deliveries of this job, 1 the first time.
	Attempt int
}

// Data is the job as published.
func (d *Delivery) Data() []byte { return d.msg.Data() }

// Ack removes the job from the queue: it is finished.
func (d *Delivery) Ack() error { return d.msg.DoubleAck(context.Background()) }

// Nak hands the job back for another worker after delay.
func (d *Delivery) Nak(delay time.Duration) error { return d.msg.NakWithDelay(delay) }

// Serve runs handle on jobs, at most workers at once, picking them fairly
// (see Pfop), until ctx ends; then it waits for the running handlers. A
// handler must Ack or Nak its delivery; while it runs the job is kept
// from other workers by heartbeats. A handler that returns without either
// leaves the job to be delivered again after AckWait.
func (p *Pfop) Serve(ctx context.Context, workers int, handle func(ctx context.Context, d *Delivery)) error {
	if workers < 1 {
		return errors.New("queue: pfop workers must be at least 1")
	}
	wake := make(chan struct{}, 1)
	pk := &picker{p: p}
	sub, err := p.q.nc.Subscribe(p.cfg.Wake, func(*nats.Msg) {
		// A new job may be a new owner's: list the owners again at the
		// next pick, busy or not.
		pk.stale.Store(true)
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		return fmt.Errorf("queue: subscribe %s: %w", p.cfg.Wake, err)
	}
	defer sub.Unsubscribe()
	slots := make(chan struct{}, workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		var d *Delivery
		for d == nil {
			if d = pk.next(ctx); d != nil {
				break
			}
			t := time.NewTimer(p.cfg.Poll)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-wake:
			case <-t.C:
				pk.stale.Store(true)
			}
			t.Stop()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			done := make(chan struct{})
			beat := time.NewTicker(p.cfg.AckWait / 3)
			go func() {
				defer beat.Stop()
				for {
					select {
					case <-done:
						return
					case <-beat.C:
						d.msg.InProgress()
					}
				}
			}()
			defer close(done)
			handle(ctx, d)
		}()
	}
}

// picker chooses the next job: the owners with jobs are listed per tier
// from the stream's per-subject counts, and each pick goes to the owner
// after the one served last.
type picker struct {
	p      *Pfop
	stale  atomic.Bool
	listed time.Time
	paid   []string
	free   []string
	cursor [2]int
	picks  int
}

// refreshEvery bounds how often the picker re-lists owners while jobs
// keep coming.
const refreshEvery = 50 * time.Millisecond

func (pk *picker) refresh(ctx context.Context) {
	if !pk.stale.Load() && time.Since(pk.listed) < refreshEvery {
		return
	}
	pk.stale.Store(false)
	pk.listed = time.Now()
	info, err := pk.p.stream.Info(ctx, jetstream.WithSubjectFilter(pk.p.cfg.Subject+">"))
	if err != nil {
		if ctx.Err() == nil {
			pk.p.logger.Warn("pfop stream info", "err", err)
		}
		return
	}
	pk.paid, pk.free = pk.paid[:0], pk.free[:0]
	for subj, n := range info.State.Subjects {
		if n == 0 {
			continue
		}
		if strings.HasPrefix(subj, pk.p.cfg.Subject+string(ufop.TierPaid)+".") {
			pk.paid = append(pk.paid, subj)
		} else {
			pk.free = append(pk.free, subj)
		}
	}
	// A stable order keeps the round robin's cursor meaningful.
	slices.Sort(pk.paid)
	slices.Sort(pk.free)
}

// next returns a job, or nil when no owner has one to deliver now.
func (pk *picker) next(ctx context.Context) *Delivery {
	pk.refresh(ctx)
	pk.picks++
	order := [2]int{0, 1} // paid, free
	if pk.p.cfg.PaidShare == 0 || pk.picks%(pk.p.cfg.PaidShare+1) == 0 {
		order = [2]int{1, 0}
	}
	for _, t := range order {
		list := pk.paid
		if t == 1 {
			list = pk.free
		}
		for i := range list {
			j := (pk.cursor[t] + i) % len(list)
			if d := pk.p.fetch(ctx, list[j]); d != nil {
				pk.cursor[t] = j + 1
				return d
			}
		}
	}
	return nil
}

// fetch takes one job of subject, if one is there to deliver now.
func (p *Pfop) fetch(ctx context.Context, subj string) *Delivery {
	c, err := p.consumer(ctx, subj)
	if err != nil {
		if ctx.Err() == nil {
			p.logger.Warn("pfop consumer", "subject", subj, "err", err)
		}
		return nil
	}
	batch, err := c.FetchNoWait(1)
	if err != nil {
		p.dropConsumer(subj)
		return nil
	}
	for m := range batch.Messages() {
		tier, owner, _ := strings.Cut(strings.TrimPrefix(m.Subject(), p.cfg.Subject), ".")
		d := &Delivery{msg: m, Tier: ufop.Tier(tier), Owner: owner, Attempt: 1}
		if md, err := m.Metadata(); err == nil {
			d.Attempt = int(md.NumDelivered)
		}
		return d
	}
	if err := batch.Error(); err != nil && errors.Is(err, jetstream.ErrConsumerNotFound) {
		p.dropConsumer(subj)
	}
	return nil
}

// consumer returns the durable consumer of one owner's subject, shared by
// every worker of the cluster; it goes away after IdleConsumer unused.
func (p *Pfop) consumer(ctx context.Context, subj string) (jetstream.Consumer, error) {
	p.mu.Lock()
	c := p.cons[subj]
	p.mu.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := p.q.js.CreateOrUpdateConsumer(ctx, p.cfg.Stream, jetstream.ConsumerConfig{
		Durable:           protocol.PfopConsumerName(strings.TrimPrefix(subj, p.cfg.Subject)),
		FilterSubject:     subj,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           p.cfg.AckWait,
		MaxDeliver:        -1,
		MaxAckPending:     -1,
		InactiveThreshold: p.cfg.IdleConsumer,
	})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.cons[subj] = c
	p.mu.Unlock()
	return c, nil
}

func (p *Pfop) dropConsumer(subj string) {
	p.mu.Lock()
	delete(p.cons, subj)
	p.mu.Unlock()
}
