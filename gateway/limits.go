package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/protocol"
)

// TierLimits are the limits of a tier's users that no admin has set
// otherwise (protocol.TierLimits).
type TierLimits = protocol.TierLimits

// LimitsConfig configures per-user rate and concurrency limits and the
// replay guard of the admin API.
type LimitsConfig struct {
	// Tiers are the defaults by tier; a tier missing here is unlimited.
	Tiers map[ufop.Tier]TierLimits
	// PeersPrefix is where gateways register under a lease, so that each
	// knows how many share the cluster-wide limits.
	PeersPrefix string
	// PeerTTL is the registration lease: a dead gateway stops counting
	// within it.
	PeerTTL time.Duration
	// IdleAfter is how long an unused user's limiter state is kept.
	IdleAfter time.Duration

	// ReplayEntries bounds the in-memory replay cache.
	ReplayEntries int
	// ReplayPrefix, when set, records admin request signatures in etcd
	// too, so a request captured on one gateway cannot be replayed on
	// another. Empty: per-gateway only.
	ReplayPrefix string
}

// DefaultLimitsConfig returns the defaults (docs/limits.md).
func DefaultLimitsConfig() LimitsConfig {
	return LimitsConfig{
		Tiers: map[ufop.Tier]TierLimits{
			ufop.TierFree: {RPS: 50, Burst: 100, Concurrency: 20},
			ufop.TierPaid: {RPS: 1000, Burst: 2000, Concurrency: 400},
		},
		PeersPrefix:   protocol.GatewaysPrefix,
		PeerTTL:       3 * time.Second,
		IdleAfter:     2 * time.Minute,
		ReplayEntries: 100_000,
		ReplayPrefix:  protocol.ReplayPrefix,
	}
}

// Validate reports a config that cannot work.
func (c LimitsConfig) Validate() error {
	for tier, t := range c.Tiers {
		if t.RPS < 0 || t.Burst < 0 || t.Concurrency < 0 || math.IsNaN(t.RPS) {
			return fmt.Errorf("gateway: limits of tier %s: negative or NaN value", tier)
		}
		for cmd, r := range t.Commands {
			if r < 0 || math.IsNaN(r) {
				return fmt.Errorf("gateway: limits of tier %s: command %s: negative or NaN rate", tier, cmd)
			}
		}
	}
	switch {
	case c.PeersPrefix == "":
		return errors.New("gateway: peers prefix is required")
	case c.PeerTTL < time.Second:
		return errors.New("gateway: peer TTL must be at least 1s")
	case c.IdleAfter <= 0:
		return errors.New("gateway: limits idle time must be positive")
	case c.ReplayEntries < 1:
		return errors.New("gateway: replay entries must be at least 1")
	}
	return nil
}

// Limit reasons, the reason label of ufop_gateway_limited_total.
const (
	reasonRPS         = "rps"
	reasonCmd         = "cmd_rps"
	reasonConcurrency = "concurrency"
)

// limiter enforces per-user limits on one gateway. Each limit is the
// cluster-wide value divided by the number of live gateways (peers), so
// that with load spread over the gateways the cluster as a whole admits
// the limit. Limits are read from the catalog's in-memory copy on every
// request, so a change made through any gateway applies here as soon as
// the watch delivers it.
type limiter struct {
	cfg     LimitsConfig
	cat     *catalog.Catalog
	peers   func() int
	limited func(user, reason string)

	mu    sync.Mutex
	users map[string]*userLimits
}

type userLimits struct {
	rate     *rate.Limiter
	cmds     map[string]*rate.Limiter
	inflight int
	used     time.Time
}

func newLimiter(cfg LimitsConfig, cat *catalog.Catalog, peers func() int, limited func(user, reason string)) *limiter {
	return &limiter{cfg: cfg, cat: cat, peers: peers, limited: limited, users: map[string]*userLimits{}}
}

// run drops the state of users idle for a while until ctx ends; a
// returning user starts with a full bucket, which it would have by then
// at any useful rate.
func (l *limiter) run(ctx context.Context) {
	tick := time.NewTicker(l.cfg.IdleAfter / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			l.mu.Lock()
			for name, u := range l.users {
				if u.inflight == 0 && now.Sub(u.used) > l.cfg.IdleAfter {
					delete(l.users, name)
				}
			}
			l.mu.Unlock()
		}
	}
}

// effective is one limit as this gateway enforces it.
type effective struct {
	rps   float64 // 0: none
	burst int
	// cluster is the cluster-wide rate, for messages.
	cluster float64
}

// share divides a cluster-wide rate among n gateways.
func share(rps float64, burst, n int) effective {
	if rps <= 0 {
		return effective{}
	}
	if burst <= 0 {
		burst = int(math.Ceil(rps)) // one second's worth
	}
	return effective{rps: rps / float64(n), burst: max(1, ceilDiv(burst, n)), cluster: rps}
}

func ceilDiv(a, n int) int { return (a + n - 1) / n }

