package container

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop/internal/testneed"
)

const dockerSocket = "/var/run/docker.sock"

// hostileImage is the image of testdata/hostile, built once by TestMain
// when the engine is there; empty otherwise.
var hostileImage string

func TestMain(m *testing.M) {
	code := func() int {
		flag.Parse() // for testing.Short
		if _, err := os.Stat(dockerSocket); err != nil || testing.Short() {
			return m.Run() // engine tests skip themselves
		}
		ref, cleanup, err := buildHostile()
		if err != nil {
			fmt.Fprintln(os.Stderr, "container tests: build hostile image:", err)
			return 1
		}
		defer cleanup()
		hostileImage = ref
		return m.Run()
	}()
	os.Exit(code)
}

func randSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildHostile compiles testdata/hostile statically and builds a FROM
// scratch image of it through the Engine API.
func buildHostile() (string, func(), error) {
	dir, err := os.MkdirTemp("", "ufoptest-hostile-")
	if err != nil {
		return "", nil, err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "hostile")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./testdata/hostile")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("go build: %v: %s", err, out)
	}
	binData, err := os.ReadFile(bin)
	if err != nil {
		return "", nil, err
	}
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	dockerfile := "FROM scratch\nCOPY hostile /hostile\nENTRYPOINT [\"/hostile\"]\n"
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(dockerfile)}, {"hostile", 0o755, binData}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return "", nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return "", nil, err
	}
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return "", nil, err
	}
	ref := "ufoptest-hostile:" + randSuffix()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := dc.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{
		Tags: []string{ref}, Remove: true, ForceRemove: true, Version: build.BuilderV1,
	})
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			return "", nil, err
		}
		if msg.Error != "" {
			return "", nil, errors.New(msg.Error)
		}
	}
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = dc.ImageRemove(ctx, ref, image.RemoveOptions{Force: true, PruneChildren: true})
		dc.Close()
	}
	return ref, cleanup, nil
}

// env is one Runtime under test with its Docker client.
type env struct {
	t      testing.TB
	docker *client.Client
	rt     *Runtime
	cfg    Config
	cancel context.CancelFunc
	runErr chan error
}

// needDocker skips when there is no engine; with one, the tests must run.
func needDocker(t testing.TB) *client.Client {
	t.Helper()
	testneed.Integration(t, "Docker")
	if _, err := os.Stat(dockerSocket); err != nil {
		t.Skipf("no Docker engine at %s: skipping engine tests", dockerSocket)
	}
	if hostileImage == "" {
		t.Fatal("the hostile image was not built")
	}
	dc, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dc.Close() })
	return dc
}

// freePort finds a port not in use on any address.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newEnv starts a Runtime on a fresh ufoptest- network and cleans up
// everything it made, including after a failure.
func newEnv(t testing.TB, tweak func(*Config)) *env {
	t.Helper()
	dc := needDocker(t)
	id := "ufoptest-" + randSuffix()
	cfg := Config{
		AgentID:        id,
		NetworkName:    id,
		AgentPort:      freePort(t),
		GracePeriod:    5 * time.Second,
		StartTimeout:   20 * time.Second,
		HealthInterval: 200 * time.Millisecond,
		Labels:         map[string]string{"ufoptest": "1"},
	}
	if tweak != nil {
		tweak(&cfg)
	}
	e := &env{t: t, docker: dc, cfg: cfg, runErr: make(chan error, 1)}
	e.rt = e.start(cfg)
	t.Cleanup(e.cleanup)
	return e
}

// start runs a Runtime for cfg until the test ends.
func (e *env) start(cfg Config) *Runtime {
	e.t.Helper()
	rt, err := New(cfg, e.docker, testLogger(e.t))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("Run: %v", err)
		}
	}
	if e.cancel == nil {
		e.cancel = stop
	} else {
		prev := e.cancel
		e.cancel = func() { stop(); prev() }
	}
	select {
	case <-rt.Ready():
	case err := <-done:
		done <- err
		e.t.Fatalf("Run failed before ready: %v", err)
	case <-time.After(30 * time.Second):
		e.t.Fatal("runtime not ready after 30s")
	}
	return rt
}

