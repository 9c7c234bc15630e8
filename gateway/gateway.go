// Package gateway is the platform's front door. It parses processing URLs,
// authenticates signed URLs and signed admin requests, finds capable agents
// in the discovery registry and routes work to them, and serves the admin
// API that ufopctl uses. Error kinds become HTTP statuses here and only
// here (errors.go).
package gateway

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/console"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/mirror"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/storage"
)

// Config configures a Gateway.
type Config struct {
	// Addr is the public listener: downloads and processing.
	Addr string
	// AdminAddr, when set, is a listener of its own for the admin API and
	// uploads, so that uploads and downloads do not compete.
	AdminAddr string
	// InternalURL is the base URL agents use to fetch sources from this
	// gateway; default http://<Addr as bound>.
	InternalURL string
	// Domain, when set, lets buckets be addressed as <bucket>.<Domain>.
	Domain string
	// MaxPipeline bounds the steps of one processing URL.
	MaxPipeline int
	// Deadline bounds one processing request (504 past it).
	Deadline time.Duration
	// MaxSkew is how far an admin request's timestamp may be from now.
	MaxSkew time.Duration
	// MaxURLLifetime bounds how far in the future a signed URL's expiry
	// (e=) may be: a URL signed for longer is refused (403).
	MaxURLLifetime time.Duration
	// PublicMaxAge is the default Cache-Control max-age for public buckets.
	PublicMaxAge time.Duration
	// DrainTimeout bounds how long a stopping gateway waits for in-flight
	// requests.
	DrainTimeout time.Duration
	// MaxAdminBody bounds admin request bodies other than uploads.
	MaxAdminBody int64
	// ResultCacheBytes bounds the in-memory cache of small processed
	// results (0 turns it off).
	ResultCacheBytes int64

	// SchedulerPrefix is where agents report UFOP instances.
	SchedulerPrefix string

	// ID names this gateway among its peers; default random.
	ID string
	// Limits are the per-user limits and the admin replay guard; Conns
	// the per-listener connection cap and timeouts (docs/limits.md).
	Limits LimitsConfig
	Conns  ConnsConfig
	// Usage is usage metering (SPEC §14, usage.go).
	Usage UsageConfig

	// FetchAllow are the non-public address ranges URLs fetched on a
	// user's behalf (mirror origins, pfop notify URLs) may reach
	// (--fetch-allow); every other non-public address is refused
	// (package egress).
	FetchAllow []netip.Prefix
	// Mirror bounds fetches from mirror buckets' origins.
	Mirror mirror.Config
	// Pfop configures persistent processing (pfop.go).
	Pfop PfopConfig

	Catalog   catalog.Config
	Discovery discovery.Config
	// Console configures the web console (SPEC §15, console.go).
	Console console.Config
}

// DefaultMaxURLLifetime is the default bound of a signed URL's lifetime: a
// week, like S3's presigned URLs.
const DefaultMaxURLLifetime = 7 * 24 * time.Hour

