// Package scheduler keeps the desired instances of each UFOP placed across
// the agents. One scheduler leads at a time (etcd election); it reads the
// UFOPs from the catalog, the agents from the registry and the instances
// the agents report, and writes placements: /<prefix>/placements/<agent>/<id>.
// Agents start what is placed on them and stop what is not. Upgrades
// replace old-version instances a few at a time, only once their
// replacements are healthy.
package scheduler

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/builder"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/internal/lifecycle"
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
		Prefix:     "/ufop/sched/",
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

// PlacementsPrefix is where placements for agent live.
func PlacementsPrefix(prefix, agent string) string { return prefix + "placements/" + agent + "/" }

// InstancesPrefix is where agents report their instances.
func InstancesPrefix(prefix string) string { return prefix + "instances/" }

// Scheduler places UFOP instances on agents.
type Scheduler struct {
	cfg    Config
	cli    *clientv3.Client
	logger *slog.Logger
	cat    *catalog.Catalog
	reg    *discovery.Registry

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
		ready: make(chan struct{})}, nil
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
	discovery.Lead(ctx, s.cli, s.cfg.Prefix+"leader", s.cfg.LeaseTTL, s.logger, s.lead)
	return nil
}

// lead reconciles while this scheduler leads.
func (s *Scheduler) lead(ctx context.Context) error {
	// A pass runs on every tick and on every change of instances, so a
	// lost instance is replaced without waiting for the tick.
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	changes := s.cli.Watch(wctx, InstancesPrefix(s.cfg.Prefix), clientv3.WithPrefix())
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
		case _, ok := <-changes:
			if !ok {
				return errors.New("scheduler: watch closed")
			}
		}
	}
}

// state is what one reconcile pass sees.
type state struct {
	agents     map[string]ufop.Agent
	placements map[string][]stored // by UFOP
	instances  map[string]ufop.Instance
	perAgent   map[string]int // placements per agent, all UFOPs
}

type stored struct {
	key string
	p   ufop.Placement
}

func (s *Scheduler) load(ctx context.Context) (*state, error) {
	st := &state{agents: map[string]ufop.Agent{}, placements: map[string][]stored{},
		instances: map[string]ufop.Instance{}, perAgent: map[string]int{}}
	for _, a := range s.reg.Agents() {
		if a.Slots > 0 {
			st.agents[a.ID] = a
		}
	}
	resp, err := s.cli.Get(ctx, s.cfg.Prefix+"placements/", clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("scheduler: load placements: %w", err)
	}
	for _, kv := range resp.Kvs {
		var p ufop.Placement
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			s.logger.Warn("bad placement", "key", string(kv.Key), "err", err)
			continue
		}
		st.placements[p.UFOP] = append(st.placements[p.UFOP], stored{key: string(kv.Key), p: p})
		st.perAgent[p.Agent]++
	}
	resp, err = s.cli.Get(ctx, InstancesPrefix(s.cfg.Prefix), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("scheduler: load instances: %w", err)
	}
	for _, kv := range resp.Kvs {
		var in ufop.Instance
		if err := json.Unmarshal(kv.Value, &in); err == nil {
			st.instances[in.ID] = in
		}
	}
	return st, nil
}

func (s *Scheduler) reconcile(ctx context.Context) error {
	st, err := s.load(ctx)
	if err != nil {
		return err
	}
	ufops := map[string]ufop.UFOP{}
	for _, u := range s.cat.UFOPs("") {
		ufops[u.Name] = u
	}
	var errs []error
	for name, ps := range st.placements {
		if _, ok := ufops[name]; !ok {
			for _, sp := range ps {
				errs = append(errs, s.remove(ctx, st, sp, "UFOP unregistered"))
			}
		}
	}
	for _, u := range ufops {
		errs = append(errs, s.reconcileUFOP(ctx, st, u))
	}
	return errors.Join(errs...)
}

