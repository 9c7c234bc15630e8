// Package scheduler keeps the desired instances of each UFOP placed across
// the agents. One scheduler leads at a time (etcd election); it reads the
// UFOPs from the catalog, the agents from the registry and the instances
// the agents report, and writes placements: /<prefix>/placements/<agent>/<id>.
// Agents start what is placed on them and stop what is not. Upgrades
// replace old-version instances a few at a time, only once their
// replacements are healthy.
//
// What to place and remove is decided by Decide, a pure function of a
// Snapshot (decide.go); the leader's loop only loads the snapshot from
// etcd and the in-memory catalog and registry, and applies the actions.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/manifest"
	"github.com/ufop/ufop/protocol"
)

// Config configures a Scheduler.
type Config struct {
	// Prefix is the etcd prefix of the scheduler's state.
	Prefix string
	// Interval is the period of the reconcile loop; changes to placements
	// or instances also trigger a pass.
	Interval time.Duration
	// LeaseTTL bounds how long a dead leader holds the lead.
	LeaseTTL time.Duration
	// StartGrace is how long a placement may stay without a healthy
	// instance before an upgrade stops waiting for it.
	StartGrace time.Duration

	Catalog   catalog.Config
	Discovery discovery.Config
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Prefix:     protocol.SchedulerPrefix,
		Interval:   500 * time.Millisecond,
		LeaseTTL:   3 * time.Second,
		StartGrace: 60 * time.Second,
		Catalog:    catalog.DefaultConfig(),
		Discovery:  discovery.DefaultConfig(),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	if !strings.HasSuffix(c.Prefix, "/") {
		return errors.New("scheduler: prefix must end with /")
	}
	if c.Interval <= 0 || c.LeaseTTL < time.Second {
		return errors.New("scheduler: interval must be positive and lease TTL at least 1s")
	}
	if err := c.Catalog.Validate(); err != nil {
		return err
	}
	return c.Discovery.Validate()
}

// Scheduler places UFOP instances on agents.
type Scheduler struct {
	cfg    Config
	cli    *clientv3.Client
	logger *slog.Logger
	cat    *catalog.Catalog
	reg    *discovery.Registry
	// catChanged signals catalog changes (instance counts among them).
	catChanged <-chan struct{}

	lifecycle.Closer
	ready chan struct{}
}

// New returns a scheduler; Run starts it.
func New(cfg Config, cli *clientv3.Client, logger *slog.Logger) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cat, err := catalog.New(cfg.Catalog, cli, logger)
	if err != nil {
		return nil, err
	}
	reg, err := discovery.NewRegistry(cfg.Discovery, cli, logger)
	if err != nil {
		return nil, err
	}
	return &Scheduler{cfg: cfg, cli: cli, logger: logger.With("role", "scheduler"), cat: cat, reg: reg,
		catChanged: cat.Changed(), ready: make(chan struct{})}, nil
}

// Ready is closed once the scheduler has its catalog and registry loaded
// (whether or not it leads).
func (s *Scheduler) Ready() <-chan struct{} { return s.ready }

