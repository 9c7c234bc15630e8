// Package platform assembles the whole of ufop in one process: embedded
// etcd and NATS, local-disk storage, a gateway, one agent and the
// scheduler, scaler and builder roles. It is what `ufopd up` runs; the same
// roles run one by one against external clusters through cmd/ufopd.
package platform

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/builder"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/egress"
	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/lifecycle"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/scaler"
	"github.com/ufop/ufop/scheduler"
	"github.com/ufop/ufop/storage"
)

// Config configures the one-process platform.
type Config struct {
	// DataDir holds everything: etcd and NATS data, objects, caches, the
	// master key and the admin's ufopctl config.
	DataDir string
	// EtcdClientAddr and EtcdPeerAddr are the embedded etcd's listeners.
	EtcdClientAddr string
	EtcdPeerAddr   string
	// NATSPort is the embedded NATS server's port (-1: any free port).
	NATSPort int
	// BaseImages are the images builds may start from besides scratch and
	// the user's own UFOP images (builder.Config.BaseImages).
	BaseImages []string

	Gateway gateway.Config
	Agent   agent.Config
	Storage storage.Config
	// StorageURL, when set, names the object store instead of
	// Storage.Dir: file://DIR or s3://BUCKET[/PREFIX]?endpoint=URL
	// (storage.Open). Storage.MaxObjectBytes still applies.
	StorageURL string
	Scaler     scaler.Config
}

// DefaultConfig returns the defaults; DataDir must still be set.
func DefaultConfig() Config {
	return Config{
		EtcdClientAddr: "127.0.0.1:9379",
		EtcdPeerAddr:   "127.0.0.1:9380",
		NATSPort:       9422,
		Gateway:        gateway.DefaultConfig(),
		Agent:          agent.DefaultConfig(),
		Scaler:         scaler.DefaultConfig(),
	}
}

// Validate reports a config that cannot work.
func (c Config) Validate() error {
	if c.DataDir == "" {
		return errors.New("platform: data dir is required")
	}
	return nil
}

// Platform is the running one-process platform.
type Platform struct {
	cfg    Config
	logger *slog.Logger

	mu        sync.Mutex
	gw        *gateway.Gateway
	ag        *agent.Agent
	etcdURL   string
	etcdCli   *clientv3.Client
	natsURL   string
	adminConf string
	ready     chan struct{}
	lifecycle.Closer
}

// New returns a platform; Run starts it.
func New(cfg Config, logger *slog.Logger) (*Platform, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Platform{cfg: cfg, logger: logger, ready: make(chan struct{})}, nil
}

// Ready is closed once every role serves.
func (p *Platform) Ready() <-chan struct{} { return p.ready }

// Gateway returns the gateway once Ready.
func (p *Platform) Gateway() *gateway.Gateway { p.mu.Lock(); defer p.mu.Unlock(); return p.gw }

// AdminConfig returns the path of the admin's ufopctl config once Ready.
func (p *Platform) AdminConfig() string { p.mu.Lock(); defer p.mu.Unlock(); return p.adminConf }

// EtcdURL returns the embedded etcd's client URL once Ready.
func (p *Platform) EtcdURL() string { p.mu.Lock(); defer p.mu.Unlock(); return p.etcdURL }

// EtcdClient returns the platform's own etcd client, signed in with the
// generated credentials, once Ready; it is closed when Run returns.
func (p *Platform) EtcdClient() *clientv3.Client { p.mu.Lock(); defer p.mu.Unlock(); return p.etcdCli }

// NATSURL returns the embedded NATS server's client URL once Ready.
func (p *Platform) NATSURL() string { p.mu.Lock(); defer p.mu.Unlock(); return p.natsURL }

