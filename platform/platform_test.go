package platform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	_ "image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/ufopctl"
)

const images = "../../shared/testdata/images"

func needImages(t *testing.T) {
	if _, err := os.Stat(images); err != nil {
		t.Skipf("test images not found at %s: check out ../shared beside the repository", images)
	}
}

// scrapeGateway gets the gateway's /metrics, which on the public listener
// needs the cluster token.
func scrapeGateway(t *testing.T, p *platform.Platform) (*http.Response, []byte) {
	t.Helper()
	tok, err := catalog.ClusterToken(context.Background(), p.EtcdClient(), catalog.DefaultConfig().Prefix)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+p.Gateway().Addr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// startPlatform runs a platform on dir with free ports; stop stops it and
// returns Run's error (the test's cleanup stops it too).
func startPlatform(t *testing.T, dir string) (*platform.Platform, func() error) {
	t.Helper()
	cfg := platform.DefaultConfig()
	cfg.DataDir = dir
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = testenv.FreeAddr(t), testenv.FreeAddr(t), -1
	return runPlatform(t, cfg)
}

// runPlatform runs a platform with cfg until the test ends or stop is
// called.
func runPlatform(t *testing.T, cfg platform.Config) (*platform.Platform, func() error) {
	t.Helper()
	p, err := platform.New(cfg, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background()) }()
	select {
	case <-p.Ready():
	case err := <-errc:
		t.Fatalf("platform: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("platform not ready in 60s")
	}
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			p.Close()
			stopErr = <-errc
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("platform stop: %v", err)
		}
	})
	return p, stop
}

func ufopctlRun(t *testing.T, conf string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := ufopctl.Main(context.Background(), append([]string{"--config", conf}, args...), ufopctl.Env{
		Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" },
	})
	if code != 0 {
		t.Fatalf("ufopctl %v: exit %d: %s", args, code, errb.String())
	}
	return out.String()
}

// TestUp is the README's walk-through: start the platform, create a bucket
// and upload with ufopctl, fetch a thumbnail and the image info.
func TestUp(t *testing.T) {
	needImages(t)
	dir := t.TempDir()
	p, stop := startPlatform(t, dir)
	conf := p.AdminConfig()
	if conf != filepath.Join(dir, "ufopctl.json") {
		t.Fatalf("admin config at %q", conf)
	}
	base := "http://" + p.Gateway().Addr()
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	ufopctlRun(t, conf, "bucket", "create", "pics")
	ufopctlRun(t, conf, "put", "pics", "portrait.jpg", filepath.Join(images, "portrait.jpg"))

	resp, err := http.Get(base + "/pics/portrait.jpg?imageView2/1/w/200/h/200")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(body))
	if err != nil || format != "jpeg" || cfg.Width != 200 || cfg.Height != 200 {
		t.Fatalf("thumbnail: %s %s %dx%d %v", resp.Status, format, cfg.Width, cfg.Height, err)
	}
	resp, err = http.Get(base + "/pics/portrait.jpg?imageInfo")
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if info["format"] != "jpeg" || info["width"] != 800.0 || info["height"] != 533.0 {
		t.Fatalf("imageInfo: %v", info)
	}
	if resp, b := scrapeGateway(t, p); resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	} else if !bytes.Contains(b, []byte("ufop_gateway_requests_total")) || !bytes.Contains(b, []byte("ufop_gateway_stage_seconds")) {
		t.Errorf("/metrics lacks the request and stage series")
	}
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}

	// A second start on the same data keeps the data and the admin's keys.
	before, _ := os.ReadFile(conf)
	p, _ = startPlatform(t, dir)
	after, _ := os.ReadFile(p.AdminConfig())
	var a, b ufopctl.Config
	json.Unmarshal(before, &a)
	json.Unmarshal(after, &b)
	if a.AK != b.AK || a.SK != b.SK {
		t.Fatal("restart minted new admin keys")
	}
	out := ufopctlRun(t, p.AdminConfig(), "ls", "pics")
	if !strings.Contains(out, "portrait.jpg") {
		t.Fatalf("ls after restart: %q", out)
	}
}

// TestDrain stops the platform while a slow request is in flight: the
// request still gets its answer, and Run returns cleanly.
func TestDrain(t *testing.T) {
	needImages(t)
	p, stop := startPlatform(t, t.TempDir())
	conf := p.AdminConfig()
	ufopctlRun(t, conf, "bucket", "create", "big")
	ufopctlRun(t, conf, "put", "big", "large.jpg", filepath.Join(images, "9643x10328.jpg"))
	base := "http://" + p.Gateway().Addr()

	type answer struct {
		status int
		err    error
	}
	done := make(chan answer, 1)
	go func() {
		// Lanczos over the full 100 MP, not shrink-on-load: slow enough to
		// be in flight when the stop comes.
		resp, err := http.Get(base + "/big/large.jpg?imageMogr2/thumbnail/4000x/blur/3x2")
		if err != nil {
			done <- answer{err: err}
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		done <- answer{status: resp.StatusCode}
	}()
	// Wait until the agent is working on the job.
	agentURL := p.Gateway().Registry().Agents()[0].Addr
	testenv.Eventually(t, 20*time.Second, func() bool {
		resp, err := http.Get(agentURL + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return bytes.Contains(b, []byte("\nufop_agent_running 1"))
	}, "request in flight on the agent")
	if err := stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	a := <-done
	if a.err != nil || a.status != 200 {
		t.Fatalf("in-flight request during stop: %d %v", a.status, a.err)
	}
}
