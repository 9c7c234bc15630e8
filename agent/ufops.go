package agent

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/internal/etcdwatch"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/protocol"
)

// Runtime runs UFOP instances as containers; container.Runtime is the
// implementation.
type Runtime interface {
	Run(ctx context.Context) error
	Close() error
	Ready() <-chan struct{}
	Start(ctx context.Context, spec container.Spec) (*container.Instance, error)
	Stop(ctx context.Context, id string) error
	List(ctx context.Context) ([]*container.Instance, error)
	Logs(ctx context.Context, id string, follow bool, w io.Writer) error
	Events() <-chan container.Event
	// SetCluster labels what the runtime creates from then on with the
	// cluster's identity, the scope of Sweep. Called before Run.
	SetCluster(id string) error
	// Sweep removes what dead agents of the cluster left on this node.
	Sweep(ctx context.Context, gone func(agentID string) bool, minAge time.Duration) (container.Swept, error)
	// AgentAddr is the one address instances can reach: where the agent
	// serves their sources (SPEC §5 url=). Empty before Ready.
	AgentAddr() string
}

// instance is one placement on this agent and its current container.
type instance struct {
	p ufop.Placement
	// slots holds one token per request in flight (concurrency).
	slots chan struct{}

	mu       sync.Mutex
	rtID     string // the runtime's instance id, "" while starting
	addr     string
	state    ufop.InstanceState
	restarts int
	lastErr  string
	started  time.Time
	queued   atomic.Int32
	// The bookkeeping decide reads (see instView), changed under u.mu.
	retiring   bool
	drainSince time.Time
	launching  bool
	retryAt    time.Time
	// dead is the engine's report that the container died, until a
	// reconcile pass handles it.
	dead *container.Event
	// gone is closed when the current container dies, cancelling the
	// requests in flight to it (a new one per container).
	gone chan struct{}
}

// view is what decide and pick know of in. Called with in.mu held.
func (in *instance) view() instView {
	return instView{ID: in.p.ID, UFOP: in.p.UFOP, Version: in.p.Version, State: in.state,
		Inflight: len(in.slots), Queued: int(in.queued.Load()), Concurrency: cap(in.slots), Restarts: in.restarts,
		Running: in.rtID != "", Launching: in.launching, RetryAt: in.retryAt,
		Retiring: in.retiring, DrainSince: in.drainSince, Dead: in.dead != nil}
}

func (in *instance) snapshot(agent string) ufop.Instance {
	in.mu.Lock()
	defer in.mu.Unlock()
	return ufop.Instance{ID: in.p.ID, UFOP: in.p.UFOP, Version: in.p.Version, Agent: agent, State: in.state,
		Inflight: len(in.slots), Queued: int(in.queued.Load()), Restarts: in.restarts, Error: in.lastErr, Started: in.started}
}

// ufops runs the instances the scheduler places on this agent and invokes
// them (SPEC §5).
type ufops struct {
	a      *Agent
	rt     Runtime
	prefix string
	logger *slog.Logger
	client *http.Client

	mu    sync.Mutex
	want  map[string]ufop.Placement // this agent's placements, by ID
	insts map[string]*instance      // by placement ID
	byRT  map[string]*instance      // by runtime instance id
	wg    sync.WaitGroup            // starts and stops under way
	sess  *concurrency.Session
	dirty chan struct{}
	jobs  *jobs // nil without a queue

	// The local fetcher: inputs of calls in flight, by token, served to
	// instances at fetchURL.
	inputs   sync.Map // token → input
	fetchURL string
}

type input struct {
	body        []byte
	contentType string
}

// publisher is the agent's registry entry.
type publisher interface{ Publish(func(*ufop.Agent)) }

// maxRestarts is how many times in a row an instance is restarted in
// place before it is reported failed (and the scheduler places it again).
const maxRestarts = 5

// drainTimeout bounds how long a retiring instance waits for its requests
// before it stops anyway; retryPause is the pause before a failed start
// is tried again.
const (
	drainTimeout = 30 * time.Second
	retryPause   = time.Second
)

func newUfops(a *Agent, rt Runtime, prefix string) *ufops {
	return &ufops{a: a, rt: rt, prefix: prefix, logger: a.logger.With("part", "ufops"),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}},
		insts:  map[string]*instance{}, byRT: map[string]*instance{}, dirty: make(chan struct{}, 1)}
}

