// Command roundtrip measures what the platform costs a UFOP call, in one
// run: it builds the slow example (as an echo: /0 ms), times the build and
// the instances' start to healthy, then loads three targets in
// interleaved rounds with the same payload and concurrency —
//
//	container  POST /handler?cmd=<name>/0 straight to the instances' IPs
//	http       GET through a gateway that calls the agent over HTTP
//	queue      GET through a gateway that sends the job over NATS JetStream
//
// and prints p50/p99 latency and req/s for each, with ratios to the
// container (held to the instance's declared concurrency, -slots). With
// -coldstarts N it then scales the UFOP to zero N times and times the
// first request of each start from zero. Everything talks over loopback
// and the Docker bridge only.
//
//	go run ./bench/ufop/roundtrip -images ../shared/testdata/images
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/ufop/ufop/bench/ufop/rig"
	"github.com/ufop/ufop/examples"
	"github.com/ufop/ufop/protocol"
	"github.com/ufop/ufop/ufopctl"
)

// config is the command line.
type config struct {
	images, payload    string
	instances, workers int
	dur                time.Duration
	rounds             int
	targets            []string
	verbose            bool
	// slots bounds the calls in flight to each instance on the container
	// target: the declared concurrency, which the platform holds it to.
	slots int
	// cpuprofile, when set, is where the CPU profile of the first round
	// of target profile goes (every role runs in this process).
	cpuprofile, profile string
	// coldstarts, when above 0, measures that many starts from zero.
	coldstarts int
}

// knownTargets are the targets run can load, in the default order.
func knownTargets() []string { return []string{"container", "http", "queue"} }

func main() {
	c, err := parseConfig(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "roundtrip:", err)
		os.Exit(2)
	}
	lvl := slog.LevelError
	if c.verbose {
		lvl = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	if err := run(logger, c); err != nil {
		fmt.Fprintln(os.Stderr, "roundtrip:", err)
		os.Exit(1)
	}
}

// parseConfig reads the flags and checks them, so that a mistake shows
// before the minutes of setup rather than after.
func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("roundtrip", flag.ContinueOnError)
	fs.StringVar(&c.images, "images", "../shared/testdata/images", "test images directory")
	fs.StringVar(&c.payload, "payload", "portrait.jpg", "source image sent to the UFOP (echoed back)")
	fs.IntVar(&c.instances, "instances", 2, "instances of the UFOP (concurrency 1 each)")
	fs.IntVar(&c.workers, "c", 0, "concurrent clients per target (default: one per instance)")
	fs.DurationVar(&c.dur, "d", 5*time.Second, "duration of one round on one target")
	fs.IntVar(&c.rounds, "rounds", 3, "rounds; targets take turns within each")
	targets := fs.String("targets", strings.Join(knownTargets(), ","), "targets to load, in order")
	fs.BoolVar(&c.verbose, "v", false, "log the roles")
	fs.IntVar(&c.slots, "slots", 1, "calls in flight per instance on the container target (the declared concurrency; 0: no bound)")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write a CPU profile of the first round of -profile's target to `file`")
	fs.StringVar(&c.profile, "profile", "queue", "target whose first round -cpuprofile records")
	fs.IntVar(&c.coldstarts, "coldstarts", 0, "after the round trips, scale to zero and time `N` first requests from zero")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() != 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if c.workers == 0 {
		c.workers = c.instances
	}
	c.targets = strings.Split(*targets, ",")
	return c, c.validate()
}

func (c config) validate() error {
	switch {
	case c.instances < 1:
		return fmt.Errorf("-instances %d: want at least 1", c.instances)
	case c.workers < 1:
		return fmt.Errorf("-c %d: want at least 1", c.workers)
	case c.dur <= 0:
		return fmt.Errorf("-d %v: want a positive duration", c.dur)
	case c.rounds < 1:
		return fmt.Errorf("-rounds %d: want at least 1", c.rounds)
	case c.slots < 0:
		return fmt.Errorf("-slots %d: want 0 or more", c.slots)
	case c.coldstarts < 0:
		return fmt.Errorf("-coldstarts %d: want 0 or more", c.coldstarts)
	}
	seen := map[string]bool{}
	for _, t := range c.targets {
		if !slices.Contains(knownTargets(), t) {
			return fmt.Errorf("unknown target %q (known: %s)", t, strings.Join(knownTargets(), ", "))
		}
		if seen[t] {
			return fmt.Errorf("target %q twice", t)
		}
		seen[t] = true
	}
	return nil
}

