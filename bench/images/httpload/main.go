// Command httpload loads a running ufopd with uncached built-in requests over
// HTTP, for bench/images/http.sh and bench/soak/run.sh.
//
//	httpload -mode upload -config ufopctl.json -bucket pics -key p -copies 500 portrait.jpg
//	httpload -mode get -gw http://127.0.0.1:PORT -bucket pics -key p -copies 500 \
//	         -fop imageView2/1/w/200/h/200 -n 500 -c 2 -pid UFOPD_PID
//
// Uncached means distinct sources: upload stores copies of the file whose
// bytes differ only after the JPEG's end-of-image marker (which decoders
// ignore), so each copy has its own ETag and result-cache key but the very
// same decode, resize and encode. get fetches copy i of request i (i < copies),
// fails on any non-200 answer or any X-Ufop-Cache: hit, and prints one JSON
// object: the wall-clock rate, the server's CPU time per request and its
// peak RSS (VmHWM, reset before the run with /proc/PID/clear_refs when
// allowed) during the run.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ufop/ufop/ufopctl"
)

type result struct {
	Fop        string  `json:"fop"`
	N          int     `json:"n"`
	C          int     `json:"c"`
	WallS      float64 `json:"wall_s"`
	ReqPerS    float64 `json:"req_per_s"`
	P50Ms      float64 `json:"p50_ms"`
	MaxMs      float64 `json:"max_ms"`
	CPUMsPerRq float64 `json:"server_cpu_ms_per_req,omitempty"`
	// ReqPerCPUS is requests per second of server CPU time: the per-core
	// rate whatever else shares the core.
	ReqPerCPUS float64 `json:"req_per_server_cpu_s,omitempty"`
	PeakRSSMB  float64 `json:"peak_rss_mb,omitempty"`
	PeakReset  bool    `json:"peak_reset"`
	OutBytes   int     `json:"out_bytes"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "httpload:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("httpload", flag.ContinueOnError)
	mode := fs.String("mode", "get", "upload or get")
	config := fs.String("config", "", "ufopctl config `file` (upload)")
	gw := fs.String("gw", "", "gateway base `URL` (get)")
	bucket := fs.String("bucket", "pics", "bucket")
	key := fs.String("key", "p", "key prefix: copies are <key>-<i>.jpg")
	copies := fs.Int("copies", 100, "number of distinct copies")
	first := fs.Int("first", 0, "index of the first copy used (get)")
	op := fs.String("fop", "imageView2/1/w/200/h/200", "fop of every request (get)")
	n := fs.Int("n", 100, "requests (get); at most copies-first")
	c := fs.Int("c", 1, "concurrent clients (get)")
	pid := fs.Int("pid", 0, "server process to read CPU time and VmHWM from (get)")
	out := fs.String("out", "", "write the first answer's body to this `file` (get)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	switch *mode {
	case "upload":
		if fs.NArg() != 1 || *config == "" {
			return errors.New("upload needs -config and one file")
		}
		return upload(ctx, *config, *bucket, *key, *copies, fs.Arg(0))
	case "get":
		if *gw == "" || *n <= 0 || *c <= 0 || *first+*n > *copies {
			return errors.New("get needs -gw, n > 0, c > 0 and first+n <= copies")
		}
		r, err := load(ctx, *gw, *bucket, *key, *op, *first, *n, *c, *pid, *out)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	return fmt.Errorf("unknown mode %q", *mode)
}

// copyName is the key of copy i.
func copyName(prefix string, i int) string { return prefix + "-" + strconv.Itoa(i) + ".jpg" }

func upload(ctx context.Context, config, bucket, prefix string, copies int, file string) error {
	cfg, err := ufopctl.LoadConfig(config)
	if err != nil {
		return err
	}
	src, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	cl := ufopctl.NewClient(cfg, nil)
	body := make([]byte, len(src)+8)
	copy(body, src)
	for i := 0; i < copies; i++ {
		// Bytes after EOI: a distinct object, the same pixels.
		binary.BigEndian.PutUint64(body[len(src):], uint64(i))
		if _, err := cl.PutObject(ctx, bucket, copyName(prefix, i), bytes.NewReader(body), "image/jpeg", nil); err != nil {
			return fmt.Errorf("put copy %d: %w", i, err)
		}
	}
	return nil
}

func load(ctx context.Context, gw, bucket, prefix, op string, first, n, c, pid int, out string) (*result, error) {
	r := &result{Fop: op, N: n, C: c}
	if pid > 0 {
		// Writing 5 resets the peak RSS (Linux >= 4.0); without it VmHWM
		// is the peak since start.
		r.PeakReset = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0) == nil
	}
	cpu0, _ := cpuTicks(pid)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}, Timeout: 5 * time.Minute}
	next := make(chan int)
	lat := make([]time.Duration, n)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t := time.Now()
				b, err := get(ctx, hc, gw+"/"+bucket+"/"+copyName(prefix, first+i)+"?"+op)
				lat[i] = time.Since(t)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("request %d: %w", i, err)
				}
				if err == nil && i == 0 {
					r.OutBytes = len(b)
					if out != "" {
						err = os.WriteFile(out, b, 0o644)
						if firstErr == nil && err != nil {
							firstErr = err
						}
					}
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	wall := time.Since(start)
	if firstErr != nil {
		return nil, firstErr
	}
	r.WallS = wall.Seconds()
	r.ReqPerS = float64(n) / wall.Seconds()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	r.P50Ms = float64(lat[n/2]) / 1e6
	r.MaxMs = float64(lat[n-1]) / 1e6
	if pid > 0 {
		cpu1, err := cpuTicks(pid)
		if err != nil {
			return nil, err
		}
		// CLK_TCK is 100 on Linux.
		cpuS := float64(cpu1-cpu0) / 100
		r.CPUMsPerRq = cpuS * 1000 / float64(n)
		if cpuS > 0 {
			r.ReqPerCPUS = float64(n) / cpuS
		}
		r.PeakRSSMB, err = vmHWM(pid)
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

func get(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %.200s", url, resp.Status, b)
	}
	if strings.EqualFold(resp.Header.Get("X-Ufop-Cache"), "hit") {
		return nil, fmt.Errorf("%s: a cache hit, the bench needs misses (reused copies?)", url)
	}
	return b, nil
}

// cpuTicks is the user+system time of pid in clock ticks.
func cpuTicks(pid int) (int64, error) {
	if pid <= 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return u + st, nil
}

// vmHWM is the peak resident set of pid in MB.
func vmHWM(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmHWM in /proc/%d/status", pid)
}
