// Package discovery is the registry of agents, kept in etcd: each agent
// announces itself under a lease (so a dead agent disappears when its lease
// expires) and gateways watch the registry to route requests.
package discovery

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/etcdwatch"
	"github.com/ufop/ufop/protocol"
)

// Config is shared by Announcer and Registry.
type Config struct {
	// Prefix is the etcd key prefix of the registry.
	Prefix string
	// TTL is the lease time-to-live: a killed agent leaves the registry
	// within it.
	TTL time.Duration
	// LoadInterval is how often an announcer publishes a changed load.
	LoadInterval time.Duration
}

// DefaultConfig returns the defaults: a 3 s lease, so a dead agent is gone
// well within 5 s.
func DefaultConfig() Config {
	return Config{Prefix: protocol.AgentsPrefix, TTL: 3 * time.Second, LoadInterval: time.Second}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	if c.Prefix == "" {
		return errors.New("discovery: prefix is required")
	}
	if c.TTL < time.Second {
		return errors.New("discovery: TTL must be at least 1s")
	}
	if c.LoadInterval <= 0 {
		return errors.New("discovery: load interval must be positive")
	}
	return nil
}

// Announcer keeps one agent's entry in the registry alive.
type Announcer struct {
	cfg    Config
	cli    *clientv3.Client
	logger *slog.Logger

	mu      sync.Mutex
	self    ufop.Agent
	dirty   chan struct{}
	urgent  chan struct{}
	lease   clientv3.LeaseID
	closed  bool
	stopped chan struct{}
}

// NewAnnouncer returns an announcer for self; Run publishes it.
func NewAnnouncer(cfg Config, cli *clientv3.Client, self ufop.Agent, logger *slog.Logger) (*Announcer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if self.ID == "" || self.Addr == "" {
		return nil, errors.New("discovery: agent needs an ID and an address")
	}
	return &Announcer{cfg: cfg, cli: cli, self: self, logger: logger,
		dirty: make(chan struct{}, 1), urgent: make(chan struct{}, 1), stopped: make(chan struct{})}, nil
}

// Update changes the published entry; the change is written at most every
// LoadInterval (load figures change often and matter little).
func (a *Announcer) Update(fn func(*ufop.Agent)) {
	a.mu.Lock()
	fn(&a.self)
	a.mu.Unlock()
	select {
	case a.dirty <- struct{}{}:
	default:
	}
}

// Publish changes the published entry and writes it at once (the UFOPs
// the agent can run: routing depends on them).
func (a *Announcer) Publish(fn func(*ufop.Agent)) {
	a.mu.Lock()
	fn(&a.self)
	a.mu.Unlock()
	select {
	case a.urgent <- struct{}{}:
	default:
	}
}

func (a *Announcer) key() string { return protocol.AgentKey(a.cfg.Prefix, a.self.ID) }

// Run registers the agent and keeps the lease alive until ctx ends, then
// revokes the lease so gateways stop routing to the agent at once. A lost
// lease (etcd unreachable longer than the TTL) is re-granted.
func (a *Announcer) Run(ctx context.Context) error {
	defer close(a.stopped)
	for {
		err := a.session(ctx)
		if ctx.Err() != nil {
			a.revoke()
			return nil
		}
		a.logger.Warn("registry lease lost, registering again", "agent", a.self.ID, "err", err)
		select {
		case <-ctx.Done():
			a.revoke()
			return nil
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (a *Announcer) session(ctx context.Context) error {
	lease, err := a.cli.Grant(ctx, int64(a.cfg.TTL/time.Second))
	if err != nil {
		return fmt.Errorf("discovery: grant lease: %w", err)
	}
	a.mu.Lock()
	a.lease = lease.ID
	a.mu.Unlock()
	if err := a.put(ctx, lease.ID); err != nil {
		return err
	}
	// KeepAlive's goroutine is owned by the client and ends with kctx.
	kctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ka, err := a.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		return fmt.Errorf("discovery: keep alive: %w", err)
	}
	a.logger.Info("agent registered", "agent", a.self.ID, "addr", a.self.Addr)
	tick := time.NewTicker(a.cfg.LoadInterval)
	defer tick.Stop()
	pending := false
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case _, ok := <-ka:
			if !ok {
				return errors.New("discovery: keep-alive channel closed")
			}
		case <-a.dirty:
			pending = true
		case <-a.urgent:
			if err := a.put(ctx, lease.ID); err != nil {
				return err
			}
			pending = false
		case <-tick.C:
			if pending {
				if err := a.put(ctx, lease.ID); err != nil {
					return err
				}
				pending = false
			}
		}
	}
}

func (a *Announcer) put(ctx context.Context, lease clientv3.LeaseID) error {
	a.mu.Lock()
	b, err := json.Marshal(a.self)
	a.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := a.cli.Put(ctx, a.key(), string(b), clientv3.WithLease(lease)); err != nil {
		return fmt.Errorf("discovery: put %s: %w", a.key(), err)
	}
	return nil
}

func (a *Announcer) revoke() {
	a.mu.Lock()
	id := a.lease
	a.mu.Unlock()
	if id == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := a.cli.Revoke(ctx, id); err != nil {
		a.logger.Warn("revoke lease", "agent", a.self.ID, "err", err)
	}
}

// Registry is a gateway's live view of the agents.
type Registry struct {
	cfg    Config
	cli    *clientv3.Client
	logger *slog.Logger

	mu      sync.RWMutex
	agents  map[string]ufop.Agent
	suspect map[string]time.Time // agent ID → until when it is skipped
	ready   chan struct{}
	once    sync.Once
}

