package platform_test

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
)

// TestAutoscale is issue 5's acceptance test 1: the slow example UFOP
// (200 ms a request, one at a time) with the policy min 1, max 5,
// threshold 2 takes a burst of 40 clients for 20 s: the scaler brings it
// to 5 instances and every request succeeds; once the load stops and the
// cool-down passes, it is back to 1. The deadlines are generous (the
// machine is shared); the times are logged for docs/benchmarks.md, not
// asserted.
func TestAutoscale(t *testing.T) {
	testenv.RequireDocker(t)
	if testing.Short() {
		t.Skip("a two-minute Docker test")
	}
	docker := dockerClient(t)
	name := uniqueName("test-scale")
	t.Cleanup(func() {
		for _, c := range containersOf(t, docker, name) {
			docker.ContainerRemove(context.Background(), c.ID, dcontainer.RemoveOptions{Force: true})
		}
	})
	p, _ := startPlatform(t, t.TempDir())
	a := newAPI(t, p)
	a.do(http.MethodPut, "/v1/buckets/load", nil, nil)
	if _, err := a.cl.PutObject(context.Background(), "load", "dot.png", bytes.NewReader(tinyPNG(t)), "image/png", nil); err != nil {
		t.Fatal(err)
	}
	deploy(t, a, name, "slow", 1)
	out := ufopctlRun(t, p.AdminConfig(), "scale", name, "--min", "1", "--max", "5", "--threshold", "2", "--cooldown", "10s")
	t.Logf("ufopctl scale: %s", strings.TrimSpace(out))

	// A watcher samples the desired and healthy counts through the admin
	// API, as a user would, and notes when they change.
	var (
		mu                sync.Mutex
		desired, healthy  int
		maxDesired        int
		firstNew, allFive time.Duration
		loaded            = true // the burst runs
		shrankUnderLoad   string
	)
	// The burst: 40 clients back to back for 20 s, longer if the machine
	// is too busy to have started all five instances by then.
	began := time.Now()
	stop, report := loop(a, "/load/dot.png?"+name+"/200", 40, 0)
	wctx, stopWatch := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			st := a.state(name)
			h := 0
			for _, in := range st.Instances {
				if in.State == ufop.InstanceHealthy {
					h++
				}
			}
			at := time.Since(began)
			mu.Lock()
			if h != healthy || st.UFOP.Instances != desired {
				t.Logf("%6.1fs: desired %d, healthy %d", at.Seconds(), st.UFOP.Instances, h)
			}
			if loaded && st.UFOP.Instances < desired && shrankUnderLoad == "" {
				shrankUnderLoad = fmt.Sprintf("%d → %d at %.1fs", desired, st.UFOP.Instances, at.Seconds())
			}
			desired, healthy, maxDesired = st.UFOP.Instances, h, max(maxDesired, st.UFOP.Instances)
			if h > 1 && firstNew == 0 {
				firstNew = at
			}
			if h >= 5 && allFive == 0 {
				allFive = at
			}
			mu.Unlock()
			select {
			case <-wctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { stopWatch(); wg.Wait() }()
	counts := func() (d, h int) { mu.Lock(); defer mu.Unlock(); return desired, healthy }

	time.Sleep(20 * time.Second)
	reached := true
	deadline := time.Now().Add(100 * time.Second)
	for _, h := counts(); h < 5; _, h = counts() {
		if time.Now().After(deadline) {
			reached = false
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok, failed, first, _ := report(stop)
	stopped := time.Now()
	mu.Lock()
	loaded = false
	if shrankUnderLoad != "" {
		t.Errorf("the count went down during the burst: %s", shrankUnderLoad)
	}
	t.Logf("burst of 40 clients for %v: %d ok, %d failed; first new instance healthy after %v, all 5 after %v (desired reached %d)",
		stopped.Sub(began).Round(100*time.Millisecond), ok, failed, firstNew.Round(100*time.Millisecond), allFive.Round(100*time.Millisecond), maxDesired)
	mu.Unlock()
	if failed > 0 {
		t.Errorf("%d requests failed; first: %s", failed, first)
	}
	if !reached {
		d, h := counts()
		t.Fatalf("not 5 healthy instances within %v of the burst's start: desired %d, healthy %d", time.Since(began).Round(time.Second), d, h)
	}
	if ok < 100 {
		t.Errorf("only %d requests answered: the burst did not load the instances", ok)
	}

	// Quiet: back to the minimum after the cool-down (and the windows).
	testenv.Eventually(t, 150*time.Second, func() bool {
		d, h := counts()
		return d == 1 && h == 1
	}, "back to 1 instance after the burst")
	t.Logf("back to 1 healthy instance %v after the load stopped", time.Since(stopped).Round(100*time.Millisecond))

	// The decisions are on the gateway's /metrics.
	resp, body := scrapeGateway(t, p)
	for _, want := range []string{
		`ufop_scaler_desired{ufop="` + name + `"} 1`,
		`ufop_scaler_decisions_total{direction="up",reason="panic",ufop="` + name + `"}`,
		`ufop_scaler_decisions_total{direction="down",reason="cooldown",ufop="` + name + `"}`,
		`ufop_scaler_queue_depth{ufop="` + name + `"}`,
	} {
		if resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
			t.Errorf("/metrics (%s) lacks %s", resp.Status, want)
		}
	}
}

func tinyPNG(t *testing.T) []byte {
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	img.SetGray(1, 1, color.Gray{Y: 200})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
