// Package scaler sizes UFOPs to their queues. Every Interval the leading
// scaler (one at a time, by etcd election) reads, for each UFOP with an
// autoscaling policy, the depth of its job queue (waiting plus in flight)
// and its healthy instances, runs the policy (Decide: Knative-style
// stable and panic windows, a cool-down before scaling down) and writes
// the new instance count to the catalog. The scheduler does the rest.
package scaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/protocol"
)

// Depther reads the depth of a UFOP's job queue; *queue.Queue is one.
type Depther interface {
	Depth(ctx context.Context, name string) (waiting, inflight int, err error)
}

// Waker delivers the gateways' requests for an instance of a UFOP at zero
// (a job waits for it); *queue.Queue is one. A Depther that is also a
// Waker gets scale-ups from zero at once instead of at the next pass.
type Waker interface {
	Wakes(fn func(name string)) (stop func(), err error)
}

// Config configures a Scaler.
type Config struct {
	// Prefix is the etcd prefix of the scaler's election.
	Prefix string
	// SchedulerPrefix is the scheduler's prefix, under which agents
	// report their instances.
	SchedulerPrefix string
	// Interval is the period of the sampling and decision loop.
	Interval time.Duration
	// Windows are the policy's stable and panic windows.
	Windows Windows
	// LeaseTTL bounds how long a dead leader holds the lead.
	LeaseTTL time.Duration

	Catalog catalog.Config
}

// DefaultConfig returns the defaults: a pass a second, Knative's 60 s
// stable window halved for image work (30 s), a 3 s panic window, panic
// at twice the current capacity.
func DefaultConfig() Config {
	return Config{
		Prefix:          protocol.ScalerPrefix,
		SchedulerPrefix: protocol.SchedulerPrefix,
		Interval:        time.Second,
		Windows:         Windows{Stable: 30 * time.Second, Panic: 3 * time.Second, PanicThreshold: 2},
		LeaseTTL:        3 * time.Second,
		Catalog:         catalog.DefaultConfig(),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case !strings.HasSuffix(c.Prefix, "/") || !strings.HasSuffix(c.SchedulerPrefix, "/"):
		return errors.New("scaler: prefix and scheduler prefix must end with /")
	case c.Interval <= 0:
		return errors.New("scaler: interval must be positive")
	case c.LeaseTTL < time.Second:
		return errors.New("scaler: lease TTL must be at least 1s")
	case c.Windows.Panic < c.Interval || c.Windows.Stable < c.Windows.Panic:
		return errors.New("scaler: need interval ≤ panic window ≤ stable window")
	case !(c.Windows.PanicThreshold > 1):
		return errors.New("scaler: panic threshold must be above 1")
	}
	return c.Catalog.Validate()
}

// Scaler follows queue depths and writes instance counts.
type Scaler struct {
	cfg     Config
	cli     *clientv3.Client
	q       Depther
	logger  *slog.Logger
	cat     *catalog.Catalog
	metrics *metrics

	lifecycle.Closer
	ready chan struct{}
}

// New returns a scaler; Run starts it.
func New(cfg Config, cli *clientv3.Client, q Depther, logger *slog.Logger) (*Scaler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cli == nil || q == nil || logger == nil {
		return nil, errors.New("scaler: etcd client, queue and logger are required")
	}
	logger = logger.With("role", "scaler")
	cat, err := catalog.New(cfg.Catalog, cli, logger)
	if err != nil {
		return nil, err
	}
	return &Scaler{cfg: cfg, cli: cli, q: q, logger: logger, cat: cat, metrics: newMetrics(),
		ready: make(chan struct{})}, nil
}

// Ready is closed once the scaler has its catalog loaded (whether or not
// it leads).
func (s *Scaler) Ready() <-chan struct{} { return s.ready }

// Gatherer gives the scaler's metrics.
func (s *Scaler) Gatherer() prometheus.Gatherer { return s.metrics.reg }