// Run campaigns for the lead and, while leading, reconciles until ctx ends
// or Close is called.
func (s *Scheduler) Run(ctx context.Context) error {
	ctx, cancel := s.Bind(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(2)
	go func() { defer wg.Done(); s.cat.Run(ctx) }()
	go func() { defer wg.Done(); s.reg.Run(ctx) }()
	for _, ch := range []<-chan struct{}{s.cat.Ready(), s.reg.Ready()} {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}
	close(s.ready)
	discovery.Lead(ctx, s.cli, protocol.LeaderKey(s.cfg.Prefix), s.cfg.LeaseTTL, s.logger, s.lead)
	return nil
}

// lead reconciles while this scheduler leads.
func (s *Scheduler) lead(ctx context.Context) error {
	// A pass runs on every tick and on every change of instances, so a
	// lost instance is replaced without waiting for the tick.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	changes := s.cli.Watch(wctx, protocol.InstancesPrefix(s.cfg.Prefix), clientv3.WithPrefix())
	// And on every catalog change: a UFOP scaled up from zero has a job
	// waiting for its instance.

	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		if err := s.reconcile(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("reconcile failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-s.catChanged:
		case _, ok := <-changes:
			if !ok {
				return errors.New("scheduler: watch closed")
			}
		}
	}
}

// load reads what a pass decides from: the catalog's and registry's
// in-memory copies, and the placements and instances from etcd. keys maps
// a placement ID to its etcd key.
func (s *Scheduler) load(ctx context.Context) (Snapshot, map[string]string, error) {
	snap := Snapshot{Now: time.Now().UTC(), StartGrace: s.cfg.StartGrace, Agents: s.reg.Agents(),
		UFOPs: s.cat.UFOPs(""), Versions: map[VersionKey]ufop.Version{}, Instances: map[string]ufop.Instance{}}
	for _, u := range snap.UFOPs {
		for _, n := range []int{u.Version, u.Rollout} {
			if n == 0 {
				continue
			}
			// A missing version is Decide's to report, when it needs it.
			if v, err := s.cat.Version(u.Name, n); err == nil {
				snap.Versions[VersionKey{u.Name, n}] = v
			} else if ufop.KindOf(err) != ufop.KindNotFound {
				s.logger.Warn("bad version", "ufop", u.Name, "version", n, "err", err)
			}
		}
	}
	keys := map[string]string{}
	resp, err := s.cli.Get(ctx, protocol.PlacementsPrefix(s.cfg.Prefix), clientv3.WithPrefix())
	if err != nil {
		return snap, nil, fmt.Errorf("scheduler: load placements: %w", err)
	}
	for _, kv := range resp.Kvs {
		var p ufop.Placement
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			s.logger.Warn("bad placement", "key", string(kv.Key), "err", err)
			continue
		}
		snap.Placements = append(snap.Placements, p)
		keys[p.ID] = string(kv.Key)
	}
	resp, err = s.cli.Get(ctx, protocol.InstancesPrefix(s.cfg.Prefix), clientv3.WithPrefix())
	if err != nil {
		return snap, nil, fmt.Errorf("scheduler: load instances: %w", err)
	}
	for _, kv := range resp.Kvs {
		var in ufop.Instance
		if err := json.Unmarshal(kv.Value, &in); err == nil {
			snap.Instances[in.ID] = in
		}
	}
	return snap, keys, nil
}

// reconcile is one pass: load, Decide, apply.
func (s *Scheduler) reconcile(ctx context.Context) error {
	snap, keys, err := s.load(ctx)
	if err != nil {
		return err
	}
	actions, errs := Decide(snap)
	for _, a := range actions {
		errs = append(errs, s.apply(ctx, a, keys))
	}
	return errors.Join(errs...)
}

// apply writes one action to etcd.
func (s *Scheduler) apply(ctx context.Context, a Action, keys map[string]string) error {
	p := a.Placement
	switch a.Kind {
	case ActPlace:
		p.ID = fmt.Sprintf("%s-%06x", p.UFOP, rand.IntN(1<<24))
		b, err := json.Marshal(p)
		if err != nil {
			return err
		}
		if _, err := s.cli.Put(ctx, protocol.PlacementKey(s.cfg.Prefix, p.Agent, p.ID), string(b)); err != nil {
			return fmt.Errorf("scheduler: place %s: %w", p.ID, err)
		}
		s.logger.Info("placed instance", "ufop", p.UFOP, "version", p.Version, "instance", p.ID, "agent", p.Agent)
	case ActRemove:
		key, ok := keys[p.ID]
		if !ok {
			key = protocol.PlacementKey(s.cfg.Prefix, p.Agent, p.ID)
		}
		if _, err := s.cli.Delete(ctx, key); err != nil {
			return fmt.Errorf("scheduler: remove %s: %w", p.ID, err)
		}
		s.logger.Info("removed instance", "ufop", p.UFOP, "instance", p.ID, "agent", p.Agent, "why", a.Why)
	}
	return nil
}

// SpecOf derives an instance spec from a built version's manifest.
func SpecOf(v ufop.Version) (ufop.InstanceSpec, error) {
	var m manifest.Manifest
	if len(v.Manifest) > 0 {
		if err := json.Unmarshal(v.Manifest, &m); err != nil {
			return ufop.InstanceSpec{}, fmt.Errorf("scheduler: manifest of %s v%d: %w", v.UFOP, v.N, err)
		}
	}
	return ufop.InstanceSpec{Image: v.Image, CPU: m.Resources.CPU, Memory: m.Resources.Memory, Pids: m.Resources.Pids,
		HealthPath: m.HealthCheck.Path, HealthTimeout: m.HealthCheck.Timeout, Concurrency: m.Concurrency,
		Timeout: m.Timeout, Env: m.Env}, nil
}
