package container

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{AgentID: "a1"}, true},
		{"no agent", Config{}, false},
		{"bad agent", Config{AgentID: "a b"}, false},
		{"bad network", Config{AgentID: "a1", NetworkName: "-x"}, false},
		{"port", Config{AgentID: "a1", AgentPort: 70000}, false},
		{"subnet", Config{AgentID: "a1", Subnet: "10.9.0.0/24"}, true},
		{"bad subnet", Config{AgentID: "a1", Subnet: "10.9.0.0"}, false},
		{"v6 subnet", Config{AgentID: "a1", Subnet: "fd00::/64"}, false},
		{"negative grace", Config{AgentID: "a1", GracePeriod: -time.Second}, false},
		{"tiny log", Config{AgentID: "a1", LogBytes: 10}, false},
		{"reserved label", Config{AgentID: "a1", Labels: map[string]string{"ufop.agent": "x"}}, false},
		{"label", Config{AgentID: "a1", Labels: map[string]string{"team": "x"}}, true},
		{"tiny memory", Config{AgentID: "a1", DefaultMemory: 1 << 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
	if got := (Config{AgentID: "a1"}).withDefaults().NetworkName; got != "ufop-a1" {
		t.Errorf("default NetworkName = %q", got)
	}
}

func TestSpecValidate(t *testing.T) {
	base := Spec{Name: "thumbs", Version: 1, Image: "ufop/thumbs:v1"}
	tests := []struct {
		name string
		mod  func(*Spec)
		ok   bool
		in   string // part of the message
	}{
		{"ok", func(*Spec) {}, true, ""},
		{"short name", func(s *Spec) { s.Name = "abc" }, false, "name"},
		{"upper name", func(s *Spec) { s.Name = "Thumbs" }, false, "name"},
		{"version", func(s *Spec) { s.Version = 0 }, false, "version"},
		{"image", func(s *Spec) { s.Image = "" }, false, "image"},
		{"cpu", func(s *Spec) { s.CPU = -1 }, false, "resources.cpu"},
		{"memory", func(s *Spec) { s.Memory = 1024 }, false, "resources.memory"},
		{"pids", func(s *Spec) { s.Pids = -3 }, false, "resources.pids"},
		{"health path", func(s *Spec) { s.HealthPath = "health" }, false, "health_check.path"},
		{"env key", func(s *Spec) { s.Env = map[string]string{"A=B": "c"} }, false, "env"},
		{"env nul", func(s *Spec) { s.Env = map[string]string{"A": "c\x00"} }, false, "env"},
		{"env port", func(s *Spec) { s.Env = map[string]string{"PORT_HTTP": "1"} }, false, "PORT_HTTP"},
		{"env ok", func(s *Spec) { s.Env = map[string]string{"A_1": "x=y"} }, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base
			tt.mod(&s)
			err := s.withDefaults(Config{}.withDefaults()).Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if err != nil {
				if ufop.KindOf(err) != ufop.KindInvalid || !strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %v: want KindInvalid mentioning %q", err, tt.in)
				}
			}
		})
	}
}

