// Package embedded runs etcd and NATS (with JetStream) inside the ufopd
// process, for the one-command platform and for tests.
package embedded

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/etcd/server/v3/auth"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// EtcdConfig configures an embedded single-member etcd.
type EtcdConfig struct {
	Dir        string // data directory
	ClientAddr string // host:port for clients, default 127.0.0.1:9379
	PeerAddr   string // host:port for peers, default 127.0.0.1:9380
	// StartTimeout bounds how long the server may take to become ready.
	StartTimeout time.Duration
	// RootPassword, when set, turns etcd's authentication on: on first
	// start the user "root" is created with this password and auth is
	// enabled; later starts check the password still matches. Empty
	// leaves etcd open to any client (tests only).
	RootPassword string
}

// RootUser is the etcd user the platform's roles connect as.
const RootUser = "root"

func (c *EtcdConfig) setDefaults() {
	if c.ClientAddr == "" {
		c.ClientAddr = "127.0.0.1:9379"
	}
	if c.PeerAddr == "" {
		c.PeerAddr = "127.0.0.1:9380"
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = 30 * time.Second
	}
}

// Validate reports a config that cannot work.
func (c EtcdConfig) Validate() error {
	if c.Dir == "" {
		return errors.New("etcd: data directory is required")
	}
	return nil
}

// Etcd is a running embedded etcd server.
type Etcd struct {
	e         *embed.Etcd
	clientURL string
}

// StartEtcd starts an embedded etcd and waits until it serves clients.
func StartEtcd(ctx context.Context, cfg EtcdConfig, logger *slog.Logger) (*Etcd, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// etcd advertises the address it is given: a port 0 must become a
	// real port first.
	var err error
	if cfg.ClientAddr, err = concretePort(cfg.ClientAddr); err != nil {
		return nil, err
	}
	if cfg.PeerAddr, err = concretePort(cfg.PeerAddr); err != nil {
		return nil, err
	}
	cu := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	if cfg.RootPassword == "" {
		e, err := startEtcd(ctx, cfg, cfg.ClientAddr)
		if err != nil {
			return nil, err
		}
		logger.Info("etcd ready", "client", cu.String(), "dir", cfg.Dir, "auth", false)
		return &Etcd{e: e, clientURL: cu.String()}, nil
	}
	// etcd serves clients the moment it starts: auth is turned on in a
	// private start first, its client listener on a fresh loopback port,
	// so the real address never serves without credentials.
	if _, err := os.Stat(filepath.Join(cfg.Dir, "member")); err != nil {
		if err := privateAuth(ctx, cfg); err != nil {
			return nil, err
		}
	}
	e, err := startEtcd(ctx, cfg, cfg.ClientAddr)
	if err != nil {
		return nil, err
	}
	if !e.Server.AuthStore().IsAuthEnabled() {
		// Data of an open server (or of a start that died before auth
		// was on): close, secure privately, start again.
		e.Close()
		if err := privateAuth(ctx, cfg); err != nil {
			return nil, err
		}
		if e, err = startEtcd(ctx, cfg, cfg.ClientAddr); err != nil {
			return nil, err
		}
	}
	if err := enableAuth(ctx, e, cfg.RootPassword); err != nil {
		e.Close()
		return nil, err
	}
	logger.Info("etcd ready", "client", cu.String(), "dir", cfg.Dir, "auth", true)
	return &Etcd{e: e, clientURL: cu.String()}, nil
}

// privateAuth starts etcd with its client listener on a free loopback port
// and turns auth on.
func privateAuth(ctx context.Context, cfg EtcdConfig) error {
	addr, err := concretePort("127.0.0.1:0")
	if err != nil {
		return err
	}
	e, err := startEtcd(ctx, cfg, addr)
	if err != nil {
		return err
	}
	defer e.Close()
	return enableAuth(ctx, e, cfg.RootPassword)
}