// run follows this agent's placements until ctx ends, then stops every
// instance.
func (u *ufops) run(ctx context.Context, ann publisher) error {
	select {
	case <-u.rt.Ready():
	case <-ctx.Done():
		return nil
	}
	// Containers left by an earlier run of this agent have no placement
	// we can trust: start from a clean slate.
	if old, err := u.rt.List(ctx); err == nil {
		for _, in := range old {
			u.rt.Stop(ctx, in.ID)
		}
	}
	if addr := u.rt.AgentAddr(); addr != "" {
		stop, err := u.serveInputs(addr)
		if err != nil {
			u.logger.Warn("no local fetcher for instances", "addr", addr, "err", err)
		} else {
			defer stop()
		}
	}
	sess, err := concurrency.NewSession(u.a.etcd, concurrency.WithTTL(int(u.a.cfg.Discovery.TTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("agent: instance session: %w", err)
	}
	u.sess = sess

	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); u.events(ctx) }()
	go func() { defer wg.Done(); u.reconciler(ctx) }()
	go func() { defer wg.Done(); u.report(ctx, ann) }()
	go func() { defer wg.Done(); u.sweep(ctx) }()
	if u.jobs != nil {
		wg.Add(1)
		go func() { defer wg.Done(); u.jobs.run(ctx) }()
	}
	err = u.follow(ctx)
	wg.Wait()
	// The reports go before the instances: a stopping agent's instances
	// serve no new request, and a report left behind would show them
	// healthy after they are gone. The session's own Close would revoke
	// with ctx, canceled by now.
	sess.Orphan()
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, rerr := u.a.etcd.Revoke(rctx, sess.Lease()); rerr != nil {
		u.logger.Warn("revoke instance reports", "err", rerr)
	}
	cancel()
	u.stopAll(ctx)
	return err
}

// clearReports deletes the instance reports of this agent's ID: at start,
// they are an earlier run's, whose instances are gone.
func (u *ufops) clearReports(ctx context.Context) error {
	prefix := protocol.InstancesPrefix(u.prefix)
	resp, err := u.a.etcd.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return fmt.Errorf("agent: read instance reports: %w", err)
	}
	for _, kv := range resp.Kvs {
		var in ufop.Instance
		if json.Unmarshal(kv.Value, &in) != nil || in.Agent != u.a.cfg.ID {
			continue
		}
		// Only if unchanged: another writer's newer report stays.
		_, err := u.a.etcd.Txn(ctx).If(clientv3.Compare(clientv3.ModRevision(string(kv.Key)), "=", kv.ModRevision)).
			Then(clientv3.OpDelete(string(kv.Key))).Commit()
		if err != nil {
			return fmt.Errorf("agent: clear instance report %s: %w", kv.Key, err)
		}
	}
	return nil
}

