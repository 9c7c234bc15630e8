package migrate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/storage"
)

// Config configures a Runner.
type Config struct {
	// ID names this runner in the lister election (the agent's ID).
	ID string
	// Prefix is where jobs live in etcd.
	Prefix string
	// Poll is how often the runner looks at the jobs.
	Poll time.Duration
	// LeaderTTL is how long a dead lister holds the election.
	LeaderTTL time.Duration
	// PageSize is the keys listed and queued per checkpoint.
	PageSize int
	// MaxQueued pauses a lister while a job has this many keys waiting,
	// so the stream stays small whatever the source's size.
	MaxQueued int64
	// Attempts, Backoff and MaxBackoff govern the retries of one key.
	Attempts   int
	Backoff    time.Duration
	MaxBackoff time.Duration
	// MaxObjectBytes bounds one object fetched from an origin.
	MaxObjectBytes int64
	// AckWait is how long a key handed to a worker that died waits before
	// it goes to another (live workers extend it).
	AckWait time.Duration
}

// DefaultConfig returns the defaults; ID must still be set.
func DefaultConfig() Config {
	return Config{Prefix: protocol.MigratePrefix, Poll: 500 * time.Millisecond, LeaderTTL: 5 * time.Second,
		PageSize: 1000, MaxQueued: 100_000, Attempts: 5, Backoff: 200 * time.Millisecond, MaxBackoff: 10 * time.Second,
		MaxObjectBytes: storage.DefaultMaxObjectBytes, AckWait: 10 * time.Second}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.ID == "" || c.Prefix == "":
		return errors.New("migrate: runner ID and prefix are required")
	case c.Poll <= 0 || c.LeaderTTL < time.Second:
		return errors.New("migrate: poll must be positive and the leader TTL at least 1s")
	case c.PageSize < 1 || c.MaxQueued < int64(c.PageSize):
		return errors.New("migrate: page size must be positive and max queued at least a page")
	case c.AckWait < time.Second:
		return errors.New("migrate: ack wait must be at least 1s")
	case c.Attempts < 1 || c.Backoff <= 0 || c.MaxBackoff < c.Backoff:
		return errors.New("migrate: attempts must be at least 1, 0 < backoff ≤ max backoff")
	}
	return nil
}

// Deps are what a Runner works with.
type Deps struct {
	Etcd   *clientv3.Client
	NATS   *nats.Conn
	Store  storage.Store
	Egress *egress.Policy
	Logger *slog.Logger
	// OpenSource, when set, opens every job's source (Opener.Custom).
	OpenSource func(ctx context.Context, job Job) (Source, error)
}

// Runner runs migrations on an agent: workers for every running job, and,
// on the agent elected among them, the listers.
type Runner struct {
	cfg    Config
	deps   Deps
	jobs   *Jobs
	logger *slog.Logger
	flush  *flusher
	lifecycle.Closer
}

// New returns a runner; Run starts it.
func New(cfg Config, deps Deps) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Etcd == nil || deps.NATS == nil || deps.Store == nil || deps.Logger == nil {
		return nil, errors.New("migrate: etcd, NATS, store and logger are required")
	}
	r := &Runner{cfg: cfg, deps: deps, jobs: NewJobs(deps.Etcd, cfg.Prefix), logger: deps.Logger.With("component", "migrate")}
	r.flush = newFlusher(r.jobs, r.logger)
	return r, nil
}

