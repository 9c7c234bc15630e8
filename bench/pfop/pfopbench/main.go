// Command pfopbench measures persistent processing (pfop) beside the
// synchronous path on one in-process platform (`ufopd up`'s assembly):
// N jobs of three imageView2 thumbnails with saveas through POST /v1/pfop,
// and the same 3N thumbnails as synchronous GETs, with the same
// concurrency (pfop workers = GET clients). Every thumbnail is distinct
// and each run reads its own copy of the source, so no result cache
// answers for either. Completion time of a job is from its submission to
// its notification (a loopback listener, allowed with --fetch-allow's
// policy).
//
//	go run ./bench/pfop/pfopbench -image ../shared/testdata/images/portrait.jpg
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ufop/ufop/auth"
	"github.com/ufop/ufop/platform"
	"github.com/ufop/ufop/protocol"
)

type config struct {
	image       string
	jobs        int
	concurrency int
	order       string
}

func parseConfig(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("pfopbench", flag.ContinueOnError)
	fs.StringVar(&c.image, "image", "../shared/testdata/images/portrait.jpg", "source image")
	fs.IntVar(&c.jobs, "jobs", 1000, "pfop jobs (3 fops each); the sync run makes 3× as many GETs")
	fs.IntVar(&c.concurrency, "c", 8, "pfop workers, and concurrent GET clients")
	fs.StringVar(&c.order, "order", "sync,pfop", "runs, in order")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if c.jobs < 1 || c.jobs > 100000 || c.concurrency < 1 {
		return c, errors.New("pfopbench: -jobs 1..100000 and -c at least 1")
	}
	return c, nil
}

// fops are the three thumbnails of job j: distinct for every j (width and
// quality vary), alike in cost.
func fops(j int) [3]string {
	w, q := j%10, 1+(j/10)%100
	return [3]string{
		fmt.Sprintf("imageView2/1/w/%d/h/150/q/%d", 150+w, q),
		fmt.Sprintf("imageView2/2/w/%d/h/300/q/%d", 300+w, q),
		fmt.Sprintf("imageView2/0/w/%d/q/%d", 100+w+10*(j/1000), q),
	}
}

type bench struct {
	base   string
	ak, sk string
	client *http.Client
}

func (b *bench) signed(method, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequest(method, b.base+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	auth.SignRequest(req, b.ak, b.sk, auth.BodyHash(body), time.Now())
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, out)
	}
	return out, err
}

// stats are the sorted durations of a run.
type stats []time.Duration

func (s stats) pct(p float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(p*float64(len(s))))]
}

type result struct {
	name    string
	elapsed time.Duration
	jobs    int
	lat     stats
}

func (r result) rate() float64 { return float64(r.jobs) / r.elapsed.Seconds() }

// runSync GETs the 3 thumbnails of every job from c clients; a job's
// latency is one GET's.
func (b *bench) runSync(cfg config) (result, error) {
	var next atomic.Int64
	var mu sync.Mutex
	var lat stats
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= 3*cfg.jobs {
					return
				}
				t := time.Now()
				resp, err := b.client.Get(b.base + "/bench/sync.jpg?" + fops(i / 3)[i%3])
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != 200 {
						err = fmt.Errorf("GET: %s", resp.Status)
					}
				}
				mu.Lock()
				lat = append(lat, time.Since(t))
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return result{name: "sync (3 GETs = 1 job)", elapsed: time.Since(start), jobs: cfg.jobs, lat: lat}, firstErr
}

// runPfop submits every job (c submitters) and waits for their
// notifications.
func (b *bench) runPfop(cfg config, notify string, done <-chan string) (result, error) {
	submitted := make(map[string]time.Time, cfg.jobs)
	var mu sync.Mutex
	var next atomic.Int64
	var firstErr error
	var wg sync.WaitGroup
	enc := func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }
	start := time.Now()
	for range cfg.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1)) - 1
				if j >= cfg.jobs {
					return
				}
				f := fops(j)
				var ps []string
				for k, op := range f {
					ps = append(ps, op+"|saveas/"+enc(fmt.Sprintf("bench:out/%d/%d.jpg", j, k)))
				}
				body, _ := json.Marshal(map[string]string{"bucket": "bench", "key": "pfop.jpg", "fops": strings.Join(ps, ";"), "notifyURL": notify})
				t := time.Now()
				out, err := b.signed(http.MethodPost, "/v1/pfop", body)
				var r struct {
					PersistentID string `json:"persistentId"`
				}
				if err == nil {
					err = json.Unmarshal(out, &r)
				}
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					submitted[r.PersistentID] = t
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	var lat stats
	timeout := time.After(30 * time.Minute)
	for len(lat) < cfg.jobs {
		select {
		case msg := <-done:
			var s struct {
				ID   string `json:"id"`
				Code int    `json:"code"`
			}
			if err := json.Unmarshal([]byte(msg), &s); err != nil {
				return result{}, err
			}
			if s.Code != 0 {
				return result{}, fmt.Errorf("job %s ended with code %d: %s", s.ID, s.Code, msg)
			}
			mu.Lock()
			t, ok := submitted[s.ID]
			mu.Unlock()
			if ok {
				lat = append(lat, time.Since(t))
			}
		case <-timeout:
			return result{}, fmt.Errorf("only %d of %d jobs done in 30 minutes", len(lat), cfg.jobs)
		}
	}
	elapsed := time.Since(start)
	slices.Sort(lat)
	return result{name: "pfop (3 fops + saveas)", elapsed: elapsed, jobs: cfg.jobs, lat: lat}, nil
}

