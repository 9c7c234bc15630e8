package rig

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Target is one endpoint under load: Do sends one request for worker w.
type Target struct {
	Name string
	Do   func(ctx context.Context, hc *http.Client, w int) error
}

// Stats are the results of load on one target, possibly over several
// rounds.
type Stats struct {
	Name     string
	Lat      []time.Duration // of successful requests
	Errors   int
	FirstErr string
	Elapsed  time.Duration
}

// Quantile returns the q-quantile of the successful requests' latency.
func (s Stats) Quantile(q float64) time.Duration {
	if len(s.Lat) == 0 {
		return 0
	}
	l := slices.Clone(s.Lat)
	slices.Sort(l)
	return l[min(len(l)-1, int(q*float64(len(l))))]
}

// RPS is successful requests per second of load.
func (s Stats) RPS() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(len(s.Lat)) / s.Elapsed.Seconds()
}

// Add merges another round's results.
func (s *Stats) Add(o Stats) {
	s.Lat = append(s.Lat, o.Lat...)
	s.Errors += o.Errors
	s.Elapsed += o.Elapsed
	if s.FirstErr == "" {
		s.FirstErr = o.FirstErr
	}
}

// Run is a closed loop: workers each send one request after the other
// for d, through one keep-alive client.
func Run(ctx context.Context, t Target, workers int, d time.Duration) Stats {
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: 0}}
	defer hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	st := Stats{Name: t.Name}
	var wg sync.WaitGroup
	start := time.Now()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			for ctx.Err() == nil {
				t0 := time.Now()
				err := t.Do(context.WithoutCancel(ctx), hc, w)
				if err == nil {
					lat = append(lat, time.Since(t0))
					continue
				}
				mu.Lock()
				st.Errors++
				if st.FirstErr == "" {
					st.FirstErr = err.Error()
				}
				mu.Unlock()
			}
			mu.Lock()
			st.Lat = append(st.Lat, lat...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	st.Elapsed = time.Since(start)
	return st
}

// Expect200 sends req and reads the whole answer, which must be a 200.
func Expect200(hc *http.Client, req *http.Request) error {
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %.200s", resp.Status, body)
	}
	return nil
}
