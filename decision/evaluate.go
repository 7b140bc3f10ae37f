package decision

import (
	"context"
	"fmt"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/models"
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
	// ReasonMethod is how the reasons were chosen (explain.Method*); ""
	// when the outcome needed no model reasons.
	ReasonMethod string
}

// Decider is the part of the policy engine that decides.
type Decider interface {
	Decide(ctx context.Context, in policy.DecisionInput) (policy.Outcome, error)
}

// Explainers are a model's explainers: exact path-dependent TreeSHAP for
// the attributions every decision records, and verified baseline Shapley
// reasons per reference method for adverse outcomes.
type Explainers struct {
	TreeSHAP  *explain.Explainer
	reasoners map[string]*explain.Reasoner
}

// NewExplainers prepares m's explainers, one reasoner per reference method
// its package ships (none without a reference.json: then the fallback is
// the only model reason).
func NewExplainers(m *scoring.Model) (*Explainers, error) {
	ts, err := explain.New(m)
	if err != nil {
		return nil, err
	}
	ex := &Explainers{TreeSHAP: ts, reasoners: map[string]*explain.Reasoner{}}
	if m.Reference == nil {
		r, err := explain.NewReasoner(m, nil, "")
		if err != nil {
			return nil, err
		}
		ex.reasoners[""] = r
		return ex, nil
	}
	for method := range m.Reference.Methods {
		r, err := explain.NewReasoner(m, m.Reference, method)
		if err != nil {
			return nil, err
		}
		ex.reasoners[method] = r
	}
	return ex, nil
}

// Reasoner returns the reasoner for the reference method policy names.
func (e *Explainers) Reasoner(method string) (*explain.Reasoner, error) {
	if r, ok := e.reasoners[""]; ok {
		return r, nil // no reference shipped: only the fallback
	}
	r, ok := e.reasoners[method]
	if !ok {
		return nil, fmt.Errorf("policy names reference method %q, which the model package does not ship", method)
	}
	return r, nil
}

// Evaluate scores, explains (with the additivity check) and decides the
// feature vector x. A policy refusal is returned as an error wrapping the
// *policy.Violation.
//
// Policy is asked first without candidate reasons. Only when it answers
// that the outcome is adverse because of the model's score are the
// verified baseline reasons computed, and policy asked again with them:
// approvals and rule-only outcomes cost no baseline explanation.
func Evaluate(ctx context.Context, pol Decider, m *scoring.Model, ex *Explainers, x []float64) (*Evaluation, error) {
	n := m.NumFeatures()
	ev := &Evaluation{Prediction: m.Predict(x), Contributions: make([]float64, n+1)}
	if err := ex.TreeSHAP.ExplainScored(x, ev.Prediction.Raw, ev.Contributions); err != nil {
		return nil, fmt.Errorf("explaining: %w", err)
	}
	in := policy.DecisionInput{
		ModelID:              m.Manifest.ID,
		ProbabilityOfDefault: ev.Prediction.PD,
		Score:                ev.Prediction.Score,
		Features:             m.FeatureValues(x),
	}
	out, err := decide(ctx, pol, in)
	if err != nil {
		return nil, err
	}
	var candidates []explain.Reason
	if out.ReasonsNeeded {
		r, err := ex.Reasoner(out.ReasonMethod)
		if err != nil {
			return nil, err
		}
		if candidates, err = r.Candidates(x, ev.Prediction.Raw); err != nil {
			return nil, fmt.Errorf("explaining reasons: %w", err)
		}
		ev.ReasonMethod = r.Method()
		in.Explained = true
		// The first outcome lets policy evaluate only its reason rules.
		first := out
		in.Prior = &first
		in.Reasons = make([]policy.Reason, len(candidates))
		for i, c := range candidates {
			pr := policy.Reason{Code: c.Code, Feature: c.Feature, Contribution: c.Contribution, Direction: c.Direction, Fallback: c.Feature == ""}
			if j := m.Manifest.FeatureIndex(c.Feature); j >= 0 {
				pr.Meaning = m.Manifest.Features[j].Meaning
			}
			in.Reasons[i] = pr
		}
		if out, err = decide(ctx, pol, in); err != nil {
			return nil, err
		}
		if out.ReasonsNeeded {
			return nil, fmt.Errorf("deciding: policy asks for reasons although they were given: %w", policy.ErrUndefined)
		}
	}
	ev.Outcome = out
	if ev.Reasons, err = disclosed(m.Manifest, out, candidates); err != nil {
		return nil, err
	}
	return ev, nil
}

func decide(ctx context.Context, pol Decider, in policy.DecisionInput) (policy.Outcome, error) {
	out, err := pol.Decide(ctx, in)
	if err != nil {
		if v, ok := policy.AsViolation(err); ok {
			return out, &Rejected{Violation: v}
		}
		return out, fmt.Errorf("deciding: %w", err)
	}
	return out, nil
}

// disclosed turns the reasons policy chose into the explainer's: a rule
// reason as the rulebook words it, a model reason as the candidate the
// explainer offered, and for an incomplete application one "provide"
// reason per missing feature the incompleteness rule names.
func disclosed(man *models.Manifest, out policy.Outcome, candidates []explain.Reason) ([]explain.Reason, error) {
	var rs []explain.Reason
	for _, r := range out.Reasons {
		if r.Rule != "" {
			rs = append(rs, explain.Reason{Code: r.Code, Text: r.Text, Rule: r.Rule})
			continue
		}
		found := false
		for _, c := range candidates {
			if c.Code == r.Code && c.Feature == r.Feature {
				rs = append(rs, c)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("policy chose reason %q (%s), which the explainer did not offer", r.Code, r.Feature)
		}
	}
	for _, name := range out.Missing() {
		j := man.FeatureIndex(name)
		if j < 0 {
			return nil, fmt.Errorf("policy requires feature %q, which model %q does not have", name, man.ID)
		}
		rs = append(rs, explain.ProvideReason(&man.Features[j]))
	}
	return rs, nil
}

// Rejected is the decision policy refusing to issue a decision: the
// application's problem, not a failure of the service.
type Rejected struct{ Violation *policy.Violation }

func (e *Rejected) Error() string { return e.Violation.Error() }
func (e *Rejected) Unwrap() error { return e.Violation }

// policyApprover backs recourse with the real decision path: a suggested
// change counts only if Evaluate, policy included, approves it.
type policyApprover struct {
	pol Decider
	m   *scoring.Model
	ex  *Explainers
}

// Approves asks policy once: whether a change approves does not depend on
// the reasons an adverse outcome would carry, so none are computed.
func (a policyApprover) Approves(ctx context.Context, x []float64, p scoring.Prediction) (bool, error) {
	out, err := decide(ctx, a.pol, policy.DecisionInput{
		ModelID:              a.m.Manifest.ID,
		ProbabilityOfDefault: p.PD,
		Score:                p.Score,
		Features:             a.m.FeatureValues(x),
	})
	if err != nil {
		if _, ok := policy.AsViolation(err); ok {
			return false, nil
		}
		return false, err
	}
	return out.Decision == policy.Approve, nil
}