// DefaultConfig returns the defaults; Catalog.MasterKey must still be set.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:9000",
		MaxPipeline:      fop.DefaultMaxSteps,
		Deadline:         30 * time.Second,
		MaxSkew:          15 * time.Minute,
		MaxURLLifetime:   DefaultMaxURLLifetime,
		PublicMaxAge:     time.Hour,
		DrainTimeout:     30 * time.Second,
		MaxAdminBody:     1 << 20,
		ResultCacheBytes: 64 << 20,
		Catalog:          catalog.DefaultConfig(),
		Discovery:        discovery.DefaultConfig(),
		SchedulerPrefix:  protocol.SchedulerPrefix,
		Limits:           DefaultLimitsConfig(),
		Conns:            DefaultConnsConfig(),
		Console:          console.DefaultConfig(),
		Mirror:           mirror.DefaultConfig(),
		Usage:            DefaultUsageConfig(),
		Pfop:             DefaultPfopConfig(),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("gateway: listen address is required")
	case c.MaxPipeline < 1:
		return errors.New("gateway: max pipeline must be at least 1")
	case c.Deadline <= 0:
		return errors.New("gateway: deadline must be positive")
	case c.MaxSkew <= 0:
		return errors.New("gateway: max skew must be positive")
	case c.MaxURLLifetime < time.Second:
		return errors.New("gateway: max signed URL lifetime must be at least a second")
	case len(c.Catalog.MasterKey) != 32:
		return errors.New("gateway: a 32-byte master key is required")
	}
	if err := c.Catalog.Validate(); err != nil {
		return err
	}
	if err := c.Limits.Validate(); err != nil {
		return err
	}
	if err := c.Conns.Validate(); err != nil {
		return err
	}
	if err := c.Console.Validate(); err != nil {
		return err
	}
	if err := c.Mirror.Validate(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if err := c.Pfop.Validate(); err != nil {
		return err
	}
	if err := c.Usage.Validate(); err != nil {
		return err
	}
	return c.Discovery.Validate()
}

// Deps are the parts a gateway works with.
type Deps struct {
	Etcd   *clientv3.Client
	Store  storage.Store
	Logger *slog.Logger
	// Queue, when set, carries pipelines with UFOP steps to the agents;
	// without it they go over HTTP to an agent hosting the UFOPs.
	Queue *queue.Queue
	// Health, when set, is asked by /healthz besides the gateway's own
	// readiness (the one-process platform reports every role there).
	Health func() error
	// Metrics, when set, are served on /metrics beside the gateway's own
	// series (the one-process platform adds the scaler's there).
	Metrics []prometheus.Gatherer
}

// Gateway is one front-end process.
type Gateway struct {
	cfg     Config
	deps    Deps
	logger  *slog.Logger
	store   storage.Store
	cat     *catalog.Catalog
	reg     *discovery.Registry
	metrics *metrics
	results *resultCache
	fast    *fastPath // fastpath.go; nil without a result cache
	client  *http.Client
	peers   *discovery.Registry // live gateways, for limit shares
	limits  *limiter
	replay  *replayGuard
	ui      *consoleParts
	egress  *egress.Policy  // every URL fetched on a user's behalf
	mirror  *mirror.Fetcher // fills mirror buckets (mirror.go)
	usage   *usageMeter

	pfop         *queue.Pfop  // nil without a queue
	notifyClient *http.Client // pfop notifications, through g.egress
	migrate      *migrations

	token    string // cluster token for agents
	grantKey []byte // signs read grants (reads.go), derived from token
	internal string // base URL of the internal object endpoint

	mu        sync.Mutex
	addr      string
	adminAddr string
	ready     chan struct{}
	lifecycle.Closer
}

// New returns a gateway; Run starts it.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if deps.Etcd == nil || deps.Store == nil || deps.Logger == nil {
		return nil, errors.New("gateway: etcd client, store and logger are required")
	}
	cat, err := catalog.New(cfg.Catalog, deps.Etcd, deps.Logger)
	if err != nil {
		return nil, err
	}
	reg, err := discovery.NewRegistry(cfg.Discovery, deps.Etcd, deps.Logger)
	if err != nil {
		return nil, err
	}
	peers, err := discovery.NewRegistry(peersConfig(cfg.Limits), deps.Etcd, deps.Logger.With("registry", "gateways"))
	if err != nil {
		return nil, err
	}
	if cfg.ID == "" {
		cfg.ID = discovery.RandomID()
	}
	ui, err := newConsoleParts(cfg.Console, deps.Etcd, cat, deps.Logger)
	if err != nil {
		return nil, err
	}
	m := newMetrics()
	policy := egress.New(cfg.FetchAllow)
	mf, err := mirror.New(cfg.Mirror, policy, deps.Store, deps.Logger)
	if err != nil {
		return nil, err
	}
	um, err := newUsageMeter(cfg.Usage, deps, m.reg)
	if err != nil {
		return nil, err
	}
	var fast *fastPath
	if cfg.ResultCacheBytes > 0 {
		fast = newFastPath(max(64<<10, cfg.ResultCacheBytes/16))
	}
	return &Gateway{fast: fast, ui: ui, egress: policy, mirror: mf, usage: um, cfg: cfg, deps: deps, logger: deps.Logger, store: deps.Store, cat: cat, reg: reg,
		metrics: m, migrate: &migrations{}, results: newResultCache(cfg.ResultCacheBytes), ready: make(chan struct{}), peers: peers,
		limits:       newLimiter(cfg.Limits, cat, func() int { return max(1, len(peers.Agents())) }, m.limit),
		replay:       newReplayGuard(deps.Etcd, cfg.Limits.ReplayPrefix, cfg.MaxSkew, cfg.Limits.ReplayEntries),
		notifyClient: policy.Client(egress.ClientConfig{}),
		client: &http.Client{Transport: &http.Transport{
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		}},
	}, nil
}

