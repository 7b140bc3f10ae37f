package api

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// scoreDriftWindow is how many of a model's latest decisions the running
// score PSI covers.
const scoreDriftWindow = 1000

// scoreDrift keeps, per model that ships a reference distribution, the
// score bins of its latest decisions and exports their population
// stability index against the training data's score distribution
// (glassbox_score_psi). It is the running counterpart of the PSI that
// `glassbox audit report` computes, and verifiably, from the ledger.
type scoreDrift struct {
	psi, n *prometheus.Desc
	mu     sync.Mutex
	models map[string]*driftWindow
}

// driftWindow is a ring of the latest window score bins of one model.
type driftWindow struct {
	edges     []float64
	reference []int // training counts, the missing bin last
	ring      []int // bin of each decision in the window
	next      int
	full      bool
	counts    []int // counts of ring, per bin
}

func newScoreDrift(ms []*scoring.Model, window int) *scoreDrift {
	d := &scoreDrift{
		psi: prometheus.NewDesc("glassbox_score_psi",
			"Population stability index of the scores of the model's latest decisions (up to glassbox_score_psi_decisions) against its training data's score distribution; above 0.25 is a significant shift.",
			[]string{"model"}, nil),
		n: prometheus.NewDesc("glassbox_score_psi_decisions",
			"Decisions the running score PSI covers.", []string{"model"}, nil),
		models: map[string]*driftWindow{},
	}
	for _, m := range ms {
		if m.Manifest == nil || m.Distribution == nil {
			continue
		}
		h := m.Distribution.Score
		d.models[m.Manifest.ID] = &driftWindow{
			edges: h.Edges, reference: h.WithMissing(), ring: make([]int, window), counts: make([]int, len(h.Counts)+1),
		}
	}
	return d
}

// observe adds one decision's score to its model's window.
func (d *scoreDrift) observe(model string, score float64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.models[model]
	if w == nil {
		return
	}
	if w.full {
		w.counts[w.ring[w.next]]--
	}
	b := audit.Bin(w.edges, score)
	w.ring[w.next] = b
	w.counts[b]++
	w.next++
	if w.next == len(w.ring) {
		w.next, w.full = 0, true
	}
}

// Describe implements prometheus.Collector.
func (d *scoreDrift) Describe(ch chan<- *prometheus.Desc) {
	ch <- d.psi
	ch <- d.n
}

// Collect implements prometheus.Collector: the PSI is computed at scrape
// time from the window's counts.
func (d *scoreDrift) Collect(ch chan<- prometheus.Metric) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, w := range d.models {
		n := w.next
		if w.full {
			n = len(w.ring)
		}
		ch <- prometheus.MustNewConstMetric(d.n, prometheus.GaugeValue, float64(n), id)
		if psi, err := audit.PSI(w.reference, w.counts); err == nil {
			ch <- prometheus.MustNewConstMetric(d.psi, prometheus.GaugeValue, psi, id)
		}
	}
}
