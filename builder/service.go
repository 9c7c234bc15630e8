package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/manifest"
	"github.com/ufop/ufop/protocol"
)

// ServiceConfig configures the builder role.
type ServiceConfig struct {
	// ID names the builder in the registry.
	ID string
	// Listen is the address of its internal API; Advertise the base URL
	// gateways use (default http://<listener>).
	Listen    string
	Advertise string
	// TTL is the registration lease.
	TTL time.Duration
	// LogTail is how much of a failed build's log the version record keeps.
	LogTail int
	// BaseImages is the builder's Config.BaseImages: the images besides
	// scratch and the user's own UFOP images that builds may start from.
	BaseImages []string

	Catalog catalog.Config
}

// DefaultServiceConfig returns the defaults; ID must still be set.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{Listen: "127.0.0.1:0", TTL: 5 * time.Second, LogTail: 4 << 10, Catalog: catalog.DefaultConfig()}
}

// Validate reports a config that cannot work.
func (c ServiceConfig) Validate() error {
	if c.ID == "" || c.Listen == "" {
		return errors.New("builder: service needs an ID and a listen address")
	}
	if c.TTL < time.Second {
		return errors.New("builder: TTL must be at least 1s")
	}
	return c.Catalog.Validate()
}

// Service is the builder role: gateways hand it validated packages (POST
// /v1/build?ufop=<name>&version=<N>, with the cluster token); it builds
// them, streams the log back and records the outcome in the catalog.
type Service struct {
	cfg    ServiceConfig
	b      *Builder
	cli    *clientv3.Client
	cat    *catalog.Catalog
	logger *slog.Logger
	token  string

	ready     chan struct{}
	readyOnce sync.Once
	lifecycle.Closer
}

// NewService returns the builder role around b.
func NewService(cfg ServiceConfig, b *Builder, cli *clientv3.Client, logger *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cat, err := catalog.New(cfg.Catalog, cli, logger)
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, b: b, cli: cli, cat: cat, logger: logger.With("role", "builder"),
		ready: make(chan struct{})}, nil
}

// Ready is closed once the service is registered.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// Run serves builds until ctx ends or Close is called; builds under way
// finish first.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := s.Bind(ctx)
	var wg sync.WaitGroup
	// Stop the background loops before waiting for them: an early return
	// (a taken port) would otherwise wait forever.
	defer wg.Wait()
	defer cancel()
	wg.Add(1)
	go func() { defer wg.Done(); s.cat.Run(ctx) }()
	tok, err := catalog.ClusterToken(ctx, s.cli, s.cfg.Catalog.Prefix)
	if err != nil {
		return fmt.Errorf("builder: %w", err)
	}
	s.token = tok
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("builder: listen: %w", err)
	}
	adv := s.cfg.Advertise
	if adv == "" {
		adv = "http://" + ln.Addr().String()
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+protocol.PathBuild, s.handleBuild)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	wg.Add(1)
	go func() { defer wg.Done(); serveErr <- srv.Serve(ln) }()

	var runErr error
	for ctx.Err() == nil && runErr == nil {
		// Register, and register again whenever the lease is lost (etcd
		// unreachable for longer than the TTL).
		lease, ka, err := s.register(ctx, adv)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("builder registration failed, retrying", "err", err)
				time.Sleep(500 * time.Millisecond)
			}
			continue
		}
		s.readyOnce.Do(func() {
			close(s.ready)
			s.logger.Info("builder serving", "addr", adv)
		})
	alive:
		for {
			select {
			case <-ctx.Done():
				rctx, rcancel := context.WithTimeout(context.Background(), 2*time.Second)
				s.cli.Revoke(rctx, lease)
				rcancel()
				break alive
			case _, ok := <-ka:
				if !ok {
					s.logger.Warn("builder registration lease lost, registering again")
					break alive
				}
			case err := <-serveErr:
				runErr = fmt.Errorf("builder: serve: %w", err)
				break alive
			}
		}
	}
	dctx, dcancel := context.WithTimeout(context.Background(), s.b.cfg.BuildTimeout)
	defer dcancel()
	srv.Shutdown(dctx)
	return runErr
}

// register puts the builder's address in etcd under a lease kept alive.
func (s *Service) register(ctx context.Context, adv string) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	lease, err := s.cli.Grant(ctx, int64(s.cfg.TTL/time.Second))
	if err != nil {
		return 0, nil, fmt.Errorf("builder: lease: %w", err)
	}
	if _, err := s.cli.Put(ctx, protocol.BuilderKey(protocol.BuildersPrefix, s.cfg.ID), adv, clientv3.WithLease(lease.ID)); err != nil {
		return 0, nil, fmt.Errorf("builder: register: %w", err)
	}
	ka, err := s.cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		return 0, nil, fmt.Errorf("builder: keep alive: %w", err)
	}
	return lease.ID, ka, nil
}

// lineWriter streams the build log to the client and keeps its tail.
type lineWriter struct {
	w    http.ResponseWriter
	tail []byte
	max  int
}