// Catalog gives the one-process platform and tests access to the catalog.
func (g *Gateway) Catalog() *catalog.Catalog { return g.cat }

// Registry gives tests access to the agent registry.
func (g *Gateway) Registry() *discovery.Registry { return g.reg }

// Ready is closed once the gateway serves with a loaded catalog and
// registry.
func (g *Gateway) Ready() <-chan struct{} { return g.ready }

// Addr returns the public listener's address once Ready.
func (g *Gateway) Addr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.addr
}

// AdminAddr returns the admin listener's address once Ready; it is Addr
// when the admin API shares the public listener.
func (g *Gateway) AdminAddr() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.adminAddr
}

// EnsureAdmin creates an admin account on first start and writes its
// ufopctl config, pointing at this gateway's listeners, to path; on later
// starts it only updates the endpoints (catalog.EnsureAdmin). g must be
// Ready.
func (g *Gateway) EnsureAdmin(ctx context.Context, path string) error {
	endpoint := "http://" + g.Addr()
	admin := ""
	if g.AdminAddr() != g.Addr() {
		admin = "http://" + g.AdminAddr()
	}
	return g.cat.EnsureAdmin(ctx, path, endpoint, admin)
}

// Run serves until ctx ends or Close is called, then drains in-flight
// requests and returns.
func (g *Gateway) Run(ctx context.Context) error {
	ctx, cancel := g.Bind(ctx)
	var wg sync.WaitGroup
	// Stop the background loops before waiting for them: an early return
	// (a taken port) would otherwise wait forever.
	defer wg.Wait()
	defer cancel()
	defer g.mirror.Close()
	wg.Add(4)
	go func() { defer wg.Done(); g.cat.Run(ctx) }()
	go func() { defer wg.Done(); g.reg.Run(ctx) }()
	go func() { defer wg.Done(); g.peers.Run(ctx) }()
	go func() { defer wg.Done(); g.limits.run(ctx) }()
	// Usage is flushed a last time once the servers have drained (the
	// deferred ustop runs after the shutdown below, before wg.Wait).
	uctx, ustop := context.WithCancel(context.WithoutCancel(ctx))
	defer ustop()
	wg.Add(1)
	go func() { defer wg.Done(); g.usage.run(uctx) }()
	wg.Add(1)
	go func() { defer wg.Done(); g.sampleUFOPs(ctx) }()

	tok, err := catalog.ClusterToken(ctx, g.deps.Etcd, g.cfg.Catalog.Prefix)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	g.token, g.grantKey = tok, grantKey(tok)
	if g.deps.Queue != nil {
		if g.pfop, err = g.deps.Queue.Pfop(ctx, g.cfg.Pfop.Queue); err != nil {
			return fmt.Errorf("gateway: %w", err)
		}
	}
	for _, ch := range []<-chan struct{}{g.cat.Ready(), g.reg.Ready()} {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil
		}
	}

	ln, err := net.Listen("tcp", g.cfg.Addr)
	if err != nil {
		return fmt.Errorf("gateway: listen: %w", err)
	}
	servers := []*http.Server{}
	listeners := []*connLimiter{g.limitConns(ln)}
	g.mu.Lock()
	g.addr, g.adminAddr = ln.Addr().String(), ln.Addr().String()
	g.mu.Unlock()
	g.internal = g.cfg.InternalURL
	if g.internal == "" {
		g.internal = "http://" + ln.Addr().String()
	}
	if g.cfg.AdminAddr != "" {
		aln, err := net.Listen("tcp", g.cfg.AdminAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("gateway: listen admin: %w", err)
		}
		g.mu.Lock()
		g.adminAddr = aln.Addr().String()
		g.mu.Unlock()
		listeners = append(listeners, g.limitConns(aln))
		servers = append(servers, g.server(g.publicHandler(false), listeners[0]), g.server(g.adminRoutes(), listeners[1]))
	} else {
		servers = append(servers, g.server(g.publicHandler(true), listeners[0]))
	}
	if err := g.announce(ctx, &wg, ln.Addr().String()); err != nil {
		for _, l := range listeners {
			l.Close()
		}
		return err
	}
	errc := make(chan error, len(servers))
	for i, s := range servers {
		wg.Add(1)
		go func(s *http.Server, l *connLimiter) {
			defer wg.Done()
			if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(s, listeners[i])
	}
	if g.pfop != nil {
		wg.Add(1)
		go func() { defer wg.Done(); g.servePfop(ctx) }()
	}
	close(g.ready)
	g.logger.Info("gateway serving", "addr", g.Addr(), "admin", g.AdminAddr())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	dctx, dcancel := context.WithTimeout(context.Background(), g.cfg.DrainTimeout)
	defer dcancel()
	for _, s := range servers {
		if err := s.Shutdown(dctx); err != nil && serveErr == nil {
			serveErr = err
		}
	}
	g.logger.Info("gateway stopped")
	if serveErr != nil {
		return fmt.Errorf("gateway: %w", serveErr)
	}
	return nil
}

