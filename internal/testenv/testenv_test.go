package testenv

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestFreeAddrIsLoopback(t *testing.T) {
	addr := FreeAddr(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		t.Errorf("FreeAddr = %s, not loopback", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("address %s not free: %v", addr, err)
	}
	l.Close()
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, 5*time.Second, func() bool { n++; return n >= 3 }, "counter")
	if n != 3 {
		t.Errorf("cond called %d times, want 3", n)
	}
	// A condition that never holds fails the test with the message; a TB
	// that records Fatalf stands in for the test.
	ft := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(ft, 50*time.Millisecond, func() bool { return false }, "never %d", 1)
	}()
	<-done
	if !strings.Contains(ft.msg, "never 1") {
		t.Errorf("Eventually failed with %q", ft.msg)
	}
}

// fatalTB records Fatalf and ends the goroutine as testing does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestNATSJetStream(t *testing.T) {
	url := NATS(t)
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Errorf("NATS URL %s is not loopback", url)
	}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.AccountInfo(); err != nil {
		t.Fatalf("JetStream not enabled: %v", err)
	}
}

func TestEtcd(t *testing.T) {
	cli := EtcdClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := cli.Get(ctx, "/k")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Errorf("Get = %v", r.Kvs)
	}
}