// sweep removes, at start and then every SweepInterval, what agents of
// the cluster that have been missing from the registry for SweepGrace
// left on this node.
func (u *ufops) sweep(ctx context.Context) {
	grace := u.a.cfg.SweepGrace
	missing := map[string]time.Time{} // agent → first seen missing
	tick := time.NewTicker(min(u.a.cfg.SweepInterval, grace/2))
	defer tick.Stop()
	for {
		resp, err := u.a.etcd.Get(ctx, u.a.cfg.Discovery.Prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err == nil {
			live := map[string]bool{}
			for _, kv := range resp.Kvs {
				id, _ := protocol.AgentID(u.a.cfg.Discovery.Prefix, string(kv.Key))
				live[id] = true
			}
			now := time.Now()
			for id := range missing {
				if live[id] {
					delete(missing, id)
				}
			}
			gone := func(id string) bool {
				if live[id] {
					return false
				}
				since, ok := missing[id]
				if !ok {
					missing[id] = now
					return false
				}
				return now.Sub(since) >= grace
			}
			if sw, err := u.rt.Sweep(ctx, gone, grace); err != nil && ctx.Err() == nil {
				u.logger.Warn("sweep of dead agents' leftovers", "err", err)
			} else if sw.Containers+sw.Networks > 0 {
				u.logger.Info("swept dead agents' leftovers", "containers", sw.Containers, "networks", sw.Networks)
			}
		} else if ctx.Err() == nil {
			u.logger.Warn("sweep: read the registry", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// follow keeps this agent's placements (etcdwatch: load, then watch from
// the next revision, reload when the watch breaks) and reconciles on each
// change.
func (u *ufops) follow(ctx context.Context) error {
	want := map[string]ufop.Placement{}
	return etcdwatch.Follower{
		Client: u.a.etcd,
		Prefix: protocol.AgentPlacementsPrefix(u.prefix, u.a.cfg.ID),
		Load: func(kvs []etcdwatch.KV) {
			want = map[string]ufop.Placement{}
			for _, kv := range kvs {
				var p ufop.Placement
				if json.Unmarshal(kv.Value, &p) == nil {
					want[p.ID] = p
				}
			}
			u.sync(ctx, want)
		},
		Apply: func(evs []etcdwatch.Event) {
			for _, ev := range evs {
				if ev.Delete {
					if _, id, ok := protocol.ParsePlacementKey(u.prefix, ev.KV.Key); ok {
						delete(want, id)
					}
					continue
				}
				var p ufop.Placement
				if json.Unmarshal(ev.KV.Value, &p) == nil {
					want[p.ID] = p
				}
			}
			u.sync(ctx, want)
		},
		Broken: func(err error) { u.logger.Warn("placements watch broken, reloading", "err", err) },
	}.Run(ctx)
}

// sync makes want this agent's desired placements and reconciles.
func (u *ufops) sync(ctx context.Context, want map[string]ufop.Placement) {
	u.mu.Lock()
	u.want = maps.Clone(want)
	u.mu.Unlock()
	u.reconcile(ctx)
}

func (u *ufops) markDirty() {
	select {
	case u.dirty <- struct{}{}:
	default:
	}
}

// reconcileEvery is how often reconcile runs without a change to prompt
// it: it sees drains end and start retries come due.
const reconcileEvery = 20 * time.Millisecond

// reconciler runs reconcile every reconcileEvery until ctx ends.
func (u *ufops) reconciler(ctx context.Context) {
	lifecycle.Every(ctx, reconcileEvery, u.reconcile)
}

// reconcile is one pass: load the snapshot, decide, apply. launch and the
// death handling run in goroutines u.wg waits for.
func (u *ufops) reconcile(ctx context.Context) {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := agentSnapshot{Now: time.Now(), Desired: u.want, DrainTimeout: drainTimeout, MaxRestarts: maxRestarts}
	byID := make(map[string]*instance, len(u.insts))
	for id, in := range u.insts {
		in.mu.Lock()
		s.Instances = append(s.Instances, in.view())
		in.mu.Unlock()
		byID[id] = in
	}
	acts := decide(s)
	for _, act := range acts {
		u.apply(ctx, act, byID[act.ID])
	}
	if len(acts) > 0 {
		u.markDirty()
	}
}

// apply carries out one action; called with u.mu held. in is nil for
// actStart.
func (u *ufops) apply(ctx context.Context, act action, in *instance) {
	switch act.Kind {
	case actStart:
		p := act.Placement
		in = &instance{p: p, slots: make(chan struct{}, max(p.Spec.Concurrency, 1)), state: ufop.InstanceStarting}
		u.insts[p.ID] = in
		fallthrough
	case actLaunch:
		in.mu.Lock()
		in.launching = true
		in.mu.Unlock()
		u.wg.Add(1)
		go func() { defer u.wg.Done(); u.launch(ctx, in) }()
	case actDrain:
		// New requests no longer pick it; the ones admitted finish.
		in.mu.Lock()
		in.retiring, in.drainSince, in.state = true, time.Now(), ufop.InstanceStopping
		in.mu.Unlock()
		u.logger.Info("instance draining", "instance", in.p.ID, "ufop", in.p.UFOP, "why", act.Why)
	case actStop:
		in.mu.Lock()
		rtID := in.rtID
		if in.dead != nil && in.gone != nil {
			close(in.gone) // its requests fail now, not at their deadline
			in.gone = nil
		}
		in.state = ufop.InstanceStopping
		in.mu.Unlock()
		delete(u.insts, in.p.ID)
		delete(u.byRT, rtID)
		// A stop takes the runtime's grace period: not under the lock. An
		// instance still starting has no container yet; launch stops it.
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			if rtID != "" {
				if err := u.rt.Stop(context.Background(), rtID); err != nil {
					u.logger.Warn("instance stop", "instance", in.p.ID, "err", err)
				}
			}
			u.markDirty()
			u.logger.Info("instance stopped", "instance", in.p.ID, "ufop", in.p.UFOP, "why", act.Why)
			u.prepareSpare(ctx, in.p)
		}()
	case actRestart, actFail:
		in.mu.Lock()
		ev := *in.dead
		in.dead = nil
		delete(u.byRT, ev.InstanceID)
		if in.gone != nil {
			close(in.gone) // its requests in flight fail now, not at their deadline
			in.gone = nil
		}
		in.state, in.rtID, in.addr = ufop.InstanceStarting, "", ""
		in.restarts++
		in.lastErr = fmt.Sprintf("container %s (exit %d)", ev.Kind, ev.ExitCode)
		restart := act.Kind == actRestart
		if restart {
			in.launching = true
		} else {
			in.state = ufop.InstanceFailed
		}
		in.mu.Unlock()
		u.logger.Warn("instance lost", "instance", in.p.ID, "event", ev.Kind, "exit", ev.ExitCode, "restart", restart)
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			// Remove the dead (or sick) container, even when it is not
			// restarted: an exited container is litter.
			if err := u.rt.Stop(context.WithoutCancel(ctx), ev.InstanceID); err != nil {
				u.logger.Warn("remove lost container", "instance", in.p.ID, "err", err)
			}
			if restart {
				u.launch(ctx, in)
			}
		}()
	}
}

// launch starts (or restarts) the container of in and waits for health.
func (u *ufops) launch(ctx context.Context, in *instance) {
	ci, err := u.rt.Start(ctx, containerSpec(in.p))
	u.mu.Lock()
	defer u.mu.Unlock()
	defer u.markDirty()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.launching = false
	if err != nil {
		in.lastErr = err.Error()
		in.restarts++
		if startFailed(in.restarts, maxRestarts, ctx.Err() != nil) {
			in.state = ufop.InstanceFailed
		} else {
			// reconcile tries again then, in place.
			in.retryAt = time.Now().Add(retryPause)
		}
		u.logger.Warn("instance start failed", "instance", in.p.ID, "err", err)
		return
	}
	if in.retiring {
		// Retired while starting: stop what just started.
		u.wg.Add(1)
		go func() { defer u.wg.Done(); u.rt.Stop(context.Background(), ci.ID) }()
		return
	}
	in.rtID, in.addr, in.state, in.started, in.lastErr = ci.ID, ci.Addr, ufop.InstanceHealthy, time.Now().UTC(), ""
	in.gone = make(chan struct{})
	u.byRT[ci.ID] = in
	u.logger.Info("instance healthy", "instance", in.p.ID, "ufop", in.p.UFOP, "version", in.p.Version, "container", ci.ContainerID[:12])
}

// events hands the deaths the engine reports to reconcile, at once: the
// requests in flight to a dead instance fail now.
func (u *ufops) events(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-u.rt.Events():
			if !ok {
				return
			}
			u.mu.Lock()
			in := u.byRT[ev.InstanceID]
			if in != nil {
				in.mu.Lock()
				in.dead = &ev
				in.mu.Unlock()
			}
			u.mu.Unlock()
			if in != nil {
				u.reconcile(ctx)
			}
		}
	}
}

// report publishes the instances (under the agent's session lease, so they
// vanish with the agent) and the UFOPs with a healthy instance.
func (u *ufops) report(ctx context.Context, ann publisher) {
	published := map[string]string{}
	var announced []string
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		u.mu.Lock()
		snaps := make([]ufop.Instance, 0, len(u.insts))
		for _, in := range u.insts {
			snaps = append(snaps, in.snapshot(u.a.cfg.ID))
		}
		u.mu.Unlock()
		var names []string
		seen := map[string]bool{}
		for _, s := range snaps {
			if s.State == ufop.InstanceHealthy && !seen[s.UFOP] {
				seen[s.UFOP] = true
				names = append(names, s.UFOP)
			}
		}
		slices.Sort(names)
		if !slices.Equal(names, announced) {
			// Jobs first: a UFOP started from zero has jobs waiting for
			// this instance, and the etcd writes below take round trips.
			if u.jobs != nil {
				u.jobs.sync(ctx, names)
			}
			ann.Publish(func(ag *ufop.Agent) { ag.UFOPs = names })
			announced = names
		}
		for _, s := range snaps {
			b, _ := json.Marshal(s)
			if published[s.ID] != string(b) {
				if _, err := u.a.etcd.Put(ctx, protocol.InstanceKey(u.prefix, s.ID), string(b), clientv3.WithLease(u.sess.Lease())); err == nil {
					published[s.ID] = string(b)
				}
			}
		}
		for id := range published {
			if !slices.ContainsFunc(snaps, func(s ufop.Instance) bool { return s.ID == id }) {
				if _, err := u.a.etcd.Delete(ctx, protocol.InstanceKey(u.prefix, id)); err == nil {
					delete(published, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-u.dirty:
		case <-tick.C:
		}
	}
}

// stopAll drains and stops every instance, the desired placements gone.
// ctx is done by then: nothing starts again.
func (u *ufops) stopAll(ctx context.Context) {
	u.mu.Lock()
	u.want = nil
	u.mu.Unlock()
	for {
		u.reconcile(ctx)
		u.mu.Lock()
		n := len(u.insts)
		u.mu.Unlock()
		if n == 0 {
			break
		}
		time.Sleep(reconcileEvery)
	}
	u.wg.Wait()
}

// views returns the instances as pick sees them, and by ID.
func (u *ufops) views() ([]instView, map[string]*instance) {
	u.mu.Lock()
	defer u.mu.Unlock()
	views := make([]instView, 0, len(u.insts))
	for _, in := range u.insts {
		in.mu.Lock()
		views = append(views, in.view())
		in.mu.Unlock()
	}
	return views, maps.Clone(u.insts)
}

// capacity is the concurrency of the healthy instances of name.
func (u *ufops) capacity(name string) int {
	views, _ := u.views()
	return capacityOf(views, name)
}

// pick returns a healthy instance of name with a free slot, waiting for
// one when all are busy. exclude skips an instance that just failed.
func (u *ufops) pick(ctx context.Context, name string, exclude *instance) (*instance, error) {
	var skip string
	if exclude != nil {
		skip = exclude.p.ID
	}
	for {
		views, byID := u.views()
		id, free, ok := pick(views, name, skip)
		if !ok {
			return nil, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
				Msg: fmt.Sprintf("no healthy instance of %s on this agent", name)}
		}
		in := byID[id]
		if free {
			select {
			case in.slots <- struct{}{}:
				return in, nil
			default:
				// Taken since the snapshot: decide again.
				continue
			}
		}
		// All busy: wait in the least loaded instance's line.
		in.queued.Add(1)
		defer in.queued.Add(-1)
		select {
		case in.slots <- struct{}{}:
			return in, nil
		case <-ctx.Done():
			return nil, ufop.Errorf(ufop.KindTimeout, "deadline passed waiting for an instance of %s", name)
		}
	}
}

// errInstanceDied marks the error of a call whose instance died (exited,
// was OOM-killed, reset the connection) before answering; it is
// KindUpstream, a 502 (SPEC §2).
var errInstanceDied = errors.New("instance died")

// errRetried marks a death on the call's second try: the request had its
// one more try, the queue gives it no other.
var errRetried = errors.New("after a retry")

// invoke runs one UFOP step: POST /handler?cmd=<name>/<params> with the
// data as body (SPEC §5). A call whose instance cannot be reached, or died
// before answering, is tried once more on another local instance; a death
// with no other instance to try, or on the second try, fails with
// errInstanceDied (the queue hands a job of the first kind back once).
// It returns the result, its content type and the version that made it.
func (u *ufops) invoke(ctx context.Context, name, params string, data []byte, contentType string, src ufop.Source, reqid string) ([]byte, string, int, error) {
	var failed *instance
	var died error
	for attempt := 0; ; attempt++ {
		in, err := u.pick(ctx, name, failed)
		if err != nil {
			if died != nil && ufop.KindOf(err) == ufop.KindUnavailable {
				err = died // no other instance to try: the death is the answer
			}
			return nil, "", 0, err
		}
		body, ct, err := u.call(ctx, in, name, params, data, contentType, src, reqid)
		<-in.slots
		var te *transportError
		if errors.As(err, &te) && te.died {
			marks := errors.Join(errInstanceDied, te)
			if attempt == 1 {
				marks = errors.Join(errInstanceDied, errRetried, te)
			}
			died = &ufop.Error{Kind: ufop.KindUpstream,
				Msg: fmt.Sprintf("an instance of %s failed while running the request", name), Err: marks}
			err = died
			te = nil
		}
		if err == nil || attempt == 1 || ctx.Err() != nil || (te == nil && died == nil) {
			switch {
			case te != nil && died != nil:
				err = died
			case te != nil:
				err = &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
					Msg: fmt.Sprintf("instance of %s could not be reached", name), Err: te}
			}
			return body, ct, in.p.Version, err
		}
		failed = in
	}
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// transportError is a failed exchange with an instance; died when the
// instance went away mid-call rather than never answering the dial.
type transportError struct {
	err  error
	died bool
}

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

func (u *ufops) call(ctx context.Context, in *instance, name, params string, data []byte, contentType string, src ufop.Source, reqid string) ([]byte, string, error) {
	if t := in.p.Spec.Timeout; t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t)
		defer cancel()
	}
	in.mu.Lock()
	addr, gone := in.addr, in.gone
	in.mu.Unlock()
	// A death reported by the engine cancels the call at once.
	ctx, cancel := context.WithCancelCause(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-gone:
			cancel(errInstanceDied)
		case <-ctx.Done():
		}
	}()
	defer func() { cancel(nil); <-watched }()
	cmd := name
	if params != "" {
		cmd += "/" + params
	}
	target := addr + "/handler?cmd=" + url.QueryEscape(cmd)
	if u.fetchURL != "" {
		// The same input, fetchable, for programs that prefer to GET it.
		token := randomToken()
		u.inputs.Store(token, input{body: data, contentType: contentType})
		defer u.inputs.Delete(token)
		target += "&url=" + url.QueryEscape(u.fetchURL+token)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(data))
	if err != nil {
		return nil, "", err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set(protocol.HeaderBucket, src.Bucket)
	req.Header.Set(protocol.HeaderKey, src.Key)
	req.Header.Set(protocol.HeaderReqid, reqid)
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, "", callError(ctx, name, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, u.a.cfg.Images.MaxSourceBytes+1))
	if err != nil {
		return nil, "", callError(ctx, name, err)
	}
	if int64(len(out)) > u.a.cfg.Images.MaxSourceBytes {
		return nil, "", ufop.Errorf(ufop.KindUpstream, "%s answered more than %s", name, ufop.FormatBytes(u.a.cfg.Images.MaxSourceBytes))
	}
	if resp.StatusCode != http.StatusOK {
		msg := string(bytes.TrimSpace(out))
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return nil, "", ufop.Errorf(ufop.KindUpstream, "%s failed (%s): %s", name, strconv.Itoa(resp.StatusCode), msg)
	}
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = http.DetectContentType(out)
	}
	return out, ct, nil
}