// TestInstanceLimits checks both what the engine was told (inspect) and
// what the program sees from inside.
func TestInstanceLimits(t *testing.T) {
	e := newEnv(t, nil)
	inst := e.startInstance(hostileSpec(func(s *Spec) { s.Env = map[string]string{"GREETING": "hi"} }))
	ctx := context.Background()

	info, err := e.docker.ContainerInspect(ctx, inst.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	hc := info.HostConfig
	checks := []struct {
		what      string
		got, want any
	}{
		{"NanoCpus", hc.NanoCPUs, int64(500_000_000)},
		{"Memory", hc.Memory, int64(64 << 20)},
		{"MemorySwap", hc.MemorySwap, int64(64 << 20)},
		{"PidsLimit", *hc.PidsLimit, int64(64)},
		{"ReadonlyRootfs", hc.ReadonlyRootfs, true},
		{"Privileged", hc.Privileged, false},
		{"CapDrop", fmt.Sprint(hc.CapDrop), "[ALL]"},
		{"CapAdd", len(hc.CapAdd), 0},
		{"SecurityOpt", fmt.Sprint(hc.SecurityOpt), "[no-new-privileges:true]"},
		{"User", info.Config.User, "65534:65534"},
		{"Tmpfs /tmp", hc.Tmpfs["/tmp"], fmt.Sprintf("rw,noexec,nosuid,nodev,size=%d,mode=1777", DefaultTmpfsBytes)},
		{"Binds", len(hc.Binds), 0},
		{"Mounts", len(info.Mounts), 0},
		{"NetworkMode", string(hc.NetworkMode), e.cfg.NetworkName},
		{"Networks", len(info.NetworkSettings.Networks), 1},
		{"PortBindings", len(hc.PortBindings), 0},
		{"Init", hc.Init != nil && *hc.Init, true},
		{"LogConfig", hc.LogConfig.Type, "local"},
	}
	for _, c := range checks {
		if fmt.Sprint(c.got) != fmt.Sprint(c.want) {
			t.Errorf("inspect %s = %v, want %v", c.what, c.got, c.want)
		}
	}

	me := mustCall(t, inst, "/whoami")
	t.Logf("whoami: %v", me)
	inside := []struct {
		what string
		ok   bool
	}{
		{"uid 65534", me["uid"] == float64(65534)},
		{"gid 65534", me["gid"] == float64(65534)},
		{"no effective capabilities", me["capEff"] == "0000000000000000"},
		{"empty bounding set", me["capBnd"] == "0000000000000000"},
		{"no_new_privs", me["noNewPrivs"] == "1"},
		{"root filesystem read-only", strings.Contains(fmt.Sprint(me["rootWrite"]), "read-only file system")},
		{"/tmp writable", me["tmpWrite"] == ""},
		{"not PID 1 (docker-init is)", me["pid"] != float64(1)},
		{"IPv6 off", me["ipv6Off"] == "1"},
	}
	for _, c := range inside {
		if !c.ok {
			t.Errorf("inside the instance: want %s", c.what)
		}
	}

	var logs bytes.Buffer
	if err := e.rt.Logs(ctx, inst.ID, false, &logs); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hostile: listening on :9100", "goes to stderr"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("Logs lack %q:\n%s", want, logs.String())
		}
	}
	if err := e.rt.Logs(ctx, "nosuchinstance", false, io.Discard); ufop.KindOf(err) != ufop.KindNotFound {
		t.Errorf("Logs of unknown instance: %v, want KindNotFound", err)
	}
}