func (l *lineWriter) Write(p []byte) (int, error) {
	n, err := l.w.Write(p)
	if f, ok := l.w.(http.Flusher); ok {
		f.Flush()
	}
	l.tail = append(l.tail, p...)
	if len(l.tail) > l.max {
		l.tail = l.tail[len(l.tail)-l.max:]
	}
	return n, err
}

func (s *Service) handleBuild(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		http.Error(w, "cluster token required", http.StatusUnauthorized)
		return
	}
	name := r.URL.Query().Get("ufop")
	n, err := strconv.Atoi(r.URL.Query().Get("version"))
	if err != nil || !ufop.ValidUFOPName(name) {
		http.Error(w, "ufop and version are required", http.StatusBadRequest)
		return
	}
	v, err := s.cat.Version(name, n)
	if err != nil {
		// The gateway wrote the record just before calling: read etcd.
		v = ufop.Version{UFOP: name, N: n, State: ufop.BuildRunning, Created: time.Now().UTC()}
	}
	// A package or base refused is answered before the log stream starts,
	// as an error with its kind, so that the gateway answers with its
	// status (a base image the user may not use: 403).
	owns := OwnedBy(s.cat, name)
	pkg, err := manifest.ReadPackage(r.Body, s.b.cfg.Limits)
	if err == nil {
		_, err = s.b.CheckBase(pkg.Manifest().Image, owns)
	}
	if err != nil {
		s.refuse(w, v, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	lw := &lineWriter{w: w, max: s.cfg.LogTail}
	res := protocol.BuildResult{UFOP: name, Version: n}
	img, err := s.build(r.Context(), name, n, pkg, owns, lw)
	if err != nil {
		res.State, res.Error = ufop.BuildFailed, ufop.Message(err)
		if ufop.KindOf(err) == ufop.KindInternal {
			res.Error = err.Error()
		}
		fmt.Fprintf(lw, "build failed: %s\n", res.Error)
		v.State, v.Log = ufop.BuildFailed, string(lw.tail)
	} else {
		res.State, res.Image = ufop.BuildOK, img.Ref
		m, _ := json.Marshal(img.Manifest)
		v.State, v.Image, v.ImageID, v.Size, v.Manifest = ufop.BuildOK, img.Ref, img.ID, img.Size, m
		// The console shows every version's build log, not only failures'.
		v.Log = string(lw.tail)
	}
	v.Finished = time.Now().UTC()
	// Record the outcome even when the client has gone.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.cat.PutVersion(ctx, v); err != nil {
		s.logger.Error("record build", "ufop", name, "version", n, "err", err)
	}
	s.logger.Info("build finished", "ufop", name, "version", n, "state", res.State)
	io.WriteString(lw, res.Line())
}

func (s *Service) build(ctx context.Context, name string, n int, pkg *manifest.Package, owns Owns, log *lineWriter) (Image, error) {
	fmt.Fprintf(log, "package: %d files, %d bytes\n", pkg.Files(), pkg.Size())
	ctx, cancel := context.WithTimeout(ctx, s.b.cfg.BuildTimeout)
	defer cancel()
	return s.b.Build(ctx, name, n, pkg, owns, log)
}

// refuse records v as failed with err's message and answers it.
func (s *Service) refuse(w http.ResponseWriter, v ufop.Version, err error) {
	msg := ufop.Message(err)
	v.State, v.Log, v.Finished = ufop.BuildFailed, msg+"\n", time.Now().UTC()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if perr := s.cat.PutVersion(ctx, v); perr != nil {
		s.logger.Error("record refused build", "ufop", v.UFOP, "version", v.N, "err", perr)
	}
	s.logger.Info("build refused", "ufop", v.UFOP, "version", v.N, "kind", ufop.KindOf(err), "err", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(protocol.BuildRefusal{Kind: ufop.KindOf(err).String(), Error: msg})
}

// UFOPSource is the part of the catalog OwnedBy reads.
type UFOPSource interface {
	UFOP(name string) (ufop.UFOP, error)
}

// OwnedBy returns the UFOPs that the owner of UFOP name owns: the ones
// whose images a build of name may start from.
func OwnedBy(cat UFOPSource, name string) Owns {
	u, err := cat.UFOP(name)
	if err != nil || u.Owner == "" {
		return nil
	}
	return func(other string) bool {
		o, err := cat.UFOP(other)
		return err == nil && o.Owner == u.Owner
	}
}

// NewDockerService returns the builder role building on cli with the
// default build settings.
func NewDockerService(cli *client.Client, cfg ServiceConfig, etcd *clientv3.Client, logger *slog.Logger) (*Service, error) {
	bc := DefaultConfig()
	bc.BaseImages = cfg.BaseImages
	b, err := New(bc, cli, logger.With("role", "builder"))
	if err != nil {
		return nil, err
	}
	return NewService(cfg, b, etcd, logger)
}