// startEtcd starts the server with its client listener on clientAddr and
// waits until it is ready.
func startEtcd(ctx context.Context, cfg EtcdConfig, clientAddr string) (*embed.Etcd, error) {
	ec := embed.NewConfig()
	ec.Name = "ufop"
	ec.Dir = filepath.Clean(cfg.Dir)
	cu := url.URL{Scheme: "http", Host: clientAddr}
	pu := url.URL{Scheme: "http", Host: cfg.PeerAddr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.LogLevel = "error"
	// etcd logs through zap; keep it quiet and on stderr, our own logs say
	// what matters.
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	// One member: a compacted history of an hour is plenty for watchers.
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("etcd: start: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcd: %w", err)
	case <-time.After(cfg.StartTimeout):
		e.Close()
		return nil, errors.New("etcd: not ready in time")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	return e, nil
}

// ClientURL is the URL clients connect to.
func (e *Etcd) ClientURL() string { return e.clientURL }

// enableAuth creates the root user and turns authentication on, once (the
// requests go to the in-process server), or checks the password when auth
// is on already.
func enableAuth(ctx context.Context, e *embed.Etcd, password string) error {
	srv := e.Server
	if srv.AuthStore().IsAuthEnabled() {
		if _, err := srv.AuthStore().CheckPassword(RootUser, password); err != nil {
			return fmt.Errorf("etcd: auth is on and the root password does not match the credentials file: %w", err)
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// A start that died half-way may have left the role or the user:
	// each step tolerates its own leftovers.
	if _, err := srv.RoleAdd(ctx, &pb.AuthRoleAddRequest{Name: "root"}); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) && !errors.Is(err, auth.ErrRoleAlreadyExist) {
		return fmt.Errorf("etcd: add root role: %w", err)
	}
	if _, err := srv.UserAdd(ctx, &pb.AuthUserAddRequest{Name: RootUser, Password: password}); err != nil {
		if !errors.Is(err, rpctypes.ErrUserAlreadyExist) && !errors.Is(err, auth.ErrUserAlreadyExist) {
			return fmt.Errorf("etcd: add root user: %w", err)
		}
		if _, err := srv.UserChangePassword(ctx, &pb.AuthUserChangePasswordRequest{Name: RootUser, Password: password}); err != nil {
			return fmt.Errorf("etcd: set root password: %w", err)
		}
	}
	if _, err := srv.UserGrantRole(ctx, &pb.AuthUserGrantRoleRequest{User: RootUser, Role: "root"}); err != nil {
		return fmt.Errorf("etcd: grant root role: %w", err)
	}
	if _, err := srv.AuthEnable(ctx, &pb.AuthEnableRequest{}); err != nil {
		return fmt.Errorf("etcd: enable auth: %w", err)
	}
	return nil
}

// Secret returns the secret kept in the file at path, creating a random
// one (mode 0600) on first use: the credentials of etcd and NATS are
// generated at first start and reused by every later one.
func Secret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		s := strings.TrimSpace(string(b))
		if s == "" {
			return "", fmt.Errorf("secret %s is empty", path)
		}
		return s, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("secret: %w", err)
	}
	raw := make([]byte, 24)
	rand.Read(raw)
	// Hex: safe in a URL's user info and on a command line.
	s := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("secret: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", fmt.Errorf("secret %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("secret %s: %w", path, err)
	}
	return s, nil
}

// concretePort replaces port 0 in addr with a port that is free now.
func concretePort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("etcd: address %q: %w", addr, err)
	}
	if port != "0" {
		return addr, nil
	}
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("etcd: free port on %s: %w", host, err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// Err reports a fatal server error.
func (e *Etcd) Err() <-chan error { return e.e.Err() }

// Close stops the server; it is safe to call more than once.
func (e *Etcd) Close() { e.e.Close() }

// NATSConfig configures an embedded NATS server with JetStream.
type NATSConfig struct {
	Dir  string // JetStream store
	Host string // default 127.0.0.1
	Port int    // default 9422; -1 picks a free port
	// Token, when set, is required of every client (nats.Token, or
	// nats://TOKEN@host:port). Empty leaves the server open (tests only).
	Token string
}

// NATS is a running embedded NATS server.
type NATS struct{ s *server.Server }

// StartNATS starts an embedded NATS server with JetStream and waits until
// it accepts connections.
func StartNATS(cfg NATSConfig, logger *slog.Logger) (*NATS, error) {
	if cfg.Dir == "" {
		return nil, errors.New("nats: store directory is required")
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.Port == 0 {
		cfg.Port = 9422
	}
	s, err := server.NewServer(&server.Options{
		ServerName:    "ufop",
		Host:          cfg.Host,
		Port:          cfg.Port,
		JetStream:     true,
		StoreDir:      cfg.Dir,
		NoSigs:        true, // the process owner handles signals
		NoLog:         true,
		Authorization: cfg.Token,
	})
	if err != nil {
		return nil, fmt.Errorf("nats: %w", err)
	}
	// The server's own accept loop would only log a taken port and never
	// become ready: bind first so the error names the address.
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	if cfg.Port > 0 {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("nats: listen %s: %w", addr, err)
		}
		l.Close()
	}
	s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("nats: not ready in time on %s", addr)
	}
	logger.Info("nats ready", "url", s.ClientURL(), "dir", cfg.Dir)
	return &NATS{s: s}, nil
}

// ClientURL is the URL clients connect to.
func (n *NATS) ClientURL() string { return n.s.ClientURL() }

// Close shuts the server down and waits for it; safe to call more than once.
func (n *NATS) Close() {
	n.s.Shutdown()
	n.s.WaitForShutdown()
}
