package agent

import (
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

// metrics are the agent's Prometheus series, on a registry of its own so
// several agents can live in one process.
type metrics struct {
	reg        *prometheus.Registry
	requests   *prometheus.CounterVec
	latency    *prometheus.HistogramVec
	stages     *prometheus.HistogramVec
	caches     *prometheus.CounterVec
	admissions *prometheus.CounterVec
	jobs       *prometheus.CounterVec
	queued     prometheus.Gauge
	running    prometheus.Gauge
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_agent_requests_total", Help: "Processing requests by fop pipeline and outcome kind.",
		}, []string{"fop", "kind"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ufop_agent_request_seconds", Help: "Processing request latency.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"fop"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ufop_agent_stage_seconds", Help: "Time spent per stage: queue wait, source fetch, decode, process, encode.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"stage"}),
		caches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_agent_cache_requests_total", Help: "Cache lookups by cache (source, result) and result (hit, miss).",
		}, []string{"cache", "result"}),
		admissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_agent_admissions_total", Help: "Queue admissions by tier and result (admitted, rejected).",
		}, []string{"tier", "result"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_agent_jobs_total", Help: "Queued UFOP jobs taken by this agent, by UFOP and outcome (ok, failed, retried, dropped).",
		}, []string{"ufop", "outcome"}),
		queued:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "ufop_agent_queue_length", Help: "Jobs waiting for a worker."}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ufop_agent_running", Help: "Jobs being processed."}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.stages, m.caches, m.admissions, m.jobs, m.queued, m.running,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) request(fop string, err error, d time.Duration) {
	kind := "ok"
	if err != nil {
		kind = ufop.KindOf(err).String()
	}
	m.requests.WithLabelValues(fop, kind).Inc()
	m.latency.WithLabelValues(fop).Observe(d.Seconds())
}

func (m *metrics) job(ufopName, outcome string) { m.jobs.WithLabelValues(ufopName, outcome).Inc() }

func (m *metrics) stage(name string, d time.Duration) {
	m.stages.WithLabelValues(name).Observe(d.Seconds())
}

func (m *metrics) cache(name string, hit bool) {
	r := "miss"
	if hit {
		r = "hit"
	}
	m.caches.WithLabelValues(name, r).Inc()
}

func (m *metrics) admit(tier ufop.Tier, err error) {
	if tier == "" {
		tier = ufop.TierFree
	}
	r := "admitted"
	if ufop.KindOf(err) == ufop.KindUnavailable {
		r = "rejected"
	}
	m.admissions.WithLabelValues(string(tier), r).Inc()
}

func (m *metrics) observeLoad(l ufop.Load) {
	m.queued.Set(float64(l.Queued))
	m.running.Set(float64(l.Running))
}

// fopLabel names a pipeline for metrics by its step names, which keeps the
// label set small (parameters are left out).
func fopLabel(p fop.Pipeline) string {
	names := make([]string, len(p.Steps))
	for i, s := range p.Steps {
		names[i] = s.Name()
	}
	return strings.Join(names, "|")
}
