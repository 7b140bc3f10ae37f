package policy

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
)

// The reason plan answers the second evaluation of an outcome adverse
// because of the model without evaluating policy again: it is
// reasons_outcome (decision.rego) restated over the parameters policy data
// and admission give for one model, read once when the model is admitted.
// A second OPA evaluation was the largest part of an adverse decision's
// policy cost (about 0.9M instructions against 0.56M for the first).
//
// It is the one place where Go restates a rule, so it is bound to the
// rules it restates: the engine uses it only when its Rego files are the
// embedded ones byte for byte (policy data may differ: the parameters are
// read from it), TestReasonPlanAgrees checks it against the full
// evaluation over the credit test set's adverse outcomes and generated
// edge cases, and wherever an input is outside what it restates (a value
// of another type, a floor that is not a float's shortest form, a
// candidate admission did not vet) it declines and Decide evaluates policy
// as before.

// reasonPlan is what reasons_outcome reads about one admitted model.
type reasonPlan struct {
	// floor is the materiality floor, a float whose shortest decimal form
	// is the policy's number, so that c >= floor in float64 is exactly the
	// policy's comparison of c's shortest form with it.
	floor         float64
	max           int
	amountFeature string
	required      []string
	// vetted are the reasons admission vetted: code, feature, meaning.
	vetted map[vetKey]struct{}
	// ruleReasons are the rulebook's reasons of rules, by rule id.
	ruleReasons map[string]Reason
	// finding is DEC-REASONS' id, title and citation.
	finding Finding
}

type vetKey struct{ code, feature, meaning string }

// reasonPlans holds the plans of admitted models.
type reasonPlans struct {
	mu    sync.RWMutex
	plans map[string]*reasonPlan
}

func (p *reasonPlans) get(id string) *reasonPlan {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.plans[id]
}

// set records plan for id (nil removes a previous one).
func (p *reasonPlans) set(id string, plan *reasonPlan) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if plan == nil {
		delete(p.plans, id)
		return
	}
	p.plans[id] = plan
}

// embeddedRules reports whether files hold exactly the embedded policy's
// Rego files (data.json aside).
func embeddedRules(files []File) bool {
	embedded, err := readPolicy("")
	if err != nil {
		return false
	}
	rego := func(fs []File) []File {
		return slices.DeleteFunc(slices.Clone(fs), func(f File) bool { return f.Path == DataFile })
	}
	a, b := rego(files), rego(embedded)
	return slices.EqualFunc(a, b, func(x, y File) bool { return x.Path == y.Path && string(x.Data) == string(y.Data) })
}

// buildReasonPlan reads model id's plan from policy data and the reasons
// admission vetted. It returns nil when the data is not of the form the
// plan restates; decisions for the model then evaluate policy twice.
func (e *Engine) buildReasonPlan(ctx context.Context, id string, vetted ast.Set) *reasonPlan {
	read := func(path ...string) ast.Value {
		v, err := storage.ReadOne(ctx, e.store, storage.Path(path))
		if err != nil {
			return nil
		}
		av, _ := v.(ast.Value)
		return av
	}
	params, ok := read("config", "decision", "models", id).(ast.Object)
	if !ok {
		return nil
	}
	plan := &reasonPlan{vetted: map[vetKey]struct{}{}, ruleReasons: map[string]Reason{}}
	maxV, ok := read("config", "decision", "max_reasons").(ast.Number)
	if !ok {
		return nil
	}
	n, ok := maxV.Int()
	if !ok || n < 0 {
		return nil
	}
	plan.max = n
	plan.floor = 0.05 // decision.rego's default
	if t := params.Get(ast.InternedTerm("materiality_floor")); t != nil {
		n, ok := t.Value.(ast.Number)
		if !ok {
			return nil
		}
		if plan.floor, ok = shortestFloat(n); !ok {
			return nil
		}
	}
	amount, ok := params.Get(ast.InternedTerm("amount_feature")).Value.(ast.String)
	if !ok {
		return nil
	}
	plan.amountFeature = string(amount)
	if t := params.Get(ast.InternedTerm("required_features")); t != nil {
		arr, ok := t.Value.(*ast.Array)
		if !ok {
			return nil
		}
		for i := range arr.Len() {
			s, ok := arr.Elem(i).Value.(ast.String)
			if !ok {
				return nil
			}
			plan.required = append(plan.required, string(s))
		}
	}
	book, ok := read(rulebookRoot).(ast.Object)
	if !ok {
		return nil
	}
	str := func(o ast.Object, k string) (string, bool) {
		t := o.Get(ast.InternedTerm(k))
		if t == nil {
			return "", false
		}
		s, ok := t.Value.(ast.String)
		return string(s), ok
	}
	var bad bool
	book.Foreach(func(k, v *ast.Term) {
		id, ok1 := k.Value.(ast.String)
		entry, ok2 := v.Value.(ast.Object)
		code, ok3 := str(entry, "reason_code")
		text, ok4 := str(entry, "reason_text")
		if !ok1 || !ok2 || !ok3 || !ok4 {
			bad = true
			return
		}
		if code != "" {
			plan.ruleReasons[string(id)] = Reason{Code: code, Text: text, Rule: string(id)}
		}
	})
	reasons, ok := book.Get(ast.InternedTerm("DEC-REASONS")).Value.(ast.Object)
	if bad || !ok {
		return nil
	}
	plan.finding.ID = "DEC-REASONS"
	plan.finding.Title, ok = str(reasons, "title")
	if !ok {
		return nil
	}
	if plan.finding.Citation, ok = str(reasons, "citation"); !ok {
		return nil
	}
	// Only entries the policy's membership test can match: exactly a
	// string code, a string or null feature and a string meaning.
	vetted.Foreach(func(t *ast.Term) {
		o, ok := t.Value.(ast.Object)
		if !ok || o.Len() != 3 {
			return
		}
		code, ok1 := str(o, "code")
		meaning, ok2 := str(o, "meaning")
		ft := o.Get(ast.InternedTerm("feature"))
		if !ok1 || !ok2 || ft == nil {
			return
		}
		feature, ok := ft.Value.(ast.String)
		if !ok || feature == "" {
			return // a null feature never names a feature reason; "" is not null
		}
		plan.vetted[vetKey{code, string(feature), meaning}] = struct{}{}
	})
	return plan
}

