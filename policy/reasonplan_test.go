package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/internal/testset"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// planEngines returns two engines on the embedded rules with the default
// model's decision parameters changed by params (and max_reasons by max,
// unless 0; a nil parameter is removed), the default package admitted in both: one answering second
// evaluations from reason plans, and one that evaluates policy for them,
// the reference.
func planEngines(t testing.TB, params map[string]any, max int) (plans, reference *Engine) {
	t.Helper()
	ctx := context.Background()
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	build := func() *Engine {
		files, err := readPolicy("")
		if err != nil {
			t.Fatal(err)
		}
		for i, f := range files {
			if f.Path != DataFile {
				continue
			}
			var data map[string]any
			if err := json.Unmarshal(f.Data, &data); err != nil {
				t.Fatal(err)
			}
			dec := data["config"].(map[string]any)["decision"].(map[string]any)
			if max != 0 {
				dec["max_reasons"] = max
			}
			m := dec["models"].(map[string]any)[pkg.Manifest.ID].(map[string]any)
			for k, v := range params {
				if v == nil {
					delete(m, k)
					continue
				}
				m[k] = v
			}
			if files[i].Data, err = json.Marshal(data); err != nil {
				t.Fatal(err)
			}
		}
		e, err := newEngine(ctx, files)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.AdmitEvidence(ctx, pkg.Manifest, pkg.SHA256, pkg.Reference, pkg.Evidence); err != nil {
			t.Fatal(err)
		}
		return e
	}
	plans, reference = build(), build()
	reference.useReasonPlans = false
	reference.reasonPlans.set(pkg.Manifest.ID, nil)
	if !plans.useReasonPlans {
		t.Fatal("an engine on the embedded rules does not use reason plans")
	}
	return plans, reference
}

// secondAgrees decides in (first without candidates, then with cands and
// the first outcome as Prior) on both engines and reports whether the
// plan answered. The answer must equal the reference engine's, with the
// prior (reasons_outcome) and without it (every rule).
func secondAgrees(t *testing.T, plans, reference *Engine, in DecisionInput, cands []Reason, what string) (asked, planned bool) {
	t.Helper()
	ctx := context.Background()
	in.Reasons, in.Explained, in.Prior = nil, false, nil
	first, err := plans.Decide(ctx, in)
	refFirst, refErr := reference.Decide(ctx, in)
	refFirst.first, first.first = nil, nil
	if fmt.Sprint(err) != fmt.Sprint(refErr) || !reflect.DeepEqual(first, refFirst) {
		t.Fatalf("%s: first evaluations differ:\n%+v %v\n%+v %v", what, first, err, refFirst, refErr)
	}
	first, _ = plans.Decide(ctx, in)
	if err != nil || !first.ReasonsNeeded {
		return false, false
	}
	refPrior, _ := reference.Decide(ctx, in)
	in.Reasons, in.Explained, in.Prior = cands, true, &first
	_, planned = plans.decideByPlan(in)
	got, gotErr := plans.Decide(ctx, in)
	in.Prior = &refPrior
	viaPrior, priorErr := reference.Decide(ctx, in)
	in.Prior = nil
	full, fullErr := reference.Decide(ctx, in)
	for name, w := range map[string]struct {
		o   Outcome
		err error
	}{"reasons_outcome": {viaPrior, priorErr}, "every rule": {full, fullErr}} {
		if fmt.Sprint(gotErr) != fmt.Sprint(w.err) || !reflect.DeepEqual(got, w.o) {
			t.Errorf("%s (plan answered: %v) differs from %s:\n got %+v %v\nwant %+v %v", what, planned, name, got, gotErr, w.o, w.err)
		}
	}
	return true, planned
}

