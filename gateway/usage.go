package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/usage"
)

// UsageConfig configures usage metering (SPEC §14, docs/usage.md).
type UsageConfig struct {
	Recorder usage.RecorderConfig
	Store    usage.StoreConfig
	// MetricOwners bounds the owner label of the ufop_usage_* series:
	// the first MetricOwners owners this gateway serves get a series of
	// their own, the others share owner="_other".
	MetricOwners int
	// QueryTimeout bounds one GET /v1/usage.
	QueryTimeout time.Duration
}

// DefaultUsageConfig returns the defaults.
func DefaultUsageConfig() UsageConfig {
	return UsageConfig{Recorder: usage.DefaultRecorderConfig(), Store: usage.DefaultStoreConfig(), MetricOwners: 100,
		QueryTimeout: 30 * time.Second}
}

// Validate reports a config that cannot work.
func (c UsageConfig) Validate() error {
	if c.MetricOwners < 0 {
		return errors.New("gateway: usage metric owners must not be negative")
	}
	if c.QueryTimeout <= 0 {
		return errors.New("gateway: usage query timeout must be positive")
	}
	if err := c.Recorder.Validate(); err != nil {
		return err
	}
	return c.Store.Validate()
}

// usageOther is the owner label of owners past UsageConfig.MetricOwners; it
// cannot be a user name (those start with a letter).
const usageOther = "_other"

const ctxUsage = "usage"

// usageNote is what serveObject learns about a request for its usage row;
// observe records it once the answer is out. Notes are pooled: a request
// costs the meter no allocation.
type usageNote struct {
	owner, bucket, cmd string
}

// usageMeter counts the public requests of each bucket owner and flushes
// them to the usage store on NATS.
type usageMeter struct {
	cfg      UsageConfig
	rec      *usage.Recorder
	notes    sync.Pool
	builtins map[string]bool

	// Per-owner series on /metrics, fed from each flush's batch, so the
	// request path never touches them.
	mu       sync.Mutex
	owners   map[string]bool
	requests *prometheus.CounterVec
	errs     *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	seconds  *prometheus.CounterVec
}

func newUsageMeter(cfg UsageConfig, deps Deps, reg prometheus.Registerer) (*usageMeter, error) {
	u := &usageMeter{cfg: cfg, owners: map[string]bool{}, builtins: map[string]bool{},
		notes: sync.Pool{New: func() any { return new(usageNote) }},
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_usage_requests_total", Help: "Public requests by bucket owner (past the owner bound: _other), as flushed to the usage store.",
		}, []string{"owner"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_usage_errors_total", Help: "Public requests answered with a status of 400 or more, by bucket owner.",
		}, []string{"owner"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_usage_bytes_out_total", Help: "Response body bytes of public requests, by bucket owner.",
		}, []string{"owner"}),
		seconds: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_usage_process_seconds_total", Help: "Time the gateway spent on public requests, by bucket owner.",
		}, []string{"owner"}),
	}
	for _, n := range fop.Builtins() {
		u.builtins[n] = true
	}
	if err := reg.Register(u.requests); err != nil {
		return nil, err
	}
	reg.MustRegister(u.errs, u.bytes, u.seconds)
	var open func(context.Context) (*usage.Store, error)
	if deps.Queue != nil {
		open = func(ctx context.Context) (*usage.Store, error) {
			js, err := jetstream.New(deps.Queue.Conn())
			if err != nil {
				return nil, err
			}
			return usage.OpenStore(ctx, js, cfg.Store)
		}
	}
	rec, err := usage.NewRecorder(cfg.Recorder, open, deps.Logger.With("part", "usage"), u.observe)
	if err != nil {
		return nil, err
	}
	u.rec = rec
	return u, nil
}