// Run campaigns for the lead and, while leading, samples and decides
// until ctx ends or Close is called (Close comes with the embedded
// lifecycle.Closer).
func (s *Scaler) Run(ctx context.Context) error {
	ctx, cancel := s.Bind(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() { defer wg.Done(); s.cat.Run(ctx) }()
	select {
	case <-s.cat.Ready():
	case <-ctx.Done():
		return nil
	}
	close(s.ready)
	discovery.Lead(ctx, s.cli, protocol.LeaderKey(s.cfg.Prefix), s.cfg.LeaseTTL, s.logger, s.lead)
	return nil
}

// lead samples and decides every Interval until ctx ends (the lead is
// lost, or the scaler stops).
func (s *Scaler) lead(ctx context.Context) error {
	s.metrics.leader.Set(1)
	// The histories belong to this lead: a new leader starts afresh, and
	// so waits a full cool-down before scaling anything down.
	hist := map[string]*History{}
	defer func() {
		s.metrics.leader.Set(0)
		for name := range hist {
			s.metrics.forget(name)
		}
	}()
	// Wakes: the UFOPs at zero a gateway just queued a job for, passed
	// over at once (scale from zero waits for no tick).
	var (
		wmu   sync.Mutex
		woken = map[string]bool{}
		wake  = make(chan struct{}, 1)
	)
	if w, ok := s.q.(Waker); ok {
		stop, err := w.Wakes(func(name string) {
			wmu.Lock()
			woken[name] = true
			wmu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		})
		if err != nil {
			s.logger.Warn("no wakes from the gateways: scale from zero waits for the next pass", "err", err)
		} else {
			defer stop()
		}
	}
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	var only map[string]bool // nil: every UFOP
	for {
		if err := s.pass(ctx, hist, time.Now(), only); err != nil && ctx.Err() == nil {
			s.logger.Warn("scaler pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			only = nil
		case <-wake:
			wmu.Lock()
			only, woken = woken, map[string]bool{}
			wmu.Unlock()
		}
	}
}

// errSkip aborts a catalog update that is no longer wanted.
var errSkip = errors.New("scaler: update no longer applies")

// pass samples every UFOP with a policy once, or only the woken ones
// when woken is not nil, and applies the decisions.
func (s *Scaler) pass(ctx context.Context, hist map[string]*History, now time.Time, woken map[string]bool) error {
	running, err := s.running(ctx)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	var errs []error
	for _, u := range s.cat.UFOPs("") {
		if u.Scale == nil || u.Version == 0 {
			continue // a fixed count, or nothing to run yet
		}
		seen[u.Name] = true
		if woken != nil && !woken[u.Name] {
			continue
		}
		waiting, inflight, err := s.q.Depth(ctx, u.Name)
		if err != nil {
			// No decision on a guess; the windows keep their samples.
			errs = append(errs, fmt.Errorf("scaler: depth of %s: %w", u.Name, err))
			continue
		}
		if woken[u.Name] && waiting+inflight == 0 {
			// The gateway wakes after its publish, which the stream may
			// not show yet: the wake itself is a waiting job.
			waiting = 1
		}
		h := hist[u.Name]
		if h == nil {
			h = &History{}
			hist[u.Name] = h
		}
		o := Observation{At: now, Waiting: waiting, Inflight: inflight, Current: u.Instances, Running: running[u.Name]}
		d := Decide(*u.Scale, s.cfg.Windows, h, o)
		if d.Changed() {
			errs = append(errs, s.apply(ctx, u, o, d))
		} else {
			s.logger.Debug("scale hold", decisionAttrs(u.Name, o, d)...)
		}
		s.metrics.observe(u.Name, o, d)
	}
	for name := range hist {
		if !seen[name] && woken == nil {
			delete(hist, name)
			s.metrics.forget(name)
		}
	}
	return errors.Join(errs...)
}

// apply writes a decision, unless someone changed the count since it was
// read (a resize wins over the scaler's pass; the next pass sees it).
func (s *Scaler) apply(ctx context.Context, u ufop.UFOP, o Observation, d Decision) error {
	_, err := s.cat.UpdateUFOP(ctx, u.Name, func(x *ufop.UFOP) error {
		if x.Scale == nil || x.Instances != o.Current {
			return errSkip
		}
		x.Instances = d.Desired
		return nil
	})
	if errors.Is(err, errSkip) {
		s.logger.Info("scale decision dropped: the UFOP changed meanwhile", decisionAttrs(u.Name, o, d)...)
		return nil
	}
	if err != nil {
		return fmt.Errorf("scaler: set instances of %s to %d: %w", u.Name, d.Desired, err)
	}
	s.logger.Info("scale decision", decisionAttrs(u.Name, o, d)...)
	return nil
}

func decisionAttrs(name string, o Observation, d Decision) []any {
	return []any{"ufop", name, "depth", o.Depth(), "waiting", o.Waiting, "inflight", o.Inflight,
		"current", o.Current, "running", o.Running, "stable_avg", d.StableAvg, "panic_avg", d.PanicAvg,
		"panic", d.Panicking, "desired", d.Desired, "direction", d.Direction, "reason", d.Reason}
}

// running counts the healthy instances the agents report, by UFOP.
func (s *Scaler) running(ctx context.Context) (map[string]int, error) {
	resp, err := s.cli.Get(ctx, protocol.InstancesPrefix(s.cfg.SchedulerPrefix), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("scaler: load instances: %w", err)
	}
	n := map[string]int{}
	for _, kv := range resp.Kvs {
		var in ufop.Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			s.logger.Warn("bad instance report", "key", string(kv.Key), "err", err)
			continue
		}
		if in.State == ufop.InstanceHealthy {
			n[in.UFOP]++
		}
	}
	return n, nil
}
