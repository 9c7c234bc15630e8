package platform_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/ufopctl"
)

// TestQueueInstanceKilled is issue 5's acceptance 2: instances of a slow
// UFOP are killed while they hold jobs, and still every one of 2,000
// requests gets exactly one 200: no job lost, none answered twice.
// slowPlatform starts a platform with the slow example deployed as name
// with n instances, and pics/small.jpg to run it on. The admin's limits are
// lifted: these tests are about the UFOP path, not the limiter.
func slowPlatform(t *testing.T, name string, n int) (*platform.Platform, *api) {
	t.Helper()
	p, _ := startPlatform(t, t.TempDir())
	a := newAPI(t, p)
	setGenerousLimits(t, a, "admin")
	a.do(http.MethodPut, "/v1/buckets/pics", nil, nil)
	if _, err := a.cl.PutObject(context.Background(), "pics", "small.jpg", mustOpen(t, filepath.Join(images, "grayscale.jpg")), "", nil); err != nil {
		t.Fatal(err)
	}
	deploy(t, a, name, "slow", n)
	return p, a
}

func TestQueueInstanceKilled(t *testing.T) {
	needImages(t)
	testenv.RequireDocker(t)
	if testing.Short() {
		t.Skip("2,000 requests through a slow UFOP: not in -short")
	}
	docker := dockerClient(t)
	name := uniqueName("test-slowq")
	const (
		requests = 2000
		clients  = 16
	)
	// Runs after the platform has stopped (cleanups run last-in first-out);
	// the killed containers are gone from `docker ps` but not removed.
	removeContainersLater(t, docker, name)
	p, a := slowPlatform(t, name, 3)

	// Clients claim request numbers until all are sent; every answer is
	// recorded by its X-Reqid.
	var sent atomic.Int64
	var mu sync.Mutex
	reqids := map[string]int{}
	var failures []string
	hc := &http.Client{Timeout: 2 * time.Minute}
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for sent.Add(1) <= requests {
				resp, err := hc.Get(a.base + "/pics/small.jpg?" + name + "/50")
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode != http.StatusOK {
					failures = append(failures, fmt.Sprintf("%s %.200s", resp.Status, body))
				} else {
					reqids[resp.Header.Get("X-Reqid")]++
				}
				mu.Unlock()
			}
		}()
	}
	// Kill an instance twice while the clients run, each time once the
	// previous one has been replaced; every instance holds a job then
	// (16 clients, 3 instances of concurrency 1).
	kills := 0
	for _, at := range []int64{requests / 5, requests / 2} {
		testenv.Eventually(t, 5*time.Minute, func() bool { return sent.Load() >= at }, "%d requests sent", at)
		testenv.Eventually(t, 60*time.Second, func() bool { return a.healthy(name, 0) == 3 }, "3 healthy instances before a kill")
		cs := containersOf(t, docker, name)
		if len(cs) == 0 {
			t.Fatal("no instance container to kill")
		}
		victim := cs[kills%len(cs)].ID
		if err := docker.ContainerKill(context.Background(), victim, "KILL"); err != nil {
			t.Fatal(err)
		}
		kills++
		t.Logf("killed instance %s after %d requests sent", victim[:12], at)
	}
	wg.Wait()

	if len(failures) > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", len(failures), requests, failures[0])
	}
	answered := 0
	for id, n := range reqids {
		answered += n
		if n > 1 || id == "" {
			t.Errorf("X-Reqid %q answered %d times", id, n)
		}
	}
	if answered != requests {
		t.Errorf("%d answers for %d requests", answered, requests)
	}
	// Each job ends in exactly one ok reply: a job run again after its
	// instance died must not answer a second time.
	ok, retried := 0.0, 0.0
	for _, ag := range p.Gateway().Registry().Agents() {
		ok += scrape(t, ag.Addr+"/metrics", "ufop_agent_jobs_total", `outcome="ok"`, `ufop="`+name+`"`)
		retried += scrape(t, ag.Addr+"/metrics", "ufop_agent_jobs_total", `outcome="retried"`, `ufop="`+name+`"`)
	}
	t.Logf("%d requests, %d kills: agents report %v jobs ok, %v handed back for another try", requests, kills, ok, retried)
	if ok != requests {
		t.Errorf("agents answered %v jobs ok, want exactly %d", ok, requests)
	}
}

