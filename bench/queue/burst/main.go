// Command burst measures the scaler on the one-process platform (what
// `ufopd up` runs): the slow example UFOP (200 ms a request, concurrency 1)
// with the policy min 1, max 5, threshold 2 gets a burst of 40 closed-loop
// clients for 20 s. It reports the time from the burst's start to the
// first new instance serving and to all of them, the latency during the
// burst, and the time back to the minimum after it; it samples the UFOP's
// state and the gateway's /metrics every 250 ms into samples.csv and plots
// queue depth, healthy instances and desired instances in burst.png.
//
//	go run ./bench/queue/burst -images ../shared/testdata/images -out bench/out/queue
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/bench/ufop/rig"
	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/examples"
	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/ufopctl"
)

type options struct {
	images, out        string
	clients            int
	burst, cooldown    time.Duration
	delayMS            int
	min, max           int
	threshold          float64
	sampleEvery, after time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.images, "images", "../shared/testdata/images", "test images directory")
	flag.StringVar(&o.out, "out", "bench/out/queue", "directory for samples.csv and burst.png")
	flag.IntVar(&o.clients, "clients", 40, "concurrent clients during the burst")
	flag.DurationVar(&o.burst, "d", 20*time.Second, "burst duration")
	flag.IntVar(&o.delayMS, "delay", 200, "ms the slow UFOP waits per request")
	flag.IntVar(&o.min, "min", 1, "policy: min instances")
	flag.IntVar(&o.max, "max", 5, "policy: max instances")
	flag.Float64Var(&o.threshold, "threshold", 2, "policy: pending jobs per instance")
	flag.DurationVar(&o.cooldown, "cooldown", 15*time.Second, "policy: cool-down before scaling down")
	flag.DurationVar(&o.sampleEvery, "sample", 250*time.Millisecond, "sampling period")
	flag.DurationVar(&o.after, "after", 90*time.Second, "how long to wait after the burst for the return to min")
	verbose := flag.Bool("v", false, "log the platform")
	flag.Parse()
	lvl := slog.LevelError
	if *verbose {
		lvl = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if err := run(o, logger); err != nil {
		fmt.Fprintln(os.Stderr, "burst:", err)
		os.Exit(1)
	}
}

// sample is the UFOP's state at one moment.
type sample struct {
	t                          float64 // seconds since the burst began (negative before)
	queue, waiting, inflight   int     // from /v1/ufops/<name>/state
	healthy, desired           int
	scalerDepth, scalerDesired float64 // from the gateway's /metrics (scaler series)
}

