package api

import (
	"slices"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// TestScoreDriftWindow: the window keeps only the latest decisions.
func TestScoreDriftWindow(t *testing.T) {
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	d := newScoreDrift([]*scoring.Model{m}, 3)
	edges := pkg.Distribution.Score.Edges
	low, high := edges[0]-1, edges[len(edges)-1]+1 // first and last bin
	for _, s := range []float64{low, low, low, high, high} {
		d.observe("credit-risk-v1", s)
	}
	d.observe("unknown-model", low) // ignored
	w := d.models["credit-risk-v1"]
	want := make([]int, len(edges)+2)
	want[0], want[len(edges)] = 1, 2 // the last three: low, high, high
	if !slices.Equal(w.counts, want) || !w.full {
		t.Errorf("counts %v, want %v", w.counts, want)
	}
}