// shortestFloat is n as a float64 if n is exactly that float's shortest
// decimal form.
func shortestFloat(n ast.Number) (float64, bool) {
	f, ok := n.Float64()
	if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	a, ok1 := new(big.Rat).SetString(string(n))
	b, ok2 := new(big.Rat).SetString(strconv.FormatFloat(f, 'g', -1, 64))
	return f, ok1 && ok2 && a.Cmp(b) == 0
}

// numeric reports whether decisionValue converts v to a number.
func numeric(v any) bool {
	switch v.(type) {
	case float64, float32, int, int64:
		return true
	}
	return false
}

// scalarKind reports whether decisionValue converts v itself (nil is null).
func scalarKind(v any) bool {
	switch v.(type) {
	case nil, string, bool:
		return true
	}
	return numeric(v)
}

// decideByPlan is Decide's second evaluation from the model's plan: ok is
// false when there is no plan or the input is outside it, and Decide
// evaluates policy instead.
func (e *Engine) decideByPlan(in DecisionInput) (Outcome, bool) {
	if !e.useReasonPlans || !in.Explained || in.Prior == nil || !in.Prior.ReasonsNeeded || in.Prior.first == nil {
		return Outcome{}, false
	}
	f := in.Prior.first
	if f.engine != e || !f.sameApplication(in) {
		return Outcome{}, false
	}
	plan := e.reasonPlans.get(in.ModelID)
	if plan == nil {
		return Outcome{}, false
	}
	// The first outcome as Decide gave it, not as the caller may have
	// changed it.
	v := f.decision
	if v != Refer && v != Decline {
		return Outcome{}, false
	}
	// reasons_outcome's conditions on the application, which are also
	// fast_outcome's: with them, the first outcome came from the hot path
	// and was adverse because of the model.
	if pd := in.ProbabilityOfDefault; !(pd >= 0 && pd <= 1) {
		return Outcome{}, false
	}
	for _, x := range in.Features {
		if !scalarKind(x) {
			return Outcome{}, false
		}
	}
	if a, ok := in.Features[plan.amountFeature]; !ok || !numeric(a) {
		return Outcome{}, false
	}
	for _, name := range plan.required {
		if x, ok := in.Features[name]; !ok || x == nil {
			return Outcome{}, false
		}
	}
	// The rule reasons: the rules asking for v that carry one, by id.
	var ids []string
	for _, r := range f.findings {
		if r.Outcome == v {
			if _, ok := plan.ruleReasons[r.ID]; ok {
				ids = append(ids, r.ID)
			}
		}
	}
	sort.Strings(ids)
	// The material candidates, or else the fallbacks, each one vetted.
	var material, fallbacks []Reason
	for _, c := range in.Reasons {
		if c.Contribution != nil && (math.IsNaN(*c.Contribution) || math.IsInf(*c.Contribution, 0)) {
			return Outcome{}, false // Decide refuses it
		}
		if !c.Fallback && c.Contribution != nil && *c.Contribution >= plan.floor {
			if _, ok := plan.vetted[vetKey{c.Code, c.Feature, c.Meaning}]; !ok || c.Feature == "" {
				return Outcome{}, false
			}
			material = append(material, c)
		}
	}
	if len(material) == 0 {
		for _, c := range in.Reasons {
			if c.Fallback {
				if c.Code == "" || c.Feature != "" {
					return Outcome{}, false
				}
				fallbacks = append(fallbacks, c)
			}
		}
	}
	rs := make([]Reason, 0, min(plan.max, len(ids)+len(material)+len(fallbacks)))
	for _, id := range ids {
		rs = append(rs, plan.ruleReasons[id])
	}
	for _, c := range append(material, fallbacks...) {
		if c.Contribution != nil {
			x := *c.Contribution
			c.Contribution = &x
		}
		c.Rule, c.Text = "", ""
		rs = append(rs, c)
	}
	if len(rs) > plan.max {
		rs = rs[:plan.max]
	}
	if len(rs) == 0 {
		return Outcome{}, false
	}
	finding := plan.finding
	finding.Message = fmt.Sprintf("%s carries %d principal reason(s) of %d candidate(s)", v, len(rs), len(in.Reasons))
	rules := append(cloneFindings(f.findings), finding)
	sortFindings(rules)
	return Outcome{
		Decision: v, Reasons: rs, Rules: rules, PolicyRevision: e.revision, ReasonMethod: f.method,
	}, true
}
