package api

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's Prometheus collectors, in a registry the server
// owns so that two servers in one process (tests) do not collide.
type metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	inflight  prometheus.Gauge
	decisions *prometheus.CounterVec
	ledgerOps *prometheus.HistogramVec
	limited   *prometheus.CounterVec
	// finalActions counts final actions recorded, by action and actor.
	finalActions *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glassbox_http_requests_total",
			Help: "HTTP requests by method, route template and status.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "glassbox_http_request_duration_seconds",
			Help:    "HTTP request latency by method and route template.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "glassbox_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glassbox_decisions_total",
			Help: "Decisions queued in the ledger by model and outcome.",
		}, []string{"model", "decision"}),
		ledgerOps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "glassbox_ledger_operation_duration_seconds",
			Help:    "Ledger calls by operation and result.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation", "result"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glassbox_rate_limited_total",
			Help: "Requests refused by a rate limit, by limit: credential (per key, token or anonymous address) or auth-failures (per address).",
		}, []string{"limit"}),
	}
	m.finalActions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "glassbox_final_actions_total",
		Help: "Final actions recorded in the ledger, by action and actor (reviewer or system).",
	}, []string{"action", "actor"})
	m.registry.MustRegister(m.finalActions)
	for _, l := range []string{"credential", "auth-failures"} {
		m.limited.WithLabelValues(l)
	}
	m.registry.MustRegister(m.requests, m.latency, m.inflight, m.decisions, m.ledgerOps, m.limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// gatherer is what /metrics serves: the server's registry and, if given,
// the ledger's.
func (m *metrics) gatherer(ledger prometheus.Gatherer) prometheus.Gatherer {
	if ledger == nil {
		return m.registry
	}
	return prometheus.Gatherers{m.registry, ledger}
}