func run(logger *slog.Logger, c config) error {
	images, payload, instances, workers, dur, rounds, targets := c.images, c.payload, c.instances, c.workers, c.dur, c.rounds, c.targets
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ufop-roundtrip-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	body, err := os.ReadFile(filepath.Join(images, payload))
	if err != nil {
		return err
	}
	r, err := rig.Start(ctx, dir, logger)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("rt-%d", time.Now().Unix()%1e6)
	defer func() {
		r.Close()
		rig.RemoveContainers(context.Background(), r.Docker, name)
	}()
	cl := r.Admin
	if err := cl.Do(ctx, http.MethodPut, "/v1/buckets/pics", nil, nil); err != nil {
		return err
	}
	if _, err := cl.PutObject(ctx, "pics", payload, bytes.NewReader(body), "", nil); err != nil {
		return err
	}
	fmt.Printf("load: %s\n", loadavg())

	// Build: the package (go build of the example), then the image through
	// the platform, twice: the second time Docker's layer cache hits.
	t0 := time.Now()
	pkg, err := examples.Tarball(ctx, "slow", dir)
	if err != nil {
		return err
	}
	fmt.Printf("package (go build + tar): %v\n", time.Since(t0).Round(time.Millisecond))
	if err := rig.Register(ctx, cl, name, "roundtrip bench"); err != nil {
		return err
	}
	for _, what := range []string{"first", "again, same package"} {
		t0 = time.Now()
		v, err := rig.Build(ctx, r.AdminCfg, name, pkg)
		if err != nil {
			return err
		}
		fmt.Printf("image build via the platform (%s): v%d in %v\n", what, v, time.Since(t0).Round(time.Millisecond))
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	took, err := rig.Resize(rctx, cl, name, 1, 1)
	if err != nil {
		return err
	}
	fmt.Printf("resize 0→1, to healthy: %v\n", took.Round(time.Millisecond))
	if took, err = rig.Resize(rctx, cl, name, 1, instances); err != nil {
		return err
	}
	fmt.Printf("resize 1→%d, to healthy: %v\n", instances, took.Round(time.Millisecond))
	urls, err := rig.InstanceURLs(ctx, r.Docker, name)
	if err != nil || len(urls) != instances {
		return fmt.Errorf("instance addresses %v: %v", urls, err)
	}

	cmd := name + "/0"
	// Each instance takes at most c.slots calls at once, as the agent
	// holds it to its declared concurrency: the instance's own throughput
	// is what the platform paths are compared with.
	slots := make([]chan struct{}, len(urls))
	for i := range slots {
		slots[i] = make(chan struct{}, max(c.slots, 1))
	}
	all := map[string]rig.Target{
		"container": {Name: "container", Do: func(ctx context.Context, hc *http.Client, w int) error {
			if c.slots > 0 {
				slots[w%len(urls)] <- struct{}{}
				defer func() { <-slots[w%len(urls)] }()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, urls[w%len(urls)]+"/handler?cmd="+url.QueryEscape(cmd), bytes.NewReader(body))
			req.Header.Set("Content-Type", "image/jpeg")
			req.Header.Set(protocol.HeaderBucket, "pics")
			req.Header.Set(protocol.HeaderKey, payload)
			req.Header.Set(protocol.HeaderReqid, "bench")
			return rig.Expect200(hc, req)
		}},
		"http":  gatewayTarget("http", "http://"+r.Direct.Addr(), payload, cmd),
		"queue": gatewayTarget("queue", "http://"+r.Queued.Addr(), payload, cmd),
	}
	// A warm-up request on each, so the first round pays no cold path.
	for _, n := range targets {
		t, ok := all[n]
		if !ok {
			return fmt.Errorf("unknown target %q", n)
		}
		if err := t.Do(ctx, http.DefaultClient, 0); err != nil {
			return fmt.Errorf("warm-up %s: %w", n, err)
		}
	}
	stats := map[string]*rig.Stats{}
	for round := range rounds {
		for _, n := range targets {
			if stats[n] == nil {
				stats[n] = &rig.Stats{Name: n}
			}
			stop := func() {}
			if c.cpuprofile != "" && n == c.profile && round == 0 {
				if stop, err = startProfile(c.cpuprofile); err != nil {
					return err
				}
			}
			stats[n].Add(rig.Run(ctx, all[n], workers, dur))
			stop()
		}
	}
	fmt.Printf("\n%d B payload echoed, %d instances × concurrency 1, %d clients, %d rounds × %v per target, load after: %s\n\n",
		len(body), instances, workers, rounds, dur, loadavg())
	writeTable(os.Stdout, targets, stats)
	if c.coldstarts > 0 {
		return coldStarts(ctx, r, name, "http://"+r.Queued.Addr(), payload, cmd, c.coldstarts)
	}
	return nil
}

func startProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// writeTable prints the stats of targets as a Markdown table, with ratios
// to the first target.
func writeTable(w io.Writer, targets []string, stats map[string]*rig.Stats) {
	fmt.Fprintln(w, "| target | requests | errors | p50 | p99 | req/s | p50 vs container | req/s vs container |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	base := stats[targets[0]]
	for _, n := range targets {
		s := stats[n]
		fmt.Fprintf(w, "| %s | %d | %d | %v | %v | %.0f | %s | %.2f× |\n", n, len(s.Lat), s.Errors,
			s.Quantile(0.5).Round(10*time.Microsecond), s.Quantile(0.99).Round(10*time.Microsecond), s.RPS(),
			signed((s.Quantile(0.5) - base.Quantile(0.5)).Round(10*time.Microsecond)), s.RPS()/base.RPS())
		if s.FirstErr != "" {
			fmt.Fprintf(w, "  first error of %s: %s\n", n, s.FirstErr)
		}
	}
}

// signed formats a difference with its sign, as %+v does not for a
// Duration (its String method wins).
func signed(d time.Duration) string {
	if d < 0 {
		return d.String()
	}
	return "+" + d.String()
}

func gatewayTarget(name, base, key, cmd string) rig.Target {
	u := base + "/pics/" + ufopctl.EscapeKey(key) + "?" + cmd
	return rig.Target{Name: name, Do: func(ctx context.Context, hc *http.Client, _ int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		return rig.Expect200(hc, req)
	}}
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

// coldStarts times the first request to a UFOP scaled to zero, n times:
// the policy allows zero (min 0), a resize takes the UFOP to 0 instances
// (a resize wins over the scaler, which then holds at zero with an empty
// queue), and once none is left one request goes through the queue
// gateway: the scaler wakes an instance and the request waits in the
// queue meanwhile.
func coldStarts(ctx context.Context, r *rig.Rig, name, base, key, cmd string, n int) error {
	cl := r.Admin
	policy := map[string]any{"min": 0, "max": 1, "threshold": 1, "cooldown": int64(time.Minute), "idle": int64(time.Hour)}
	if err := cl.Do(ctx, http.MethodPut, "/v1/ufops/"+name+"/scale", mustJSON(policy), nil); err != nil {
		return fmt.Errorf("scale policy: %w", err)
	}
	target := gatewayTarget("queue", base, key, cmd)
	var took []time.Duration
	for i := range n {
		if err := cl.Do(ctx, http.MethodPut, "/v1/ufops/"+name+"/instances", mustJSON(map[string]int{"instances": 0}), nil); err != nil {
			return err
		}
		if err := waitFor(ctx, 2*time.Minute, func() bool {
			st, err := rig.State(ctx, cl, name)
			return err == nil && len(st.Instances) == 0 && len(rig.Containers(ctx, r.Docker, name)) == 0
		}); err != nil {
			return fmt.Errorf("cold start %d: not at zero instances: %w", i, err)
		}
		// The agent's warm pool (docker create ahead) refills after a
		// stop: let it, as it would on an idle node.
		time.Sleep(2 * time.Second)
		t0 := time.Now()
		if err := target.Do(ctx, http.DefaultClient, 0); err != nil {
			return fmt.Errorf("cold start %d: %w", i, err)
		}
		took = append(took, time.Since(t0))
		fmt.Printf("cold start %d: first answer after %v\n", i+1, took[i].Round(time.Millisecond))
	}
	s := rig.Stats{Name: "coldstart", Lat: took}
	fmt.Printf("\n%d starts from zero, first request to answer: p50 %v, max %v, load %s\n", n,
		s.Quantile(0.5).Round(time.Millisecond), s.Quantile(1).Round(time.Millisecond), loadavg())
	return nil
}

func waitFor(ctx context.Context, d time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of plain values
	}
	return b
}
