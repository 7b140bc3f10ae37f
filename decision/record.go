package decision

import (
	"fmt"
	"math"
	"time"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// Subject is what a decision record says about whom it decides: the
// lender that asked and its application id.
type Subject struct {
	Lender        string
	ApplicationID string
}

// Sealer encodes a record for the ledger: (*transparency.Record).Seal,
// or a ledger's own sealing when it writes another leaf format.
type Sealer func(*transparency.Record) (transparency.Sealed, error)

// Seal is the Sealer of the record format itself.
func Seal(r *transparency.Record) (transparency.Sealed, error) { return r.Seal() }

// Record turns an evaluated application (feature vector x scored by m
// into ev) into a decision record made at `at`, with only the fields
// policy lets into the ledger, sealed by seal.
func Record(at time.Time, sub Subject, m *scoring.Model, x []float64, ev *Evaluation, ledgerFields []string, seal Sealer) (transparency.Sealed, error) {
	feats := make(map[string]transparency.FeatureValue, len(x))
	attr := make(map[string]float64, len(x))
	for i, f := range m.Manifest.Features {
		feats[f.Name] = FeatureValue(&f, x[i])
		attr[f.Name] = ev.Contributions[i]
	}
	rec, err := transparency.NewRecord(at, &transparency.Decision{
		Lender:               sub.Lender,
		ApplicationID:        sub.ApplicationID,
		Model:                transparency.ModelRef{ID: m.Manifest.ID, SHA256: m.SHA256},
		Policy:               transparency.PolicyRef{Revision: ev.Outcome.PolicyRevision},
		Features:             feats,
		RawScore:             ev.Prediction.Raw,
		ProbabilityOfDefault: ev.Prediction.PD,
		Score:                ev.Prediction.Score,
		Decision:             string(ev.Outcome.Decision),
		ReasonMethod:         ev.ReasonMethod,
		Reasons:              RecordReasons(m, x, ev.Reasons),
		Attributions:         attr,
		ExpectedValue:        ev.Contributions[len(ev.Contributions)-1],
	})
	if err != nil {
		return transparency.Sealed{}, fmt.Errorf("building record: %w", err)
	}
	if err := rec.Minimise(ledgerFields); err != nil {
		return transparency.Sealed{}, fmt.Errorf("minimising record: %w", err)
	}
	sealed, err := seal(rec)
	if err != nil {
		return transparency.Sealed{}, fmt.Errorf("encoding record: %w", err)
	}
	return sealed, nil
}

// RecordReasons is the reasons as the ledger record holds them, each
// with the applicant's value of its feature (x scored by m).
func RecordReasons(m *scoring.Model, x []float64, rs []explain.Reason) []transparency.Reason {
	out := make([]transparency.Reason, len(rs))
	for i, r := range rs {
		out[i] = transparency.Reason{
			Code: r.Code, Feature: r.Feature, Text: r.Text, Contribution: r.Contribution,
			Value: reasonValue(m, x, r.Feature), Direction: r.Direction, Reference: anyValue(r.Reference), Rule: r.Rule,
		}
	}
	return out
}

// anyValue is a reference value (a number, a level name or nil) as a
// record's feature value.
func anyValue(v any) transparency.FeatureValue {
	switch x := v.(type) {
	case float64:
		return transparency.NumberValue(x)
	case string:
		return transparency.LevelValue(x)
	}
	return transparency.MissingValue()
}

// reasonValue is the applicant's value of a reason's feature (missing for
// the fallback reason, which names none).
func reasonValue(m *scoring.Model, x []float64, feature string) transparency.FeatureValue {
	man := m.Manifest
	i := man.FeatureIndex(feature)
	if i < 0 {
		return transparency.MissingValue()
	}
	return FeatureValue(&man.Features[i], x[i])
}

// FeatureValue is the model input x of feature f as a record holds it.
func FeatureValue(f *models.Feature, x float64) transparency.FeatureValue {
	switch {
	case math.IsNaN(x):
		return transparency.MissingValue()
	case f.Type == models.Categorical:
		return transparency.LevelValue(f.Levels[int(x)])
	}
	return transparency.NumberValue(x)
}
