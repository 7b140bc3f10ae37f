package transparency

import (
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/google/trillian/monitoring"
	"github.com/prometheus/client_golang/prometheus"
)

func TestPromFactory(t *testing.T) {
	reg := prometheus.NewRegistry()
	mf := newPromFactory(reg, quietLogger())

	c := mf.NewCounter("leaves", "leaves", "logid")
	c.Inc("1")
	c.Add(2.5, "1")
	c.Inc("2")
	c.Inc() // wrong label count: dropped, not a panic in the sequencer
	g := mf.NewGauge("size", "tree size", "logid")
	g.Set(10, "1")
	g.Inc("1")
	g.Dec("1")
	g.Add(5, "1")
	h := mf.NewHistogramWithBuckets("batch", "batch size", monitoring.ExpBuckets(1, 2, 4))
	h.Observe(3)
	h.Observe(5)

	// A second factory on the same registry (a second storage, or the
	// ledger reopened) shares the metrics instead of panicking.
	again := newPromFactory(reg, quietLogger()).NewCounter("leaves", "leaves", "logid")
	again.Inc("1")

	for _, tc := range []struct {
		what      string
		got, want float64
	}{
		{"counter logid=1", c.Value("1"), 4.5},
		{"counter logid=2", c.Value("2"), 1},
		{"counter via the second factory", again.Value("1"), 4.5},
		{"gauge", g.Value("1"), 15},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if n, sum := h.Info(); n != 2 || sum != 8 {
		t.Errorf("histogram Info = %d, %v; want 2, 8", n, sum)
	}

	// What Prometheus scrapes, under the ledger's prefix.
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	scraped := map[string]string{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
			scraped[f.GetName()+"{"+strings.Join(labels, ",")+"}"] = fmt.Sprint(f.GetType(), " ", v)
		}
	}
	want := map[string]string{
		"glassbox_ledger_leaves{logid=1}": "COUNTER 4.5",
		"glassbox_ledger_leaves{logid=2}": "COUNTER 1",
		"glassbox_ledger_size{logid=1}":   "GAUGE 15",
		"glassbox_ledger_batch{}":         "HISTOGRAM 2",
	}
	if !maps.Equal(scraped, want) {
		t.Errorf("gathered %v, want %v", scraped, want)
	}
}

func TestPromFactoryWithoutRegistryIsInert(t *testing.T) {
	if _, ok := newPromFactory(nil, quietLogger()).(monitoring.InertMetricFactory); !ok {
		t.Error("a nil registry should give Trillian's inert factory")
	}
}
