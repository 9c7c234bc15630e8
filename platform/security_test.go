package platform_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/platform"
)

// readToken reads the cluster token from the platform's etcd as user (no
// user: no credentials).
func readToken(url, user, password string) (string, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: user, Password: password})
	if err != nil {
		return "", err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/ufop/catalog/cluster/token")
	if err != nil {
		return "", err
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}

// TestCredentials: the embedded etcd and NATS refuse a local client without
// the credentials generated at first start (so the cluster token is out of
// its reach); the files are 0600 and a restart reuses them.
func TestCredentials(t *testing.T) {
	dir := t.TempDir()
	var first map[string]string
	for round := range 2 {
		p, stop := startPlatform(t, dir)
		secrets := map[string]string{}
		for _, name := range []string{platform.EtcdPasswordFile, platform.NATSTokenFile} {
			path := filepath.Join(dir, name)
			st, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v, want 0600", name, st.Mode().Perm())
			}
			b, _ := os.ReadFile(path)
			secrets[name] = strings.TrimSpace(string(b))
		}
		if first == nil {
			first = secrets
		} else if first[platform.EtcdPasswordFile] != secrets[platform.EtcdPasswordFile] || first[platform.NATSTokenFile] != secrets[platform.NATSTokenFile] {
			t.Errorf("restart changed the credentials")
		}
		pw := secrets[platform.EtcdPasswordFile]
		etcdTests := []struct {
			name, user, password string
			ok                   bool
		}{
			{"no credentials", "", "", false},
			{"wrong password", "root", "guess", false},
			{"generated credentials", "root", pw, true},
		}
		for _, tc := range etcdTests {
			tok, err := readToken(p.EtcdURL(), tc.user, tc.password)
			if tc.ok && (err != nil || tok == "") {
				t.Errorf("round %d, etcd %s: token %q, %v", round, tc.name, tok, err)
			}
			if !tc.ok && (err == nil || tok != "") {
				t.Errorf("round %d, etcd %s: read the cluster token (%q, %v)", round, tc.name, tok, err)
			}
		}
		natsTests := []struct {
			name string
			opts []nats.Option
			ok   bool
		}{
			{"no token", nil, false},
			{"wrong token", []nats.Option{nats.Token("guess")}, false},
			{"generated token", []nats.Option{nats.Token(secrets[platform.NATSTokenFile])}, true},
		}
		for _, tc := range natsTests {
			nc, err := nats.Connect(p.NATSURL(), append(tc.opts, nats.NoReconnect())...)
			if err == nil {
				nc.Close()
			}
			if (err == nil) != tc.ok {
				t.Errorf("round %d, nats %s: %v, want ok=%v", round, tc.name, err, tc.ok)
			}
		}
		if err := stop(); err != nil {
			t.Fatalf("stop: %v", err)
		}
	}
}

// TestPortTaken: a listener address already taken makes Run return at once
// with an error naming it, whichever role's it is.
func TestPortTaken(t *testing.T) {
	taken := testenv.TakenAddr(t)
	_, port, _ := net.SplitHostPort(taken)
	tests := []struct {
		role string
		set  func(*platform.Config)
	}{
		{"gateway", func(c *platform.Config) { c.Gateway.Addr = taken }},
		{"gateway admin", func(c *platform.Config) { c.Gateway.AdminAddr = taken }},
		{"agent", func(c *platform.Config) { c.Agent.Listen = taken }},
		{"etcd client", func(c *platform.Config) { c.EtcdClientAddr = taken }},
		{"etcd peer", func(c *platform.Config) { c.EtcdPeerAddr = taken }},
		{"nats", func(c *platform.Config) { c.NATSPort, _ = strconv.Atoi(port) }},
	}
	for _, tc := range tests {
		t.Run(tc.role, func(t *testing.T) {
			cfg := platform.DefaultConfig()
			cfg.DataDir = t.TempDir()
			cfg.Gateway.Addr = "127.0.0.1:0"
			cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = testenv.FreeAddr(t), testenv.FreeAddr(t), -1
			tc.set(&cfg)
			p, err := platform.New(cfg, testenv.Logger(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			errc := make(chan error, 1)
			go func() { errc <- p.Run(ctx) }()
			select {
			case err := <-errc:
				if err == nil || !strings.Contains(err.Error(), taken) || !strings.Contains(err.Error(), tc.role) {
					t.Errorf("Run: %v, want an error naming the %s address %s", err, tc.role, taken)
				}
			case <-p.Ready():
				t.Errorf("platform ready with the %s address %s taken", tc.role, taken)
				cancel()
				<-errc
			case <-time.After(60 * time.Second):
				t.Errorf("Run still going 60s after start with the %s address %s taken", tc.role, taken)
				cancel()
				<-errc
			}
		})
	}
}
