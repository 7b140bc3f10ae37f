package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
)

// DistributionFile is the optional file of a package that holds the
// reference distribution monitoring compares the served population with.
const DistributionFile = "distribution.json"

// Distribution is a package's distribution.json: how the model's training
// data fell into bins, per feature and for the score, computed through the
// model itself (`glassbox models distribution`). Population stability
// (PSI) of live decisions is measured against it. The JSON form is
// documented in docs/monitoring.md.
type Distribution struct {
	ModelID     string `json:"model_id"`
	ModelSHA256 string `json:"model_sha256"`
	// DataSHA256 is the SHA-256 of the data set the bins were built from
	// (the manifest's provenance.train_sha256 for training data).
	DataSHA256 string `json:"data_sha256"`
	Rows       int    `json:"rows"`
	// Binning states in words how the edges were chosen.
	Binning string `json:"binning"`
	// Score bins the points score.
	Score    *Histogram            `json:"score"`
	Features map[string]*Histogram `json:"features"`
}

// Histogram is one variable's bins. A numeric variable has upper Edges
// (right-closed bins (−∞, e₀], (e₀, e₁], …, (e_{k−1}, +∞)) and
// len(Edges)+1 Counts; a categorical one has one count per manifest level,
// in level order, and no edges. Missing counts the rows without a value.
type Histogram struct {
	Edges   []float64 `json:"edges,omitempty"`
	Counts  []int     `json:"counts"`
	Missing int       `json:"missing"`
}

// WithMissing returns the counts with the missing count as a last bin:
// the bins PSI compares.
func (h *Histogram) WithMissing() []int { return append(slices.Clone(h.Counts), h.Missing) }

// ParseDistribution decodes a distribution.json and checks it against m.
func ParseDistribution(data []byte, m *Manifest) (*Distribution, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Distribution
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("distribution: %w", err)
	}
	if err := d.Validate(m); err != nil {
		return nil, err
	}
	return &d, nil
}

// Validate checks that d belongs to m, has a histogram for the score and
// for every feature, and that each histogram's shape fits its variable and
// accounts for every row.
func (d *Distribution) Validate(m *Manifest) error {
	var errs []error
	if d.ModelID != m.ID {
		errs = append(errs, fmt.Errorf("model_id %q is not the manifest's %q", d.ModelID, m.ID))
	}
	if d.ModelSHA256 != m.ModelSHA256 {
		errs = append(errs, fmt.Errorf("model_sha256 %q is not the manifest's", d.ModelSHA256))
	}
	if d.Rows <= 0 {
		errs = append(errs, fmt.Errorf("rows %d: need at least one", d.Rows))
	}
	check := func(name string, h *Histogram, levels int) {
		switch {
		case h == nil:
			errs = append(errs, fmt.Errorf("%s: no histogram", name))
			return
		case levels > 0 && (len(h.Edges) != 0 || len(h.Counts) != levels):
			errs = append(errs, fmt.Errorf("%s: %d counts and %d edges for %d levels", name, len(h.Counts), len(h.Edges), levels))
		case levels == 0 && len(h.Counts) != len(h.Edges)+1:
			errs = append(errs, fmt.Errorf("%s: %d counts for %d edges", name, len(h.Counts), len(h.Edges)))
		case !slices.IsSorted(h.Edges) || len(slices.Compact(slices.Clone(h.Edges))) != len(h.Edges):
			errs = append(errs, fmt.Errorf("%s: edges are not strictly ascending", name))
		}
		n := h.Missing
		for _, c := range h.Counts {
			if c < 0 {
				errs = append(errs, fmt.Errorf("%s: negative count", name))
			}
			n += c
		}
		if h.Missing < 0 || n != d.Rows {
			errs = append(errs, fmt.Errorf("%s: counts sum to %d, not the %d rows", name, n, d.Rows))
		}
	}
	check("score", d.Score, 0)
	for i := range m.Features {
		f := &m.Features[i]
		levels := 0
		if f.Type == Categorical {
			levels = len(f.Levels)
		}
		check(fmt.Sprintf("feature %q", f.Name), d.Features[f.Name], levels)
	}
	if len(d.Features) != len(m.Features) {
		errs = append(errs, fmt.Errorf("%d feature histograms for %d features", len(d.Features), len(m.Features)))
	}
	if len(errs) > 0 {
		return fmt.Errorf("distribution for %q: %w", m.ID, errors.Join(errs...))
	}
	return nil
}
