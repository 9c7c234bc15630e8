package gateway_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/agent"
	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/internal/testneed"
	"github.com/ufop/ufop/storage"
)

const images = "../../shared/testdata/images"

func testImage(t *testing.T, name string) []byte {
	t.Helper()
	testneed.SharedImages(t)
	b, err := os.ReadFile(filepath.Join(images, name))
	if os.IsNotExist(err) {
		t.Skipf("test images not found at %s: check out ../shared beside the repository", images)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cluster is a gateway and its agents on a real etcd, in this process.
type cluster struct {
	t      *testing.T
	gw     *gateway.Gateway
	url    string
	user   ufop.User
	ak, sk string
	etcd   string
	ctx    context.Context
	agents map[string]context.CancelFunc
	wg     sync.WaitGroup
}

// clusterOption adjusts the gateway's config and deps before it starts.
type clusterOption func(*gateway.Config, *gateway.Deps)

func newCluster(t *testing.T, agents int, opts ...clusterOption) *cluster {
	t.Helper()
	etcdURL := testenv.Etcd(t)
	cli := testenv.EtcdClientOf(t, etcdURL)
	log := testenv.Logger(t)
	store, err := storage.New(storage.Config{Dir: t.TempDir()}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := gateway.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	cfg.Catalog.MasterKey = bytes.Repeat([]byte{7}, 32)
	deps := gateway.Deps{Etcd: cli, Store: store, Logger: log}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	gw, err := gateway.New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &cluster{t: t, gw: gw, etcd: etcdURL, ctx: ctx, agents: map[string]context.CancelFunc{}}
	t.Cleanup(func() { cancel(); c.wg.Wait() })
	c.wg.Add(1)
	go func() { defer c.wg.Done(); gw.Run(ctx) }()
	<-gw.Ready()
	c.url = "http://" + gw.Addr()
	for i := range agents {
		c.startAgent(fmt.Sprintf("agent-%d", i))
	}
	testenv.Eventually(t, 5*time.Second, func() bool { return len(gw.Registry().Agents()) == agents }, "%d agents registered", agents)

	u, k, err := gw.Catalog().CreateUser(ctx, "admin", ufop.TierPaid, true)
	if err != nil {
		t.Fatal(err)
	}
	c.user, c.ak, c.sk = u, k.AK, k.SK
	return c
}

func (c *cluster) startAgent(id string) {
	cfg := agent.DefaultConfig()
	cfg.ID = id
	cfg.CacheDir = c.t.TempDir()
	a, err := agent.New(cfg, agent.Deps{Etcd: testenv.EtcdClientOf(c.t, c.etcd), Logger: testenv.Logger(c.t)})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.agents[id] = cancel
	c.wg.Add(1)
	go func() { defer c.wg.Done(); a.Run(ctx) }()
	<-a.Ready()
}

// admin sends a signed admin API request.
func (c *cluster) admin(method, path string, body []byte, ak, sk string) *http.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	auth.SignRequest(req, ak, sk, auth.BodyHash(body), time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp
}

func (c *cluster) mustAdmin(method, path string, body []byte) []byte {
	c.t.Helper()
	resp := c.admin(method, path, body, c.ak, c.sk)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		c.t.Fatalf("%s %s: %s %s", method, path, resp.Status, b)
	}
	return b
}

func (c *cluster) get(path string, hdr ...string) (*http.Response, []byte) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.url+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return resp, b
}

// agentRequests scrapes how many processing requests an agent answered.
func agentRequests(t *testing.T, a ufop.Agent) int {
	resp, err := http.Get(a.Addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	n := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "ufop_agent_requests_total{") {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			n += int(v)
		}
	}
	return n
}

