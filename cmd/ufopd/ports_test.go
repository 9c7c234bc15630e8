package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop/internal/testenv"
)

// TestPortTaken starts each command of the real binary with one of its
// listen addresses already taken: the process exits non-zero at once, and
// says which address.
func TestPortTaken(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	bin := buildUfopd(t)
	taken := testenv.TakenAddr(t)
	_, port, _ := net.SplitHostPort(taken)
	etcdURL, natsURL := testenv.Etcd(t), testenv.NATS(t)
	cluster := []string{"--etcd", etcdURL, "--nats", natsURL}
	up := func(extra ...string) []string {
		return append([]string{"up", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--etcd-addr", testenv.FreeAddr(t),
			"--etcd-peer-addr", testenv.FreeAddr(t), "--nats-port", "-1", "--agent-addr", "127.0.0.1:0"}, extra...)
	}
	tests := []struct {
		name   string
		docker bool
		args   []string
	}{
		{"up gateway", false, up("--addr", taken)},
		{"up admin", false, up("--admin-addr", taken)},
		{"up agent", false, up("--agent-addr", taken)},
		{"up etcd", false, up("--etcd-addr", taken)},
		{"up etcd peer", false, up("--etcd-peer-addr", taken)},
		{"up nats", false, up("--nats-port", port)},
		{"gateway", false, append([]string{"gateway", "--data", t.TempDir(), "--addr", taken}, cluster...)},
		{"gateway admin", false, append([]string{"gateway", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", taken}, cluster...)},
		{"agent", false, append([]string{"agent", "--no-docker", "--cache", t.TempDir(), "--listen", taken}, cluster...)},
		{"builder", true, append([]string{"builder", "--listen", taken}, cluster...)},
		{"scaler metrics", false, append([]string{"scaler", "--metrics-addr", taken}, cluster...)},
		{"etcd client", false, []string{"etcd", "--data", t.TempDir(), "--client-addr", taken, "--peer-addr", testenv.FreeAddr(t)}},
		{"etcd peer", false, []string{"etcd", "--data", t.TempDir(), "--client-addr", testenv.FreeAddr(t), "--peer-addr", taken}},
		{"nats", false, []string{"nats", "--data", t.TempDir(), "--port", port}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.docker {
				if _, err := os.Stat("/var/run/docker.sock"); err != nil {
					t.Skipf("no Docker engine: %v", err)
				}
			}
			logPath := filepath.Join(t.TempDir(), "log")
			f, err := os.Create(logPath)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd := exec.Command(bin, tc.args...)
			cmd.Stdout, cmd.Stderr = f, f
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-done:
			case <-time.After(60 * time.Second):
				cmd.Process.Kill()
				<-done
				b, _ := os.ReadFile(logPath)
				t.Fatalf("still running 60s after start with %s taken:\n%s", taken, b)
			}
			b, _ := os.ReadFile(logPath)
			var exit *exec.ExitError
			if !errors.As(werr, &exit) || exit.ExitCode() == 0 {
				t.Errorf("exit: %v, want a non-zero status", werr)
			}
			if !strings.Contains(string(b), "ufopd "+tc.args[0]+": ") || !strings.Contains(string(b), taken) {
				t.Errorf("output does not name %s:\n%s", taken, b)
			}
		})
	}
}