// TestNetworkIsolation is SPEC §5's "a network from which only the agent is
// reachable", attempted from inside a hostile instance.
func TestNetworkIsolation(t *testing.T) {
	e := newEnv(t, nil)

	// (a) stand-ins for the gateway, etcd and NATS: a listener on every
	// host address, dialed only at the host's address on the networks
	// this test creates (never the default bridge or the machine's
	// outward address: traffic there is not the test's to make).
	host, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go acceptAll(host)
	hostPort := host.Addr().(*net.TCPAddr).Port

	// The agent's local fetcher, where the runtime says it must listen.
	agentLn, err := net.Listen("tcp", e.rt.AgentAddr())
	if err != nil {
		t.Fatalf("listen on AgentAddr %s: %v", e.rt.AgentAddr(), err)
	}
	agentSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "agent-ok") })}
	go agentSrv.Serve(agentLn)
	defer agentSrv.Close()

	a := e.startInstance(hostileSpec(nil))
	b := e.startInstance(hostileSpec(nil))
	// (c) a listener on another Docker network, created by the test.
	otherIP := otherNetwork(t, e.docker, e.cfg.AgentID)

	gw, _, _ := net.SplitHostPort(e.rt.AgentAddr())
	bIP := strings.TrimSuffix(strings.TrimPrefix(b.Addr, "http://"), ":9100")
	// Every target must be reachable from the host, or a failure from the
	// instance would prove nothing.
	targets := []string{
		net.JoinHostPort(gw, fmt.Sprint(hostPort)),
		net.JoinHostPort(bIP, "9100"),
		net.JoinHostPort(otherIP, "9100"),
	}
	for _, addr := range targets {
		poll(t, 10*time.Second, func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	// 127.0.0.1 from inside is the instance's own loopback; tried anyway,
	// with the host listener's port.
	targets = append(targets, net.JoinHostPort("127.0.0.1", fmt.Sprint(hostPort)))

	var wg sync.WaitGroup
	for _, addr := range targets {
		wg.Go(func() {
			got, err := call(t, a, "/dial?timeout=1500ms&addr="+addr, 10*time.Second)
			if err != nil {
				t.Errorf("dial %s from instance: %v", addr, err)
				return
			}
			if got["ok"] != false {
				t.Errorf("instance reached %s: isolation broken", addr)
			} else {
				t.Logf("instance → %s blocked: %v", addr, got["error"])
			}
		})
	}
	wg.Wait()

	// The agent port is the one way out.
	got := mustCall(t, a, "/fetch?url=http://"+e.rt.AgentAddr()+"/")
	if got["ok"] != true || got["body"] != "agent-ok" {
		t.Errorf("instance → agent %s: %v", e.rt.AgentAddr(), got)
	}
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func TestForkBombStopsAtPidsLimit(t *testing.T) {
	e := newEnv(t, nil)
	const pids = 48
	bomb := e.startInstance(hostileSpec(func(s *Spec) { s.Pids = pids }))

	got, err := call(t, bomb, "/forkbomb", 60*time.Second)
	if err != nil {
		// Its own runtime may starve for threads too: dying is fine.
		t.Logf("fork bomb instance did not answer (died): %v", err)
	} else {
		t.Logf("fork bomb: %v", got)
		n, _ := got["spawned"].(float64)
		if n <= 0 || n >= pids || !strings.Contains(fmt.Sprint(got["error"]), "resource temporarily unavailable") {
			t.Errorf("fork bomb spawned %v children (error %q): want 0 < n < %d stopped by EAGAIN", n, got["error"], pids)
		}
	}
	// The host is fine: it can still start processes.
	if out, err := exec.Command("true").CombinedOutput(); err != nil {
		t.Fatalf("host cannot start a process: %v %s", err, out)
	}
	// The runtime keeps serving: a new instance starts and is healthy.
	other := e.startInstance(hostileSpec(nil))
	mustCall(t, other, "/health")
	if _, err := e.rt.List(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestMemoryHogIsOOMKilled(t *testing.T) {
	e := newEnv(t, nil)
	hog := e.startInstance(hostileSpec(func(s *Spec) { s.Memory = 32 << 20 }))
	go call(t, hog, "/memhog", time.Minute)

	ev, ok := waitEvent(t, e.rt, hog.ID, 30*time.Second, OOM, Died)
	if !ok {
		t.Fatal("no OOM or Died event for the memory hog")
	}
	if ev.Kind == Died && ev.ExitCode != 137 {
		t.Errorf("Died with exit code %d, want 137 (SIGKILL by the OOM killer)", ev.ExitCode)
	}
	info, err := e.docker.ContainerInspect(context.Background(), hog.ContainerID)
	if err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, func() error {
		info, err = e.docker.ContainerInspect(context.Background(), hog.ContainerID)
		if err != nil || info.State.Running {
			return fmt.Errorf("still running (err %v)", err)
		}
		return nil
	})
	if !info.State.OOMKilled {
		t.Errorf("State.OOMKilled = false: %+v", info.State)
	}
}

func TestStopDrainsInFlight(t *testing.T) {
	e := newEnv(t, nil) // grace 5s
	inst := e.startInstance(hostileSpec(nil))

	resp, err := http.Get(inst.Addr + "/slow?d=1500ms") // headers come first
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body := make(chan string, 1)
	go func() {
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			b = []byte("read error: " + err.Error())
		}
		body <- string(b)
	}()

	// Follow the logs across the stop: they end when the instance exits.
	followed := make(chan string, 1)
	fw := &firstWrite{seen: make(chan struct{})}
	go func() {
		if err := e.rt.Logs(context.Background(), inst.ID, true, fw); err != nil {
			fw.Write([]byte("Logs: " + err.Error()))
		}
		followed <- fw.buf.String()
	}()
	select { // attached once the first line came through
	case <-fw.seen:
	case <-time.After(10 * time.Second):
		t.Fatal("Logs(follow) wrote nothing")
	}

	begin := time.Now()
	if err := e.rt.Stop(context.Background(), inst.ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	t.Logf("Stop with a 1.5s request in flight took %v", took)
	select {
	case out := <-followed:
		for _, want := range []string{"hostile: listening", "SIGTERM, draining", "drained, exiting"} {
			if !strings.Contains(out, want) {
				t.Errorf("followed logs lack %q:\n%s", want, out)
			}
		}
	case <-time.After(10 * time.Second):
		t.Error("Logs(follow) did not return after the instance stopped")
	}
	if got := <-body; !strings.Contains(got, `"slept":"1.5s"`) {
		t.Errorf("in-flight request did not finish: %q", got)
	}
	if took >= e.cfg.GracePeriod {
		t.Errorf("Stop took %v: the instance was killed instead of exiting after draining", took)
	}
	if _, err := e.docker.ContainerInspect(context.Background(), inst.ContainerID); !client.IsErrNotFound(err) {
		t.Errorf("container still there after Stop: %v", err)
	}
	var logs bytes.Buffer
	if err := e.rt.Logs(context.Background(), inst.ID, false, &logs); ufop.KindOf(err) != ufop.KindNotFound {
		t.Errorf("Logs after Stop: %v, want KindNotFound", err)
	}
}

// firstWrite is a log sink that says when something arrived. Only the
// Logs goroutine writes; the buffer is read after it is done.
type firstWrite struct {
	buf  bytes.Buffer
	once sync.Once
	seen chan struct{}
}

func (w *firstWrite) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.seen) })
	return w.buf.Write(p)
}

