// Package agent is the per-node worker of the platform. It announces itself
// in the discovery registry, fetches sources into a local disk cache, runs
// built-in image operations behind a bounded per-node queue, and caches
// results by source ETag and normalized fop.
//
// Gateways call its internal API (POST /v1/process) with the cluster token;
// the API is not meant for clients.
package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"golang.org/x/sync/singleflight"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/fop"
	"github.com/ufop/ufop/images"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/migrate"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/storage"
)

// Config configures an Agent.
type Config struct {
	// ID names the agent in the registry; default: host name plus a random
	// suffix.
	ID string
	// Listen is the address of the internal API.
	Listen string
	// Advertise is the base URL gateways use to reach the agent; default
	// http://<the listener's address>.
	Advertise string
	// CacheDir holds the source and result caches.
	CacheDir string
	// SourceCacheBytes and ResultCacheBytes bound the two caches.
	SourceCacheBytes int64
	ResultCacheBytes int64
	// Workers is the number of built-in jobs run at once; MaxQueue bounds
	// the jobs waiting for a worker, MaxQueueFree the queue length up to
	// which free-tier jobs are admitted.
	Workers      int
	MaxQueue     int
	MaxQueueFree int
	// FetchTimeout bounds one source fetch.
	FetchTimeout time.Duration
	// DrainTimeout bounds how long a stopping agent waits for in-flight
	// requests.
	DrainTimeout time.Duration
	// CatalogPrefix is where the cluster token lives.
	CatalogPrefix string
	// SchedulerPrefix is where the scheduler places instances.
	SchedulerPrefix string
	// Slots is how many UFOP instances the agent hosts at most, when it
	// has a container runtime.
	Slots int
	// SweepGrace is how long an agent must have been missing from the
	// registry before a live agent of the cluster removes what it left on
	// this node (containers, network, firewall chain); resources younger
	// than that are kept too. SweepInterval is how often it looks.
	SweepGrace    time.Duration
	SweepInterval time.Duration

	Images    images.Config
	Discovery discovery.Config
	// Migrate configures the migration runner (ID is the agent's).
	Migrate migrate.Config
}

// DefaultConfig returns the defaults; CacheDir must still be set.
func DefaultConfig() Config {
	w := runtime.GOMAXPROCS(0)
	return Config{
		Listen:           "127.0.0.1:0",
		SourceCacheBytes: 1 << 30,
		ResultCacheBytes: 1 << 30,
		Workers:          w,
		MaxQueue:         8 * w,
		MaxQueueFree:     4 * w,
		FetchTimeout:     10 * time.Second,
		DrainTimeout:     30 * time.Second,
		CatalogPrefix:    protocol.CatalogPrefix,
		SchedulerPrefix:  protocol.SchedulerPrefix,
		Slots:            16,
		SweepGrace:       10 * discovery.DefaultConfig().TTL,
		SweepInterval:    time.Minute,
		Images:           images.DefaultConfig(),
		Discovery:        discovery.DefaultConfig(),
		Migrate:          migrate.DefaultConfig(),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	switch {
	case c.CacheDir == "":
		return errors.New("agent: cache dir is required")
	case c.Listen == "":
		return errors.New("agent: listen address is required")
	case c.Workers < 1:
		return errors.New("agent: workers must be at least 1")
	case c.MaxQueue < 0 || c.MaxQueueFree < 0 || c.MaxQueueFree > c.MaxQueue:
		return errors.New("agent: queue bounds must satisfy 0 ≤ free ≤ max")
	case c.SourceCacheBytes < 1<<20 || c.ResultCacheBytes < 1<<20:
		return errors.New("agent: caches need at least 1 MiB each")
	case c.SweepGrace < 2*c.Discovery.TTL:
		// Shorter, a live agent whose lease renewal is late loses its
		// instances.
		return errors.New("agent: sweep grace must be at least twice the registry TTL")
	case c.SweepInterval <= 0:
		return errors.New("agent: sweep interval must be positive")
	}
	if err := c.Images.Validate(); err != nil {
		return err
	}
	return c.Discovery.Validate()
}

// Agent is one node's worker.
type Agent struct {
	cfg     Config
	etcd    *clientv3.Client
	logger  *slog.Logger
	proc    *images.Processor
	sources *diskCache
	results *diskCache
	pool    *pool
	flight  singleflight.Group
	metrics *metrics
	client  *http.Client
	ufops   *ufops          // nil without a container runtime
	migrate *migrate.Runner // nil without a store

	token     string // cluster token, known once Run has started
	advertise string // base URL of this agent, known once Run has started

	mu    sync.Mutex
	addr  string // actual listen address
	ready chan struct{}
	lifecycle.Closer
}

// Deps are the parts an agent works with.
type Deps struct {
	Etcd   *clientv3.Client
	Logger *slog.Logger
	// Runtime, when set, runs UFOP instances; without it the agent runs
	// built-in ops only.
	Runtime Runtime
	// Queue, when set, is where the agent takes UFOP jobs from; without it
	// UFOP pipelines reach the agent over HTTP only.
	Queue *queue.Queue
	// Store, when set with Queue, is the object store the agent copies
	// migrations into (agent/migrate.go); Egress checks the origins it
	// fetches.
	Store  storage.Store
	Egress *egress.Policy
}

// New returns an agent; Run starts it.
func New(cfg Config, deps Deps) (*Agent, error) {
	etcd, rt, logger := deps.Etcd, deps.Runtime, deps.Logger
	if etcd == nil || logger == nil {
		return nil, errors.New("agent: etcd client and logger are required")
	}
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = strings.ToLower(host) + "-" + discovery.RandomID()
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger = logger.With("agent", cfg.ID)
	a := &Agent{cfg: cfg, etcd: etcd, logger: logger, pool: newPool(cfg.Workers, cfg.MaxQueue, cfg.MaxQueueFree),
		metrics: newMetrics(), ready: make(chan struct{}),
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 90 * time.Second}}}
	var err error
	if a.sources, err = openDiskCache(filepath.Join(cfg.CacheDir, "sources"), cfg.SourceCacheBytes, logger); err != nil {
		return nil, err
	}
	if a.results, err = openDiskCache(filepath.Join(cfg.CacheDir, "results"), cfg.ResultCacheBytes, logger); err != nil {
		return nil, err
	}
	if a.proc, err = images.New(cfg.Images, loader{a}, logger); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if rt != nil {
		a.ufops = newUfops(a, rt, cfg.SchedulerPrefix)
		if deps.Queue != nil {
			a.ufops.jobs = newJobs(a, a.ufops, deps.Queue)
		}
	}
	if err := a.newMigrateRunner(deps); err != nil {
		return nil, err
	}
	return a, nil
}

