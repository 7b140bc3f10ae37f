package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Reason is a principal reason for a decision. As a candidate it is a
// feature reason the explainer verified (code, feature, meaning,
// contribution, direction) or the fallback; in an Outcome it may also be
// a rule reason (Rule, Code and Text from the rulebook, no feature).
type Reason struct {
	Code string `json:"code"`
	// Feature is "" for a rule or the fallback reason (null to policy).
	Feature string `json:"feature"`
	// Meaning is the feature's manifest meaning; the policy checks it as
	// well as the name for prohibited bases.
	Meaning string `json:"meaning"`
	// Contribution is the candidate's baseline Shapley value in log-odds
	// of default, which the policy compares with its materiality floor;
	// nil for the fallback.
	Contribution *float64 `json:"contribution"`
	Direction    string   `json:"direction"`
	// Fallback marks the fallback candidate, which policy discloses only
	// when no feature reason reaches the floor.
	Fallback bool `json:"fallback"`
	// Rule and Text are set on rule reasons in an Outcome.
	Rule string `json:"rule,omitempty"`
	Text string `json:"text,omitempty"`
}

// DecisionInput is what the decision rules see about one scored
// application.
type DecisionInput struct {
	ModelID              string  `json:"model_id"`
	ProbabilityOfDefault float64 `json:"probability_of_default"`
	Score                float64 `json:"score"`
	// Features are the applicant's feature values by manifest name; the
	// policy reads the requested amount from here. Values are float64,
	// int, string, bool or nil.
	Features map[string]any `json:"features"`
	// Reasons are the candidate principal reasons, most important first.
	// With Explained false they are not passed at all: the policy then
	// answers ReasonsNeeded for a model-driven adverse outcome.
	Reasons   []Reason `json:"reasons"`
	Explained bool     `json:"-"`
	// Prior, with Explained, is the Outcome Decide gave for this same
	// application without candidates, which asked for them. The engine
	// then answers from the model's reason plan (reasonplan.go) or
	// evaluates only the reason rules instead of every rule again, reusing
	// the prior's rules; it falls back to the full evaluation when the
	// prior is not from this engine, for this input, or neither gives an
	// answer.
	Prior *Outcome `json:"-"`
}

// Outcome is the policy's decision for one application.
type Outcome struct {
	Decision Decision `json:"decision"`
	// Reasons are the principal reasons to disclose (at most four), empty
	// for an approval.
	Reasons []Reason `json:"reasons"`
	// Rules are the decision rules that fired, with their citations.
	Rules []Finding `json:"rules"`
	// Violations are set only when the decision may not be issued.
	Violations     []Finding `json:"violations,omitempty"`
	PolicyRevision string    `json:"policy_revision"`
	// ReasonsNeeded: the outcome is adverse because of the model's score
	// and the input carried no candidate reasons; decide again with them.
	ReasonsNeeded bool `json:"reasons_needed,omitempty"`
	// ReasonMethod is the reference method policy names for this model
	// (models.MethodCutoff or models.MethodApproved).
	ReasonMethod string `json:"reason_method,omitempty"`

	// first is what the evaluation that asked for reasons saw and found,
	// for Decide to build on when it is passed back as a Prior.
	first *firstEvaluation
}

// firstEvaluation is an evaluation without candidates that answered
// reasons_needed: its input (without reasons) and its rules as policy
// values, so the second evaluation neither converts them again nor
// re-derives them.
type firstEvaluation struct {
	engine   *Engine
	modelID  string
	pd       float64
	score    float64
	features map[string]any
	input    ast.Object
	rules    ast.Value
	// The outcome as decoded, for the reason plan.
	decision Decision
	findings []Finding
	method   string
}

// Incomplete is the outcome of an application lacking information the
// policy requires (12 CFR 1002.9(c)).
const Incomplete Decision = "incomplete"

// Missing returns the required features the outcome's incompleteness
// finding names.
func (o Outcome) Missing() []string {
	for _, f := range o.Rules {
		if f.Outcome == Incomplete {
			return f.Features
		}
	}
	return nil
}