// userLimit returns the user-wide rate and the concurrency limit of user
// on this gateway.
func (l *limiter) userLimit(user string, tier TierLimits, n int) (effective, int, int) {
	rps, burst, conc := tier.RPS, tier.Burst, tier.Concurrency
	if row, ok := l.cat.Limit(user, ""); ok {
		if row.RPS > 0 {
			// A set rate comes with its own burst: the tier's burst
			// belongs to the tier's rate.
			rps, burst = row.RPS, 0
		}
		if row.Burst > 0 {
			burst = row.Burst
		}
		if row.Concurrency > 0 {
			conc = row.Concurrency
		}
	}
	perGateway := 0
	if conc > 0 {
		perGateway = max(1, ceilDiv(conc, n))
	}
	return share(rps, burst, n), perGateway, conc
}

func (l *limiter) cmdLimit(user, cmd string, tier TierLimits, n int) effective {
	rps, burst := tier.Commands[cmd], 0
	if row, ok := l.cat.Limit(user, cmd); ok {
		if row.RPS > 0 {
			rps = row.RPS
		}
		burst = row.Burst
	}
	return share(rps, burst, n)
}

func (e effective) limit() rate.Limit {
	if e.rps <= 0 {
		return rate.Inf
	}
	return rate.Limit(e.rps)
}

// newBucket returns a full token bucket enforcing e.
func newBucket(e effective) *rate.Limiter { return rate.NewLimiter(e.limit(), max(1, e.burst)) }

// tune makes lim enforce e, keeping its tokens (a new limit starts from
// where the old one left off, so changing it never grants a fresh burst).
func tune(lim *rate.Limiter, e effective, now time.Time) {
	r := e.limit()
	if lim.Limit() != r {
		lim.SetLimitAt(now, r)
	}
	if lim.Burst() != e.burst {
		lim.SetBurstAt(now, e.burst)
	}
}

// admit charges one request to owner, the owner of the bucket it reads:
// one request against the user-wide rate and concurrency, and each step
// of the pipeline against its command's rate. It returns a release func
// to call when the request is done, or a KindRateLimited error with a
// RetryAfter. A refused request consumes nothing.
func (l *limiter) admit(owner, bucket string, steps []fop.Step) (func(), error) {
	tier := l.cfg.Tiers[ufop.TierFree]
	if u, err := l.cat.User(owner); err == nil {
		tier = l.cfg.Tiers[u.Tier]
	}
	n := max(1, l.peers())
	now := time.Now()
	ue, conc, clusterConc := l.userLimit(owner, tier, n)

	// Commands in pipeline order, each with its count.
	var names []string
	counts := map[string]int{}
	for _, s := range steps {
		if counts[s.Name()] == 0 {
			names = append(names, s.Name())
		}
		counts[s.Name()]++
	}
	cmdLimits := make([]effective, len(names))
	for i, name := range names {
		cmdLimits[i] = l.cmdLimit(owner, name, tier, n)
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.users[owner]
	if u == nil {
		u = &userLimits{rate: newBucket(ue), cmds: map[string]*rate.Limiter{}}
		l.users[owner] = u
	}
	u.used = now
	if conc > 0 && u.inflight >= conc {
		l.limited(owner, reasonConcurrency)
		return nil, &ufop.Error{Kind: ufop.KindRateLimited, RetryAfter: time.Second,
			Msg: fmt.Sprintf("bucket %q: its owner's limit of %d concurrent requests is reached: retry later", bucket, clusterConc)}
	}
	var taken []*rate.Reservation
	refuse := func(reason string, r *rate.Reservation, msg string) error {
		delay := time.Second
		if r.OK() {
			delay = max(r.DelayFrom(now), time.Second)
			r.CancelAt(now)
		}
		for _, t := range slices.Backward(taken) {
			t.CancelAt(now)
		}
		l.limited(owner, reason)
		return &ufop.Error{Kind: ufop.KindRateLimited, RetryAfter: delay, Msg: msg}
	}
	for i, name := range names {
		e := cmdLimits[i]
		lim := u.cmds[name]
		if e.rps <= 0 {
			if lim != nil {
				delete(u.cmds, name)
			}
			continue
		}
		if lim == nil {
			lim = newBucket(e)
			u.cmds[name] = lim
		}
		tune(lim, e, now)
		r := lim.ReserveN(now, counts[name])
		if !r.OK() {
			// More steps than the burst: waiting will not help.
			return nil, refuse(reasonCmd, r, fmt.Sprintf("bucket %q: the pipeline has %d %s steps, more than its owner's limit lets through at once (%d on this gateway)", bucket, counts[name], name, e.burst))
		}
		if r.DelayFrom(now) > 0 {
			return nil, refuse(reasonCmd, r, fmt.Sprintf("bucket %q: its owner's limit of %g requests/s for %s is reached: retry later", bucket, e.cluster, name))
		}
		taken = append(taken, r)
	}
	tune(u.rate, ue, now)
	if r := u.rate.ReserveN(now, 1); !r.OK() || r.DelayFrom(now) > 0 {
		return nil, refuse(reasonRPS, r, fmt.Sprintf("bucket %q: its owner's limit of %g requests/s is reached: retry later", bucket, ue.cluster))
	}
	u.inflight++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			u.inflight--
			u.used = time.Now()
			l.mu.Unlock()
		})
	}, nil
}