// ID returns the agent's registry ID.
func (a *Agent) ID() string { return a.cfg.ID }

// Ready is closed once the agent serves and is registered.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Addr returns the listen address once Ready.
func (a *Agent) Addr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Run serves until ctx ends or Close is called, then leaves the registry
// first (so gateways stop sending), drains in-flight requests and returns.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := a.Bind(ctx)
	defer cancel()

	tok, err := catalog.ClusterToken(ctx, a.etcd, a.cfg.CatalogPrefix)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	a.token = tok
	if a.ufops != nil {
		cluster, err := catalog.ClusterID(ctx, a.etcd, a.cfg.CatalogPrefix)
		if err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		if err := a.ufops.rt.SetCluster(cluster); err != nil {
			return fmt.Errorf("agent: %w", err)
		}
		// Reports of an earlier run of this agent describe instances
		// that are gone: drop them before registering.
		if err := a.ufops.clearReports(ctx); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent: listen: %w", err)
	}
	a.mu.Lock()
	a.addr = ln.Addr().String()
	a.mu.Unlock()
	adv := a.cfg.Advertise
	if adv == "" {
		adv = "http://" + ln.Addr().String()
	}
	a.advertise = adv
	self := ufop.Agent{ID: a.cfg.ID, Addr: adv, Ops: fop.Builtins(), Load: a.pool.load(), Started: time.Now().UTC()}
	if a.ufops != nil {
		self.Slots = a.cfg.Slots
	}
	ann, err := discovery.NewAnnouncer(a.cfg.Discovery, a.etcd, self, a.logger)
	if err != nil {
		ln.Close()
		return err
	}

	srv := &http.Server{Handler: a.Handler(), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	var wg sync.WaitGroup
	annCtx, stopAnn := context.WithCancel(context.Background())
	// Instances outlive the registration: they serve the requests being
	// drained, and stop last; the runtime stops after its instances.
	insCtx, stopIns := context.WithCancel(context.Background())
	rtCtx, stopRT := context.WithCancel(context.Background())
	defer stopRT()
	serveErr := make(chan error, 1)
	wg.Add(3)
	go func() { defer wg.Done(); serveErr <- srv.Serve(ln) }()
	go func() { defer wg.Done(); ann.Run(annCtx) }()
	go func() { defer wg.Done(); a.publishLoad(annCtx, ann) }()
	if a.ufops != nil {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := a.ufops.rt.Run(rtCtx); err != nil {
				a.logger.Error("container runtime failed", "err", err)
			}
		}()
		go func() {
			defer wg.Done()
			defer stopRT() // the runtime stops once its instances have
			if err := a.ufops.run(insCtx, ann); err != nil {
				a.logger.Error("instances stopped", "err", err)
			}
		}()
	}
	a.runMigrations(insCtx, &wg)
	close(a.ready)
	a.logger.Info("agent serving", "addr", adv)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("agent: serve: %w", err)
	}
	// Leave the registry before draining: no new work arrives while the
	// in-flight requests finish.
	stopAnn()
	dctx, dcancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
	defer dcancel()
	if err := srv.Shutdown(dctx); err != nil && runErr == nil {
		runErr = fmt.Errorf("agent: drain: %w", err)
	}
	stopIns()
	wg.Wait()
	if a.ufops != nil {
		if err := a.ufops.rt.Close(); err != nil {
			a.logger.Warn("container runtime close", "err", err)
		}
	}
	a.logger.Info("agent stopped")
	return runErr
}