// Decide applies the decision rules. If the decision may not be issued (an
// adverse outcome without reasons, a reason naming a prohibited basis, an
// unknown model, an invalid PD) it returns the Outcome with its Violations
// and a *Violation wrapping ErrRejected.
func (e *Engine) Decide(ctx context.Context, in DecisionInput) (Outcome, error) {
	if o, ok := e.decideByPlan(in); ok {
		return o, nil
	}
	out := Outcome{PolicyRevision: e.revision}
	var res map[string]ast.Value
	second, ok, err := e.secondInput(in)
	if err != nil {
		return out, fmt.Errorf("policy: decide: %w", err)
	}
	if ok {
		res, err = e.eval(ctx, e.reasons, queryReasons, second)
		if errors.Is(err, ErrUndefined) {
			res, err = nil, nil // not the hot path's case: evaluate every rule
		}
		if err != nil {
			return out, err
		}
	}
	var input ast.Object
	if res == nil {
		if input, err = decisionValue(in, e.terms); err != nil {
			return out, fmt.Errorf("policy: decide: %w", err)
		}
		if res, err = e.eval(ctx, e.decision, queryDecision, input); err != nil {
			return out, err
		}
	}
	out.Decision = Decision(asString(res["decision"]))
	out.Rules = asFindings(res["rules"])
	out.Violations = asFindings(res["violations"])
	out.Reasons = asReasons(res["reasons"])
	out.ReasonsNeeded, _ = asBool(res["reasons_needed"], queryDecision, "reasons_needed")
	out.ReasonMethod = asString(res["reason_method"])
	switch {
	case len(out.Violations) > 0:
		return out, &Violation{Kind: ErrRejected, Op: fmt.Sprintf("decide (model %q)", in.ModelID), Findings: out.Violations}
	case out.Decision != Approve && out.Decision != Refer && out.Decision != Decline && out.Decision != Incomplete:
		return out, fmt.Errorf("policy: %s: decision %q: %w", queryDecision, out.Decision, ErrUndefined)
	}
	if out.ReasonsNeeded && !in.Explained {
		// A copy of the features: the caller may reuse its map.
		out.first = &firstEvaluation{
			engine: e, modelID: in.ModelID, pd: in.ProbabilityOfDefault, score: in.Score,
			features: maps.Clone(in.Features), input: input, rules: res["rules"],
			decision: out.Decision, findings: cloneFindings(out.Rules), method: out.ReasonMethod,
		}
	}
	return out, nil
}

// cloneFindings copies fs deeply, so that a caller changing the Outcome
// it was given changes nothing Decide kept.
func cloneFindings(fs []Finding) []Finding {
	out := slices.Clone(fs)
	for i := range out {
		out[i].Features = slices.Clone(out[i].Features)
	}
	return out
}

// secondInput is the reason rules' input for in: the prior's input with
// in's candidate reasons and the prior's decision and rules. ok is false
// unless in carries candidates and a Prior this engine gave, asking for
// reasons, for the same application (model, PD, score and features, each
// value of the same type and bits), so nothing but the candidates is
// converted again.
func (e *Engine) secondInput(in DecisionInput) (second ast.Object, ok bool, err error) {
	if !in.Explained || in.Prior == nil || !in.Prior.ReasonsNeeded || in.Prior.first == nil {
		return nil, false, nil
	}
	f := in.Prior.first
	if f.engine != e || !f.sameApplication(in) {
		return nil, false, nil
	}
	reasons, err := reasonsValue(in, e.terms)
	if err != nil {
		return nil, false, err
	}
	second = f.input.Copy()
	second.Insert(ast.InternedTerm("reasons"), reasons)
	second.Insert(ast.InternedTerm("prior"), ast.ObjectTerm(
		item("decision", ast.StringTerm(string(in.Prior.Decision))),
		item("rules", ast.NewTerm(f.rules)),
	))
	return second, true, nil
}

// sameApplication reports whether in is the application f evaluated.
// Numbers compare by their bits (-0 and 0 format differently); a value
// of a kind Decide converts by JSON is never the same.
func (f *firstEvaluation) sameApplication(in DecisionInput) bool {
	if in.ModelID != f.modelID || !sameScalar(in.ProbabilityOfDefault, f.pd) || !sameScalar(in.Score, f.score) || len(in.Features) != len(f.features) {
		return false
	}
	for k, v := range in.Features {
		w, ok := f.features[k]
		if !ok || !sameScalar(v, w) {
			return false
		}
	}
	return true
}