// callError classifies a failed exchange: the instance died (engine event,
// connection reset or closed mid-call), could not be reached (dial), or
// the deadline passed.
func callError(ctx context.Context, name string, err error) error {
	if errors.Is(context.Cause(ctx), errInstanceDied) {
		return &transportError{err: err, died: true}
	}
	if ctx.Err() != nil {
		return ufop.Errorf(ufop.KindTimeout, "%s did not answer in time", name)
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "dial" {
		return &transportError{err: err}
	}
	return &transportError{err: err, died: true}
}

// serveInputs runs the local fetcher on addr (the instance network's
// gateway address, the only one the firewall lets instances reach).
func (u *ufops) serveInputs(addr string) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+protocol.PathInputs+"{token}", func(w http.ResponseWriter, r *http.Request) {
		v, ok := u.inputs.Load(r.PathValue("token"))
		if !ok {
			http.Error(w, "no such input", http.StatusNotFound)
			return
		}
		in := v.(input)
		w.Header().Set("Content-Type", in.contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(in.body)))
		w.Write(in.body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	u.fetchURL = "http://" + ln.Addr().String() + protocol.PathInputs
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}

// logs writes the output of one of this agent's instances.
func (u *ufops) logs(ctx context.Context, id string, follow bool, w io.Writer) error {
	u.mu.Lock()
	in := u.insts[id]
	u.mu.Unlock()
	if in == nil {
		return ufop.Errorf(ufop.KindNotFound, "no instance %q on this agent", id)
	}
	in.mu.Lock()
	rtID := in.rtID
	in.mu.Unlock()
	if rtID == "" {
		return ufop.Errorf(ufop.KindUnavailable, "instance %q is not running", id)
	}
	return u.rt.Logs(ctx, rtID, follow, w)
}
