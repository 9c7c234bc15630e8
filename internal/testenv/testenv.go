// Package testenv starts real etcd and NATS servers for tests.
package testenv

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/ufop/ufop/embedded"
	"github.com/ufop/ufop/internal/testneed"
)

// Logger returns a logger writing to the test log when -v is set, else
// discarding.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// FreeAddr returns a loopback host:port that was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TakenAddr returns a loopback host:port that a listener holds until the
// test ends: for tests of what a role does when its address is taken.
func TakenAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}

// Etcd starts an embedded etcd for the test and returns its client URL.
func Etcd(t testing.TB) string {
	t.Helper()
	e, err := embedded.StartEtcd(context.Background(), embedded.EtcdConfig{
		Dir: t.TempDir(), ClientAddr: FreeAddr(t), PeerAddr: FreeAddr(t),
	}, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e.ClientURL()
}

// EtcdClient starts an embedded etcd and returns a client of it.
func EtcdClient(t testing.TB) *clientv3.Client {
	t.Helper()
	return EtcdClientOf(t, Etcd(t))
}

// EtcdClientOf returns a client of the etcd at url, closed with the test.
func EtcdClientOf(t testing.TB, url string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// NATS starts an embedded NATS server with JetStream and returns its URL.
func NATS(t testing.TB) string {
	t.Helper()
	n, err := embedded.StartNATS(embedded.NATSConfig{Dir: t.TempDir(), Port: -1}, Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n.ClientURL()
}

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, within time.Duration, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, fmt.Sprintf(format, args...))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// RequireDocker skips the test under -short or when this machine has no
// Docker engine, but fails it in CI (CI set), where the engine tests must
// run. It is testneed.Docker, for tests that import testenv anyway.
func RequireDocker(t testing.TB) {
	t.Helper()
	testneed.Docker(t)
}