func TestEndToEnd(t *testing.T) {
	portrait := testImage(t, "portrait.jpg")
	c := newCluster(t, 2)
	c.mustAdmin(http.MethodPut, "/v1/buckets/pics", nil)
	for i := range 16 {
		c.mustAdmin(http.MethodPut, fmt.Sprintf("/v1/objects/pics/p%d.jpg", i), portrait)
	}

	t.Run("raw", func(t *testing.T) {
		resp, body := c.get("/pics/p0.jpg")
		if resp.StatusCode != 200 || !bytes.Equal(body, portrait) || resp.Header.Get("ETag") == "" {
			t.Fatalf("raw get: %s, %d bytes", resp.Status, len(body))
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "public, max-age=") {
			t.Errorf("Cache-Control %q", cc)
		}
		if resp.Header.Get("X-Reqid") == "" {
			t.Error("no X-Reqid")
		}
	})

	t.Run("imageView2", func(t *testing.T) {
		resp, body := c.get("/pics/p0.jpg?imageView2/1/w/200/h/200")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("%s %s: %s", resp.Status, resp.Header.Get("Content-Type"), body)
		}
		cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
		if err != nil || format != "jpeg" || cfg.Width != 200 || cfg.Height != 200 {
			t.Fatalf("got %s %dx%d (%v)", format, cfg.Width, cfg.Height, err)
		}
		etag := resp.Header.Get("ETag")
		resp, _ = c.get("/pics/p0.jpg?imageView2/1/w/200/h/200", "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("If-None-Match: %s", resp.Status)
		}
		// An equivalent spelling shares the result.
		resp, _ = c.get("/pics/p0.jpg?imageView2/1/h/200/w/200", "If-None-Match", etag)
		if resp.StatusCode != http.StatusNotModified {
			t.Fatalf("equivalent spelling: %s", resp.Status)
		}
		resp, _ = c.get("/pics/p0.jpg?imageView2/1/w/200/h/200")
		if resp.Header.Get("X-Ufop-Cache") != "hit" {
			t.Errorf("second request not a cache hit: %q", resp.Header.Get("X-Ufop-Cache"))
		}
	})

	t.Run("imageInfo", func(t *testing.T) {
		resp, body := c.get("/pics/p0.jpg?imageInfo")
		var info struct {
			Format        string
			Width, Height int
		}
		if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %s (%v)", resp.Status, body, err)
		}
		if info.Format != "jpeg" || info.Width != 800 || info.Height != 533 {
			t.Fatalf("info %+v", info)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, f := range []string{"16384x16384.png", "image_invalid.jpg", "BlueSquare_truncated.jpg"} {
			c.mustAdmin(http.MethodPut, "/v1/objects/pics/"+f, testImage(t, f))
		}
		// The decompression bomb is refused from its header: the peak RSS
		// of this process (gateway and agents) barely moves.
		resetPeakRSS(t)
		before := peakRSS(t)
		for range 3 {
			if resp, _ := c.get("/pics/16384x16384.png?imageView2/2/w/100"); resp.StatusCode != 413 {
				t.Fatalf("bomb: %s", resp.Status)
			}
		}
		if grew := peakRSS(t) - before; grew > 50<<20 {
			t.Errorf("peak RSS grew by %d MiB on the bomb", grew>>20)
		}
		for _, tc := range []struct {
			path   string
			status []int
			word   string
		}{
			{"/pics/16384x16384.png?imageView2/2/w/100", []int{413}, "pixel"},
			{"/pics/image_invalid.jpg?imageView2/2/w/100", []int{415, 422}, ""},
			{"/pics/BlueSquare_truncated.jpg?imageView2/2/w/100", []int{415, 422}, ""},
			{"/pics/p0.jpg?imageVeiw2/2/w/100", []int{400}, "imageVeiw2"},
			{"/pics/p0.jpg?imageView2/9/w/100", []int{400}, "imageView2"},
			{"/pics/nope.jpg?imageView2/2/w/100", []int{404}, "nope.jpg"},
			{"/pics/nope.jpg", []int{404}, ""},
			{"/nobucket/a.jpg", []int{404}, "nobucket"},
			{"/pics/a/../b.jpg", []int{400, 404}, ""},
		} {
			resp, body := c.get(tc.path)
			var e struct {
				Code  int
				Error string
				Reqid string
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Errorf("%s: not JSON: %s", tc.path, body)
				continue
			}
			ok := false
			for _, s := range tc.status {
				ok = ok || resp.StatusCode == s
			}
			if !ok || e.Code != resp.StatusCode || e.Reqid == "" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: %s %+v (Cache-Control %q), want %v", tc.path, resp.Status, e, resp.Header.Get("Cache-Control"), tc.status)
			}
			if !strings.Contains(e.Error, tc.word) {
				t.Errorf("%s: error %q does not name %q", tc.path, e.Error, tc.word)
			}
		}
	})

	t.Run("private", func(t *testing.T) {
		c.mustAdmin(http.MethodPut, "/v1/buckets/secret", []byte(`{"private":true}`))
		c.mustAdmin(http.MethodPut, "/v1/objects/secret/a.jpg", portrait)
		if resp, _ := c.get("/secret/a.jpg?imageView2/2/w/100"); resp.StatusCode != 401 {
			t.Fatalf("unsigned: %s", resp.Status)
		}
		signed, err := auth.SignURL(c.url+"/secret/a.jpg?imageView2/2/w/100", c.ak, c.sk, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		path := strings.TrimPrefix(signed, c.url)
		if resp, body := c.get(path); resp.StatusCode != 200 {
			t.Fatalf("signed: %s %s", resp.Status, body)
		}
		if resp, _ := c.get(strings.Replace(path, "w/100", "w/101", 1)); resp.StatusCode != 401 {
			t.Fatalf("tampered: %s", resp.Status)
		}
		expired, _ := auth.SignURL(c.url+"/secret/a.jpg", c.ak, c.sk, time.Now().Add(-time.Minute))
		if resp, _ := c.get(strings.TrimPrefix(expired, c.url)); resp.StatusCode != 401 {
			t.Fatalf("expired: %s", resp.Status)
		}
	})

	t.Run("admin auth", func(t *testing.T) {
		resp := c.admin(http.MethodGet, "/v1/buckets", nil, c.ak, "wrong-secret")
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("wrong secret: %s", resp.Status)
		}
		// A user sees only its own buckets and cannot touch others'.
		var nu gateway.NewUser
		json.Unmarshal(c.mustAdmin(http.MethodPost, "/v1/users", []byte(`{"name":"bob"}`)), &nu)
		resp = c.admin(http.MethodPut, "/v1/objects/pics/x.jpg", portrait, nu.AK, nu.SK)
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("bob writing admin's bucket: %s", resp.Status)
		}
		resp = c.admin(http.MethodPost, "/v1/users", []byte(`{"name":"eve"}`), nu.AK, nu.SK)
		resp.Body.Close()
		if resp.StatusCode != 403 {
			t.Fatalf("bob adding a user: %s", resp.Status)
		}
	})

	t.Run("spread and failover", func(t *testing.T) {
		agents := c.gw.Registry().Agents()
		for i := range 16 {
			if resp, body := c.get(fmt.Sprintf("/pics/p%d.jpg?imageView2/2/w/120", i)); resp.StatusCode != 200 {
				t.Fatalf("p%d: %s %s", i, resp.Status, body)
			}
		}
		for _, a := range agents {
			if n := agentRequests(t, a); n < 2 {
				t.Errorf("agent %s answered %d requests: keys do not spread", a.ID, n)
			}
		}
		// Stop one agent: every later request still succeeds.
		c.agents[agents[0].ID]()
		for round := range 3 {
			for i := range 16 {
				path := fmt.Sprintf("/pics/p%d.jpg?imageView2/2/w/%d", i, 130+round)
				if resp, body := c.get(path); resp.StatusCode != 200 {
					t.Fatalf("after stop, %s: %s %s", path, resp.Status, body)
				}
			}
		}
	})
}

// resetPeakRSS resets the kernel's peak-RSS mark of this process.
func resetPeakRSS(t *testing.T) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset peak RSS: %v", err)
	}
}

// peakRSS returns VmHWM in bytes.
func peakRSS(t *testing.T) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Skip("no VmHWM in /proc/self/status")
	return 0
}