// TestReasonPlanAgreesOnTestSet decides every row of the credit test set
// as the API does, candidates from the real reasoner included, and checks
// that every adverse outcome of the model is answered by the plan, with
// exactly the reference evaluation's outcome.
func TestReasonPlanAgreesOnTestSet(t *testing.T) {
	plans, reference := planEngines(t, nil, 0)
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	rows := testset.Rows(t, m)
	reasoners := map[string]*explain.Reasoner{}
	for method := range m.Reference.Methods {
		if reasoners[method], err = explain.NewReasoner(m, m.Reference, method); err != nil {
			t.Fatal(err)
		}
	}
	var asked, planned int
	for i, x := range rows {
		p := m.Predict(x)
		in := DecisionInput{ModelID: m.Manifest.ID, ProbabilityOfDefault: p.PD, Score: p.Score, Features: m.FeatureValues(x)}
		first, err := plans.Decide(context.Background(), in)
		if err != nil || !first.ReasonsNeeded {
			continue
		}
		cs, err := reasoners[first.ReasonMethod].Candidates(x, p.Raw)
		if err != nil {
			t.Fatal(err)
		}
		cands := make([]Reason, len(cs))
		for k, c := range cs {
			cands[k] = Reason{Code: c.Code, Feature: c.Feature, Contribution: c.Contribution, Direction: c.Direction, Fallback: c.Feature == ""}
			if j := m.Manifest.FeatureIndex(c.Feature); j >= 0 {
				cands[k].Meaning = m.Manifest.Features[j].Meaning
			}
		}
		a, pl := secondAgrees(t, plans, reference, in, cands, fmt.Sprintf("row %d", i))
		asked += b2i(a)
		planned += b2i(pl)
	}
	if asked < 100 || planned != asked {
		t.Errorf("%d adverse outcomes of the model, %d answered by the plan", asked, planned)
	}
	t.Logf("%d adverse outcomes of the model, all answered by the plan", asked)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestReasonPlanAgreesOnEdgeCases checks generated second evaluations
// against the reference: candidates at, just above and just below the
// floor, without contributions, fallbacks (also malformed ones), reasons
// admission did not vet, empty codes, more candidates than the cap; under
// other floors (one that is not a float's shortest form, which the plan
// must decline), caps and required features; PDs around the cut-offs and
// amounts around the limit.
func TestReasonPlanAgreesOnEdgeCases(t *testing.T) {
	_, base := servingEngine(t)
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	feature := func(name string) models.Feature { return pkg.Manifest.Features[pkg.Manifest.FeatureIndex(name)] }
	for _, c := range []struct {
		name   string
		params map[string]any
		max    int
		floor  float64
		plan   bool
	}{
		{"shipped", nil, 0, 0.05, true},
		{"floor 0", map[string]any{"materiality_floor": 0}, 0, 0, true},
		{"floor 0.1", map[string]any{"materiality_floor": 0.1}, 0, 0.1, true},
		{"floor 0.30000000000000004", map[string]any{"materiality_floor": 0.30000000000000004}, 0, 0.30000000000000004, true},
		{"floor not a float's shortest form", map[string]any{"materiality_floor": json.Number("0.05000000000000000001")}, 0, 0.05, false},
		{"floor not a number", map[string]any{"materiality_floor": "0.05"}, 0, 0.05, false},
		{"no floor", map[string]any{"materiality_floor": nil}, 0, 0.05, true},
		{"cap 1", nil, 1, 0.05, true},
		{"cap 2", nil, 2, 0.05, true},
		{"required Income", map[string]any{"required_features": []string{"Income"}}, 0, 0.05, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			plans, reference := planEngines(t, c.params, c.max)
			if got := plans.reasonPlans.get(pkg.Manifest.ID) != nil; got != c.plan {
				t.Fatalf("plan built: %v, want %v", got, c.plan)
			}
			rng := rand.New(rand.NewPCG(15, uint64(len(c.name))))
			contribution := func() *float64 {
				var v float64
				switch rng.IntN(9) {
				case 0:
					return nil
				case 1:
					v = c.floor
				case 2:
					v = math.Nextafter(c.floor, math.Inf(1))
				case 3:
					v = math.Nextafter(c.floor, math.Inf(-1))
				case 4:
					v = 0
				case 5:
					v = -0.2
				case 6:
					v = 1e-300
				default:
					v = rng.Float64()
				}
				return &v
			}
			names := []string{"Income", "Debt", "Seniority", "Records", "Amount", "Assets", "Job"}
			candidate := func() Reason {
				f := feature(names[rng.IntN(len(names))])
				r := Reason{Code: f.Reason.Code, Feature: f.Name, Meaning: f.Meaning, Contribution: contribution(), Direction: "increase"}
				switch rng.IntN(12) {
				case 0:
					return Reason{Code: "R00", Fallback: true}
				case 1:
					return Reason{Code: "R00", Fallback: true, Contribution: contribution()}
				case 2:
					return Reason{Code: "", Fallback: true}
				case 3:
					return Reason{Code: "R00", Feature: "Income", Fallback: true}
				case 4:
					r.Meaning = "marital_status" // not as admission vetted it
				case 5:
					r.Code = ""
				case 6:
					r.Feature = "" // no feature
				case 7:
					r.Code, r.Feature, r.Meaning = "R98", "Marital", "marital_status"
				case 8:
					r.Rule, r.Text = "DEC-X", "from the caller" // not passed to policy
				}
				return r
			}
			var asked, planned int
			for _, pd := range []float64{0.1, 0.2299, 0.23, 0.2400000000000001, 0.25, 0.31234567890123456, 0.4999999999999999, 0.5, 0.9, 1} {
				for _, amount := range []any{1000.0, 4000.0, 4000.5, 5000} {
					for k := range 12 {
						in := base
						in.ProbabilityOfDefault = pd
						in.Features = map[string]any{}
						for name, v := range base.Features {
							in.Features[name] = v
						}
						in.Features["Amount"] = amount
						if k == 11 {
							delete(in.Features, "Income")
						}
						cands := make([]Reason, rng.IntN(7))
						for j := range cands {
							cands[j] = candidate()
						}
						a, pl := secondAgrees(t, plans, reference, in, cands, fmt.Sprintf("pd %v amount %v candidates %+v", pd, amount, cands))
						asked += b2i(a)
						planned += b2i(pl)
					}
				}
			}
			if asked < 100 || (c.plan && planned < asked/4) || (!c.plan && planned > 0) || (c.plan && planned == asked) {
				t.Errorf("%d second evaluations, %d answered by the plan", asked, planned)
			}
			t.Logf("%d second evaluations, %d answered by the plan", asked, planned)
		})
	}
}

// TestReasonPlanOnlyForEmbeddedRules: an engine whose Rego files differ
// from the embedded ones in any byte restates nothing.
func TestReasonPlanOnlyForEmbeddedRules(t *testing.T) {
	files, err := readPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	if !embeddedRules(files) {
		t.Fatal("the embedded files are not recognised")
	}
	for i, f := range files {
		if f.Path == "decision.rego" {
			files[i].Data = append([]byte("# edited\n"), f.Data...)
		}
	}
	if embeddedRules(files) {
		t.Fatal("an edited decision.rego is taken for the embedded one")
	}
	e, err := newEngine(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	if e.useReasonPlans {
		t.Fatal("an engine on edited rules uses reason plans")
	}
}