func run(o options, logger *slog.Logger) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ufop-burst-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg := platform.DefaultConfig()
	cfg.DataDir = dir
	cfg.Gateway.Addr = "127.0.0.1:0"
	cfg.EtcdClientAddr, cfg.EtcdPeerAddr, cfg.NATSPort = freeAddr(), freeAddr(), -1
	// A separate admin listener serves /metrics without the cluster token.
	cfg.Gateway.AdminAddr = freeAddr()
	p, err := platform.New(cfg, logger)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	// The platform stops first: its agent would replace instances removed
	// under it.
	var cleanup []func()
	defer func() {
		p.Close()
		<-errc
		for _, f := range cleanup {
			f()
		}
	}()
	select {
	case <-p.Ready():
	case err := <-errc:
		return fmt.Errorf("platform: %w", err)
	case <-time.After(2 * time.Minute):
		return errors.New("platform not ready in 2 minutes")
	}
	docker, err := container.Docker(ctx)
	if err != nil {
		return err
	}
	cleanup = append(cleanup, func() { docker.Close() })
	acfg, err := ufopctl.LoadConfig(p.AdminConfig())
	if err != nil {
		return err
	}
	cl := ufopctl.NewClient(acfg, nil)
	base := "http://" + p.Gateway().Addr()
	name := fmt.Sprintf("burst-%d", time.Now().Unix()%1e6)
	cleanup = append([]func(){func() { rig.RemoveContainers(context.Background(), docker, name) }}, cleanup...)

	// Setup: generous rate limits (the bench is about the queue), a tiny
	// source (the slow UFOP echoes it), the UFOP at its minimum.
	rps, burst, conc := 1e4, 10000, 1000
	if err := cl.Do(ctx, http.MethodPut, "/v1/limits/"+userOf(ctx, cl), mustJSON(map[string]any{"rps": rps, "burst": burst, "concurrency": conc}), nil); err != nil {
		return err
	}
	if err := cl.Do(ctx, http.MethodPut, "/v1/buckets/pics", nil, nil); err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(o.images, "grayscale.jpg"))
	if err != nil {
		return err
	}
	if _, err := cl.PutObject(ctx, "pics", "small.jpg", bytes.NewReader(src), "", nil); err != nil {
		return err
	}
	pkg, err := examples.Tarball(ctx, "slow", dir)
	if err != nil {
		return err
	}
	if err := rig.Register(ctx, cl, name, "burst bench"); err != nil {
		return err
	}
	v, err := rig.Build(ctx, acfg, name, pkg)
	if err != nil {
		return err
	}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Minute)
	defer rcancel()
	if _, err := rig.Resize(rctx, cl, name, v, o.min); err != nil {
		return err
	}
	policy := ufop.ScalePolicy{Min: o.min, Max: o.max, Threshold: o.threshold, Cooldown: o.cooldown}
	if err := cl.Do(ctx, http.MethodPut, "/v1/ufops/"+name+"/scale", mustJSON(policy), nil); err != nil {
		return err
	}
	fmt.Printf("load before: %s\n", loadavg())

	// Sampling runs from a little before the burst to the return to min.
	var mu sync.Mutex
	var samples []sample
	began := time.Now().Add(2 * time.Second)
	sctx, stopSampling := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Add(1)
	go func() {
		defer swg.Done()
		tick := time.NewTicker(o.sampleEvery)
		defer tick.Stop()
		for {
			s, err := sampleOnce(sctx, cl, "http://"+p.Gateway().AdminAddr(), name)
			if err == nil {
				s.t = time.Since(began).Seconds()
				mu.Lock()
				samples = append(samples, s)
				mu.Unlock()
			}
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	time.Sleep(time.Until(began))

	// The burst: closed-loop clients for o.burst.
	type answer struct {
		at  float64
		lat time.Duration
		ok  bool
	}
	var answers []answer
	var firstErr string
	u := fmt.Sprintf("%s/pics/small.jpg?%s/%d", base, name, o.delayMS)
	bctx, bcancel := context.WithTimeout(ctx, o.burst)
	var bwg sync.WaitGroup
	hc := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: o.clients}}
	for range o.clients {
		bwg.Add(1)
		go func() {
			defer bwg.Done()
			for bctx.Err() == nil {
				t0 := time.Now()
				req, _ := http.NewRequest(http.MethodGet, u, nil)
				err := rig.Expect200(hc, req)
				mu.Lock()
				answers = append(answers, answer{at: t0.Sub(began).Seconds(), lat: time.Since(t0), ok: err == nil})
				if err != nil && firstErr == "" {
					firstErr = err.Error()
				}
				mu.Unlock()
			}
		}()
	}
	bwg.Wait()
	bcancel()
	burstEnd := time.Since(began).Seconds()
	loadDuring := loadavg()

	// After the burst: wait for the return to the minimum.
	backAt := -1.0
	deadline := time.Now().Add(o.after)
	for time.Now().Before(deadline) {
		mu.Lock()
		var last sample
		if len(samples) > 0 {
			last = samples[len(samples)-1]
		}
		mu.Unlock()
		if last.t > burstEnd && last.healthy == o.min && last.desired == o.min && len(rig.Containers(ctx, docker, name)) == o.min {
			backAt = last.t
			break
		}
		time.Sleep(o.sampleEvery)
	}
	time.Sleep(2 * time.Second)
	stopSampling()
	swg.Wait()

	// Results.
	firstNew, allUp, maxSeen := scaleTimes(samples, o.min, o.max)
	var lat []time.Duration
	failed := 0
	for _, a := range answers {
		if a.ok {
			lat = append(lat, a.lat)
		} else {
			failed++
		}
	}
	slices.Sort(lat)
	q := func(f float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(f*float64(len(lat))))].Round(time.Millisecond)
	}
	secs := func(v float64) string {
		if v < 0 {
			return "not reached"
		}
		return fmt.Sprintf("%.2f s", v)
	}
	fmt.Printf("policy min %d max %d threshold %g cooldown %v; %d clients × %v of %s/%d (concurrency 1); load during: %s\n",
		o.min, o.max, o.threshold, o.cooldown, o.clients, o.burst, name, o.delayMS, loadDuring)
	fmt.Printf("| burst start → first new instance serving | %s |\n", secs(firstNew))
	fmt.Printf("| burst start → all %d serving | %s (most seen: %d) |\n", o.max, secs(allUp), maxSeen)
	fmt.Printf("| requests during the burst | %d ok, %d failed (%.1f req/s) |\n", len(lat), failed, float64(len(lat))/o.burst.Seconds())
	fmt.Printf("| latency during the burst | p50 %v, p99 %v, max %v |\n", q(0.5), q(0.99), q(1))
	if backAt >= 0 {
		fmt.Printf("| burst end → back to %d | %.2f s (cool-down %v) |\n", o.min, backAt-burstEnd, o.cooldown)
	} else {
		fmt.Printf("| burst end → back to %d | not within %v |\n", o.min, o.after)
	}
	if firstErr != "" {
		fmt.Printf("first failure: %s\n", firstErr)
	}
	return write(o.out, fmt.Sprintf("slow UFOP (%d ms), %d clients", o.delayMS, o.clients), samples, burstEnd)
}

