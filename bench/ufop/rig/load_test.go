package rig

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/gateway"
)

func ms(v ...int) []time.Duration {
	d := make([]time.Duration, len(v))
	for i, x := range v {
		d[i] = time.Duration(x) * time.Millisecond
	}
	return d
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		lat  []time.Duration
		q    float64
		want time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of unsorted", ms(5, 1, 4, 2, 3), 0.5, 3 * time.Millisecond},
		{"min", ms(5, 1, 4, 2, 3), 0, 1 * time.Millisecond},
		{"max", ms(5, 1, 4, 2, 3), 1, 5 * time.Millisecond},
		{"p99 of 100", ms(seq(100)...), 0.99, 100 * time.Millisecond},
		{"p50 of 100", ms(seq(100)...), 0.5, 51 * time.Millisecond},
		{"p90 of 10", ms(seq(10)...), 0.9, 10 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Stats{Lat: tt.lat}
			before := append([]time.Duration(nil), tt.lat...)
			if got := s.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%g) = %v, want %v", tt.q, got, tt.want)
			}
			for i := range before {
				if s.Lat[i] != before[i] {
					t.Fatalf("Quantile reordered the latencies: %v", s.Lat)
				}
			}
		})
	}
}

// seq is 1..n.
func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i + 1
	}
	return s
}

func TestRPSAndAdd(t *testing.T) {
	if got := (Stats{Lat: ms(1, 2)}).RPS(); got != 0 {
		t.Errorf("RPS with no elapsed time = %g, want 0", got)
	}
	s := Stats{Name: "a", Lat: ms(1, 2, 3), Elapsed: time.Second}
	s.Add(Stats{Lat: ms(4), Errors: 2, FirstErr: "boom", Elapsed: time.Second})
	s.Add(Stats{Errors: 1, FirstErr: "later", Elapsed: 2 * time.Second})
	if s.Name != "a" || len(s.Lat) != 4 || s.Errors != 3 || s.FirstErr != "boom" || s.Elapsed != 4*time.Second {
		t.Errorf("after Add: %+v", s)
	}
	if got := s.RPS(); got != 1 {
		t.Errorf("RPS = %g, want 1 (4 successes in 4 s)", got)
	}
}

func TestExpect200(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			w.Write([]byte("fine"))
			return
		}
		http.Error(w, "no such thing "+strings.Repeat("x", 500), http.StatusNotFound)
	}))
	defer srv.Close()
	tests := []struct {
		path    string
		wantErr string
	}{
		{"/ok", ""},
		{"/missing", "404 Not Found: no such thing"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
		err := Expect200(srv.Client(), req)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.path, err)
		case tt.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want prefix %q", tt.path, err, tt.wantErr)
		case err != nil && len(err.Error()) > 250:
			t.Errorf("%s: error not cut to 200 bytes of body: %d bytes", tt.path, len(err.Error()))
		}
	}
}

// Run stops by itself once its duration is over, counts every request the
// server answered, and tells successes from failures.
func TestRunStopsAndCounts(t *testing.T) {
	var served, failed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Every third request fails.
		if n := served.Add(1); n%3 == 0 {
			failed.Add(1)
			http.Error(w, "third", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	workersSeen := make([]atomic.Bool, 3)
	target := Target{Name: "local", Do: func(ctx context.Context, hc *http.Client, w int) error {
		workersSeen[w].Store(true)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
		if err != nil {
			return err
		}
		return Expect200(hc, req)
	}}

	done := make(chan Stats, 1)
	go func() { done <- Run(context.Background(), target, 3, 200*time.Millisecond) }()
	var st Stats
	select {
	case st = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not stop by itself")
	}
	if st.Name != "local" {
		t.Errorf("name %q", st.Name)
	}
	if got, want := int64(len(st.Lat)+st.Errors), served.Load(); got != want {
		t.Errorf("counted %d requests, the server answered %d", got, want)
	}
	if int64(st.Errors) != failed.Load() || st.Errors == 0 || len(st.Lat) == 0 {
		t.Errorf("%d ok, %d errors; the server failed %d", len(st.Lat), st.Errors, failed.Load())
	}
	if !strings.HasPrefix(st.FirstErr, "500") {
		t.Errorf("first error %q", st.FirstErr)
	}
	if st.Elapsed < 200*time.Millisecond {
		t.Errorf("elapsed %v, shorter than the duration asked", st.Elapsed)
	}
	for w := range workersSeen {
		if !workersSeen[w].Load() {
			t.Errorf("worker %d sent nothing", w)
		}
	}
}

// A cancelled context ends the load early too.
func TestRunHonoursCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var calls atomic.Int64
	target := Target{Name: "stub", Do: func(ctx context.Context, _ *http.Client, _ int) error {
		if calls.Add(1) == 5 {
			cancel()
		}
		return errors.New("refused")
	}}
	done := make(chan Stats, 1)
	go func() { done <- Run(ctx, target, 1, time.Hour) }()
	select {
	case st := <-done:
		if st.Errors < 5 || st.FirstErr != "refused" {
			t.Errorf("stats %+v", st)
		}
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Run ignored the cancelled context")
	}
}

func TestHealthy(t *testing.T) {
	st := gateway.State{Instances: []ufop.Instance{
		{ID: "a", State: ufop.InstanceHealthy},
		{ID: "b", State: ufop.InstanceStopping},
		{ID: "c", State: ufop.InstanceHealthy},
		{ID: "d", State: ufop.InstanceFailed},
	}}
	if got := Healthy(st); got != 2 {
		t.Errorf("Healthy = %d, want 2", got)
	}
	if got := Healthy(gateway.State{}); got != 0 {
		t.Errorf("Healthy of none = %d", got)
	}
}