func (s *Scheduler) reconcileUFOP(ctx context.Context, st *state, u ufop.UFOP) error {
	var errs []error
	var live []stored
	for _, sp := range st.placements[u.Name] {
		in, reported := st.instances[sp.p.ID]
		switch {
		case st.agents[sp.p.Agent].ID == "":
			errs = append(errs, s.remove(ctx, st, sp, "agent lost"))
		case reported && in.State == ufop.InstanceFailed:
			errs = append(errs, s.remove(ctx, st, sp, "instance failed: "+in.Error))
		default:
			live = append(live, sp)
		}
	}
	want := u.Instances
	if u.Version == 0 {
		want = 0
	}
	healthy := func(sp stored) bool { return st.instances[sp.p.ID].State == ufop.InstanceHealthy }
	var old, cur []stored
	for _, sp := range live {
		if sp.p.Version < u.Rollout {
			old = append(old, sp)
		} else {
			cur = append(cur, sp)
		}
	}
	// Unhealthy and newest go first when shrinking.
	byRemoval := func(list []stored) {
		slices.SortFunc(list, func(a, b stored) int {
			if ha, hb := healthy(a), healthy(b); ha != hb {
				if ha {
					return 1
				}
				return -1
			}
			return b.p.Created.Compare(a.p.Created)
		})
	}

	if len(old) == 0 {
		for range want - len(cur) {
			errs = append(errs, s.place(ctx, st, u, u.Version))
		}
		if extra := len(cur) - want; extra > 0 {
			byRemoval(cur)
			for _, sp := range cur[:extra] {
				errs = append(errs, s.remove(ctx, st, sp, "scaled down"))
			}
		}
		return errors.Join(errs...)
	}

	// An upgrade: start up to Step new instances at a time, and stop old
	// ones only as new ones turn healthy, so capacity never drops.
	step := max(u.Step, 1)
	pending, healthyNew := 0, 0
	for _, sp := range cur {
		if healthy(sp) {
			healthyNew++
		} else if time.Since(sp.p.Created) < s.cfg.StartGrace {
			pending++
		}
	}
	for range min(want-len(cur), step-pending) {
		errs = append(errs, s.place(ctx, st, u, u.Rollout))
	}
	if remove := healthyNew + len(old) - want; remove > 0 {
		byRemoval(old)
		for _, sp := range old[:min(remove, len(old))] {
			errs = append(errs, s.remove(ctx, st, sp, "upgraded"))
		}
	}
	return errors.Join(errs...)
}

// place puts a new instance of u at version on the agent with the most
// free slots, preferring agents that hold fewer instances of u.
func (s *Scheduler) place(ctx context.Context, st *state, u ufop.UFOP, version int) error {
	v, err := s.cat.Version(u.Name, version)
	if err != nil {
		return err
	}
	if v.State != ufop.BuildOK {
		return fmt.Errorf("scheduler: %s v%d is %s, not ok", u.Name, version, v.State)
	}
	spec, err := SpecOf(v)
	if err != nil {
		return err
	}
	mine := map[string]int{}
	for _, sp := range st.placements[u.Name] {
		mine[sp.p.Agent]++
	}
	var best *ufop.Agent
	for _, a := range st.agents {
		if st.perAgent[a.ID] >= a.Slots {
			continue
		}
		if best == nil || cmp.Or(
			cmp.Compare(mine[a.ID], mine[best.ID]),
			cmp.Compare(st.perAgent[a.ID]*best.Slots, st.perAgent[best.ID]*a.Slots),
			cmp.Compare(a.ID, best.ID)) < 0 {
			a := a
			best = &a
		}
	}
	if best == nil {
		return fmt.Errorf("scheduler: no agent has a free slot for %s", u.Name)
	}
	p := ufop.Placement{ID: fmt.Sprintf("%s-%06x", u.Name, rand.IntN(1<<24)), UFOP: u.Name, Version: version,
		Agent: best.ID, Spec: spec, Created: time.Now().UTC()}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	key := PlacementsPrefix(s.cfg.Prefix, best.ID) + p.ID
	if _, err := s.cli.Put(ctx, key, string(b)); err != nil {
		return fmt.Errorf("scheduler: place %s: %w", p.ID, err)
	}
	st.placements[u.Name] = append(st.placements[u.Name], stored{key: key, p: p})
	st.perAgent[best.ID]++
	s.logger.Info("placed instance", "ufop", u.Name, "version", version, "instance", p.ID, "agent", best.ID)
	return nil
}

func (s *Scheduler) remove(ctx context.Context, st *state, sp stored, why string) error {
	if _, err := s.cli.Delete(ctx, sp.key); err != nil {
		return fmt.Errorf("scheduler: remove %s: %w", sp.p.ID, err)
	}
	ps := st.placements[sp.p.UFOP]
	st.placements[sp.p.UFOP] = slices.DeleteFunc(ps, func(x stored) bool { return x.key == sp.key })
	st.perAgent[sp.p.Agent]--
	s.logger.Info("removed instance", "ufop", sp.p.UFOP, "instance", sp.p.ID, "agent", sp.p.Agent, "why", why)
	return nil
}

// SpecOf derives an instance spec from a built version's manifest.
func SpecOf(v ufop.Version) (ufop.InstanceSpec, error) {
	var m builder.Manifest
	if len(v.Manifest) > 0 {
		if err := json.Unmarshal(v.Manifest, &m); err != nil {
			return ufop.InstanceSpec{}, fmt.Errorf("scheduler: manifest of %s v%d: %w", v.UFOP, v.N, err)
		}
	}
	return ufop.InstanceSpec{Image: v.Image, CPU: m.Resources.CPU, Memory: m.Resources.Memory, Pids: m.Resources.Pids,
		HealthPath: m.HealthCheck.Path, HealthTimeout: m.HealthCheck.Timeout, Concurrency: m.Concurrency,
		Timeout: m.Timeout, Env: m.Env}, nil
}