func sameScalar(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case float64:
		y, ok := b.(float64)
		return ok && math.Float64bits(x) == math.Float64bits(y)
	case float32:
		y, ok := b.(float32)
		return ok && math.Float32bits(x) == math.Float32bits(y)
	case int:
		y, ok := b.(int)
		return ok && x == y
	case int64:
		y, ok := b.(int64)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	}
	return false
}

// decisionValue is in as the decision rules' input.
func decisionValue(in DecisionInput, terms *inputTerms) (ast.Object, error) {
	feats := ast.NewObjectWithCapacity(len(in.Features))
	for k, v := range in.Features {
		t, err := scalar(v)
		if err != nil {
			return nil, fmt.Errorf("feature %q: %w", k, err)
		}
		feats.Insert(terms.name(k), t)
	}
	pd, err := policyPD(in.ProbabilityOfDefault)
	if err != nil {
		return nil, fmt.Errorf("probability of default: %w", err)
	}
	score, err := number(in.Score)
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	obj := ast.NewObject(
		item("model_id", ast.StringTerm(in.ModelID)),
		item("probability_of_default", pd),
		item("score", score),
		item("features", ast.NewTerm(feats)),
	)
	if in.Explained {
		rs, err := reasonsValue(in, terms)
		if err != nil {
			return nil, err
		}
		obj.Insert(ast.InternedTerm("reasons"), rs)
	}
	return obj, nil
}

// reasonsValue is in's candidate reasons as policy values.
func reasonsValue(in DecisionInput, terms *inputTerms) (*ast.Term, error) {
	rs := make([]*ast.Term, len(in.Reasons))
	for i, r := range in.Reasons {
		var err error
		if rs[i], err = terms.reason(r); err != nil {
			return nil, err
		}
	}
	return ast.ArrayTerm(rs...), nil
}

// policyPD is the probability of default as the decision rules see it:
// for a PD in [0, 1], its shortest decimal form truncated toward zero to 15
// significant digits; anything else unchanged.
//
// OPA compares numbers of up to 15 significant digits as machine integers
// and anything longer through math/big, and a float64's shortest form
// usually has 16 or 17 digits: those comparisons alone were 4% of the
// server's CPU. Truncation keeps every cut-off comparison exact. A cut-off
// t with at most 15 decimal places lies on the grid the PD is truncated to,
// so pd < t exactly when the truncated pd < t, and pd >= t exactly when it
// is >= t: the two forms decision.rego compares PDs with. Truncation toward
// zero also keeps pd >= 0 and pd <= 1. What is lost is below a part in
// 10^15, under the rounding error of summing the model's trees.
func policyPD(f float64) (*ast.Term, error) {
	if !(f >= 0 && f <= 1) {
		return number(f)
	}
	return ast.NumberTerm(json.Number(truncateDigits(f, 15))), nil
}

// truncateDigits writes the shortest decimal form of a finite f >= 0 with
// at most n significant digits, dropping (not rounding) the rest, without
// an exponent.
func truncateDigits(f float64, n int) string {
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddddde±xx
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	if len(digits) <= n {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	digits = strings.TrimRight(digits[:n], "0")
	x, _ := strconv.Atoi(exp) // the value is 0.digits × 10^(x+1)
	point := x + 1
	switch {
	case point <= 0:
		return "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		return digits + strings.Repeat("0", point-len(digits))
	default:
		return digits[:point] + "." + digits[point:]
	}
}

// number refuses NaN and infinities, which have no JSON form and would
// otherwise compare false against every threshold.
func number(f float64) (*ast.Term, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%v is not a finite number", f)
	}
	return ast.NumberTerm(json.Number(strconv.FormatFloat(f, 'g', -1, 64))), nil
}

func scalar(v any) (*ast.Term, error) {
	switch x := v.(type) {
	case nil:
		return ast.NullTerm(), nil
	case float64:
		return number(x)
	case float32:
		return number(float64(x))
	case int:
		return ast.IntNumberTerm(x), nil
	case int64:
		return ast.NumberTerm(json.Number(strconv.FormatInt(x, 10))), nil
	case string:
		return ast.StringTerm(x), nil
	case bool:
		return ast.BooleanTerm(x), nil
	}
	val, err := ast.InterfaceToValue(v)
	if err != nil {
		return nil, err
	}
	return ast.NewTerm(val), nil
}