// Run starts everything and serves until ctx ends or Close is called; then
// the roles drain in order (gateway, agent) before etcd and NATS stop.
func (p *Platform) Run(ctx context.Context) error {
	ctx, cancel := p.Bind(ctx)
	defer cancel()
	dir := p.cfg.DataDir
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	// A taken port must stop the start before anything runs: a role
	// that cannot listen would otherwise leave the rest up and idle.
	if err := CheckListeners(p.listeners()...); err != nil {
		return err
	}
	scfg := p.cfg.Storage
	if scfg.Dir == "" {
		scfg.Dir = filepath.Join(dir, "objects")
	}
	// The object store first: a wrong --storage fails before anything
	// else starts.
	var store storage.Store
	var err error
	if p.cfg.StorageURL != "" {
		store, err = storage.Open(ctx, p.cfg.StorageURL, storage.OpenOptions{Logger: p.logger, MaxObjectBytes: scfg.MaxObjectBytes})
	} else {
		store, err = storage.New(scfg, p.logger)
	}
	if err != nil {
		return err
	}
	defer store.Close()

	key, err := catalog.LoadMasterKey(filepath.Join(dir, "master.key"))
	if err != nil {
		return err
	}
	etcdPassword, err := embedded.Secret(filepath.Join(dir, EtcdPasswordFile))
	if err != nil {
		return fmt.Errorf("platform: etcd credentials: %w", err)
	}
	natsToken, err := embedded.Secret(filepath.Join(dir, NATSTokenFile))
	if err != nil {
		return fmt.Errorf("platform: nats credentials: %w", err)
	}

	etcd, err := embedded.StartEtcd(ctx, embedded.EtcdConfig{
		Dir: filepath.Join(dir, "etcd"), ClientAddr: p.cfg.EtcdClientAddr, PeerAddr: p.cfg.EtcdPeerAddr,
		RootPassword: etcdPassword,
	}, p.logger)
	if err != nil {
		return err
	}
	defer etcd.Close()
	nats, err := embedded.StartNATS(embedded.NATSConfig{Dir: filepath.Join(dir, "nats"), Port: p.cfg.NATSPort, Token: natsToken}, p.logger)
	if err != nil {
		return err
	}
	defer nats.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcd.ClientURL()}, DialTimeout: 5 * time.Second, Logger: nopZap(),
		Username: embedded.RootUser, Password: etcdPassword})
	if err != nil {
		return fmt.Errorf("platform: etcd client: %w", err)
	}
	defer cli.Close()

	gcfg := p.cfg.Gateway
	gcfg.Catalog.MasterKey = key
	if scfg.MaxObjectBytes > 0 { // mirror fetches have the uploads' limit
		gcfg.Mirror.MaxBytes = scfg.MaxObjectBytes
	}
	acfg := p.cfg.Agent
	if acfg.CacheDir == "" {
		acfg.CacheDir = filepath.Join(dir, "cache")
	}
	if acfg.ID == "" {
		// Unique per data directory: two platforms on one Docker engine
		// must not take each other's containers for their own.
		if acfg.ID, err = agentID(filepath.Join(dir, "agent.id")); err != nil {
			return err
		}
	}
	var rt agent.Runtime
	var bsvc *builder.Service
	docker, err := container.Docker(ctx)
	if err != nil {
		p.logger.Warn("no Docker engine: UFOPs can be neither built nor run", "err", err)
	} else {
		defer docker.Close()
		r, err := container.ForAgent(docker, acfg.ID, p.logger)
		if err != nil {
			return err
		}
		rt = r
		bcfg := builder.DefaultServiceConfig()
		bcfg.ID = acfg.ID
		bcfg.BaseImages = p.cfg.BaseImages
		if bsvc, err = builder.NewDockerService(docker, bcfg, cli, p.logger); err != nil {
			return err
		}
	}
	qcfg := queue.DefaultConfig()
	qcfg.Token = natsToken
	q, err := queue.Connect(ctx, nats.ClientURL(), qcfg, p.logger)
	if err != nil {
		return err
	}
	defer q.Close()
	policy := egress.New(gcfg.FetchAllow)
	ag, err := agent.New(acfg, agent.Deps{Etcd: cli, Runtime: rt, Queue: q, Logger: p.logger.With("role", "agent"),
		Store: store, Egress: policy})
	if err != nil {
		return err
	}
	sched, err := scheduler.New(scheduler.DefaultConfig(), cli, p.logger)
	if err != nil {
		return err
	}
	scal, err := scaler.New(p.cfg.Scaler, cli, q, p.logger)
	if err != nil {
		return err
	}
	var roles roleSet
	gw, err := gateway.New(gcfg, gateway.Deps{Etcd: cli, Store: store, Queue: q, Logger: p.logger.With("role", "gateway"), Health: roles.health,
		Metrics: []prometheus.Gatherer{scal.Gatherer()}})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.gw, p.ag, p.etcdURL, p.natsURL, p.etcdCli = gw, ag, etcd.ClientURL(), nats.ClientURL(), cli
	p.mu.Unlock()

	// The agent stops after the gateway has drained, and both before etcd.
	var wg sync.WaitGroup
	defer wg.Wait()
	agCtx, stopAgent := context.WithCancel(context.Background())
	defer stopAgent()
	errc := make(chan error, 5)
	wg.Add(4)
	go func() { defer wg.Done(); errc <- ag.Run(agCtx) }()
	go func() { defer wg.Done(); errc <- gw.Run(ctx); stopAgent() }()
	go func() { defer wg.Done(); errc <- sched.Run(ctx) }()
	go func() { defer wg.Done(); errc <- scal.Run(ctx) }()
	roles.add("gateway", gw.Ready())
	roles.add("agent", ag.Ready())
	roles.add("scheduler", sched.Ready())
	roles.add("scaler", scal.Ready())
	if bsvc != nil {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- bsvc.Run(ctx) }()
		roles.add("builder", bsvc.Ready())
	}
	// Ready also means routable: the gateway sees the agent.
	wg.Add(1)
	routable := make(chan struct{})
	go func() {
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, a := range gw.Registry().Agents() {
				if a.ID == ag.ID() {
					close(routable)
					return
				}
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	roles.add("agent registration", routable)

	if err := roles.wait(ctx, errc); err != nil {
		cancel()
		wg.Wait()
		if errors.Is(err, context.Canceled) {
			return nil
		}
		return err
	}
	conf := filepath.Join(dir, "ufopctl.json")
	err = gw.EnsureAdmin(ctx, conf)
	if err != nil {
		cancel()
		return err
	}
	p.mu.Lock()
	p.adminConf = conf
	p.mu.Unlock()
	close(p.ready)
	p.logger.Info("ufop is up", "url", "http://"+gw.Addr(), "admin", "http://"+gw.AdminAddr(), "ufopctl_config", conf)

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		cancel()
	case err := <-etcd.Err():
		first = fmt.Errorf("platform: etcd: %w", err)
		cancel()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if first == nil {
			first = err
		}
	}
	return first
}