// Run works until ctx ends or Close is called; then the copies in flight
// finish and their outcomes are recorded.
func (r *Runner) Run(ctx context.Context) error {
	ctx, cancel := r.Bind(ctx)
	defer cancel()
	wq, err := NewWorkQueue(ctx, r.deps.NATS)
	if err == nil {
		wq.ackWait = r.cfg.AckWait
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	opener := Opener{Egress: r.deps.Egress, MaxObjectBytes: r.cfg.MaxObjectBytes, Lists: wq, Custom: r.deps.OpenSource}
	var wg sync.WaitGroup
	flushCtx, stopFlush := context.WithCancel(context.Background())
	wg.Add(2)
	go func() { defer wg.Done(); r.flush.run(flushCtx) }()
	go func() { defer wg.Done(); r.elect(ctx, wq, opener) }()

	workers := map[string]*jobWorker{}
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	for {
		if jobs, err := r.jobs.List(ctx); err == nil {
			r.syncWorkers(ctx, wq, opener, jobs, workers)
		} else if ctx.Err() == nil {
			r.logger.Warn("listing migrations", "err", err)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
			continue
		}
		break
	}
	for name, w := range workers {
		w.stop()
		delete(workers, name)
	}
	// Workers have handed their outcomes over; record them, then stop.
	stopFlush()
	wg.Wait()
	return nil
}

// syncWorkers runs a worker for each running job and stops the others.
func (r *Runner) syncWorkers(ctx context.Context, wq *WorkQueue, opener Opener, jobs []Job, workers map[string]*jobWorker) {
	want := map[string]Job{}
	for _, j := range jobs {
		if j.State == protocol.MigrateRunning {
			want[j.Name] = j
		}
	}
	for name, w := range workers {
		if j, ok := want[name]; !ok || j.Run != w.job.Run {
			w.stop()
			delete(workers, name)
		}
	}
	for name, j := range want {
		if _, ok := workers[name]; ok {
			continue
		}
		w, err := r.startWorker(ctx, wq, opener, j)
		if err != nil {
			r.logger.Warn("starting migration worker", "job", name, "err", err)
			continue
		}
		workers[name] = w
	}
}

// jobWorker copies one job's keys on this agent, at most Workers at once.
type jobWorker struct {
	job    Job
	cc     jetstream.ConsumeContext
	cancel context.CancelFunc
	wg     sync.WaitGroup
	src    Source
}

func (w *jobWorker) stop() {
	w.cc.Stop()
	w.cancel()
	w.wg.Wait()
	w.src.Close()
}

func workersOf(j Job) int { return max(1, j.Workers) }

func (r *Runner) startWorker(ctx context.Context, wq *WorkQueue, opener Opener, job Job) (*jobWorker, error) {
	src, err := opener.Open(ctx, job)
	if err != nil {
		return nil, err
	}
	n := workersOf(job)
	// Keys wait for their outcome to be recorded before their ack: room
	// for a few flushes' worth beyond the copies running.
	cons, err := wq.Consumer(ctx, job.Name, 4*n+64)
	if err != nil {
		src.Close()
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &jobWorker{job: job, cancel: cancel, src: src}
	sem := make(chan struct{}, n)
	copier := Copier{Store: r.deps.Store, Attempts: r.cfg.Attempts, Backoff: r.cfg.Backoff, MaxBackoff: r.cfg.MaxBackoff,
		OnPut: func(key string) { r.logger.Debug("migration put", "job", job.Name, "key", key) }}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case sem <- struct{}{}:
		case <-wctx.Done():
			m.Nak() // for the next worker, now rather than after AckWait
			return
		}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			defer func() { <-sem }()
			r.handle(wctx, copier, w, m)
		}()
	}, jetstream.PullMaxMessages(n), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if wctx.Err() == nil && !errors.Is(err, jetstream.ErrNoHeartbeat) {
			r.logger.Debug("migration consumer", "job", job.Name, "err", err)
		}
	}))
	if err != nil {
		cancel()
		src.Close()
		return nil, unavailableQ(err)
	}
	w.cc = cc
	r.logger.Info("migration worker started", "job", job.Name, "run", job.Run, "workers", n)
	return w, nil
}

func (r *Runner) handle(ctx context.Context, copier Copier, w *jobWorker, m jetstream.Msg) {
	run, e := entryOf(m)
	if run != w.job.Run {
		m.Ack() // a key of an earlier run
		return
	}
	// A long copy keeps its key: JetStream hears of it every third of
	// AckWait, so only a dead worker's keys go to another.
	beat := make(chan struct{})
	go func() {
		t := time.NewTicker(r.cfg.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-beat:
				return
			case <-t.C:
				m.InProgress()
			}
		}
	}()
	d, err := copier.Copy(ctx, w.src, w.job.To, e)
	close(beat)
	if err != nil {
		return // stopped: the key comes back to a worker
	}
	if d.Failed > 0 {
		r.logger.Info("migration key failed", "job", w.job.Name, "key", e.Key, "reason", d.Failures[0].Reason)
	}
	r.flush.add(w.job.Name, run, d, m)
}

// flusher records outcomes in etcd, then acknowledges their keys: a key
// whose outcome was not recorded comes back, and is then skipped.
type flusher struct {
	jobs    *Jobs
	logger  *slog.Logger
	mu      sync.Mutex
	pending map[string]*batch
	kick    chan struct{}
}

type batch struct {
	name string
	run  int64
	d    Progress
	msgs []jetstream.Msg
}

func newFlusher(jobs *Jobs, logger *slog.Logger) *flusher {
	return &flusher{jobs: jobs, logger: logger, pending: map[string]*batch{}, kick: make(chan struct{}, 1)}
}

