package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/ufopctl"
)

// TestMigrateKill9 runs etcd, NATS, a gateway and an agent as separate
// processes, starts a file:// migration, and kill -9s the agent while it
// lists, the gateway mid-copy and the agent again mid-copy, restarting
// each. The job must finish with every object exactly as in the source,
// the listing counted once (it resumed from its checkpoint), and no object
// written twice but those whose write a kill interrupted.
func TestMigrateKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	t.Setenv("UFOP_LOG_LEVEL", "debug") // the agents log each put
	bin := buildUfopd(t)
	dir := t.TempDir()
	etcdAddr, gwAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	startProc(t, bin, "etcd", "etcd", "--data", filepath.Join(dir, "etcd"), "--client-addr", etcdAddr, "--peer-addr", testenv.FreeAddr(t))
	natsAddr := testenv.FreeAddr(t)
	_, natsPort, _ := net.SplitHostPort(natsAddr)
	startProc(t, bin, "nats", "nats", "--data", filepath.Join(dir, "nats"), "--port", natsPort)
	etcdPW, natsTok := filepath.Join(dir, "etcd", "root.password"), filepath.Join(dir, "nats", "token")
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, e1 := os.Stat(etcdPW)
		_, e2 := os.Stat(natsTok)
		return e1 == nil && e2 == nil
	}, "credentials files written")
	creds := []string{"--etcd", "http://" + etcdAddr, "--etcd-password-file", etcdPW, "--nats", "nats://" + natsAddr, "--nats-token-file", natsTok}
	conf := filepath.Join(dir, "ufopctl.json")
	gwArgs := append([]string{"gateway", "--data", filepath.Join(dir, "gw"), "--addr", gwAddr, "--admin-config", conf}, creds...)
	gw := startProc(t, bin, "gateway", gwArgs...)
	agentArgs := append([]string{"agent", "--id", "a1", "--listen", testenv.FreeAddr(t), "--cache", filepath.Join(dir, "a1"), "--no-docker",
		"--storage", "file://" + filepath.Join(dir, "gw", "objects"), "--migrate-ack-wait", "2s", "--migrate-page-size", "10"}, creds...)
	agents := []*proc{startProc(t, bin, "agent", agentArgs...)}
	base := "http://" + gwAddr
	waitHTTP(t, base+"/healthz", 60*time.Second)
	cfg := adminConfig(t, conf)
	cl := ufopctl.NewClient(cfg, nil)
	ctx := context.Background()
	if _, err := cl.CreateBucket(ctx, "dst", ufopctl.BucketOptions{}); err != nil {
		t.Fatal(err)
	}

	const n = 1200
	src := filepath.Join(dir, "src")
	for i := range n {
		k := filepath.Join(src, fmt.Sprintf("d%02d", i%17), fmt.Sprintf("obj-%04d.bin", i))
		os.MkdirAll(filepath.Dir(k), 0o755)
		b := make([]byte, 2000+i*7)
		rand.Read(b)
		if err := os.WriteFile(k, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cl.StartMigration(ctx, "big", protocol.MigrateStart{From: "file://" + src, To: "dst", Workers: 2}); err != nil {
		t.Fatal(err)
	}
	status := func() (protocol.MigrateStatus, bool) {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := cl.MigrationStatus(sctx, "big")
		return st, err == nil
	}
	kill := func(p *proc) {
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
	}

	// 1. The agent (the lister) mid-listing.
	testenv.Eventually(t, 30*time.Second, func() bool { st, ok := status(); return ok && st.Listed >= 30 }, "listing under way")
	st, _ := status()
	kill(agents[0])
	t.Logf("agent killed at listed=%d (listing done: %v) copied=%d", st.Listed, st.ListingDone, st.Copied)
	agents = append(agents, startProc(t, bin, "agent2", agentArgs...))

	// 2. The gateway mid-copy.
	testenv.Eventually(t, 60*time.Second, func() bool { st, ok := status(); return ok && st.Copied >= 400 }, "400 copied")
	kill(gw)
	t.Log("gateway killed")
	time.Sleep(300 * time.Millisecond) // the job goes on without it
	gw = startProc(t, bin, "gateway2", gwArgs...)
	waitHTTP(t, base+"/healthz", 60*time.Second)

	// 3. The agent again, mid-copy.
	testenv.Eventually(t, 60*time.Second, func() bool { st, ok := status(); return ok && st.Copied+st.Skipped >= 800 }, "800 handled")
	st, _ = status()
	kill(agents[1])
	t.Logf("agent killed again at copied=%d", st.Copied)
	agents = append(agents, startProc(t, bin, "agent3", agentArgs...))

	testenv.Eventually(t, 120*time.Second, func() bool { st, ok := status(); return ok && st.State == protocol.MigrateDone }, "job done")
	st, _ = status()
	t.Logf("final: %+v", st)
	if st.Listed != n || st.Failed != 0 || st.Copied+st.Skipped < n {
		t.Fatalf("final status %+v: want listed=%d exactly, nothing failed, every key handled", st, n)
	}
	v, err := cl.VerifyMigration(ctx, "big")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Missing)+len(v.Different) != 0 || v.Checked != n {
		t.Fatalf("verify: %+v", v)
	}
	// Every object exactly as in the source, read back through the API.
	for i := range n {
		rel := fmt.Sprintf("d%02d/obj-%04d.bin", i%17, i)
		want, _ := os.ReadFile(filepath.Join(src, filepath.FromSlash(rel)))
		rc, _, err := cl.GetObject(ctx, "dst", rel)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes (%v), want %d", rel, len(got), err, len(want))
		}
	}
	// Writes: at most one per key, besides those a kill cut short (at most
	// the workers in flight at each agent kill).
	puts := map[string]int{}
	total := 0
	for _, a := range agents {
		b, _ := os.ReadFile(a.log)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"msg":"migration put"`) {
				_, k, _ := strings.Cut(line, `"key":"`)
				k, _, _ = strings.Cut(k, `"`)
				puts[k]++
				total++
			}
		}
	}
	twice := 0
	for _, c := range puts {
		if c > 1 {
			twice += c - 1
		}
	}
	t.Logf("%d puts for %d keys; %d repeated", total, len(puts), twice)
	if twice > 2*2 {
		t.Fatalf("%d repeated writes; at most %d can be explained by the kills", twice, 2*2)
	}
}
