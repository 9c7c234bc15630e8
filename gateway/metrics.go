package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus series, on a registry of its own so
// several gateways can live in one process.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	stages   *prometheus.HistogramVec
	results  *prometheus.CounterVec
	agents   *prometheus.CounterVec
	limited  *prometheus.CounterVec
	conns    *prometheus.CounterVec
	open     prometheus.Gauge
	queued   *prometheus.HistogramVec
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_gateway_requests_total", Help: "Requests by route, fop pipeline and status.",
		}, []string{"route", "fop", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ufop_gateway_request_seconds", Help: "Request latency by route and fop pipeline.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "fop"}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ufop_gateway_stage_seconds", Help: "Agent-reported time per stage of uncached requests: queue, fetch, decode, process, encode.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"stage"}),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_gateway_result_cache_total", Help: "Processed results by cache outcome: gateway_hit (memory), hit (agent cache), miss, not_modified (304).",
		}, []string{"result"}),
		agents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_gateway_agent_calls_total", Help: "Calls to agents by agent and outcome (ok, busy, unreachable).",
		}, []string{"agent", "outcome"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_gateway_limited_total", Help: "Requests refused with 429 by bucket owner and reason (rps, cmd_rps, concurrency).",
		}, []string{"user", "reason"}),
		conns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_gateway_conns_total", Help: "Connections by outcome: accepted, evicted (closed while waiting, to make room), refused (503 at the cap), dropped.",
		}, []string{"outcome"}),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ufop_gateway_open_conns", Help: "Connections open on the gateway's listeners.",
		}),
		queued: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ufop_gateway_queued_job_seconds", Help: "Time from publishing a UFOP job to its answer, by UFOP.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"ufop"}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.stages, m.results, m.agents, m.queued, m.limited, m.conns, m.open,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the gateway's series and those of extra, other roles'
// registries in the same process.
func (m *metrics) handler(extra ...prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(append(prometheus.Gatherers{m.reg}, extra...), promhttp.HandlerOpts{Registry: m.reg})
}

func (m *metrics) request(route, fop string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, fop, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route, fop).Observe(d.Seconds())
}

func (m *metrics) queueWait(ufopName string, d time.Duration) {
	m.queued.WithLabelValues(ufopName).Observe(d.Seconds())
}

func (m *metrics) resultCacheGateway() { m.results.WithLabelValues("gateway_hit").Inc() }

func (m *metrics) notModified() { m.results.WithLabelValues("not_modified").Inc() }

func (m *metrics) resultCache(hit bool) {
	if hit {
		m.results.WithLabelValues("hit").Inc()
	} else {
		m.results.WithLabelValues("miss").Inc()
	}
}

func (m *metrics) agentCall(agent, outcome string) { m.agents.WithLabelValues(agent, outcome).Inc() }

// observeTiming records an agent's Server-Timing header
// ("queue;dur=1.2, fetch;dur=0.3, ...", milliseconds).
func (m *metrics) observeTiming(h string) {
	for _, part := range strings.Split(h, ",") {
		name, dur, ok := strings.Cut(strings.TrimSpace(part), ";dur=")
		if !ok {
			continue
		}
		if ms, err := strconv.ParseFloat(dur, 64); err == nil {
			m.stages.WithLabelValues(name).Observe(ms / 1000)
		}
	}
}

func (m *metrics) limit(user, reason string) { m.limited.WithLabelValues(user, reason).Inc() }

func (m *metrics) conn(outcome string) { m.conns.WithLabelValues(outcome).Inc() }

func (m *metrics) openConns(delta int) { m.open.Add(float64(delta)) }
