package api

import (
	"context"
	"fmt"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// Evaluation is what scoring, explanation and the decision policy make of
// one validated application. It is the whole decision path short of the
// ledger, shared by the API, recourse and `glassbox audit replay`, so
// that all three decide in exactly the same way.
type Evaluation struct {
	Prediction scoring.Prediction
	// Contributions holds one TreeSHAP value per feature, then the
	// expected value.
	Contributions []float64
	Outcome       policy.Outcome
	// Reasons are the disclosed reasons: those policy chose, in policy
	// order, with the explainer's wording and numbers.
	Reasons []explain.Reason
}

// Decider is the part of the policy engine that decides.
type Decider interface {
	Decide(ctx context.Context, in policy.DecisionInput) (policy.Outcome, error)
}

// Evaluate scores, explains (with the additivity check) and decides the
// feature vector x. A policy refusal is returned as an error wrapping the
// *policy.Violation.
func Evaluate(ctx context.Context, pol Decider, m *scoring.Model, ex *explain.Explainer, x []float64) (*Evaluation, error) {
	n := m.NumFeatures()
	ev := &Evaluation{Prediction: m.Predict(x), Contributions: make([]float64, n+1)}
	if err := ex.ExplainScored(x, ev.Prediction.Raw, ev.Contributions); err != nil {
		return nil, fmt.Errorf("explaining: %w", err)
	}
	// Every candidate goes to policy, which picks how many to disclose.
	candidates := explain.Reasons(m, x, ev.Contributions, explain.MaxReasons)
	in := policy.DecisionInput{
		ModelID:              m.Manifest.ID,
		ProbabilityOfDefault: ev.Prediction.PD,
		Score:                ev.Prediction.Score,
		Features:             m.FeatureValues(x),
		Reasons:              make([]policy.Reason, len(candidates)),
	}
	for i, r := range candidates {
		in.Reasons[i] = policy.Reason{Code: r.Code, Feature: r.Feature}
		// The fallback reason names no feature.
		if j := m.Manifest.FeatureIndex(r.Feature); j >= 0 {
			in.Reasons[i].Meaning = m.Manifest.Features[j].Meaning
		}
	}
	out, err := pol.Decide(ctx, in)
	if err != nil {
		if v, ok := policy.AsViolation(err); ok {
			return nil, &errRejected{v}
		}
		return nil, fmt.Errorf("deciding: %w", err)
	}
	ev.Outcome = out
	byFeature := make(map[string]explain.Reason, len(candidates))
	for _, r := range candidates {
		byFeature[r.Feature] = r
	}
	for _, r := range out.Reasons {
		er, ok := byFeature[r.Feature]
		if !ok {
			return nil, fmt.Errorf("policy chose reason %q (%s), which the explainer did not offer", r.Code, r.Feature)
		}
		ev.Reasons = append(ev.Reasons, er)
	}
	return ev, nil
}

// policyApprover backs recourse with the real decision path: a suggested
// change counts only if Evaluate, policy included, approves it.
type policyApprover struct {
	pol Decider
	m   *scoring.Model
	ex  *explain.Explainer
}

func (a policyApprover) Approves(ctx context.Context, x []float64, _ scoring.Prediction) (bool, error) {
	ev, err := Evaluate(ctx, a.pol, a.m, a.ex, x)
	if err != nil {
		if _, ok := policy.AsViolation(err); ok {
			return false, nil
		}
		return false, err
	}
	return ev.Outcome.Decision == policy.Approve, nil
}
