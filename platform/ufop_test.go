package platform_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/examples"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/manifest"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/ufopctl"
)

// api talks to a running platform as its admin.
type api struct {
	t    *testing.T
	base string
	cfg  ufopctl.Config
	cl   *ufopctl.Client
}

func newAPI(t *testing.T, p *platform.Platform) *api {
	cfg, err := ufopctl.LoadConfig(p.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	return &api{t: t, base: "http://" + p.Gateway().Addr(), cfg: cfg, cl: ufopctl.NewClient(cfg, nil)}
}

func (a *api) do(method, path string, in, out any) {
	a.t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	if err := a.cl.Do(context.Background(), method, path, body, out); err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// build uploads a package and returns the build's result and log.
func (a *api) build(name, pkg string) (protocol.BuildResult, string) {
	a.t.Helper()
	body, err := os.ReadFile(pkg)
	if err != nil {
		a.t.Fatal(err)
	}
	return a.buildBytes(name, body)
}

func (a *api) buildBytes(name string, body []byte) (protocol.BuildResult, string) {
	a.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, a.base+"/v1/ufops/"+name+"/versions", bytes.NewReader(body))
	auth.SignRequest(req, a.cfg.AK, a.cfg.SK, auth.BodyHash(body), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return protocol.BuildResult{State: ufop.BuildFailed, Error: string(out)}, fmt.Sprintf("%d %s", resp.StatusCode, out)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	var res protocol.BuildResult
	for sc.Scan() {
		if r, ok := protocol.ParseBuildResult(sc.Text()); ok {
			res = r
		}
	}
	return res, string(out)
}

func (a *api) state(name string) gateway.State {
	var st gateway.State
	a.do(http.MethodGet, "/v1/ufops/"+name+"/state", nil, &st)
	return st
}

func (a *api) healthy(name string, version int) int {
	n := 0
	for _, in := range a.state(name).Instances {
		if in.State == ufop.InstanceHealthy && (version == 0 || in.Version == version) {
			n++
		}
	}
	return n
}

func (a *api) get(path string) (*http.Response, []byte) {
	resp, err := http.Get(a.base + path)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// deploy registers, builds and starts a UFOP from an example package.
func deploy(t *testing.T, a *api, name, example string, instances int) string {
	t.Helper()
	pkg, err := examples.Tarball(context.Background(), example, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a.do(http.MethodPut, "/v1/ufops/"+name, map[string]any{"mode": 0, "desc": example}, nil)
	res, log := a.build(name, pkg)
	if res.State != ufop.BuildOK || res.Version != 1 {
		t.Fatalf("build: %+v\n%s", res, log)
	}
	a.do(http.MethodPut, "/v1/ufops/"+name+"/version", map[string]int{"version": 1}, nil)
	a.do(http.MethodPut, "/v1/ufops/"+name+"/instances", map[string]int{"instances": instances}, nil)
	testenv.Eventually(t, 60*time.Second, func() bool { return a.healthy(name, 1) == instances }, "%d healthy instances of %s", instances, name)
	return pkg
}

func dockerClient(t *testing.T) *client.Client {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// uniqueName gives a test's UFOP a name of its own, so that test runs
// sharing the Docker engine (two checkouts, a developer beside CI) never
// count, or clean up, each other's containers by label.
func uniqueName(base string) string {
	var b [2]byte
	rand.Read(b[:])
	return base + "-" + hex.EncodeToString(b[:])
}

// removeContainersLater removes every container of UFOP name, exited ones
// too, when the test ends. Register it before starting the platform: as
// cleanups run last-in first-out, it then runs once the platform stopped.
func removeContainersLater(t *testing.T, docker *client.Client, name string) {
	t.Cleanup(func() {
		cs, _ := docker.ContainerList(context.Background(), dcontainer.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", container.LabelName+"="+name))})
		for _, c := range cs {
			docker.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
		}
	})
}

func containersOf(t *testing.T, cli *client.Client, name string) []dcontainer.Summary {
	cs, err := cli.ContainerList(context.Background(), dcontainer.ListOptions{
		Filters: filters.NewArgs(filters.Arg("label", container.LabelName+"="+name)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// TestUFOPLifecycle is issue 4's path: reg, build, chver, resize, serve
// (alone and in a pipeline), refuse bad packages, survive a docker kill,
// and upgrade under load with no failed request.
func TestUFOPLifecycle(t *testing.T) {
	needImages(t)
	testenv.RequireDocker(t)
	docker := dockerClient(t)
	name := uniqueName("test-sepia")
	// Runs after the platform has stopped (cleanups run last-in first-out):
	// whatever a failure left behind.
	t.Cleanup(func() {
		for _, c := range containersOf(t, docker, name) {
			docker.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
		}
	})
	p, _ := startPlatform(t, t.TempDir())
	a := newAPI(t, p)
	a.do(http.MethodPut, "/v1/buckets/pics", nil, nil)
	if _, err := a.cl.PutObject(context.Background(), "pics", "portrait.jpg", mustOpen(t, filepath.Join(images, "portrait.jpg")), "", nil); err != nil {
		t.Fatal(err)
	}
	pkg := deploy(t, a, name, "sepia", 2)

	t.Run("serve", func(t *testing.T) {
		resp, body := a.get("/pics/portrait.jpg?" + name)
		if resp.StatusCode != 200 || resp.Header.Get("X-Ufop-Version") != name+"/v1" {
			t.Fatalf("%s %q: %.200s", resp.Status, resp.Header.Get("X-Ufop-Version"), body)
		}
		img, _, err := image.Decode(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		// Sepia: red ≥ green ≥ blue over the image.
		var r, g, bl uint64
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 7 {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 7 {
				cr, cg, cb, _ := img.At(x, y).RGBA()
				r, g, bl = r+uint64(cr), g+uint64(cg), bl+uint64(cb)
			}
		}
		if !(r > g && g > bl) {
			t.Errorf("not sepia: r=%d g=%d b=%d", r, g, bl)
		}
		if st := a.state(name); len(st.Instances) != 2 {
			t.Errorf("state lists %d instances: %+v", len(st.Instances), st.Instances)
		}
	})

	t.Run("limits", func(t *testing.T) {
		cs := containersOf(t, docker, name)
		if len(cs) != 2 {
			t.Fatalf("docker ps shows %d containers", len(cs))
		}
		for _, c := range cs {
			ins, err := docker.ContainerInspect(context.Background(), c.ID)
			if err != nil {
				t.Fatal(err)
			}
			hc := ins.HostConfig
			if hc.NanoCPUs != 5e8 || hc.Memory != 128<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 64 ||
				!hc.ReadonlyRootfs || len(hc.CapDrop) == 0 || hc.CapDrop[0] != "ALL" || ins.Config.User == "" || ins.Config.User == "0" {
				t.Errorf("container %s limits: cpu %d mem %d pids %v ro %v capdrop %v user %q",
					c.ID[:12], hc.NanoCPUs, hc.Memory, hc.PidsLimit, hc.ReadonlyRootfs, hc.CapDrop, ins.Config.User)
			}
		}
	})

	t.Run("pipeline", func(t *testing.T) {
		resp, body := a.get("/pics/portrait.jpg?imageView2/2/w/300|" + name + "|imageInfo")
		var info struct{ Width, Height int }
		if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 || info.Width != 300 {
			t.Fatalf("%s %s (%v)", resp.Status, body, err)
		}
	})

	t.Run("bad packages", func(t *testing.T) {
		before := len(a.versions(name))
		for _, tc := range badPackages(t) {
			res, log := a.buildBytes(name, tc.tar)
			if res.State != ufop.BuildFailed || !strings.Contains(log, tc.names) {
				t.Errorf("%s: %+v, log %q does not name %q", tc.what, res, log, tc.names)
			}
		}
		if after := len(a.versions(name)); after != before {
			t.Errorf("bad packages made versions: %d → %d", before, after)
		}
	})

	t.Run("docker kill", func(t *testing.T) {
		stop, report := loop(a, "/pics/portrait.jpg?imageView2/2/w/120|"+name, 4, 0)
		time.Sleep(500 * time.Millisecond)
		victim := containersOf(t, docker, name)[0]
		if err := docker.ContainerKill(context.Background(), victim.ID, "KILL"); err != nil {
			t.Fatal(err)
		}
		killed := time.Now()
		testenv.Eventually(t, 10*time.Second, func() bool {
			cs := containersOf(t, docker, name)
			return len(cs) == 2 && cs[0].ID != victim.ID && cs[1].ID != victim.ID && a.healthy(name, 0) == 2
		}, "killed instance replaced")
		if took := time.Since(killed); took > 5*time.Second {
			t.Errorf("replaced after %v, want ≤ 5s", took)
		}
		time.Sleep(500 * time.Millisecond)
		ok, failed, first, _ := report(stop)
		t.Logf("during the kill: %d ok, %d failed", ok, failed)
		if failed > 0 {
			t.Fatalf("%d requests failed; first: %s", failed, first)
		}
	})

	t.Run("upgrade", func(t *testing.T) {
		res, log := a.build(name, pkg)
		if res.State != ufop.BuildOK || res.Version != 2 {
			t.Fatalf("build v2: %+v\n%s", res, log)
		}
		a.do(http.MethodPut, "/v1/ufops/"+name+"/version", map[string]int{"version": 2}, nil)
		// Steady load for at least 20 s, through the upgrade.
		began := time.Now()
		stop, report := loop(a, "/pics/portrait.jpg?imageView2/2/w/64|"+name, 12, 66)
		time.Sleep(2 * time.Second)
		a.do(http.MethodPost, "/v1/ufops/"+name+"/upgrade", map[string]int{"step": 1}, nil)
		testenv.Eventually(t, 60*time.Second, func() bool {
			st := a.state(name)
			return len(st.Instances) == 2 && a.healthy(name, 2) == 2
		}, "both instances on v2")
		upgraded := time.Now()
		time.Sleep(max(2*time.Second, time.Until(began.Add(20*time.Second))))
		ok, failed, first, versions := report(stop)
		took := time.Since(began)
		rate := float64(ok+failed) / took.Seconds()
		t.Logf("upgrade under load: %d ok, %d failed in %v (%.0f req/s), versions after: %v", ok, failed, took.Round(time.Millisecond), rate, versions(upgraded))
		if failed > 0 {
			t.Fatalf("%d requests failed; first: %s", failed, first)
		}
		// The rate depends on the machine (docs/benchmarks.md has the
		// figures); here it only has to be load that spans the upgrade.
		if ok < 200 {
			t.Errorf("only %d requests answered during the upgrade: too little load to test it", ok)
		}
		if vs := versions(upgraded.Add(time.Second)); len(vs) != 1 || vs[name+"/v2"] == 0 {
			t.Errorf("responses after the upgrade came from %v", vs)
		}
		for _, c := range containersOf(t, docker, name) {
			if c.Labels[container.LabelVersion] != "2" {
				t.Errorf("container %s of version %s still there", c.ID[:12], c.Labels[container.LabelVersion])
			}
		}
	})
}

func (a *api) versions(name string) []ufop.Version {
	var out struct{ Versions []ufop.Version }
	a.do(http.MethodGet, "/v1/ufops/"+name+"/versions", nil, &out)
	return out.Versions
}

func mustOpen(t *testing.T, path string) *os.File {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// loop runs clients requesting path until stop is called; rate, when not
// zero, paces each client to rate/clients requests a second. report waits
// for the clients and returns the counts, the first failure, and a
// function giving the UFOP versions of the answers after a time.
func loop(a *api, path string, clients int, rate int) (stop func(), report func(func()) (int64, int64, string, func(time.Time) map[string]int)) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var mu sync.Mutex
	var first string
	type answer struct {
		at      time.Time
		version string
	}
	var answers []answer
	hc := &http.Client{Timeout: 30 * time.Second}
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tick *time.Ticker
			if rate > 0 {
				tick = time.NewTicker(time.Second * time.Duration(clients) / time.Duration(rate))
				defer tick.Stop()
			}
			for ctx.Err() == nil {
				if tick != nil {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
				}
				resp, err := hc.Get(a.base + path)
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					mu.Lock()
					if first == "" {
						first = fmt.Sprintf("%s %s", resp.Status, body)
					}
					mu.Unlock()
					continue
				}
				ok.Add(1)
				mu.Lock()
				answers = append(answers, answer{time.Now(), resp.Header.Get("X-Ufop-Version")})
				mu.Unlock()
			}
		}()
	}
	stop = cancel
	report = func(stop func()) (int64, int64, string, func(time.Time) map[string]int) {
		stop()
		wg.Wait()
		return ok.Load(), failed.Load(), first, func(after time.Time) map[string]int {
			vs := map[string]int{}
			for _, an := range answers {
				if an.at.After(after) {
					vs[an.version]++
				}
			}
			return vs
		}
	}
	return stop, report
}

type badPackage struct {
	what  string
	tar   []byte
	names string // what the refusal must name
}

// tarOf packs entries; a nil body with a link makes a symlink.
func tarOf(t *testing.T, entries ...tarEntry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if e.link != "" {
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(e.body)
	}
	tw.Close()
	return buf.Bytes()
}

type tarEntry struct {
	name, link string
	body       []byte
}

func badPackages(t *testing.T) []badPackage {
	yml := tarEntry{name: "ufop.yaml", body: []byte("image: scratch\nrun: [\"./handler\"]\n")}
	handler := tarEntry{name: "handler", body: []byte("#!")}
	return []badPackage{
		{"parent path", tarOf(t, yml, handler, tarEntry{name: "../x", body: []byte("x")}), "../x"},
		{"absolute path", tarOf(t, yml, handler, tarEntry{name: "/etc/evil", body: []byte("x")}), "/etc/evil"},
		{"symlink out", tarOf(t, yml, handler, tarEntry{name: "passwd", link: "/etc/passwd"}), "passwd"},
		{"no manifest", tarOf(t, handler), "ufop.yaml"},
		{"bad yaml", tarOf(t, tarEntry{name: "ufop.yaml", body: []byte("image: [scratch\nrun: {")}, handler), "ufop.yaml"},
		{"oversized", bytes.Repeat([]byte{0}, int(manifest.DefaultLimits().MaxPackageBytes)+1), "limit"},
	}
}
