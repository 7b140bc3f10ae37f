package api_test

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestScorePSIMetric decides 300 rows of the credit test set and reads
// glassbox_score_psi from /metrics: it is the PSI of the scores the server
// returned against the shipped score distribution, computed here with the
// formula written out.
func TestScorePSIMetric(t *testing.T) {
	e := newEnv(t, envOptions{})
	apps := testApplications(t, e.model)[:300]
	r := e.do(req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: map[string]any{"applications": apps}})
	if r.status != http.StatusCreated {
		t.Fatalf("batch: %d %.300s", r.status, r.body)
	}
	var out struct{ Decisions []decisionOut }
	r.json(t, &out)

	dist := e.model.Distribution
	h := dist.Score
	actual := make([]float64, len(h.Counts)+1)
	for _, d := range out.Decisions {
		b := len(h.Edges)
		for i, edge := range h.Edges {
			if d.Score <= edge {
				b = i
				break
			}
		}
		actual[b]++
	}
	var want float64
	for i := range actual {
		ref := 0
		if i < len(h.Counts) {
			ref = h.Counts[i]
		}
		a := max(actual[i]/float64(len(out.Decisions)), 1e-4)
		x := max(float64(ref)/float64(dist.Rows), 1e-4)
		want += (a - x) * math.Log(a/x)
	}

	mr := e.do(req{method: "GET", path: "/metrics", key: keyAdmin})
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(mr.body)))
	if err != nil {
		t.Fatal(err)
	}
	get := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetLabel()[0].GetValue() != "credit-risk-v1" {
			t.Fatalf("%s: %v", name, f)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if got := get("glassbox_score_psi"); math.Abs(got-want) > 1e-9 {
		t.Errorf("glassbox_score_psi = %v, formula %v", got, want)
	}
	if n := get("glassbox_score_psi_decisions"); n != 300 {
		t.Errorf("window holds %v decisions, want 300", n)
	}
}
