package gateway

import (
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/usage"
)

func TestUsageCmd(t *testing.T) {
	u, err := newUsageMeter(DefaultUsageConfig(), Deps{Logger: testenv.Logger(t)}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{usage: u}
	for _, tc := range []struct{ fops, want string }{
		{"imageView2/2/w/100", "imageView2"},
		{"imageView2/2/w/0", "imageView2"}, // a bad parameter: still the fop's
		{"imageInfo", "imageInfo"},
		{"watermark/1/image/x|imageInfo", "watermark"},
		{"exif|imageView2/1", "exif"},
	} {
		if got := g.usageCmd(tc.fops); got != tc.want {
			t.Errorf("usageCmd(%q) = %q, want %q", tc.fops, got, tc.want)
		}
	}
}

// The /metrics series keep at most MetricOwners owners; the others add up
// under _other.
func TestUsageMetricOwners(t *testing.T) {
	cfg := DefaultUsageConfig()
	cfg.MetricOwners = 2
	reg := prometheus.NewRegistry()
	u, err := newUsageMeter(cfg, Deps{Logger: testenv.Logger(t)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []string{"alice", "bob", "carol", "dave", "alice"} {
		u.observe(usage.Batch{{Owner: o, Bucket: o + "-pics", Cmd: "get"}: {Requests: 2, Errors: 1, BytesOut: 10, ProcessMicros: 500000}})
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]float64{}
	for _, mf := range mfs {
		m := map[string]float64{}
		for _, s := range mf.GetMetric() {
			m[s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
		}
		got[mf.GetName()] = m
	}
	want := map[string]map[string]float64{
		"ufop_usage_requests_total":        {"alice": 4, "bob": 2, "_other": 4},
		"ufop_usage_errors_total":          {"alice": 2, "bob": 1, "_other": 2},
		"ufop_usage_bytes_out_total":       {"alice": 20, "bob": 10, "_other": 20},
		"ufop_usage_process_seconds_total": {"alice": 1, "bob": 0.5, "_other": 1},
	}
	for name, w := range want {
		for o, v := range w {
			if got[name][o] != v {
				t.Errorf("%s{owner=%q} = %v, want %v", name, o, got[name][o], v)
			}
		}
		if len(got[name]) != 3 {
			t.Errorf("%s has %d owners, want 3", name, len(got[name]))
		}
	}
}

// BenchmarkUsageRequest is usage metering's cost on the request path, side
// by side with the work every request does anyway (a reset echo context
// and its reqid): the note, the command, and the meter's Add at the end.
func BenchmarkUsageRequest(b *testing.B) {
	u, err := newUsageMeter(DefaultUsageConfig(), Deps{Logger: testenv.Logger(b)}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	g := &Gateway{usage: u}
	e := echo.New()
	bk := ufop.Bucket{Name: "pics", Owner: "alice"}
	for _, tc := range []struct {
		name  string
		usage bool
	}{{"baseline", false}, {"with-usage", true}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			start := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }()
			b.RunParallel(func(pb *testing.PB) {
				req := httptest.NewRequest(http.MethodGet, "/pics/a.jpg?imageView2/2/w/100", nil)
				w := httptest.NewRecorder()
				c := e.NewContext(req, w)
				start := time.Now()
				for pb.Next() {
					c.Reset(req, w)
					c.Set(ctxReqid, "0123456789abcdef")
					if !tc.usage {
						continue
					}
					n := u.start(c)
					noteUsage(c, bk, g.usageCmd("imageView2/2/w/100"))
					now := time.Now()
					u.finish(n, now, 200, 4096, now.Sub(start))
				}
			})
		})
	}
}

// cpuTime is the process's CPU time so far: on a shared, loaded machine
// wall time per op mostly measures the wait for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