// NewRegistry returns a registry; Run fills and follows it.
func NewRegistry(cfg Config, cli *clientv3.Client, logger *slog.Logger) (*Registry, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Registry{cfg: cfg, cli: cli, logger: logger,
		agents: map[string]ufop.Agent{}, suspect: map[string]time.Time{}, ready: make(chan struct{})}, nil
}

// Ready is closed once the registry holds its first full snapshot.
func (r *Registry) Ready() <-chan struct{} { return r.ready }

// Run loads the registry and follows changes until ctx ends. A broken watch
// (compaction, etcd restart) is answered with a fresh load.
func (r *Registry) Run(ctx context.Context) error {
	return etcdwatch.Follower{Client: r.cli, Prefix: r.cfg.Prefix, Load: r.load, Apply: r.apply,
		Broken: func(err error) { r.logger.Warn("registry watch broken, reloading", "err", err) }}.Run(ctx)
}

// load replaces the registry with a full snapshot.
func (r *Registry) load(kvs []etcdwatch.KV) {
	snapshot := map[string]ufop.Agent{}
	for _, kv := range kvs {
		var a ufop.Agent
		if err := json.Unmarshal(kv.Value, &a); err != nil {
			r.logger.Warn("bad registry entry", "key", kv.Key, "err", err)
			continue
		}
		snapshot[a.ID] = a
	}
	r.mu.Lock()
	r.agents = snapshot
	r.mu.Unlock()
	r.once.Do(func() { close(r.ready) })
}

// apply applies watched changes: agents joining, updating and leaving.
func (r *Registry) apply(evs []etcdwatch.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ev := range evs {
		id, _ := protocol.AgentID(r.cfg.Prefix, ev.KV.Key)
		if ev.Delete {
			delete(r.agents, id)
			r.logger.Info("agent left", "agent", id)
			continue
		}
		var a ufop.Agent
		if err := json.Unmarshal(ev.KV.Value, &a); err != nil {
			r.logger.Warn("bad registry entry", "key", ev.KV.Key, "err", err)
			continue
		}
		if _, known := r.agents[id]; !known {
			r.logger.Info("agent joined", "agent", id, "addr", a.Addr)
		}
		r.agents[id] = a
	}
}

// Agents returns the registered agents sorted by ID.
func (r *Registry) Agents() []ufop.Agent {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]ufop.Agent, 0, len(r.agents))
	for _, a := range r.agents {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b ufop.Agent) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Suspect takes an agent out of routing for d, after a failed call: the
// registry would only drop it when its lease expires.
func (r *Registry) Suspect(id string, d time.Duration) {
	r.mu.Lock()
	r.suspect[id] = time.Now().Add(d)
	r.mu.Unlock()
}

// Route returns the agents able to serve op for the object key, best
// first. The order is rendezvous (highest-random-weight) hashing of key, so
// one key keeps landing on one agent (its caches) while agents come and go,
// and only the keys of a departed agent move. Overloaded and suspect agents
// go last, in the same hashed order, so that they are still tried when
// nothing else is left.
func (r *Registry) Route(key, op string) []ufop.Agent {
	now := time.Now()
	r.mu.RLock()
	type cand struct {
		a      ufop.Agent
		weight uint64
		demote bool
	}
	cands := make([]cand, 0, len(r.agents))
	for id, a := range r.agents {
		if op != "" && !slices.Contains(a.Ops, op) && !slices.Contains(a.UFOPs, op) {
			continue
		}
		until, sus := r.suspect[id]
		cands = append(cands, cand{a: a, weight: weight(id, key), demote: a.Load.Overloaded() || (sus && now.Before(until))})
	}
	r.mu.RUnlock()
	slices.SortFunc(cands, func(x, y cand) int {
		if x.demote != y.demote {
			if x.demote {
				return 1
			}
			return -1
		}
		return cmp.Compare(y.weight, x.weight)
	})
	out := make([]ufop.Agent, len(cands))
	for i, c := range cands {
		out[i] = c.a
	}
	return out
}

func weight(agentID, key string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(agentID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	// FNV alone clusters on similar inputs; a final mix spreads it.
	return mix(h.Sum64())
}

func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb3fe1a85ec53
	x ^= x >> 33
	return x
}

// RandomID returns a short random identifier for agents started without
// one.
func RandomID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 8)
	for i := range b {
		b[i] = alphabet[rand.IntN(len(alphabet))]
	}
	return string(b)
}

// Lead campaigns for the lead under key and, while this process leads,
// runs fn; fn's context ends when the lead is lost (the session expired)
// or ctx ends. Lead campaigns again after a lost lead and returns when ctx
// ends. One process leads at a time: the scheduler and the scaler use it.
func Lead(ctx context.Context, cli *clientv3.Client, key string, ttl time.Duration, logger *slog.Logger, fn func(context.Context) error) {
	for ctx.Err() == nil {
		if err := leadOnce(ctx, cli, key, ttl, logger, fn); err != nil && ctx.Err() == nil {
			logger.Warn("lost the lead", "key", key, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

func leadOnce(ctx context.Context, cli *clientv3.Client, key string, ttl time.Duration, logger *slog.Logger, fn func(context.Context) error) error {
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(int(ttl/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("discovery: session: %w", err)
	}
	defer sess.Close()
	el := concurrency.NewElection(sess, key)
	if err := el.Campaign(ctx, "leader"); err != nil {
		return fmt.Errorf("discovery: campaign: %w", err)
	}
	logger.Info("leading", "key", key)
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		el.Resign(rctx)
	}()
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sess.Done():
			cancel()
		case <-lctx.Done():
		}
	}()
	err = fn(lctx)
	select {
	case <-sess.Done():
		return errors.New("discovery: lead session expired")
	default:
	}
	return err
}
