package explain

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// MaxReasons is the most principal reasons an adverse-action notice
// lists: Regulation B's commentary finds more than four unlikely to help
// the applicant (12 CFR 1002.9(b)(2), comment 9(b)(2)-4).
const MaxReasons = 4

// The fallback reason is given when a model-driven adverse outcome has no
// feature reason that verifies: no single feature, set to the reference
// applicants' value, would lower the applicant's risk, so none can
// truthfully be named. It says that rather than naming a feature.
const (
	FallbackReasonCode = "R00"
	FallbackReasonText = "No single factor, changed to that of the applicants we compare with, would lower the estimated risk; the risk comes from the combination of the application's factors"
)

// Reason methods, as recorded in a decision's reason_method.
const (
	// MethodBaselinePrefix + a reference method ("cutoff", "approved"):
	// reasons ranked by exact baseline Shapley values against that
	// method's reference set and verified against its reference values.
	MethodBaselinePrefix = "baseline_shapley/"
	// MethodUnverified: the package ships no reference, so no feature
	// reason can be verified and only the fallback is ever offered.
	MethodUnverified = "none"
)

// Reason is one principal reason for an adverse outcome: a feature reason
// (Feature set), a policy rule's reason (Rule set) or the fallback.
type Reason struct {
	Code string `json:"code"`
	// Feature is the feature the reason is about; "" for a rule or the
	// fallback.
	Feature string `json:"feature"`
	// Value is the applicant's value: a number, the level name of a
	// categorical feature, or nil when missing.
	Value any    `json:"value"`
	Text  string `json:"text"`
	// Contribution is the feature's baseline Shapley value against the
	// reference set, in log-odds of default; nil for a rule or fallback
	// reason, and for a missing value policy requires.
	Contribution *float64 `json:"contribution"`
	// Direction is the change of the feature that lowers the risk
	// (models.Dir*); "" for a rule or fallback reason.
	Direction string `json:"direction"`
	// Reference is the reference value the feature was measured against
	// (a number or a level name); nil for a rule or fallback reason.
	Reference any `json:"reference"`
	// Rule is the id of the policy rule behind a rule reason.
	Rule string `json:"rule"`
}

// Reasoner produces verified reasons for one model against one reference
// method. It is safe for concurrent use.
type Reasoner struct {
	model    *scoring.Model
	method   string
	point    []float64 // reference values, model encoding
	baseline *Baseline
}

// NewReasoner prepares verified reasons for m against the reference
// method of ref (models.MethodCutoff or models.MethodApproved). With no
// reference it returns a Reasoner whose only candidate is the fallback.
func NewReasoner(m *scoring.Model, ref *models.Reference, method string) (*Reasoner, error) {
	if m == nil || m.Manifest == nil {
		return nil, errors.New("explain: reasons need a model with a manifest")
	}
	if ref == nil {
		return &Reasoner{model: m, method: MethodUnverified}, nil
	}
	meth, ok := ref.Methods[method]
	if !ok || meth == nil {
		return nil, fmt.Errorf("explain: model %q: reference.json has no method %q", m.Manifest.ID, method)
	}
	point, err := meth.Point(m.Manifest)
	if err != nil {
		return nil, fmt.Errorf("explain: model %q, method %q: %w", m.Manifest.ID, method, err)
	}
	rows, err := meth.Vectors(m.Manifest)
	if err != nil {
		return nil, fmt.Errorf("explain: model %q, method %q: %w", m.Manifest.ID, method, err)
	}
	b, err := NewBaseline(m, rows)
	if err != nil {
		return nil, err
	}
	return &Reasoner{model: m, method: MethodBaselinePrefix + method, point: point, baseline: b}, nil
}

// Method is the reason method, as the decision record states it.
func (r *Reasoner) Method() string { return r.method }

// Point returns the reference values in model encoding (nil without a
// reference).
func (r *Reasoner) Point() []float64 { return slices.Clone(r.point) }

// Candidates returns the candidate feature reasons for row x (raw score
// raw), most important first, then the fallback reason last. A feature is
// a candidate only if
//
//   - its baseline Shapley value against the reference set is positive
//     (its value raised the risk relative to the reference applicants);
//   - the manifest has a text for its direction: "provide" for a missing
//     value, else "increase"/"decrease" for a number below/above the
//     reference value, "other" for a different level of a category;
//   - and it verifies: the row with that feature alone replaced by its
//     reference value has a strictly lower raw score (so a lower
//     probability of default) through the real model.
//
// Ties are broken by feature order. At most MaxReasons feature
// candidates are returned, the largest that verify; policy applies the
// materiality floor and its cap (which must not exceed MaxReasons).
func (r *Reasoner) Candidates(x []float64, raw float64) ([]Reason, error) {
	fallback := Reason{Code: FallbackReasonCode, Text: FallbackReasonText}
	if r.baseline == nil {
		return []Reason{fallback}, nil
	}
	m := r.model
	nf := m.NumFeatures()
	phi := make([]float64, nf)
	xl := make([]uint64, r.baseline.xWords)
	var paths xPaths
	if err := r.baseline.shapley(x, raw, phi, xl, &paths); err != nil {
		return nil, err
	}
	type cand struct {
		i   int
		dir string
	}
	var cands []cand
	for i := range nf {
		if !(phi[i] > 0) {
			continue
		}
		f := &m.Manifest.Features[i]
		dir := direction(f, x[i], r.point[i])
		if dir == "" || f.TextFor(dir) == "" {
			continue
		}
		cands = append(cands, cand{i, dir})
	}
	// Largest first (ties in feature order), then verified in that order
	// until MaxReasons verify: policy discloses at most that many, the
	// largest that reach its floor, so the rest could never be disclosed
	// and each verification costs a prediction.
	slices.SortStableFunc(cands, func(a, b cand) int { return cmp.Compare(phi[b.i], phi[a.i]) })
	var out []Reason
	z := make([]float64, nf)
	for _, c := range cands {
		if len(out) == MaxReasons {
			break
		}
		i := c.i
		if !r.baseline.changeLowers(x, raw, xl, &paths, i, r.point[i], z) {
			continue
		}
		f := &m.Manifest.Features[i]
		v := phi[i]
		out = append(out, Reason{
			Code: f.Reason.Code, Feature: f.Name, Value: f.Decode(x[i]), Text: f.TextFor(c.dir),
			Contribution: &v, Direction: c.dir, Reference: f.Decode(r.point[i]),
		})
	}
	return append(out, fallback), nil
}

// direction is the change of a feature from value v that moves it to the
// reference value ref, or "" if there is none.
func direction(f *models.Feature, v, ref float64) string {
	switch {
	case math.IsNaN(v):
		return models.DirProvide
	case f.Type == models.Categorical && v != ref:
		return models.DirOther
	case f.Type == models.Categorical:
		return ""
	case v < ref:
		return models.DirIncrease
	case v > ref:
		return models.DirDecrease
	}
	return ""
}

// ProvideReason is the reason naming a missing value that policy requires
// before it decides (an incomplete application): no contribution, since
// the model did not decide.
func ProvideReason(f *models.Feature) Reason {
	text := f.TextFor(models.DirProvide)
	if text == "" {
		// A required feature always has to be named; without an
		// approved text, its description says what is missing.
		text = f.Description + " not provided"
	}
	return Reason{Code: f.Reason.Code, Feature: f.Name, Text: text, Direction: models.DirProvide}
}
