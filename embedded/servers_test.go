package embedded_test

import (
	"context"
	"io"
	"log/slog"
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

	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/internal/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func etcdClient(t *testing.T, url, user, password string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop(),
		Username: user, Password: password})
	if err != nil {
		// An authenticating client fails at dial when refused.
		return nil
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

func canPut(cli *clientv3.Client) error {
	if cli == nil {
		return os.ErrPermission
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := cli.Put(ctx, "/probe", "x")
	return err
}

// TestEtcdAuth: with a root password, a client without credentials (or
// with wrong ones) is refused; a restart with the same password serves
// the same user, and one with another password is refused at start.
func TestEtcdAuth(t *testing.T) {
	dir := t.TempDir()
	pw, err := embedded.Secret(filepath.Join(t.TempDir(), "etcd.password"))
	if err != nil {
		t.Fatal(err)
	}
	start := func(password, clientAddr string) (*embedded.Etcd, error) {
		return embedded.StartEtcd(context.Background(), embedded.EtcdConfig{
			Dir: dir, ClientAddr: clientAddr, PeerAddr: testenv.FreeAddr(t), RootPassword: password,
		}, quiet())
	}
	for round := range 2 {
		// A client without credentials knocks on the address all through
		// the start: it must never get in, not even before auth is on.
		addr := testenv.FreeAddr(t)
		stop, got := make(chan struct{}), make(chan bool, 1)
		go func() {
			in := false
			defer func() { got <- in }()
			// Wait for the port to open, then try at once (a client dialed
			// before would sit in its reconnect back-off).
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := net.Dial("tcp", addr); err == nil {
					c.Close()
					break
				}
				time.Sleep(time.Millisecond)
			}
			open := etcdClient(t, "http://"+addr, "", "")
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
				if _, err := open.Put(ctx, "/knock", "x"); err == nil {
					in = true
				}
				cancel()
			}
		}()
		e, err := start(pw, addr)
		close(stop)
		if <-got {
			t.Errorf("start %d: a client without credentials got in during the start", round)
		}
		if err != nil {
			t.Fatalf("start %d: %v", round, err)
		}
		tests := []struct {
			name, user, password string
			ok                   bool
		}{
			{"no credentials", "", "", false},
			{"wrong password", embedded.RootUser, "nope", false},
			{"root", embedded.RootUser, pw, true},
		}
		for _, tc := range tests {
			err := canPut(etcdClient(t, e.ClientURL(), tc.user, tc.password))
			if (err == nil) != tc.ok {
				t.Errorf("start %d, %s: put error %v, want ok=%v", round, tc.name, err, tc.ok)
			}
		}
		e.Close()
	}
	if e, err := start("another", testenv.FreeAddr(t)); err == nil {
		e.Close()
		t.Fatal("restart with another root password started")
	}
}

// TestNATSToken: with a token, a client without it is refused.
func TestNATSToken(t *testing.T) {
	tok, err := embedded.Secret(filepath.Join(t.TempDir(), "nats.token"))
	if err != nil {
		t.Fatal(err)
	}
	n, err := embedded.StartNATS(embedded.NATSConfig{Dir: t.TempDir(), Port: -1, Token: tok}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	tests := []struct {
		name string
		opts []nats.Option
		ok   bool
	}{
		{"no token", nil, false},
		{"wrong token", []nats.Option{nats.Token("nope")}, false},
		{"token", []nats.Option{nats.Token(tok)}, true},
	}
	for _, tc := range tests {
		nc, err := nats.Connect(n.ClientURL(), tc.opts...)
		if err == nil {
			nc.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("%s: connect error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// TestSecret: created with mode 0600, the same on every later read.
func TestSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	a, err := embedded.Secret(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	b, err := embedded.Secret(path)
	if err != nil || a != b || len(a) < 32 {
		t.Errorf("second read %q %v, first %q", b, err, a)
	}
}

// TestPortTaken: a taken port fails the start at once, naming the address.
func TestPortTaken(t *testing.T) {
	taken := testenv.TakenAddr(t)
	_, port, _ := net.SplitHostPort(taken)
	p, _ := strconv.Atoi(port)
	tests := []struct {
		name  string
		start func() error
	}{
		{"etcd client", func() error {
			e, err := embedded.StartEtcd(context.Background(), embedded.EtcdConfig{Dir: t.TempDir(), ClientAddr: taken, PeerAddr: testenv.FreeAddr(t)}, quiet())
			if err == nil {
				e.Close()
			}
			return err
		}},
		{"etcd peer", func() error {
			e, err := embedded.StartEtcd(context.Background(), embedded.EtcdConfig{Dir: t.TempDir(), ClientAddr: testenv.FreeAddr(t), PeerAddr: taken}, quiet())
			if err == nil {
				e.Close()
			}
			return err
		}},
		{"nats", func() error {
			n, err := embedded.StartNATS(embedded.NATSConfig{Dir: t.TempDir(), Port: p}, quiet())
			if err == nil {
				n.Close()
			}
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.start()
			if err == nil || !strings.Contains(err.Error(), taken) {
				t.Errorf("start on taken %s: %v, want an error naming the address", taken, err)
			}
		})
	}
}