func (a *Agent) publishLoad(ctx context.Context, ann *discovery.Announcer) {
	tick := time.NewTicker(a.cfg.Discovery.LoadInterval / 2)
	defer tick.Stop()
	last := a.pool.load()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l := a.pool.load()
			a.metrics.observeLoad(l)
			// Only a change that matters for routing is worth a write.
			if l.Overloaded() != last.Overloaded() || l.Queued != last.Queued {
				ann.Update(func(ag *ufop.Agent) { ag.Load = l })
				last = l
			}
		}
	}
}

// Handler returns the agent's HTTP API.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathProcess, a.handleProcess)
	mux.HandleFunc("GET "+protocol.PathHealthz, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET "+protocol.PathMetrics, a.metrics.handler())
	mux.HandleFunc("GET "+protocol.PathInstanceLogs, a.handleLogs)
	mux.HandleFunc("GET "+protocol.PathResult, func(w http.ResponseWriter, r *http.Request) {
		if !a.authorized(r) || a.ufops == nil || a.ufops.jobs == nil {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		a.ufops.jobs.handleResult(w, r)
	})
	return mux
}

// ProcessRequest is the body of POST /v1/process.
type ProcessRequest = protocol.ProcessRequest

func (a *Agent) authorized(r *http.Request) bool {
	return a.token != "" && r.Header.Get("Authorization") == "Bearer "+a.token
}

func (a *Agent) handleProcess(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		http.Error(w, "cluster token required", http.StatusUnauthorized)
		return
	}
	var req ProcessRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
		a.writeError(w, r, "", ufop.Errorf(ufop.KindInvalid, "agent: bad process request: %v", err))
		return
	}
	ctx := r.Context()
	if !req.Deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, req.Deadline)
		defer cancel()
	}
	res, err := a.Process(ctx, req)
	if err != nil {
		a.writeError(w, r, req.Reqid, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", res.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(res.Body)))
	for k, v := range res.Header {
		h.Set(k, v)
	}
	h.Set(protocol.HeaderAgent, a.cfg.ID)
	w.WriteHeader(http.StatusOK)
	w.Write(res.Body)
}

func (a *Agent) handleLogs(w http.ResponseWriter, r *http.Request) {
	if !a.authorized(r) {
		http.Error(w, "cluster token required", http.StatusUnauthorized)
		return
	}
	if a.ufops == nil {
		a.writeError(w, r, "", ufop.Errorf(ufop.KindNotFound, "this agent runs no UFOP instances"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fw := flushWriter{w}
	if err := a.ufops.logs(r.Context(), r.PathValue("id"), r.URL.Query().Get("follow") == "1", fw); err != nil {
		a.writeError(w, r, "", err)
	}
}

// flushWriter sends each write at once, for followed logs.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

func (a *Agent) writeError(w http.ResponseWriter, r *http.Request, reqid string, err error) {
	kind := ufop.KindOf(err)
	if kind == ufop.KindInternal {
		a.logger.Error("process failed", "reqid", reqid, "err", err)
	}
	h := w.Header()
	h.Set(protocol.HeaderErrorKind, kind.String())
	h.Set(protocol.HeaderAgent, a.cfg.ID)
	if ra := ufop.RetryAfterOf(err); ra > 0 {
		h.Set(protocol.HeaderRetryAfter, strconv.Itoa(int((ra+time.Second-1)/time.Second)))
	}
	h.Set("Content-Type", "application/json")
	// The status is only a transport signal: the gateway maps the kind.
	w.WriteHeader(http.StatusInternalServerError)
	json.NewEncoder(w).Encode(map[string]string{"error": ufop.Message(err)})
}

// Result is a processed output.
type Result struct {
	Body        []byte
	ContentType string
	Header      map[string]string
}

// Process runs a request: result cache, admission, source fetch,
// processing, result cache fill. Identical concurrent requests share one
// run.
func (a *Agent) Process(ctx context.Context, req ProcessRequest) (*Result, error) {
	if req.Source.ETag == "" || req.Fops == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "agent: source etag and fops are required")
	}
	p, err := fop.Parse(req.Fops, a.cfg.Images.MaxPipeline)
	if err != nil {
		return nil, err
	}
	label := fopLabel(p)
	start := time.Now()
	res, err := a.process(ctx, req, p)
	a.metrics.request(label, err, time.Since(start))
	return res, err
}

func (a *Agent) process(ctx context.Context, req ProcessRequest, p fop.Pipeline) (*Result, error) {
	// Results of custom processors are not cached: user code may depend
	// on more than its input.
	for _, s := range p.Steps {
		if !s.Builtin() {
			return a.run(ctx, req, p, "")
		}
	}
	rkey := fop.ResultKey(req.Source.ETag, p)
	if body, meta, ok := a.results.Get(rkey); ok {
		a.metrics.cache("result", true)
		return &Result{Body: body, ContentType: meta.ContentType, Header: withCache(meta.Header, "hit")}, nil
	}
	a.metrics.cache("result", false)
	v, err, _ := a.flight.Do(rkey, func() (any, error) {
		return a.run(ctx, req, p, rkey)
	})
	if err != nil {
		return nil, err
	}
	return v.(*Result), nil
}

func withCache(h map[string]string, v string) map[string]string {
	out := make(map[string]string, len(h)+1)
	for k, x := range h {
		out[k] = x
	}
	out[protocol.HeaderCache] = v
	return out
}

// segments splits a pipeline into runs of built-in steps and single UFOP
// steps.
func segments(steps []fop.Step) [][]fop.Step {
	var out [][]fop.Step
	for i, s := range steps {
		if s.Builtin() && i > 0 && steps[i-1].Builtin() {
			out[len(out)-1] = append(out[len(out)-1], s)
			continue
		}
		out = append(out, []fop.Step{s})
	}
	return out
}

// run fetches the source and runs the pipeline: runs of built-in steps on
// a worker of the node's pool, UFOP steps on a local instance. A non-empty
// rkey caches the result.
func (a *Agent) run(ctx context.Context, req ProcessRequest, p fop.Pipeline, rkey string) (*Result, error) {
	var waited, fetched, decode, process, encode, custom time.Duration
	t := time.Now()
	data, err := a.source(ctx, req.Source, req.Grant)
	if err != nil {
		return nil, err
	}
	fetched = time.Since(t)
	a.metrics.stage("fetch", fetched)
	ct := req.Source.ContentType
	hdr := map[string]string{}
	ctx = context.WithValue(ctx, loadCtxKey{}, loadScope{objectsURL: req.ObjectsURL, refs: req.Refs, grant: req.Grant})
	for _, seg := range segments(p.Steps) {
		if !seg[0].Builtin() {
			if a.ufops == nil {
				return nil, &ufop.Error{Kind: ufop.KindUnavailable, RetryAfter: time.Second,
					Msg: "this agent runs no UFOP instances"}
			}
			t := time.Now()
			var version int
			data, ct, version, err = a.ufops.invoke(ctx, seg[0].Name(), seg[0].Args(), data, ct, req.Source, req.Reqid)
			if err != nil {
				return nil, err
			}
			custom += time.Since(t)
			v := fmt.Sprintf("%s/v%d", seg[0].Name(), version)
			if prev := hdr[protocol.HeaderVersion]; prev != "" {
				v = prev + ", " + v
			}
			hdr[protocol.HeaderVersion] = v
			continue
		}
		release, w, err := a.pool.acquire(ctx, req.Tier)
		a.metrics.admit(req.Tier, err)
		if err != nil {
			if ufop.KindOf(err) == ufop.KindInternal {
				err = ufop.Errorf(ufop.KindTimeout, "deadline passed while queued: %w", err)
			}
			return nil, err
		}
		waited += w
		a.metrics.stage("queue", w)
		out, err := a.proc.Run(ctx, data, seg)
		release()
		if err != nil {
			return nil, err
		}
		a.metrics.stage("decode", out.Decode)
		a.metrics.stage("process", out.Process)
		a.metrics.stage("encode", out.Encode)
		decode, process, encode = decode+out.Decode, process+out.Process, encode+out.Encode
		data, ct = out.Body, out.ContentType
		for k := range out.Header {
			hdr[k] = out.Header.Get(k)
		}
	}
	if custom > 0 {
		a.metrics.stage("ufop", custom)
	}
	if rkey != "" {
		if err := a.results.Put(rkey, data, cacheMeta{ContentType: ct, Header: hdr}); err != nil {
			a.logger.Warn("result cache put", "err", err)
		}
	}
	hdr = withCache(hdr, "miss")
	hdr[protocol.HeaderTiming] = fmt.Sprintf("queue;dur=%.1f, fetch;dur=%.1f, decode;dur=%.1f, process;dur=%.1f, encode;dur=%.1f, ufop;dur=%.1f",
		ms(waited), ms(fetched), ms(decode), ms(process), ms(encode), ms(custom))
	return &Result{Body: data, ContentType: ct, Header: hdr}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// source returns the source bytes from the cache or the gateway. Sources
// are cached by content hash, so copies of one image share an entry.
func (a *Agent) source(ctx context.Context, s ufop.Source, grant string) ([]byte, error) {
	if s.Size > a.cfg.Images.MaxSourceBytes {
		return nil, ufop.Errorf(ufop.KindTooLarge, "source is %s, over the %s limit", ufop.FormatBytes(s.Size), ufop.FormatBytes(a.cfg.Images.MaxSourceBytes))
	}
	name := hashName(s.ETag)
	if body, _, ok := a.sources.Get(name); ok {
		a.metrics.cache("source", true)
		return body, nil
	}
	a.metrics.cache("source", false)
	body, err := a.fetch(ctx, s.URL, grant, a.cfg.Images.MaxSourceBytes)
	if err != nil {
		return nil, fmt.Errorf("agent: fetch %s/%s: %w", s.Bucket, s.Key, err)
	}
	if err := a.sources.Put(name, body, cacheMeta{ContentType: s.ContentType}); err != nil {
		a.logger.Warn("source cache put", "err", err)
	}
	return body, nil
}

// hashName turns an ETag (hex SHA-256 from the store) into a safe file
// name, hashing anything else.
func hashName(etag string) string {
	if len(etag) == 64 && strings.Trim(etag, "0123456789abcdef") == "" {
		return etag
	}
	sum := sha256.Sum256([]byte(etag))
	return hex.EncodeToString(sum[:])
}

// fetch gets an object from the gateway's internal object endpoint, which
// serves only what grant covers.
func (a *Agent) fetch(ctx context.Context, url, grant string, limit int64) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	if grant != "" {
		req.Header.Set(protocol.HeaderGrant, grant)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return nil, ufop.Errorf(ufop.KindUpstream, "source fetch failed: %w", err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, ufop.Errorf(ufop.KindNotFound, "source object not found")
	case resp.StatusCode == http.StatusForbidden:
		return nil, ufop.Errorf(ufop.KindPermission, "no permission to read that object")
	case resp.StatusCode != http.StatusOK:
		return nil, ufop.Errorf(ufop.KindUpstream, "source fetch answered %s", resp.Status)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 && resp.ContentLength <= limit {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, ufop.Errorf(ufop.KindUpstream, "source fetch cut short: %w", err)
	}
	if n > limit {
		return nil, ufop.Errorf(ufop.KindTooLarge, "source is over the %s limit", ufop.FormatBytes(limit))
	}
	return buf.Bytes(), nil
}

// loader fetches watermark images for the image processor. It reads only
// the references the gateway resolved and checked for this request
// (Job.Refs), through the gateway's internal object endpoint with the
// request's grant: the agent makes no access decision of its own.
type loader struct{ a *Agent }

type loadCtxKey struct{}

type loadScope struct {
	objectsURL string
	refs       map[string]ufop.ObjectRef
	grant      string
}

func (l loader) Load(ctx context.Context, ref string) ([]byte, error) {
	scope, _ := ctx.Value(loadCtxKey{}).(loadScope)
	if scope.objectsURL == "" {
		return nil, ufop.Errorf(ufop.KindInvalid, "watermark image %q: no object endpoint for this request", ref)
	}
	o, ok := scope.refs[ref]
	if !ok {
		return nil, ufop.Errorf(ufop.KindPermission, "watermark image %q was not granted to this request", ref)
	}
	u := strings.TrimSuffix(scope.objectsURL, "/") + "/" + o.Bucket + "/" + storage.EscapeKey(o.Key)
	return l.a.fetch(ctx, u, scope.grant, l.a.cfg.Images.MaxSourceBytes)
}