func main() {
	cfg, err := parseConfig(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "pfopbench:", err)
		os.Exit(1)
	}
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func run(cfg config) error {
	img, err := os.ReadFile(cfg.image)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "pfopbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// The notify listener: every job's end arrives here.
	done := make(chan string, cfg.jobs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		done <- string(b)
	})}
	go srv.Serve(ln)
	defer srv.Close()

	pc := platform.DefaultConfig()
	pc.DataDir = dir
	pc.Gateway.Addr = "127.0.0.1:0"
	pc.EtcdClientAddr, pc.EtcdPeerAddr, pc.NATSPort = freeAddr(), freeAddr(), -1
	pc.Agent.Listen = "127.0.0.1:0"
	pc.Gateway.Pfop.Workers = cfg.concurrency
	pc.Gateway.FetchAllow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	// Nothing but the bench's own clients: the default limits are for
	// tenants, not for load tests.
	for t, l := range pc.Gateway.Limits.Tiers {
		l.RPS, l.Burst, l.Concurrency = 0, 0, 0
		pc.Gateway.Limits.Tiers[t] = l
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := platform.New(pc, logger)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	defer func() { cancel(); <-errc }()
	select {
	case <-p.Ready():
	case err := <-errc:
		return fmt.Errorf("platform: %w", err)
	}
	uc, err := protocol.LoadClientConfig(p.AdminConfig())
	if err != nil {
		return err
	}
	b := &bench{base: "http://" + p.Gateway().Addr(), ak: uc.AK, sk: uc.SK,
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4 * cfg.concurrency}, Timeout: time.Minute}}
	if _, err := b.signed(http.MethodPut, "/v1/buckets/bench", nil); err != nil {
		return err
	}
	// Two copies that decode alike but differ in bytes (a byte after the
	// JPEG's end), so neither run finds the other's results cached.
	if _, err := b.signed(http.MethodPut, "/v1/objects/bench/sync.jpg", img); err != nil {
		return err
	}
	if _, err := b.signed(http.MethodPut, "/v1/objects/bench/pfop.jpg", append(slices.Clone(img), 0)); err != nil {
		return err
	}
	// Warm-up, both paths: first decodes, connections.
	for i := range 3 {
		resp, err := b.client.Get(b.base + "/bench/sync.jpg?imageView2/2/w/" + fmt.Sprint(50+i))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	var results []result
	for _, name := range strings.Split(cfg.order, ",") {
		var r result
		switch name {
		case "sync":
			r, err = b.runSync(cfg)
		case "pfop":
			r, err = b.runPfop(cfg, "http://"+ln.Addr().String()+"/done", done)
		default:
			err = fmt.Errorf("unknown run %q", name)
		}
		if err != nil {
			return err
		}
		results = append(results, r)
	}
	fmt.Printf("%d jobs of 3 imageView2 thumbnails of %s, concurrency %d\n\n", cfg.jobs, cfg.image, cfg.concurrency)
	fmt.Printf("| run | jobs/s | × sync | p50 | p99 | elapsed |\n|---|---:|---:|---:|---:|---:|\n")
	var syncRate float64
	for _, r := range results {
		if strings.HasPrefix(r.name, "sync") {
			syncRate = r.rate()
		}
	}
	for _, r := range results {
		ratio := "-"
		if syncRate > 0 {
			ratio = fmt.Sprintf("%.2f", r.rate()/syncRate)
		}
		fmt.Printf("| %s | %.1f | %s | %v | %v | %v |\n", r.name, r.rate(), ratio,
			r.lat.pct(0.5).Round(time.Millisecond), r.lat.pct(0.99).Round(time.Millisecond), r.elapsed.Round(time.Millisecond))
	}
	return nil
}