func (e *env) cleanup() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if list, err := e.rt.List(ctx); err == nil {
		for _, inst := range list {
			if err := e.rt.Stop(ctx, inst.ID); err != nil {
				e.t.Errorf("cleanup: stop %s: %v", inst.ID, err)
			}
		}
	}
	// Leftovers the runtime does not know (a failed test's own containers).
	cs, _ := e.docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", LabelAgent+"="+e.cfg.AgentID))})
	for _, c := range cs {
		_ = e.docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
	if e.cancel != nil {
		e.cancel()
	}
	if err := e.rt.Close(); err != nil {
		e.t.Errorf("Close: %v", err)
	}
	// Belt and braces after a failure: no rules, no network left behind.
	ns := e.rt.net
	if ns.bridge != "" {
		for _, bin := range []string{"iptables", "ip6tables"} {
			_ = newFirewall(bin, ns.bridge, "", 0).remove(ctx)
		}
	}
	_ = e.docker.NetworkRemove(ctx, e.cfg.NetworkName)
}

// hostileSpec is a Spec for the hostile image.
func hostileSpec(mod func(*Spec)) Spec {
	s := Spec{Name: "hostile", Version: 1, Image: hostileImage, CPU: 0.5, Memory: 64 << 20, Pids: 64, Concurrency: 2}
	if mod != nil {
		mod(&s)
	}
	return s
}

func (e *env) startInstance(spec Spec) *Instance {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	begin := time.Now()
	inst, err := e.rt.Start(ctx, spec)
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.t.Logf("instance %s healthy %v after Start was called", inst.ID, time.Since(begin))
	return inst
}

// call GETs path on an instance and decodes its JSON answer.
func call(t testing.TB, inst *Instance, path string, timeout time.Duration) (map[string]any, error) {
	t.Helper()
	cl := &http.Client{Timeout: timeout}
	resp, err := cl.Get(inst.Addr + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, fmt.Errorf("GET %s: status %s, bad JSON: %w", path, resp.Status, err)
	}
	return out, nil
}

func mustCall(t testing.TB, inst *Instance, path string) map[string]any {
	t.Helper()
	out, err := call(t, inst, path, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// waitEvent waits for an event of instance id whose kind is in kinds.
func waitEvent(t testing.TB, rt *Runtime, id string, within time.Duration, kinds ...EventKind) (Event, bool) {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case ev, ok := <-rt.Events():
			if !ok {
				return Event{}, false
			}
			t.Logf("event %+v", ev)
			if ev.InstanceID != id {
				continue
			}
			for _, k := range kinds {
				if ev.Kind == k {
					return ev, true
				}
			}
		case <-deadline:
			return Event{}, false
		}
	}
}

// otherNetwork creates a plain bridge network with a hostile container on
// it (not managed by any Runtime), and returns the container's IP.
func otherNetwork(t *testing.T, dc *client.Client, label string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := "ufoptest-other-" + randSuffix()
	if _, err := dc.NetworkCreate(ctx, name, network.CreateOptions{Driver: "bridge", Labels: map[string]string{"ufoptest": "1"}}); err != nil {
		t.Fatal(err)
	}
	c, err := dc.ContainerCreate(ctx,
		&container.Config{Image: hostileImage, Labels: map[string]string{LabelAgent: label}},
		&container.HostConfig{NetworkMode: container.NetworkMode(name)},
		nil, nil, name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err == nil {
			_ = dc.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		_ = dc.NetworkRemove(ctx, name)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := dc.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	info, err := dc.ContainerInspect(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return info.NetworkSettings.Networks[name].IPAddress
}

// poll runs f until it returns nil or the deadline passes.
func poll(t testing.TB, within time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