// observe adds a flushed batch to the per-owner series.
func (u *usageMeter) observe(b usage.Batch) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k, c := range b {
		owner := k.Owner
		if !u.owners[owner] {
			if len(u.owners) >= u.cfg.MetricOwners {
				owner = usageOther
			} else {
				u.owners[owner] = true
			}
		}
		u.requests.WithLabelValues(owner).Add(float64(c.Requests))
		u.errs.WithLabelValues(owner).Add(float64(c.Errors))
		u.bytes.WithLabelValues(owner).Add(float64(c.BytesOut))
		u.seconds.WithLabelValues(owner).Add(float64(c.ProcessMicros) / 1e6)
	}
}

// start gives the request a usage note, for serveObject to fill.
func (u *usageMeter) start(c echo.Context) *usageNote {
	n := u.notes.Get().(*usageNote)
	*n = usageNote{}
	c.Set(ctxUsage, n)
	return n
}

// noteUsage says whose request it is: the bucket's owner, and the
// command (the first fop, "get" for the object itself).
func noteUsage(c echo.Context, b ufop.Bucket, cmd string) {
	if n, ok := c.Get(ctxUsage).(*usageNote); ok {
		n.owner, n.bucket, n.cmd = b.Owner, b.Name, cmd
	}
}

// usageCmdInvalid is the command of requests whose pipeline did not parse
// or names no known UFOP: their names are the client's, and would let
// anyone add rows to a bucket owner's usage.
const usageCmdInvalid = "invalid"

// usageCmd is the command of a pipeline: its first step's name, when that
// is a built-in or a registered UFOP, even if a parameter is wrong (a 400
// of imageView2 counts as imageView2).
func (g *Gateway) usageCmd(fops string) string {
	name := fops
	if i := strings.IndexAny(name, "/|"); i >= 0 {
		name = name[:i]
	}
	if g.usage.builtins[name] {
		return name
	}
	if u, err := g.cat.UFOP(name); err == nil {
		return u.Name
	}
	return usageCmdInvalid
}

// finishUsage counts the request whose note n is, and returns n to the
// pool. Requests that named no bucket of anyone count for no one.
func (u *usageMeter) finish(n *usageNote, now time.Time, status int, bytes int64, d time.Duration) {
	if n.owner != "" {
		c := usage.Counts{Requests: 1, BytesOut: bytes, ProcessMicros: d.Microseconds()}
		if status >= 400 {
			c.Errors = 1
		}
		u.rec.Meter().Add(usage.Key{Minute: usage.MinuteOf(now), Owner: n.owner, Bucket: n.bucket, Cmd: n.cmd}, c)
	}
	u.notes.Put(n)
}

func (u *usageMeter) run(ctx context.Context) { u.rec.Run(ctx) }

// mountUsage adds GET /v1/usage: a user's own rows, or, for an admin,
// everyone's (or one user's with ?user=).
func (g *Gateway) mountUsage(v1 *echo.Group) {
	v1.GET(protocol.UsagePath[len("/v1"):], g.getUsage)
}

func (g *Gateway) getUsage(c echo.Context) error {
	q := url.Values{}
	for k, v := range c.QueryParams() {
		// The signature's own parameters are not the filter's.
		if k != auth.TimestampParam && k != auth.NonceParam {
			q[k] = v
		}
	}
	f, err := usage.ParseFilter(q, time.Now())
	if err != nil {
		return err
	}
	me := userOf(c)
	switch {
	case me.Admin:
	case f.Owner == "":
		f.Owner = me.Name
	case f.Owner != me.Name:
		return ufop.Errorf(ufop.KindPermission, "usage: only admins may read the usage of other users")
	}
	store := g.usage.rec.Store()
	if store == nil {
		return &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: 5 * time.Second,
			Msg: "usage: the usage store (NATS) is not connected to this gateway yet"}
	}
	ctx, cancel := context.WithTimeout(c.Request().Context(), g.cfg.Usage.QueryTimeout)
	defer cancel()
	rows, err := store.Query(ctx, f)
	if err != nil {
		return err
	}
	rows = usage.Rollup(rows, f.By)
	out := make([]protocol.UsageRow, len(rows))
	for i, r := range rows {
		out[i] = r.Public()
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, out)
}