func TestStopKillsAfterGrace(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.GracePeriod = time.Second })
	inst := e.startInstance(hostileSpec(func(s *Spec) { s.Env = map[string]string{"HOSTILE_IGNORE_TERM": "1"} }))

	begin := time.Now()
	if err := e.rt.Stop(context.Background(), inst.ID); err != nil {
		t.Fatal(err)
	}
	took := time.Since(begin)
	t.Logf("Stop of a SIGTERM-ignoring instance took %v (grace 1s)", took)
	if took < time.Second {
		t.Errorf("Stop took %v, less than the grace period: SIGTERM was not ignored?", took)
	}
	if _, err := e.docker.ContainerInspect(context.Background(), inst.ContainerID); !client.IsErrNotFound(err) {
		t.Errorf("container still there after Stop: %v", err)
	}
	if err := e.rt.Stop(context.Background(), inst.ID); ufop.KindOf(err) != ufop.KindNotFound {
		t.Errorf("second Stop: %v, want KindNotFound", err)
	}
}

func TestDockerKillReportsDied(t *testing.T) {
	var b [2]byte
	_, _ = rand.Read(b[:])
	subnet := fmt.Sprintf("10.%d.%d.0/24", 200+int(b[0])%50, b[1]) // a chosen Subnet, on a local bridge only
	e := newEnv(t, func(c *Config) { c.Subnet = subnet })
	if want := strings.TrimSuffix(subnet, "0/24") + "1"; !strings.HasPrefix(e.rt.AgentAddr(), want+":") {
		t.Errorf("AgentAddr %s, want the gateway %s of subnet %s", e.rt.AgentAddr(), want, subnet)
	}
	inst := e.startInstance(hostileSpec(nil))

	killed := time.Now()
	if err := e.docker.ContainerKill(context.Background(), inst.ContainerID, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	ev, ok := waitEvent(t, e.rt, inst.ID, time.Second, Died)
	if !ok {
		t.Fatal("no Died event within 1s of docker kill")
	}
	t.Logf("Died event %v after docker kill", time.Since(killed))
	if ev.ExitCode != 137 || ev.Name != "hostile" || ev.Version != 1 || ev.ContainerID != inst.ContainerID {
		t.Errorf("event = %+v", ev)
	}
}

func TestUnhealthyEvent(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.HealthInterval = 100 * time.Millisecond; c.HealthFailures = 2 })
	inst := e.startInstance(hostileSpec(nil))
	mustCall(t, inst, "/sick")
	if _, ok := waitEvent(t, e.rt, inst.ID, 10*time.Second, Unhealthy); !ok {
		t.Fatal("no Unhealthy event")
	}
}