// TestQueueTiers is issue 5's acceptance 3: with the built-in queue of the
// only agent filled by a free user, a paid user's requests are still
// admitted, while the free user's get 503 with Retry-After.
func TestQueueTiers(t *testing.T) {
	needImages(t)
	cfg := platform.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = testenv.FreeAddr(t), testenv.FreeAddr(t), -1
	cfg.Agent.Workers, cfg.Agent.MaxQueue, cfg.Agent.MaxQueueFree = 1, 6, 2
	// Queued behind big decodes on a shared machine, a paid request may
	// wait long; the test is about admission, not speed.
	cfg.Gateway.Deadline = 3 * time.Minute
	p, _ := runPlatform(t, cfg)
	a := newAPI(t, p)

	big := filepath.Join(images, "9643x10328.jpg")
	users := map[ufop.Tier]*ufopctl.Client{}
	for _, tier := range []ufop.Tier{ufop.TierFree, ufop.TierPaid} {
		var nu gateway.NewUser
		a.do(http.MethodPost, "/v1/users", map[string]any{"name": "user-" + string(tier), "tier": tier}, &nu)
		setGenerousLimits(t, a, nu.Name)
		cl := ufopctl.NewClient(ufopctl.Config{Endpoint: a.cfg.Endpoint, AdminEndpoint: a.cfg.AdminEndpoint, AK: nu.AK, SK: nu.SK}, nil)
		if err := cl.Do(context.Background(), http.MethodPut, "/v1/buckets/"+string(tier)+"-pics", nil, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cl.PutObject(context.Background(), string(tier)+"-pics", "big.jpg", mustOpen(t, big), "", nil); err != nil {
			t.Fatal(err)
		}
		users[tier] = cl
	}
	// Distinct blur parameters: nothing is answered from a cache.
	var seq atomic.Int64
	get := func(tier ufop.Tier) (*http.Response, string) {
		n := seq.Add(1)
		resp, err := http.Get(fmt.Sprintf("%s/%s-pics/big.jpg?imageMogr2/thumbnail/3000x/blur/3x%d.%d", a.base, tier, 1+n/1000, n%1000))
		if err != nil {
			t.Error(err)
			return nil, ""
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}

	// The flood: free clients keep the queue full, coming back soon after
	// each refusal.
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var freeOK, freeBusy, freeOther atomic.Int64
	var mu sync.Mutex
	var freeErr string
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, body := get(ufop.TierFree)
				switch {
				case resp == nil:
					return
				case resp.StatusCode == http.StatusOK:
					freeOK.Add(1)
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					freeBusy.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond):
					}
				default:
					freeOther.Add(1)
					mu.Lock()
					if freeErr == "" {
						freeErr = fmt.Sprintf("%s %s", resp.Status, body)
					}
					mu.Unlock()
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	testenv.Eventually(t, 2*time.Minute, func() bool { return freeBusy.Load() >= 3 }, "free requests refused with 503 and Retry-After")

	// Paid requests arrive while the queue is full for free users: all are
	// admitted and answered.
	const paid = 3
	var pwg sync.WaitGroup
	paidStatus := make([]string, paid)
	for i := range paid {
		pwg.Add(1)
		go func() {
			defer pwg.Done()
			if resp, body := get(ufop.TierPaid); resp != nil && resp.StatusCode != http.StatusOK {
				paidStatus[i] = fmt.Sprintf("%s %.200s", resp.Status, body)
			}
		}()
	}
	pwg.Wait()
	stop()
	wg.Wait()
	t.Logf("free: %d ok, %d refused (503), %d other; paid: %d sent", freeOK.Load(), freeBusy.Load(), freeOther.Load(), paid)
	for i, s := range paidStatus {
		if s != "" {
			t.Errorf("paid request %d: %s", i, s)
		}
	}
	if freeOther.Load() > 0 {
		t.Errorf("%d free requests failed otherwise than 503 + Retry-After; first: %s", freeOther.Load(), freeErr)
	}
	// The agent's own account agrees: free refusals, no paid ones.
	var addr string
	for _, ag := range p.Gateway().Registry().Agents() {
		addr = ag.Addr
	}
	rejected := func(tier ufop.Tier) float64 {
		return scrape(t, addr+"/metrics", "ufop_agent_admissions_total", `result="rejected"`, `tier="`+string(tier)+`"`)
	}
	if f, pd := rejected(ufop.TierFree), rejected(ufop.TierPaid); f == 0 || pd != 0 {
		t.Errorf("agent admissions: %v free rejected, %v paid rejected", f, pd)
	}
}

// setGenerousLimits lifts user's rate and concurrency limits well above
// what a test sends.
func setGenerousLimits(t *testing.T, a *api, user string) {
	t.Helper()
	rps, burst, conc := 10000.0, 10000, 1000
	a.do(http.MethodPut, "/v1/limits/"+user, gateway.LimitRequest{RPS: &rps, Burst: &burst, Concurrency: &conc}, nil)
}

// scrape sums the Prometheus series of metric at url whose labels contain
// every one of labels.
func scrape(t *testing.T, url, metric string, labels ...string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, metric+"{") && !strings.HasPrefix(line, metric+" ") {
			continue
		}
		matched := true
		for _, l := range labels {
			matched = matched && strings.Contains(line, l)
		}
		if !matched {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
