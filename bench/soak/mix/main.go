// Command mix sends mixed traffic to a running ufopd for bench/soak/run.sh
// and samples the server's memory:
//
//	mix -gw http://127.0.0.1:PORT -path /pics/portrait.jpg -ufop my-sepia -pid PID -d 10m -every 30s -c 4
//
// Each client loops over three kinds of request in turn: an uncached
// built-in (a distinct imageView2 per request), a cached hit (one fixed fop,
// warmed first) and a UFOP after a built-in (imageView2/2/w/<w>|<ufop>, w
// cycling over 100-399: cached once each width has been seen). Every
// `every` it prints one JSON line: elapsed time, the server's VmRSS and
// VmHWM, and the answers of the interval by kind and status. It exits
// non-zero if any answer was not a 200.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type sample struct {
	T      float64        `json:"t_s"`
	RSSMB  float64        `json:"rss_mb"`
	HWMMB  float64        `json:"hwm_mb"`
	Counts map[string]int `json:"counts"`
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "mix:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("mix", flag.ContinueOnError)
	gw := fs.String("gw", "", "gateway base `URL`")
	path := fs.String("path", "/pics/portrait.jpg", "object path")
	ufop := fs.String("ufop", "", "UFOP name (empty: no UFOP requests)")
	pid := fs.Int("pid", 0, "server process to sample")
	d := fs.Duration("d", 10*time.Minute, "duration")
	every := fs.Duration("every", 30*time.Second, "sampling interval")
	c := fs.Int("c", 4, "concurrent clients")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *gw == "" || *pid <= 0 {
		return errors.New("need -gw and -pid")
	}
	base := strings.TrimRight(*gw, "/") + *path + "?"
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c}, Timeout: time.Minute}
	const cachedFop = "imageView2/1/w/200/h/200"
	if _, err := get(hc, base+cachedFop); err != nil {
		return fmt.Errorf("warm: %w", err)
	}

	var (
		mu     sync.Mutex
		counts = map[string]int{}
		bad    atomic.Int64
		seq    atomic.Int64
		wg     sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), *d)
	defer cancel()
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(seq.Add(1))
				kind, q := "builtin", uncachedFop(i)
				switch {
				case i%3 == 1:
					kind, q = "cached", cachedFop
				case i%3 == 2 && *ufop != "":
					kind, q = "ufop", "imageView2/2/w/"+strconv.Itoa(100+i%300)+"|"+*ufop
				}
				status, err := get(hc, base+q)
				key := kind + "-" + strconv.Itoa(status)
				if err != nil {
					key = kind + "-error"
				}
				if status != http.StatusOK {
					bad.Add(1)
					if bad.Load() <= 5 {
						fmt.Fprintf(os.Stderr, "mix: %s: %d %v\n", q, status, err)
					}
				}
				mu.Lock()
				counts[key]++
				mu.Unlock()
			}
		}()
	}
	enc := json.NewEncoder(stdout)
	start := time.Now()
	tick := time.NewTicker(*every)
	defer tick.Stop()
	emit := func() error {
		rss, hwm, err := memory(*pid)
		if err != nil {
			return err
		}
		mu.Lock()
		s := sample{T: time.Since(start).Seconds(), RSSMB: rss, HWMMB: hwm, Counts: counts}
		counts = map[string]int{}
		mu.Unlock()
		return enc.Encode(s)
	}
	if err := emit(); err != nil {
		return err
	}
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
			if err := emit(); err != nil {
				cancel()
				wg.Wait()
				return err
			}
		}
	}
	wg.Wait()
	if err := emit(); err != nil {
		return err
	}
	if n := bad.Load(); n > 0 {
		return fmt.Errorf("%d answers were not 200", n)
	}
	return nil
}

// uncachedFop is distinct for every i < 601*84*200 and never the cached one
// (q stays below the default 85).
func uncachedFop(i int) string {
	w := 100 + i%601
	q := 1 + (i/601)%84
	h := 150 + (i/(601*84))%200
	return fmt.Sprintf("imageView2/1/w/%d/h/%d/q/%d", w, h, q)
}

func get(hc *http.Client, url string) (int, error) {
	resp, err := hc.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s", resp.Status)
	}
	return resp.StatusCode, nil
}

// memory reads VmRSS and VmHWM of pid in MB.
func memory(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		for name, dst := range map[string]*float64{"VmRSS:": &rss, "VmHWM:": &hwm} {
			if v, ok := strings.CutPrefix(line, name); ok {
				kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
				if err != nil {
					return 0, 0, err
				}
				*dst = kb / 1024
			}
		}
	}
	return rss, hwm, nil
}