func TestStartFailures(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.StartTimeout = 5 * time.Second })
	ctx := context.Background()
	tests := []struct {
		name string
		spec Spec
		kind ufop.Kind
	}{
		{"missing image", hostileSpec(func(s *Spec) { s.Image = "ufoptest-nosuch:v1" }), ufop.KindNotFound},
		{"crashes on start", hostileSpec(func(s *Spec) { s.Env = map[string]string{"HOSTILE_EXIT": "3"} }), ufop.KindUpstream},
		{"never healthy", hostileSpec(func(s *Spec) { s.HealthPath = "/nosuchpath" }), ufop.KindUpstream},
		{"invalid", hostileSpec(func(s *Spec) { s.Name = "x" }), ufop.KindInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inst, err := e.rt.Start(ctx, tt.spec)
			if err == nil {
				t.Fatalf("Start succeeded: %+v", inst)
			}
			t.Logf("Start: %v", err)
			if ufop.KindOf(err) != tt.kind {
				t.Errorf("kind %v, want %v", ufop.KindOf(err), tt.kind)
			}
		})
	}
	// Nothing left behind.
	list, err := e.rt.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 0 {
		t.Errorf("failed starts left %d containers", len(list))
	}
}

// TestAdoptAfterRestart: a second Runtime for the same agent and network
// finds the first one's instance and can run it.
func TestAdoptAfterRestart(t *testing.T) {
	e := newEnv(t, nil)
	inst := e.startInstance(hostileSpec(func(s *Spec) { s.Version = 7; s.Concurrency = 3; s.HealthTimeout = 2 * time.Second }))

	rt2 := e.start(e.cfg)
	list, err := rt2.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("List = %d instances, want 1", len(list))
	}
	got := list[0]
	if got.ID != inst.ID || got.ContainerID != inst.ContainerID || got.Addr != inst.Addr || got.Name != "hostile" ||
		got.Version != 7 || got.Concurrency != 3 || got.HealthTimeout != 2*time.Second || got.HealthPath != "/health" || got.State != "running" {
		t.Errorf("adopted %+v, started %+v", got, inst)
	}
	if rt2.AgentAddr() != e.rt.AgentAddr() {
		t.Errorf("AgentAddr %s after restart, was %s", rt2.AgentAddr(), e.rt.AgentAddr())
	}
	// The adopted instance is watched: a kill is reported by rt2.
	if err := e.docker.ContainerKill(context.Background(), inst.ContainerID, "SIGKILL"); err != nil {
		t.Fatal(err)
	}
	if _, ok := waitEvent(t, rt2, inst.ID, 5*time.Second, Died); !ok {
		t.Error("adopting runtime reported no Died event")
	}
	if err := rt2.Stop(context.Background(), inst.ID); err != nil {
		t.Fatal(err)
	}
}

