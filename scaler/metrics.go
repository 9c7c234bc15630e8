package scaler

import "github.com/prometheus/client_golang/prometheus"

// metrics are the scaler's series, on a registry of its own so the
// one-process platform can serve it beside the gateway's.
type metrics struct {
	reg       *prometheus.Registry
	depth     *prometheus.GaugeVec
	inflight  *prometheus.GaugeVec
	instances *prometheus.GaugeVec
	desired   *prometheus.GaugeVec
	panicking *prometheus.GaugeVec
	decisions *prometheus.CounterVec
	leader    prometheus.Gauge
}

func newMetrics() *metrics {
	gauge := func(name, help string) *prometheus.GaugeVec {
		return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, []string{"ufop"})
	}
	m := &metrics{
		reg:       prometheus.NewRegistry(),
		depth:     gauge("ufop_scaler_queue_depth", "Jobs of a UFOP waiting or in flight, as the scaler last read them."),
		inflight:  gauge("ufop_scaler_inflight", "Jobs of a UFOP taken by an instance and not yet acknowledged."),
		instances: gauge("ufop_scaler_instances", "Healthy instances of a UFOP reported by the agents."),
		desired:   gauge("ufop_scaler_desired", "Instance count of a UFOP in the catalog after the scaler's last pass."),
		panicking: gauge("ufop_scaler_panic", "1 while a UFOP's scaling is in panic mode (a burst), else 0."),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ufop_scaler_decisions_total", Help: "Changes of a UFOP's instance count by direction (up, down) and reason (panic, stable, cooldown, min, max, wake, idle).",
		}, []string{"ufop", "direction", "reason"}),
		leader: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ufop_scaler_leader", Help: "1 while this scaler leads (only the leader samples and decides).",
		}),
	}
	m.reg.MustRegister(m.depth, m.inflight, m.instances, m.desired, m.panicking, m.decisions, m.leader)
	return m
}

func (m *metrics) observe(name string, o Observation, d Decision) {
	m.depth.WithLabelValues(name).Set(float64(o.Depth()))
	m.inflight.WithLabelValues(name).Set(float64(o.Inflight))
	m.instances.WithLabelValues(name).Set(float64(o.Running))
	m.desired.WithLabelValues(name).Set(float64(d.Desired))
	p := 0.0
	if d.Panicking {
		p = 1
	}
	m.panicking.WithLabelValues(name).Set(p)
	if d.Changed() {
		m.decisions.WithLabelValues(name, d.Direction, d.Reason).Inc()
	}
}

// forget drops the gauges of a UFOP the scaler no longer follows; the
// counters stay, as counters do.
func (m *metrics) forget(name string) {
	for _, g := range []*prometheus.GaugeVec{m.depth, m.inflight, m.instances, m.desired, m.panicking} {
		g.DeleteLabelValues(name)
	}
}