func (g *Gateway) server(h http.Handler, l *connLimiter) *http.Server {
	return &http.Server{
		Handler:           l.track(h),
		ConnContext:       connContext,
		ReadHeaderTimeout: g.cfg.Conns.ReadHeaderTimeout,
		MaxHeaderBytes:    g.cfg.Conns.MaxHeaderBytes,
		IdleTimeout:       g.cfg.Conns.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(g.logger.Handler(), slog.LevelWarn),
	}
}

// newEcho returns an echo instance with the middleware every listener
// shares.
func (g *Gateway) newEcho() *echo.Echo {
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = g.handleError
	e.Use(g.observe)
	e.GET("/healthz", g.healthz)
	return e
}

// metricsHandler serves /metrics. On a separate admin listener it is open
// (that listener is the operator's); on the public listener it needs the
// cluster token as a bearer token, since the series name users, buckets
// and agents.
func (g *Gateway) metricsHandler(open bool) echo.HandlerFunc {
	h := echo.WrapHandler(g.metrics.handler(g.deps.Metrics...))
	if open {
		return h
	}
	return g.tokenGuard("/metrics", h)
}

// tokenGuard lets through only requests with the cluster token as a
// bearer token; what names the guarded endpoint in the refusal.
func (g *Gateway) tokenGuard(what string, h echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		got := c.Request().Header.Get("Authorization")
		if g.token == "" || subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+g.token)) != 1 {
			return ufop.Errorf(ufop.KindUnauthenticated, "%s on this listener needs the cluster token (Authorization: Bearer <token>); or use the admin listener (--admin-addr)", what)
		}
		return h(c)
	}
}