func (f *flusher) add(name string, run int64, d Progress, m jetstream.Msg) {
	f.mu.Lock()
	k := name + "/" + strconv.FormatInt(run, 10)
	b := f.pending[k]
	if b == nil {
		b = &batch{name: name, run: run, d: Progress{Run: run}}
		f.pending[k] = b
	}
	b.d.add(d)
	b.msgs = append(b.msgs, m)
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// run flushes whenever there is something, one etcd write per job per
// round, until ctx ends; then once more.
func (f *flusher) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			f.flushOnce(fctx)
			cancel()
			return
		case <-f.kick:
		}
		// Not ctx: a write cut short by the shutdown may still have
		// committed, and the final flush would count it again.
		fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		ok := f.flushOnce(fctx)
		cancel()
		if !ok {
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

func (f *flusher) flushOnce(ctx context.Context) bool {
	f.mu.Lock()
	todo := f.pending
	f.pending = map[string]*batch{}
	f.mu.Unlock()
	ok := true
	for k, b := range todo {
		if err := f.jobs.AddProgress(ctx, b.name, b.d); err != nil {
			ok = false
			f.logger.Warn("recording migration progress", "job", b.name, "err", err)
			f.mu.Lock()
			if cur := f.pending[k]; cur != nil {
				b.d.add(cur.d)
				b.msgs = append(b.msgs, cur.msgs...)
			}
			f.pending[k] = b
			f.mu.Unlock()
			continue
		}
		for _, m := range b.msgs {
			m.Ack()
		}
	}
	if !ok {
		select {
		case f.kick <- struct{}{}:
		default:
		}
	}
	return ok
}

// elect campaigns to be the lister; the leader lists until it loses its
// lease or ctx ends.
func (r *Runner) elect(ctx context.Context, wq *WorkQueue, opener Opener) {
	for ctx.Err() == nil {
		if err := r.lead(ctx, wq, opener); err != nil && ctx.Err() == nil {
			r.logger.Warn("migration lister election", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

func (r *Runner) lead(ctx context.Context, wq *WorkQueue, opener Opener) error {
	sess, err := concurrency.NewSession(r.deps.Etcd, concurrency.WithTTL(int(r.cfg.LeaderTTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, protocol.MigrateLeaderKey(r.cfg.Prefix))
	if err := el.Campaign(ctx, r.cfg.ID); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
		case <-lctx.Done():
		}
		cancel()
	}()
	r.logger.Info("migration lister elected", "id", r.cfg.ID)
	listers := map[string]*lister{}
	defer func() {
		for _, l := range listers {
			l.cancel()
			<-l.done
		}
		rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
		el.Resign(rctx)
		rcancel()
	}()
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	for {
		jobs, err := r.jobs.List(lctx)
		if err == nil {
			r.syncListers(lctx, wq, opener, jobs, listers)
		}
		select {
		case <-lctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

type lister struct {
	run    int64
	cancel context.CancelFunc
	done   chan struct{}
}

// syncListers runs a lister for each running job whose listing is not
// done, and marks done the jobs whose listing is done and whose every key
// is handled.
func (r *Runner) syncListers(ctx context.Context, wq *WorkQueue, opener Opener, jobs []Job, listers map[string]*lister) {
	running := map[string]Job{}
	for _, j := range jobs {
		if j.State == protocol.MigrateRunning {
			running[j.Name] = j
		}
	}
	for name, l := range listers {
		select {
		case <-l.done:
			delete(listers, name)
			continue
		default:
		}
		if j, ok := running[name]; !ok || j.Run != l.run {
			l.cancel()
			<-l.done
			delete(listers, name)
		}
	}
	for name, j := range running {
		if _, ok := listers[name]; ok {
			continue
		}
		c, _, err := r.jobs.Cursor(ctx, name)
		if err != nil || c.Run != j.Run {
			continue
		}
		if !c.Done {
			lctx, cancel := context.WithCancel(ctx)
			l := &lister{run: j.Run, cancel: cancel, done: make(chan struct{})}
			listers[name] = l
			go func() {
				defer close(l.done)
				r.list(lctx, wq, opener, j)
			}()
			continue
		}
		waiting, inflight, err := wq.Depth(ctx, name)
		if err == nil && waiting == 0 && inflight == 0 {
			if _, err := r.jobs.SetState(ctx, name, j.Run, []string{protocol.MigrateRunning}, protocol.MigrateDone, ""); err == nil {
				r.logger.Info("migration done", "job", name, "run", j.Run)
			}
		}
	}
}

// list pages job's source into the queue from its checkpoint.
func (r *Runner) list(ctx context.Context, wq *WorkQueue, opener Opener, job Job) {
	fail := func(err error) {
		r.logger.Warn("migration listing failed", "job", job.Name, "err", err)
		r.jobs.SetState(ctx, job.Name, job.Run, []string{protocol.MigrateRunning}, protocol.MigrateFailed,
			"listing the source: "+ufop.Message(err))
	}
	src, err := opener.Open(ctx, job)
	if err != nil {
		if ctx.Err() == nil {
			fail(err)
		}
		return
	}
	defer src.Close()
	// The consumer exists before the first key, so the queue depth the
	// done check reads counts every key.
	if _, err := wq.Consumer(ctx, job.Name, 4*workersOf(job)+64); err != nil {
		return
	}
	c, rev, err := r.jobs.Cursor(ctx, job.Name)
	if err != nil || c.Run != job.Run {
		return
	}
	var tgt *targetCursor
	if src.Sorted() {
		tgt = &targetCursor{store: r.deps.Store, bucket: job.To, marker: c.Pos}
	}
	pause := r.cfg.Backoff
	attempt := 0
	for !c.Done && ctx.Err() == nil {
		if cur, _, err := r.jobs.Get(ctx, job.Name); err != nil || cur.Run != job.Run || cur.State != protocol.MigrateRunning {
			return
		}
		if waiting, _, err := wq.Depth(ctx, job.Name); err == nil && waiting >= r.cfg.MaxQueued {
			sleep(ctx, r.cfg.Poll)
			continue
		}
		entries, next, done, err := src.Page(ctx, c.Pos, r.cfg.PageSize)
		var queue []Entry
		var skipped int64
		if err == nil {
			queue, skipped, err = tgt.sift(ctx, entries)
		}
		if err == nil {
			err = wq.Publish(ctx, job.Name, job.Run, queue)
		}
		if err == nil {
			nc := Cursor{Run: job.Run, Pos: next, Listed: c.Listed + int64(len(entries)), Skipped: c.Skipped + skipped, Done: done}
			var nrev int64
			if nrev, err = r.jobs.SaveCursor(ctx, job.Name, rev, nc); err == nil {
				c, rev, attempt, pause = nc, nrev, 0, r.cfg.Backoff
				continue
			}
			if ufop.KindOf(err) == ufop.KindConflict {
				return // another lister moved it: it leads now
			}
		}
		if ctx.Err() != nil {
			return
		}
		tgt.reset(c.Pos)
		attempt++
		if !retryable(err) || attempt >= r.cfg.Attempts {
			fail(err)
			return
		}
		r.logger.Info("migration listing retry", "job", job.Name, "attempt", attempt, "err", err)
		sleep(ctx, pause)
		pause = min(2*pause, r.cfg.MaxBackoff)
	}
	if c.Done {
		r.logger.Info("migration listing done", "job", job.Name, "listed", c.Listed)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// Describe names a job for logs.
func (j Job) String() string { return fmt.Sprintf("%s(run %d)", j.Name, j.Run) }

// targetCursor walks the target bucket's listing beside a sorted source's
// pages, like rclone: keys the target has with the same size and ETag are
// not queued at all; the others are queued with what was seen, so the
// worker copies them without a Stat. It holds one page of the target.
type targetCursor struct {
	store  storage.Store
	bucket string
	marker string
	page   []ufop.Object
	done   bool
}

// reset starts again after pos (a page failed and is listed again).
func (t *targetCursor) reset(pos string) {
	if t != nil {
		t.marker, t.page, t.done = pos, nil, false
	}
}

// sift returns the entries to queue, with hints, and how many need no copy.
// A nil cursor (unsorted source) queues everything without hints.
func (t *targetCursor) sift(ctx context.Context, entries []Entry) ([]Entry, int64, error) {
	if t == nil {
		return entries, 0, nil
	}
	out := entries[:0:0]
	var skipped int64
	for _, e := range entries {
		o, ok, err := t.seek(ctx, e.Key)
		if err != nil {
			return nil, 0, err
		}
		switch {
		case !ok:
			e.Hint = HintAbsent
		case e.Size >= 0 && o.Size != e.Size:
			e.Hint = HintDiffers
		default:
			if cmp, eq := sameETag(e.ETag, o.ETag); cmp && eq {
				skipped++
				continue
			} else if cmp {
				e.Hint = HintDiffers
			}
			// Else same size, no comparable digest: the worker hashes.
		}
		out = append(out, e)
	}
	return out, skipped, nil
}

// seek advances to key and returns the target's object of that key.
func (t *targetCursor) seek(ctx context.Context, key string) (ufop.Object, bool, error) {
	for {
		for len(t.page) > 0 && t.page[0].Key < key {
			t.page = t.page[1:]
		}
		if len(t.page) > 0 {
			return t.page[0], t.page[0].Key == key, nil
		}
		if t.done {
			return ufop.Object{}, false, nil
		}
		objs, next, err := t.store.List(ctx, t.bucket, "", t.marker, 1000)
		if err != nil {
			return ufop.Object{}, false, err
		}
		t.page, t.done = objs, next == ""
		if len(objs) > 0 {
			t.marker = objs[len(objs)-1].Key
		}
	}
}
