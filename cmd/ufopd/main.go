// Command ufopd runs the ufop platform: `ufopd up` runs everything in one
// process; `ufopd <role>` runs one role against external etcd and NATS.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/builder"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/version"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/queue"
	"github.com/ufop/ufop/scaler"
	"github.com/ufop/ufop/scheduler"
	"github.com/ufop/ufop/storage"
)

const usage = `usage: ufopd <command> [flags]

commands:
  up         run the whole platform in one process (embedded etcd and NATS)
  gateway    run a gateway against external etcd
  agent      run an agent against external etcd (with the Docker engine for UFOP instances)
  scheduler  run a scheduler (one leads at a time)
  scaler     run an autoscaler of UFOPs on their queue depth (one leads at a time)
  builder    run a builder of UFOP images on the Docker engine
  etcd       run a standalone single-member etcd (for multi-process set-ups and tests)
  nats       run a standalone NATS server with JetStream

Run 'ufopd <command> -h' for the command's flags, 'ufopd --version' for the version.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmd, args := os.Args[1], os.Args[2:]
	run, ok := map[string]func([]string, *slog.Logger) error{
		"up": up, "gateway": runGateway, "agent": runAgent, "scheduler": runScheduler, "scaler": runScaler,
		"builder": runBuilder, "etcd": runEtcd, "nats": runNATS,
	}[cmd]
	if !ok {
		if cmd == "--version" || cmd == "-version" || cmd == "version" {
			fmt.Fprintln(os.Stdout, version.Line("ufopd"))
			return
		}
		if cmd == "-h" || cmd == "--help" || cmd == "help" {
			fmt.Fprint(os.Stdout, usage)
			return
		}
		fmt.Fprintf(os.Stderr, "ufopd: unknown command %q\n\n%s", cmd, usage)
		os.Exit(2)
	}
	logger := newLogger(os.Getenv("UFOP_LOG_LEVEL"))
	if err := run(args, logger.With("cmd", cmd)); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		logger.Error("ufopd failed", "cmd", cmd, "err", err)
		fmt.Fprintf(os.Stderr, "ufopd %s: %v\n", cmd, err)
		os.Exit(1)
	}
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

// signalContext ends on SIGINT or SIGTERM; a second signal exits at once.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-ch
		cancel()
		<-ch
		os.Exit(1)
	}()
	return ctx, cancel
}

func up(args []string, logger *slog.Logger) error {
	cfg := platform.DefaultConfig()
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	fs.StringVar(&cfg.DataDir, "data", "./data", "data directory")
	fs.StringVar(&cfg.Gateway.Addr, "addr", cfg.Gateway.Addr, "gateway listen address")
	fs.StringVar(&cfg.Gateway.AdminAddr, "admin-addr", "", "separate listen address for the admin API and uploads")
	fs.StringVar(&cfg.Gateway.Domain, "domain", "", "serve buckets as <bucket>.<domain>")
	fs.DurationVar(&cfg.Gateway.MaxURLLifetime, "max-url-lifetime", cfg.Gateway.MaxURLLifetime, "refuse signed URLs that expire further in the future than this")
	fs.StringVar(&cfg.EtcdClientAddr, "etcd-addr", cfg.EtcdClientAddr, "embedded etcd client address")
	fs.StringVar(&cfg.EtcdPeerAddr, "etcd-peer-addr", cfg.EtcdPeerAddr, "embedded etcd peer address")
	fs.IntVar(&cfg.NATSPort, "nats-port", cfg.NATSPort, "embedded NATS port (-1: any free port)")
	fs.StringVar(&cfg.Agent.Listen, "agent-addr", "127.0.0.1:0", "agent listen address")
	fs.IntVar(&cfg.Agent.Workers, "workers", cfg.Agent.Workers, "built-in jobs run at once")
	fs.Func("base-images", baseImagesHelp, listFlag(&cfg.BaseImages))
	fetchAllowFlag(fs, &cfg.Gateway.FetchAllow)
	fs.IntVar(&cfg.Gateway.Pfop.Workers, "pfop-workers", cfg.Gateway.Pfop.Workers, "persistent-processing jobs this gateway runs at once")

	fs.StringVar(&cfg.StorageURL, "storage", "", storageHelp)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if abs, err := filepath.Abs(cfg.DataDir); err == nil {
		cfg.DataDir = abs
	}
	p, err := platform.New(cfg, logger)
	if err != nil {
		return err
	}
	return serve(p)
}

const storageHelp = "object store: file://DIR or s3://BUCKET[/PREFIX]?endpoint=http://HOST:PORT[&region=R], credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the AWS config (default file://DATA/objects)"

const baseImagesHelp = "comma-separated images, e.g. busybox:latest, that ufop.yaml may name as its base besides scratch and the user's own UFOP images (default: none)"

// listFlag sets *list from a comma-separated value.
func listFlag(list *[]string) func(string) error {
	return func(v string) error {
		*list = nil
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				*list = append(*list, item)
			}
		}
		return nil
	}
}

// clusterFlags are the flags every role takes to reach etcd and NATS.
type clusterFlags struct {
	etcd             string
	etcdUser         string
	etcdPasswordFile string
	nats             string
	natsTokenFile    string
}

func (c *clusterFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.etcd, "etcd", "http://127.0.0.1:2379", "etcd client URLs, comma-separated")
	fs.StringVar(&c.etcdUser, "etcd-user", embedded.RootUser, "etcd user (with --etcd-password-file)")
	fs.StringVar(&c.etcdPasswordFile, "etcd-password-file", "", "file holding the etcd user's password (`ufopd etcd` writes DATA/root.password; `ufopd up` DATA/etcd.password)")
	fs.StringVar(&c.nats, "nats", "nats://127.0.0.1:4222", "NATS URLs, comma-separated")
	fs.StringVar(&c.natsTokenFile, "nats-token-file", "", "file holding the NATS token (`ufopd nats` writes DATA/token; `ufopd up` DATA/nats.token)")
}

// readSecret reads a credentials file; an empty path means none.
func readSecret(flagName, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flagName, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("--%s: %s is empty", flagName, path)
	}
	return s, nil
}

// connect parses a role's flags, with the cluster flags among them, and
// connects to etcd.
func (c *clusterFlags) connect(fs *flag.FlagSet, args []string) (*clientv3.Client, error) {
	c.register(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c.etcdClient()
}

// serve runs a role until SIGINT or SIGTERM.
func serve(role interface{ Run(context.Context) error }) error {
	ctx, cancel := signalContext()
	defer cancel()
	return role.Run(ctx)
}

func (c *clusterFlags) etcdClient() (*clientv3.Client, error) {
	password, err := readSecret("etcd-password-file", c.etcdPasswordFile)
	if err != nil {
		return nil, err
	}
	user := ""
	if password != "" {
		user = c.etcdUser
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: strings.Split(c.etcd, ","), DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: user, Password: password,
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	return cli, nil
}

func (c *clusterFlags) queue(logger *slog.Logger) (*queue.Queue, error) {
	token, err := readSecret("nats-token-file", c.natsTokenFile)
	if err != nil {
		return nil, err
	}
	cfg := queue.DefaultConfig()
	cfg.Token = token
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return queue.Connect(ctx, c.nats, cfg, logger)
}

func runGateway(args []string, logger *slog.Logger) error {
	cfg := gateway.DefaultConfig()
	var cl clusterFlags
	var data, keyFile, adminConf string
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	cl.register(fs)
	fs.StringVar(&data, "data", "./data", "object storage directory")
	storageURL := fs.String("storage", "", storageHelp)
	fs.StringVar(&keyFile, "master-key", "", "file holding the 32-byte master key shared by all gateways (default DATA/master.key, created if missing)")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "public listen address")
	fs.StringVar(&cfg.AdminAddr, "admin-addr", "", "separate listen address for the admin API and uploads")
	fs.StringVar(&cfg.InternalURL, "internal-url", "", "base URL agents use to fetch sources from this gateway (default http://ADDR)")
	fs.StringVar(&cfg.Domain, "domain", "", "serve buckets as <bucket>.<domain>")
	fs.DurationVar(&cfg.MaxURLLifetime, "max-url-lifetime", cfg.MaxURLLifetime, "refuse signed URLs that expire further in the future than this")
	fs.StringVar(&adminConf, "admin-config", "", "create an admin account if this file does not exist, and write its ufopctl config there")
	fs.StringVar(&cfg.ID, "id", "", "gateway ID among its peers, which share the cluster-wide limits (default random)")
	fs.IntVar(&cfg.Conns.MaxConns, "max-conns", cfg.Conns.MaxConns, "open connections per listener; past it the longest-waiting is replaced, else 503")
	fs.IntVar(&cfg.Conns.MaxHeaderBytes, "max-header-bytes", cfg.Conns.MaxHeaderBytes, "largest request header accepted; past it a 431")
	fs.DurationVar(&cfg.Conns.ReadHeaderTimeout, "read-header-timeout", cfg.Conns.ReadHeaderTimeout, "cut clients that take longer to send a request header")
	fs.DurationVar(&cfg.Conns.IdleTimeout, "idle-timeout", cfg.Conns.IdleTimeout, "close keep-alive connections idle this long")
	fetchAllowFlag(fs, &cfg.FetchAllow)
	fs.IntVar(&cfg.Pfop.Workers, "pfop-workers", cfg.Pfop.Workers, "persistent-processing jobs this gateway runs at once")

	fs.DurationVar(&cfg.Usage.Recorder.Interval, "usage-interval", cfg.Usage.Recorder.Interval, "flush usage counts to NATS this often (at most 10s): a killed gateway loses at most this much")
	tierLimits := fs.String("tier-limits", "", `JSON file of default limits by tier, e.g. {"free":{"rps":50,"burst":100,"concurrency":20,"commands":{"facecrop":5}}} (docs/limits.md)`)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *tierLimits != "" {
		b, err := os.ReadFile(*tierLimits)
		if err != nil {
			return err
		}
		cfg.Limits.Tiers = nil
		if err := json.Unmarshal(b, &cfg.Limits.Tiers); err != nil {
			return fmt.Errorf("--tier-limits %s: %w", *tierLimits, err)
		}
	}
	if keyFile == "" {
		keyFile = filepath.Join(data, "master.key")
	}
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	key, err := catalog.LoadMasterKey(keyFile)
	if err != nil {
		return err
	}
	cfg.Catalog.MasterKey = key
	cli, err := cl.etcdClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	if *storageURL == "" {
		*storageURL = "file://" + filepath.Join(data, "objects")
	}
	octx, ocancel := context.WithTimeout(context.Background(), time.Minute)
	store, err := storage.Open(octx, *storageURL, storage.OpenOptions{Logger: logger})
	ocancel()
	if err != nil {
		return err
	}
	defer store.Close()
	q, err := cl.queue(logger)
	if err != nil {
		return err
	}
	defer q.Close()
	gw, err := gateway.New(cfg, gateway.Deps{Etcd: cli, Store: store, Queue: q, Logger: logger})
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	if adminConf == "" {
		return gw.Run(ctx)
	}
	errc := make(chan error, 1)
	go func() { errc <- gw.Run(ctx) }()
	select {
	case <-gw.Ready():
		if err := gw.EnsureAdmin(ctx, adminConf); err != nil {
			cancel()
			<-errc
			return err
		}
	case err := <-errc:
		return err
	}
	return <-errc
}

func runAgent(args []string, logger *slog.Logger) error {
	cfg := agent.DefaultConfig()
	var cl clusterFlags
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	fs.StringVar(&cfg.ID, "id", "", "agent ID in the registry (default: host name and a random suffix)")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:9100", "internal API listen address")
	fs.StringVar(&cfg.Advertise, "advertise", "", "base URL gateways use to reach this agent (default http://LISTEN)")
	fs.StringVar(&cfg.CacheDir, "cache", "./agent-cache", "source and result cache directory")
	fs.IntVar(&cfg.Workers, "workers", cfg.Workers, "built-in jobs run at once")
	fs.IntVar(&cfg.Slots, "slots", cfg.Slots, "UFOP instances this agent hosts at most")
	noDocker := fs.Bool("no-docker", false, "run built-in ops only, without a container runtime for UFOPs")
	var mig migrateFlags
	mig.register(fs, &cfg)
	cli, err := cl.connect(fs, args)
	if err != nil {
		return err
	}
	defer cli.Close()
	if cfg.ID == "" {
		host, _ := os.Hostname()
		cfg.ID = host
	}
	var rt agent.Runtime
	if !*noDocker {
		docker, err := container.Docker(context.Background())
		if err != nil {
			return fmt.Errorf("%w (use --no-docker for an agent without UFOPs)", err)
		}
		defer docker.Close()
		if rt, err = container.ForAgent(docker, cfg.ID, logger); err != nil {
			return err
		}
	}
	q, err := cl.queue(logger)
	if err != nil {
		return err
	}
	defer q.Close()
	deps := agent.Deps{Etcd: cli, Runtime: rt, Queue: q, Logger: logger}
	closeStore, err := mig.deps(&deps, logger)
	if err != nil {
		return err
	}
	defer closeStore()
	a, err := agent.New(cfg, deps)
	if err != nil {
		return err
	}
	return serve(a)
}

func runScheduler(args []string, logger *slog.Logger) error {
	cfg := scheduler.DefaultConfig()
	var cl clusterFlags
	fs := flag.NewFlagSet("scheduler", flag.ContinueOnError)
	cli, err := cl.connect(fs, args)
	if err != nil {
		return err
	}
	defer cli.Close()
	s, err := scheduler.New(cfg, cli, logger)
	if err != nil {
		return err
	}
	return serve(s)
}

func runScaler(args []string, logger *slog.Logger) error {
	cfg := scaler.DefaultConfig()
	var cl clusterFlags
	fs := flag.NewFlagSet("scaler", flag.ContinueOnError)
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics on http://ADDR/metrics (default: none)")
	fs.DurationVar(&cfg.Interval, "interval", cfg.Interval, "period of sampling and decisions")
	fs.DurationVar(&cfg.Windows.Stable, "stable-window", cfg.Windows.Stable, "window of the average depth for ordinary scaling")
	fs.DurationVar(&cfg.Windows.Panic, "panic-window", cfg.Windows.Panic, "window of the average depth that detects bursts")
	fs.Float64Var(&cfg.Windows.PanicThreshold, "panic-threshold", cfg.Windows.PanicThreshold, "panic when the panic window wants this many times the current instances")
	cli, err := cl.connect(fs, args)
	if err != nil {
		return err
	}
	defer cli.Close()
	q, err := cl.queue(logger)
	if err != nil {
		return err
	}
	defer q.Close()
	s, err := scaler.New(cfg, cli, q, logger)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext()
	defer cancel()
	if *metricsAddr == "" {
		return s.Run(ctx)
	}
	ln, err := net.Listen("tcp", *metricsAddr)
	if err != nil {
		return fmt.Errorf("metrics listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.Gatherer(), promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	logger.Info("scaler metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	err = s.Run(ctx)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("metrics server: %w", serr)
	}
	return err
}

func runBuilder(args []string, logger *slog.Logger) error {
	cfg := builder.DefaultServiceConfig()
	var cl clusterFlags
	fs := flag.NewFlagSet("builder", flag.ContinueOnError)
	host, _ := os.Hostname()
	fs.StringVar(&cfg.ID, "id", host, "builder ID in the registry")
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:9200", "internal API listen address")
	fs.StringVar(&cfg.Advertise, "advertise", "", "base URL gateways use to reach this builder (default http://LISTEN)")
	fs.Func("base-images", baseImagesHelp, listFlag(&cfg.BaseImages))
	cli, err := cl.connect(fs, args)
	if err != nil {
		return err
	}
	defer cli.Close()
	docker, err := container.Docker(context.Background())
	if err != nil {
		return err
	}
	defer docker.Close()
	svc, err := builder.NewDockerService(docker, cfg, cli, logger)
	if err != nil {
		return err
	}
	return serve(svc)
}

func runEtcd(args []string, logger *slog.Logger) error {
	var cfg embedded.EtcdConfig
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	fs.StringVar(&cfg.Dir, "data", "./etcd-data", "data directory")
	fs.StringVar(&cfg.ClientAddr, "client-addr", "127.0.0.1:2379", "client listen address")
	fs.StringVar(&cfg.PeerAddr, "peer-addr", "127.0.0.1:2380", "peer listen address")
	pwFile := fs.String("password-file", "", "root password file, generated (mode 0600) if missing (default DATA/root.password)")
	noAuth := fs.Bool("no-auth", false, "serve any client without credentials")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*noAuth {
		if *pwFile == "" {
			*pwFile = filepath.Join(cfg.Dir, "root.password")
		}
		if err := os.MkdirAll(filepath.Dir(*pwFile), 0o700); err != nil {
			return err
		}
		pw, err := embedded.Secret(*pwFile)
		if err != nil {
			return err
		}
		cfg.RootPassword = pw
	}
	ctx, cancel := signalContext()
	defer cancel()
	e, err := embedded.StartEtcd(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-ctx.Done():
		return nil
	case err := <-e.Err():
		return err
	}
}

func runNATS(args []string, logger *slog.Logger) error {
	var cfg embedded.NATSConfig
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	fs.StringVar(&cfg.Dir, "data", "./nats-data", "JetStream store directory")
	fs.StringVar(&cfg.Host, "host", "127.0.0.1", "listen host")
	fs.IntVar(&cfg.Port, "port", 4222, "listen port")
	tokFile := fs.String("token-file", "", "client token file, generated (mode 0600) if missing (default DATA/token)")
	noAuth := fs.Bool("no-auth", false, "serve any client without credentials")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !*noAuth {
		if *tokFile == "" {
			*tokFile = filepath.Join(cfg.Dir, "token")
		}
		if err := os.MkdirAll(filepath.Dir(*tokFile), 0o700); err != nil {
			return err
		}
		tok, err := embedded.Secret(*tokFile)
		if err != nil {
			return err
		}
		cfg.Token = tok
	}
	n, err := embedded.StartNATS(cfg, logger)
	if err != nil {
		return err
	}
	defer n.Close()
	ctx, cancel := signalContext()
	defer cancel()
	<-ctx.Done()
	return nil
}