// publicRoutes serves downloads and processing, and, with admin, the admin
// API too.
func (g *Gateway) publicRoutes(admin bool) *echo.Echo {
	e := g.newEcho()
	e.GET(protocol.InternalObjectsPath+"*", g.internalObject)
	if admin {
		g.mountAdmin(e)
		e.GET("/metrics", g.metricsHandler(false))
		g.mountPprof(e, false)
	}
	e.GET("/*", g.serveObject)
	e.HEAD("/*", g.serveObject)
	return e
}

func (g *Gateway) adminRoutes() *echo.Echo {
	e := g.newEcho()
	g.mountAdmin(e)
	e.GET("/metrics", g.metricsHandler(true))
	g.mountPprof(e, true)
	return e
}

func (g *Gateway) healthz(c echo.Context) error {
	select {
	case <-g.ready:
	default:
		return c.String(http.StatusServiceUnavailable, "starting\n")
	}
	if g.deps.Health != nil {
		if err := g.deps.Health(); err != nil {
			return c.String(http.StatusServiceUnavailable, err.Error()+"\n")
		}
	}
	return c.String(http.StatusOK, "ok\n")
}

const (
	ctxReqid  = "reqid"
	ctxFop    = "fop"
	ctxErrKey = "err"
)

func reqidOf(c echo.Context) string {
	s, _ := c.Get(ctxReqid).(string)
	return s
}

func newReqid() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// observe gives each request an id, and logs and counts it.
func (g *Gateway) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		note := g.usage.start(c)
		id := newReqid()
		c.Set(ctxReqid, id)
		c.Response().Header().Set("X-Reqid", id)
		err := next(c)
		if err != nil {
			g.handleError(err, c)
		}
		status := c.Response().Status
		fop, _ := c.Get(ctxFop).(string)
		route := routeOf(c)
		now := time.Now()
		g.usage.finish(note, now, status, c.Response().Size, now.Sub(start))
		g.metrics.request(route, fop, status, now.Sub(start))
		attrs := []any{"reqid", id, "method", c.Request().Method, "path", c.Request().URL.Path,
			"status", status, "dur_ms", float64(time.Since(start).Microseconds()) / 1000, "bytes", c.Response().Size}
		if q := c.Request().URL.RawQuery; q != "" {
			attrs = append(attrs, "query", redactQuery(q))
		}
		if fop != "" {
			attrs = append(attrs, "fop", fop)
		}
		if e, _ := c.Get(ctxErrKey).(error); e != nil {
			attrs = append(attrs, "err", e.Error())
		}
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelWarn
		}
		if route == "health" || route == "metrics" {
			level = slog.LevelDebug
		}
		g.logger.Log(c.Request().Context(), level, "request", attrs...)
		return nil
	}
}

// redactQuery returns a raw query fit for logs: the signature of a
// download token (token=<AK>:<sig>) is replaced, its access key kept.
func redactQuery(raw string) string {
	if !strings.Contains(raw, "token=") {
		return raw
	}
	parts := strings.Split(raw, "&")
	for i, p := range parts {
		v, ok := strings.CutPrefix(p, "token=")
		if !ok {
			continue
		}
		ak := ""
		if j := strings.Index(v, ":"); j >= 0 {
			ak = v[:j+1]
		} else if j := strings.Index(strings.ToUpper(v), "%3A"); j >= 0 {
			ak = v[:j+3]
		}
		parts[i] = "token=" + ak + "REDACTED"
	}
	return strings.Join(parts, "&")
}

func routeOf(c echo.Context) string {
	switch p := c.Path(); {
	case p == "/healthz":
		return "health"
	case p == "/metrics":
		return "metrics"
	case strings.HasPrefix(p, "/debug/pprof/"):
		return "pprof"
	case p == protocol.InternalObjectsPath+"*":
		return "internal"
	case len(p) >= 4 && p[:4] == "/v1/":
		return "admin"
	}
	return "public"
}