// TestFirewallLifecycle: the rules block the host while running, come back
// when removed, are what blocks (without them the instance gets through),
// stay while instances survive Close and go with the last one.
func TestFirewallLifecycle(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.FirewallCheck = 200 * time.Millisecond })
	ctx := context.Background()
	fw := e.rt.fws[0]
	chain := fw.chain
	if !fw.intact(ctx) {
		t.Fatalf("rules not installed:\n%s", iptablesS(t, "INPUT"))
	}
	t.Logf("rules:\n%s", iptablesS(t, chain))

	host, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	go acceptAll(host)
	gw, _, _ := net.SplitHostPort(e.rt.AgentAddr())
	target := net.JoinHostPort(gw, fmt.Sprint(host.Addr().(*net.TCPAddr).Port))
	inst := e.startInstance(hostileSpec(nil))
	reaches := func() bool {
		got := mustCall(t, inst, "/dial?timeout=1s&addr="+target)
		return got["ok"] == true
	}
	deleteJump := func() {
		if out, err := exec.Command("iptables", "-w", "-D", "INPUT", "-i", fw.bridge, "-j", chain).CombinedOutput(); err != nil {
			t.Fatalf("delete jump: %v %s", err, out)
		}
	}
	if reaches() {
		t.Fatalf("instance reached %s with the rules in place", target)
	}

	deleteJump()
	poll(t, 10*time.Second, func() error {
		if !fw.intact(ctx) {
			return fmt.Errorf("rules not reinstalled")
		}
		return nil
	})
	if reaches() {
		t.Fatalf("instance reached %s after the rules were reinstalled", target)
	}

	e.cancel() // no more upkeep: the rules now stay as we leave them
	e.cancel = nil
	deleteJump()
	if !reaches() {
		t.Fatalf("instance could not reach %s even without the rules: this test proves nothing", target)
	}
	if err := fw.install(ctx); err != nil {
		t.Fatal(err)
	}
	if reaches() {
		t.Fatalf("instance reached %s after install", target)
	}

	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	if !fw.intact(ctx) {
		t.Fatal("Close removed the rules while an instance was still running")
	}
	if err := e.rt.Stop(ctx, inst.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Close(); err != nil {
		t.Fatal(err)
	}
	if out := iptablesS(t, "INPUT"); strings.Contains(out, chain) {
		t.Errorf("jump to %s left in INPUT:\n%s", chain, out)
	}
	if err := exec.Command("iptables", "-w", "-S", chain).Run(); err == nil {
		t.Errorf("chain %s left behind", chain)
	}
	if _, err := e.docker.NetworkInspect(ctx, e.cfg.NetworkName, network.InspectOptions{}); !client.IsErrNotFound(err) {
		t.Errorf("network left behind: %v", err)
	}
	if err := e.rt.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func iptablesS(t *testing.T, chain string) string {
	out, err := exec.Command("iptables", "-w", "-S", chain).CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -S %s: %v %s", chain, err, out)
	}
	return string(out)
}

// TestRefusesUnsafeNetwork: a network of the configured name that is not
// internal is not silently used.
func TestRefusesUnsafeNetwork(t *testing.T) {
	dc := needDocker(t)
	ctx := context.Background()
	name := "ufoptest-open-" + randSuffix()
	if _, err := dc.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dc.NetworkRemove(context.Background(), name) })
	rt, err := New(Config{AgentID: name, NetworkName: name}, dc, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	err = rt.Run(ctx)
	if ufop.KindOf(err) != ufop.KindConflict {
		t.Fatalf("Run on an open network: %v, want KindConflict", err)
	}
	if _, err := rt.Start(ctx, hostileSpec(nil)); ufop.KindOf(err) != ufop.KindUnavailable {
		t.Errorf("Start after Run failed: %v, want KindUnavailable", err)
	}
	if err := rt.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