// write saves the samples as CSV and plots them.
func write(out, title string, samples []sample, burstEnd float64) error {
	if len(samples) == 0 {
		return errors.New("no samples of the UFOP's state were taken")
	}
	var csv strings.Builder
	csv.WriteString("t_s,queue,waiting,inflight,healthy,desired,scaler_depth,scaler_desired\n")
	xs := make([]float64, len(samples))
	depth, healthy, desired := make([]float64, len(samples)), make([]float64, len(samples)), make([]float64, len(samples))
	for i, s := range samples {
		fmt.Fprintf(&csv, "%.3f,%d,%d,%d,%d,%d,%g,%g\n", s.t, s.queue, s.waiting, s.inflight, s.healthy, s.desired, s.scalerDepth, s.scalerDesired)
		xs[i] = s.t - samples[0].t
		depth[i], healthy[i], desired[i] = float64(s.queue), float64(s.healthy), float64(s.desired)
	}
	if err := os.WriteFile(filepath.Join(out, "samples.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(out, "burst.png"))
	if err != nil {
		return err
	}
	defer f.Close()
	off := -samples[0].t
	err = plot(f, xs, off, off+burstEnd, []panel{
		{title + ": queue depth (waiting + in flight)", []series{{"queue depth", color.RGBA{200, 60, 40, 255}, depth}}},
		{title + ": instances", []series{
			{"desired", color.RGBA{40, 90, 200, 255}, desired},
			{"healthy", color.RGBA{30, 150, 60, 255}, healthy},
		}},
	})
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(out, "samples.csv"), filepath.Join(out, "burst.png"))
	return f.Close()
}

// sampleOnce reads the UFOP's state and, from the admin listener's /metrics,
// the scaler's view.
func sampleOnce(ctx context.Context, cl *ufopctl.Client, admin, name string) (sample, error) {
	var st gateway.State
	if err := cl.Do(ctx, http.MethodGet, "/v1/ufops/"+name+"/state", nil, &st); err != nil {
		return sample{}, err
	}
	s := sample{queue: st.Queue, waiting: st.Waiting, inflight: st.Inflight, healthy: rig.Healthy(st), desired: st.UFOP.Instances}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, admin+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return s, nil // the state alone still tells the story
	}
	defer resp.Body.Close()
	scanScaler(resp.Body, name, &s)
	return s, nil
}

// scanScaler reads the scaler's queue depth and desired instances of UFOP
// name from a Prometheus text exposition into s; series it does not find
// leave s as it was.
func scanScaler(r io.Reader, name string, s *sample) {
	label := `{ufop="` + name + `"} `
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		for metric, dst := range map[string]*float64{"ufop_scaler_queue_depth": &s.scalerDepth, "ufop_scaler_desired": &s.scalerDesired} {
			if v, ok := strings.CutPrefix(line, metric+label); ok {
				*dst, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
}

// scaleTimes reads the scale-up from the samples taken since the burst
// began (t >= 0): when more than lo instances first served, when hi did
// (-1 for never), and the most seen serving at once.
func scaleTimes(samples []sample, lo, hi int) (firstNew, allUp float64, maxSeen int) {
	firstNew, allUp = -1, -1
	for _, s := range samples {
		if s.t < 0 {
			continue
		}
		maxSeen = max(maxSeen, s.healthy)
		if firstNew < 0 && s.healthy > lo {
			firstNew = s.t
		}
		if allUp < 0 && s.healthy >= hi {
			allUp = s.t
		}
	}
	return firstNew, allUp, maxSeen
}

// userOf is the name of the client's own account.
func userOf(ctx context.Context, cl *ufopctl.Client) string {
	if u, err := cl.Whoami(ctx); err == nil {
		return u.Name
	}
	return "admin"
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only plain values are marshaled here
	}
	return b
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer l.Close()
	return l.Addr().String()
}

func loadavg() string {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	b, _ := io.ReadAll(f)
	fs := strings.Fields(string(b))
	if len(fs) < 3 {
		return "unknown"
	}
	return strings.Join(fs[:3], " ") + " (2 cores, shared)"
}
