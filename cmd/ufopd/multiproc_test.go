package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/discovery"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/ufopctl"
)

// proc is a ufopd process started by a test.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
}

func buildUfopd(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ufopd")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func startProc(t *testing.T, bin, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		f.Close()
		if t.Failed() {
			// Warnings and errors, then the tail.
			b, _ := os.ReadFile(logPath)
			var notable []string
			for _, line := range strings.Split(string(b), "\n") {
				if strings.Contains(line, `"level":"WARN"`) || strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, "agent ") {
					notable = append(notable, line)
				}
			}
			if len(notable) > 40 {
				notable = notable[:40]
			}
			if len(b) > 4000 {
				b = b[len(b)-4000:]
			}
			t.Logf("--- %s log (warnings):\n%s\n--- %s log (tail):\n%s", name, strings.Join(notable, "\n"), name, b)
		}
	})
	return p
}

func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	testenv.Eventually(t, within, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "%s answers 200", url)
}

// TestKillAgent runs etcd, NATS, a gateway and two agents as separate
// processes, kill -9s one agent under a steady request loop, and checks
// that no request fails and that the registry drops the agent within 5 s.
func TestKillAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process test")
	}
	portrait, err := os.ReadFile("../../../shared/testdata/images/portrait.jpg")
	if err != nil {
		t.Skipf("test images not found: %v", err)
	}
	bin := buildUfopd(t)
	dir := t.TempDir()
	etcdAddr, gwAddr := testenv.FreeAddr(t), testenv.FreeAddr(t)
	etcdURL := "http://" + etcdAddr
	startProc(t, bin, "etcd", "etcd", "--data", filepath.Join(dir, "etcd"), "--client-addr", etcdAddr, "--peer-addr", testenv.FreeAddr(t))
	natsAddr := testenv.FreeAddr(t)
	_, natsPort, _ := net.SplitHostPort(natsAddr)
	startProc(t, bin, "nats", "nats", "--data", filepath.Join(dir, "nats"), "--port", natsPort)
	natsURL := "nats://" + natsAddr
	// The servers generate their credentials at start; the roles read them.
	etcdPW, natsTok := filepath.Join(dir, "etcd", "root.password"), filepath.Join(dir, "nats", "token")
	testenv.Eventually(t, 30*time.Second, func() bool {
		_, e1 := os.Stat(etcdPW)
		_, e2 := os.Stat(natsTok)
		return e1 == nil && e2 == nil
	}, "credentials files written")
	creds := []string{"--etcd", etcdURL, "--etcd-password-file", etcdPW, "--nats", natsURL, "--nats-token-file", natsTok}
	conf := filepath.Join(dir, "ufopctl.json")
	startProc(t, bin, "gateway", append([]string{"gateway", "--data", filepath.Join(dir, "gw"),
		"--addr", gwAddr, "--admin-config", conf}, creds...)...)
	agents := map[string]*proc{}
	for _, id := range []string{"a1", "a2"} {
		agents[id] = startProc(t, bin, id, append([]string{"agent", "--id", id,
			"--listen", testenv.FreeAddr(t), "--cache", filepath.Join(dir, id), "--no-docker"}, creds...)...)
	}
	base := "http://" + gwAddr
	waitHTTP(t, base+"/healthz", 60*time.Second)

	pw, err := os.ReadFile(etcdPW)
	if err != nil {
		t.Fatal(err)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second,
		Username: "root", Password: strings.TrimSpace(string(pw))})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	// `ufopd etcd` refuses a client without its generated credentials.
	if open, err := clientv3.New(clientv3.Config{Endpoints: []string{etcdURL}, DialTimeout: 5 * time.Second}); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if _, err := open.Get(ctx, "/ufop/catalog/cluster/token"); err == nil {
			t.Error("ufopd etcd served a client without credentials")
		}
		cancel()
		open.Close()
	}
	prefix := discovery.DefaultConfig().Prefix
	registered := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return -1
		}
		return int(resp.Count)
	}
	testenv.Eventually(t, 30*time.Second, func() bool { return registered() == 2 }, "two agents registered")
	admin := adminCaller(t, base, adminConfig(t, conf))
	// The loop below runs faster than the paid tier's default rate.
	admin(http.MethodPut, "/v1/limits/admin", []byte(`{"rps":1000000,"burst":1000000,"concurrency":100000}`))
	admin(http.MethodPut, "/v1/buckets/pics", nil)
	const keys = 12
	for i := range keys {
		admin(http.MethodPut, fmt.Sprintf("/v1/objects/pics/p%d.jpg", i), portrait)
	}

	// The gateway learns of the agents through its watch, a moment after
	// etcd has them: wait until it routes to both.
	testenv.Eventually(t, 10*time.Second, func() bool {
		for i := range keys {
			resp, err := http.Get(fmt.Sprintf("%s/pics/p%d.jpg?imageInfo", base, i))
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return false
			}
		}
		return true
	}, "gateway routes to the agents")

	// A steady loop: 4 clients, each request a fresh result so that it
	// reaches an agent.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				url := fmt.Sprintf("%s/pics/p%d.jpg?imageView2/2/w/%d", base, (n+w)%keys, 40+(n*4+w)%400)
				resp, err := client.Get(url)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%s: %s %s", url, resp.Status, body))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(time.Second) // let the loop reach both agents before the kill
	before := ok.Load()
	if err := agents["a1"].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testenv.Eventually(t, 8*time.Second, func() bool { return registered() == 1 }, "killed agent dropped from the registry")
	if took := time.Since(killed); took > 5*time.Second {
		t.Errorf("registry dropped the killed agent after %v, want ≤ 5s", took)
	}
	time.Sleep(time.Second) // keep the loop running on the survivor
	stop()
	wg.Wait()
	t.Logf("requests: %d ok (%d before the kill), %d failed", ok.Load(), before, failed.Load())
	if failed.Load() > 0 {
		t.Fatalf("%d requests failed; first: %v", failed.Load(), firstErr.Load())
	}
	if ok.Load() <= before {
		t.Fatal("no request succeeded after the kill")
	}
}

// adminConfig waits for the ufopctl config a gateway started with
// --admin-config writes, and loads it.
func adminConfig(t *testing.T, conf string) ufopctl.Config {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() bool { _, err := os.Stat(conf); return err == nil }, "admin config written")
	cfg, err := ufopctl.LoadConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// adminCaller returns a function that sends an admin API request to base,
// signed with cfg's keys, and fails the test unless it answers 2xx.
func adminCaller(t *testing.T, base string, cfg ufopctl.Config) func(method, path string, body []byte) {
	return func(method, path string, body []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		auth.SignRequest(req, cfg.AK, cfg.SK, auth.BodyHash(body), time.Now())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
		}
	}
}
