package transparency

import (
	"log/slog"

	"github.com/google/trillian/monitoring"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// LedgerMetricsPrefix starts the name of every metric the embedded ledger
// exports: Trillian's log server and sequencer, and the SQLite storage.
const LedgerMetricsPrefix = "glassbox_ledger_"

// promFactory is a monitoring.MetricFactory that registers Trillian's and
// the storage's metrics with a caller's Prometheus registry. Trillian ships
// one (monitoring/prometheus) but it registers with the process-wide
// default registry and panics on a second registration of a name, so two
// ledgers in one process (tests, or a restart of the ledger in place)
// could not both export.
//
// Every metric is a vector, also those without labels: a vector with no
// label names has exactly one child, which keeps one code path.
type promFactory struct {
	reg    prometheus.Registerer
	prefix string
	logger *slog.Logger
}

var _ monitoring.MetricFactory = promFactory{}

// newPromFactory returns a factory on reg, or Trillian's inert factory if
// reg is nil (metrics not wanted).
func newPromFactory(reg prometheus.Registerer, logger *slog.Logger) monitoring.MetricFactory {
	if reg == nil {
		return monitoring.InertMetricFactory{}
	}
	return promFactory{reg: reg, prefix: LedgerMetricsPrefix, logger: logger}
}

// register registers c, or returns the collector already registered under
// the same description so that re-creating a metric (a second storage
// opened on the same registry) shares it instead of panicking.
func register[C prometheus.Collector](f promFactory, c C) C {
	err := f.reg.Register(c)
	if err == nil {
		return c
	}
	if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	// A name clash with a metric of another type or labels is a
	// programming error, but not one worth taking the ledger down for:
	// the metric works, unexported.
	f.logger.Warn("ledger metric not exported", "err", err)
	return c
}

func (f promFactory) NewCounter(name, help string, labelNames ...string) monitoring.Counter {
	v := register(f, prometheus.NewCounterVec(prometheus.CounterOpts{Name: f.prefix + name, Help: help}, labelNames))
	return promCounter{labelled[prometheus.Counter]{v, f.logger}}
}

func (f promFactory) NewGauge(name, help string, labelNames ...string) monitoring.Gauge {
	v := register(f, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: f.prefix + name, Help: help}, labelNames))
	return promGauge{labelled[prometheus.Gauge]{v, f.logger}}
}

func (f promFactory) NewHistogram(name, help string, labelNames ...string) monitoring.Histogram {
	return f.NewHistogramWithBuckets(name, help, monitoring.LatencyBuckets(), labelNames...)
}

func (f promFactory) NewHistogramWithBuckets(name, help string, buckets []float64, labelNames ...string) monitoring.Histogram {
	v := register(f, prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: f.prefix + name, Help: help, Buckets: buckets}, labelNames))
	return promHistogram{labelled[prometheus.Observer]{v, f.logger}}
}

// labelled finds a vector's child for label values. Trillian's callers
// pass them positionally; a wrong count drops the observation with a log
// line rather than panicking in the sequencer.
type labelled[M any] struct {
	vec interface {
		GetMetricWithLabelValues(lvs ...string) (M, error)
	}
	logger *slog.Logger
}

func (l labelled[M]) get(lvs []string) (M, bool) {
	m, err := l.vec.GetMetricWithLabelValues(lvs...)
	if err != nil {
		l.logger.Warn("ledger metric observation dropped", "err", err)
		return m, false
	}
	return m, true
}

type promCounter struct{ labelled[prometheus.Counter] }

func (c promCounter) Inc(lvs ...string) { c.Add(1, lvs...) }

func (c promCounter) Add(val float64, lvs ...string) {
	if m, ok := c.get(lvs); ok {
		m.Add(val)
	}
}

func (c promCounter) Value(lvs ...string) float64 {
	m, ok := c.get(lvs)
	if !ok {
		return 0
	}
	d := written(m)
	return d.GetCounter().GetValue()
}

type promGauge struct{ labelled[prometheus.Gauge] }

func (g promGauge) Inc(lvs ...string) { g.Add(1, lvs...) }
func (g promGauge) Dec(lvs ...string) { g.Add(-1, lvs...) }

func (g promGauge) Add(val float64, lvs ...string) {
	if m, ok := g.get(lvs); ok {
		m.Add(val)
	}
}

func (g promGauge) Set(val float64, lvs ...string) {
	if m, ok := g.get(lvs); ok {
		m.Set(val)
	}
}

func (g promGauge) Value(lvs ...string) float64 {
	m, ok := g.get(lvs)
	if !ok {
		return 0
	}
	d := written(m)
	return d.GetGauge().GetValue()
}

type promHistogram struct{ labelled[prometheus.Observer] }

func (h promHistogram) Observe(val float64, lvs ...string) {
	if m, ok := h.get(lvs); ok {
		m.Observe(val)
	}
}

func (h promHistogram) Info(lvs ...string) (uint64, float64) {
	m, ok := h.get(lvs)
	if !ok {
		return 0, 0
	}
	pm, ok := m.(prometheus.Metric)
	if !ok {
		return 0, 0
	}
	d := written(pm)
	return d.GetHistogram().GetSampleCount(), d.GetHistogram().GetSampleSum()
}

// written reads a metric's current state. Trillian's interfaces ask for
// values (its tests use them); nothing on the serving path does.
func written(m prometheus.Metric) *dto.Metric {
	var d dto.Metric
	_ = m.Write(&d) // a metric of these kinds cannot fail to write
	return &d
}
