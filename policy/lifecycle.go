package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// lifecycleQueries are the prepared queries of policy/rego/lifecycle.rego.
type lifecycleQueries struct {
	action, settings rego.PreparedEvalQuery
}

// Actors of a final action.
const (
	ActorReviewer = "reviewer"
	ActorSystem   = "system"
)

// ActionInput is what the final-action policy is asked about one
// proposed final action.
type ActionInput struct {
	// Action is the final action (approve, decline, counteroffer,
	// withdrawn, incomplete).
	Action string `json:"action"`
	// Reasons are the reason codes given.
	Reasons []string `json:"reasons"`
	// NoteChars is the length of the justification note in characters.
	NoteChars int  `json:"note_chars"`
	HasTerms  bool `json:"has_terms"`
	// Actor is ActorReviewer or ActorSystem.
	Actor string `json:"actor"`
	// ModelDecision is what the decision record says the model decided.
	ModelDecision string `json:"model_decision"`
	// Contested is set when the applicant has contested the decision.
	Contested bool `json:"contested"`
	// ModelReasons are the reason codes of the decision's model, code →
	// approved text (its manifest and the fallback).
	ModelReasons map[string]string `json:"model_reasons"`
	// CurrentAction is the id of the final action in force ("" if none).
	CurrentAction string `json:"-"`
	// Amends is the id of the final action this one amends ("" if none).
	Amends string `json:"amends"`
}

// ActionReason is a reason code with the text policy approves for it.
type ActionReason struct {
	Code string
	Text string
}

// ActionVerdict is the final-action policy's answer.
type ActionVerdict struct {
	// Override is set when the action goes against the model's outcome.
	Override bool
	// Reasons are the given codes with their texts, in the order given.
	Reasons        []ActionReason
	Findings       []Finding
	PolicyRevision string
}

// CheckAction asks the final-action policy about in. A refusal returns the
// verdict and a *Violation wrapping ErrRejected.
func (e *Engine) CheckAction(ctx context.Context, in ActionInput) (ActionVerdict, error) {
	v := ActionVerdict{PolicyRevision: e.revision}
	if in.Reasons == nil {
		in.Reasons = []string{}
	}
	if in.ModelReasons == nil {
		in.ModelReasons = map[string]string{}
	}
	input, err := toValue(in)
	if err != nil {
		return v, fmt.Errorf("policy: final action input: %w", err)
	}
	if in.CurrentAction != "" {
		obj := input.(ast.Object)
		obj.Insert(ast.StringTerm("current_action"), ast.ObjectTerm(item("id", ast.StringTerm(in.CurrentAction))))
	}
	res, err := e.eval(ctx, e.lifecycle.action, queryLifecycle, input)
	if err != nil {
		return v, err
	}
	allowed, err := asBool(res["allowed"], queryLifecycle, "allowed")
	if err != nil {
		return v, err
	}
	if v.Override, err = asBool(res["override"], queryLifecycle, "override"); err != nil {
		return v, err
	}
	for _, t := range elems(res["reasons"]) {
		var r ActionReason
		fields(t.Value, func(k string, x ast.Value) {
			switch k {
			case "code":
				r.Code = asString(x)
			case "text":
				r.Text = asString(x)
			}
		})
		v.Reasons = append(v.Reasons, r)
	}
	v.Findings = asFindings(res["violations"])
	if !allowed || len(v.Findings) > 0 {
		return v, &Violation{Kind: ErrRejected, Op: "final action " + in.Action, Findings: v.Findings}
	}
	return v, nil
}

// LifecycleSettings are the lifecycle parameters the API applies itself.
type LifecycleSettings struct {
	// ReviewDeadlineDays is how long a referral or contest may wait for its
	// final action before it is overdue.
	ReviewDeadlineDays int
	// NoticeDeadlineDays is how long after an adverse action its notice
	// must have been sent.
	NoticeDeadlineDays int
}

// Lifecycle returns the lifecycle parameters of the policy.
func (e *Engine) Lifecycle(ctx context.Context) (LifecycleSettings, error) {
	var s LifecycleSettings
	res, err := e.eval(ctx, e.lifecycle.settings, queryLifecycleSettings, ast.NewObject())
	if err != nil {
		return s, err
	}
	for name, dst := range map[string]*int{"review_deadline_days": &s.ReviewDeadlineDays, "notice_deadline_days": &s.NoticeDeadlineDays} {
		n, ok := res[name].(ast.Number)
		if !ok {
			return s, fmt.Errorf("policy: %s: %s is %v, not a number", queryLifecycleSettings, name, res[name])
		}
		i, ok := n.Int()
		if !ok || i <= 0 {
			return s, fmt.Errorf("policy: %s: %s must be a positive whole number of days", queryLifecycleSettings, name)
		}
		*dst = i
	}
	return s, nil
}
