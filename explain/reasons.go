package explain

import (
	"math"
	"sort"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// MaxReasons is the most principal reasons an adverse-action notice
// lists: Regulation B's commentary finds more than four unlikely to help
// the applicant (12 CFR 1002.9(b)(2), comment 9(b)(2)-1).
const MaxReasons = 4

// The fallback reason is given when an application is declined or
// referred although no feature raised its risk above the average
// applicant's: the explanation then attributes the outcome to the
// baseline itself (a high expected value, or a strict threshold), not to
// anything particular to the applicant, and says so rather than naming a
// feature that in fact lowered the risk.
const (
	FallbackReasonCode = "R00"
	FallbackReasonText = "Overall risk of applications with this profile is above the approval threshold"
)

// Reason is one principal reason for an adverse outcome.
type Reason struct {
	Code    string `json:"code"`
	Feature string `json:"feature"`
	// Value is the applicant's value: a number, the level name of a
	// categorical feature, or nil when missing.
	Value any    `json:"value"`
	Text  string `json:"text"`
	// Contribution is the feature's TreeSHAP value, in log-odds of default.
	Contribution float64 `json:"contribution"`
}

// Reasons returns the principal reasons for an adverse outcome of row x
// with contributions contrib (Explain's output; the expected value, if
// present, is ignored): the features that raised the log-odds of default
// (contribution > 0), largest first, at most max (capped at MaxReasons;
// max <= 0 means MaxReasons). Features the model never splits on are never
// reasons; equal contributions are ordered by feature index, so the result
// is deterministic. Code and text come from the model's manifest (empty
// for a bare model file).
//
// It is meant for declined or referred applications only and always
// returns at least one reason: when no feature raised the risk it returns
// exactly one, the fallback FallbackReasonCode with FallbackReasonText and
// an empty feature name.
func Reasons(m *scoring.Model, x []float64, contrib []float64, max int) []Reason {
	if max <= 0 || max > MaxReasons {
		max = MaxReasons
	}
	nf := m.NumFeatures()
	used := make([]bool, nf)
	for i := range m.Ensemble.Trees {
		for _, f := range m.Ensemble.Trees[i].SplitFeature {
			used[f] = true
		}
	}
	var idx []int
	for i := 0; i < nf && i < len(contrib); i++ {
		// NaN compares false, so it never qualifies.
		if used[i] && contrib[i] > 0 {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ca, cb := contrib[idx[a]], contrib[idx[b]]
		if ca != cb {
			return ca > cb
		}
		return idx[a] < idx[b]
	})
	if len(idx) > max {
		idx = idx[:max]
	}
	if len(idx) == 0 {
		return []Reason{{Code: FallbackReasonCode, Text: FallbackReasonText}}
	}
	out := make([]Reason, len(idx))
	for k, i := range idx {
		r := Reason{Feature: m.Ensemble.FeatureNames[i], Contribution: contrib[i]}
		var f *models.Feature
		if m.Manifest != nil && i < len(m.Manifest.Features) {
			f = &m.Manifest.Features[i]
			r.Code, r.Text = f.Reason.Code, f.Reason.Text
		}
		if i < len(x) {
			r.Value = reasonValue(f, x[i])
		}
		out[k] = r
	}
	return out
}

// reasonValue renders an applicant's value as the application states it.
func reasonValue(f *models.Feature, v float64) any {
	if math.IsNaN(v) {
		return nil
	}
	if f != nil && f.Type == models.Categorical && v == math.Trunc(v) && v >= 0 && v < float64(len(f.Levels)) {
		return f.Levels[int(v)]
	}
	return v
}