// The credentials files in the data directory, generated at first start
// (mode 0600). Roles run apart read the same files (ufopd --etcd-password-file,
// --nats-token-file).
const (
	EtcdPasswordFile = "etcd.password"
	NATSTokenFile    = "nats.token"
)

// Listener names one address a role will listen on.
type Listener struct{ Role, Addr string }

// listeners are the fixed addresses this platform will listen on.
func (p *Platform) listeners() []Listener {
	ls := []Listener{
		{"gateway", p.cfg.Gateway.Addr}, {"gateway admin", p.cfg.Gateway.AdminAddr}, {"agent", p.cfg.Agent.Listen},
		{"etcd client", p.cfg.EtcdClientAddr}, {"etcd peer", p.cfg.EtcdPeerAddr},
	}
	if p.cfg.NATSPort > 0 {
		ls = append(ls, Listener{"nats", net.JoinHostPort("127.0.0.1", strconv.Itoa(p.cfg.NATSPort))})
	}
	return ls
}

// CheckListeners binds each address a moment and reports the first that
// cannot be had, naming it. Empty addresses and port 0 are skipped.
func CheckListeners(ls ...Listener) error {
	for _, l := range ls {
		if l.Addr == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(l.Addr); err != nil {
			return fmt.Errorf("platform: %s address %q: %w", l.Role, l.Addr, err)
		} else if port == "0" {
			continue
		}
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			return fmt.Errorf("platform: %s cannot listen on %s: %w", l.Role, l.Addr, err)
		}
		ln.Close()
	}
	return nil
}

func nopZap() *zap.Logger { return zap.NewNop() }

// agentID reads the agent's ID at path, creating a random one on first
// use.
func agentID(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
		return string(b), nil
	}
	b := make([]byte, 4)
	rand.Read(b)
	id := fmt.Sprintf("local-%x", b)
	if err := os.WriteFile(path, []byte(id), 0o600); err != nil {
		return "", fmt.Errorf("platform: agent id: %w", err)
	}
	return id, nil
}

// roleSet tracks the readiness of the roles for /healthz.
type roleSet struct {
	mu    sync.Mutex
	names []string
	chans []<-chan struct{}
}

func (r *roleSet) add(name string, ready <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, name)
	r.chans = append(r.chans, ready)
}

func (r *roleSet) health() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, ch := range r.chans {
		select {
		case <-ch:
		default:
			return fmt.Errorf("%s is not ready", r.names[i])
		}
	}
	return nil
}

// wait returns once every role is ready, or with the first role's error.
func (r *roleSet) wait(ctx context.Context, errc <-chan error) error {
	r.mu.Lock()
	chans := append([]<-chan struct{}(nil), r.chans...)
	r.mu.Unlock()
	for _, ch := range chans {
		select {
		case <-ch:
		case err := <-errc:
			if err == nil {
				err = errors.New("platform: a role stopped while starting")
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
