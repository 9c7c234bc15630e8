package platform_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/manifest"
	"github.com/ufop/ufop/platform"
)

// hostilePackage builds testdata/hostile into a package tarball.
func hostilePackage(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "handler"), "./testdata/hostile")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hostile: %v\n%s", err, out)
	}
	yaml := "image: scratch\nrun: [\"./handler\"]\nhealth_check: {path: /health, timeout: 3s}\n" +
		"resources: {cpu: 0.5, memory: 32Mi, pids: 24}\nconcurrency: 4\ntimeout: 20s\n"
	if err := os.WriteFile(filepath.Join(dir, "ufop.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	pkg, err := manifest.ReadDir(dir, manifest.DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := pkg.WriteTar(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestIsolation runs a hostile UFOP through the platform: it cannot reach
// the gateway, etcd, NATS, another instance or a listener outside its
// network; a fork bomb stops at the pids limit; a memory hog is OOM-killed
// and replaced; built-in requests keep being served throughout.
func TestIsolation(t *testing.T) {
	needImages(t)
	testenv.RequireDocker(t)
	docker := dockerClient(t)
	name := uniqueName("test-hostile")
	t.Cleanup(func() {
		for _, c := range containersOf(t, docker, name) {
			docker.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
		}
	})
	// The gateway listens on every interface here, so only the sandbox
	// stands between an instance and it.
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Addr = "0.0.0.0:0"
	cfg.Gateway.InternalURL = ""
	etcdAddr := testenv.FreeAddr(t)
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = etcdAddr, testenv.FreeAddr(t), -1
	p, _ := runPlatform(t, cfg)
	a := newAPI(t, p)
	a.base = "http://127.0.0.1:" + port(p.Gateway().Addr())

	a.do(http.MethodPut, "/v1/buckets/pics", nil, nil)
	if _, err := a.cl.PutObject(context.Background(), "pics", "portrait.jpg", mustOpen(t, filepath.Join(images, "portrait.jpg")), "", nil); err != nil {
		t.Fatal(err)
	}
	a.do(http.MethodPut, "/v1/ufops/"+name, map[string]any{"mode": 0}, nil)
	if res, log := a.buildBytes(name, hostilePackage(t)); res.State != ufop.BuildOK {
		t.Fatalf("build: %+v\n%s", res, log)
	}
	a.do(http.MethodPut, "/v1/ufops/"+name+"/version", map[string]int{"version": 1}, nil)
	a.do(http.MethodPut, "/v1/ufops/"+name+"/instances", map[string]int{"instances": 2}, nil)
	testenv.Eventually(t, 60*time.Second, func() bool { return a.healthy(name, 1) == 2 }, "2 hostile instances healthy")

	// Built-in work goes on during the whole test.
	stop, report := loop(a, "/pics/portrait.jpg?imageView2/2/w/90", 2, 20)

	// Targets: the platform's ports on every address of this machine an
	// instance might try, a listener of the test's own, another instance.
	outside, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer outside.Close()
	go func() {
		for {
			c, err := outside.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var bridgeIP string
	agentID, _ := os.ReadFile(filepath.Join(cfg.DataDir, "agent.id"))
	nw, err := docker.NetworkInspect(context.Background(), "ufop-"+string(agentID), network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range nw.IPAM.Config {
		bridgeIP = c.Gateway
	}
	// The host's addresses an instance may try: on its own network, on
	// another network this test creates, and 127.0.0.1 (the instance's
	// own loopback). Never the default bridge or the machine's outward
	// address: traffic there is not the test's to make.
	hosts := []string{bridgeIP, otherNetworkGateway(t, docker), "127.0.0.1"}
	natsURL := p.NATSURL()
	ports := map[string]string{
		"gateway": port(p.Gateway().Addr()),
		"etcd":    port(etcdAddr),
		"nats":    port(strings.TrimPrefix(natsURL, "nats://")),
		"outside": port(outside.Addr().String()),
	}
	var targets []string
	for what, pt := range ports {
		for _, h := range hosts {
			targets = append(targets, what+"@"+net.JoinHostPort(h, pt))
		}
	}
	// Every instance in one target: whichever instance answers dials the
	// others and skips itself.
	var instances []string
	for _, c := range containersOf(t, docker, name) {
		for _, ep := range c.NetworkSettings.Networks {
			instances = append(instances, net.JoinHostPort(ep.IPAddress, "9100"))
		}
	}
	if len(instances) < 2 {
		t.Fatalf("instance addresses %v, want 2", instances)
	}
	targets = append(targets, "instance@"+strings.Join(instances, ","))
	// Sanity: the test's own listener is reachable from the host on both
	// networks, or a refusal from an instance would prove nothing.
	for _, h := range hosts[:2] {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort(h, ports["outside"]), time.Second); err != nil {
			t.Fatalf("outside listener not reachable from the host at %s: %v", h, err)
		} else {
			c.Close()
		}
	}
	for _, tg := range targets {
		what, addr, _ := strings.Cut(tg, "@")
		resp, body := a.get("/pics/portrait.jpg?" + name + "/dial/" + addr)
		var r struct {
			OK     bool
			Err    string
			Dialed []string
		}
		if err := json.Unmarshal(body, &r); err != nil || resp.StatusCode != 200 {
			t.Errorf("dial %s (%s): %s %s", addr, what, resp.Status, body)
			continue
		}
		if want := len(strings.Split(addr, ",")); what == "instance" && len(r.Dialed) != want-1 || what != "instance" && len(r.Dialed) != 1 {
			t.Errorf("dial %s (%s): dialed %v", addr, what, r.Dialed)
		}
		if r.OK {
			t.Errorf("an instance reached %s (%s)", addr, what)
		}
	}
	t.Logf("%d connection attempts from an instance, all refused", len(targets))

	// The agent's local fetcher (SPEC §5 url=) is reachable and serves the
	// very input of the call.
	resp, body := a.get("/pics/portrait.jpg?" + name + "/source")
	var src struct {
		URL     string
		Body    int
		Fetched int
		Same    bool
		Err     string
	}
	if err := json.Unmarshal(body, &src); err != nil || resp.StatusCode != 200 || src.URL == "" || !src.Same || src.Fetched == 0 {
		t.Errorf("url= source: %s %s", resp.Status, body)
	}

	// Fork bomb: stopped by the pids limit.
	resp, body = a.get("/pics/portrait.jpg?" + name + "/fork")
	var fork struct {
		Children int
		Err      string
	}
	json.Unmarshal(body, &fork)
	if resp.StatusCode == 200 && (fork.Children >= 24 || fork.Err == "") {
		t.Errorf("fork bomb: %s %s", resp.Status, body)
	}
	t.Logf("fork bomb: %s, %d children, %q", resp.Status, fork.Children, fork.Err)

	// Memory hog: OOM-killed, the request fails cleanly, the instance is
	// replaced.
	before := restarts(a, name)
	resp, body = a.get("/pics/portrait.jpg?" + name + "/hog")
	if resp.StatusCode/100 != 5 {
		t.Errorf("memory hog answered %s %s", resp.Status, body)
	}
	testenv.Eventually(t, 30*time.Second, func() bool {
		return restarts(a, name) > before && a.healthy(name, 1) == 2
	}, "hog instance replaced")

	ok, failed, first, _ := report(stop)
	t.Logf("built-in requests meanwhile: %d ok, %d failed", ok, failed)
	if failed > 0 || ok == 0 {
		t.Fatalf("built-in requests failed during the attacks: %d (first: %s)", failed, first)
	}
}

func restarts(a *api, name string) int {
	n := 0
	for _, in := range a.state(name).Instances {
		n += in.Restarts
	}
	return n
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// otherNetworkGateway creates a Docker network for the test and returns
// the host's address on it.
func otherNetworkGateway(t *testing.T, docker *client.Client) string {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 4)
	rand.Read(b)
	name := fmt.Sprintf("ufoptest-other-%x", b)
	if _, err := docker.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: map[string]string{"ufoptest": "1"}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { docker.NetworkRemove(context.Background(), name) })
	nw, err := docker.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range nw.IPAM.Config {
		if c.Gateway != "" {
			return c.Gateway
		}
	}
	t.Fatalf("network %s has no gateway address", name)
	return ""
}
