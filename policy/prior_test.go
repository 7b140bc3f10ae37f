package policy

import (
	"context"
	"fmt"
	"maps"
	"reflect"
	"testing"
)

// TestDecideWithPriorAgrees checks the second evaluation of an adverse
// outcome: deciding with the first outcome as Prior (the reason rules
// only) must give exactly what deciding without it gives (every rule),
// for clean and unclean candidates, and a Prior for another input, from
// another engine or of another verdict must not change the answer either.
func TestDecideWithPriorAgrees(t *testing.T) {
	ctx := context.Background()
	e, clean := servingEngine(t)
	other := testEngine(t)
	cands := clean.Reasons
	reasonSets := map[string][]Reason{
		"four": cands,
		"one":  cands[:1],
		"immaterial": {{Code: cands[0].Code, Feature: cands[0].Feature, Meaning: cands[0].Meaning, Contribution: ptr(0.01), Direction: "increase"},
			{Code: "R00", Fallback: true}},
		"fallback":   {{Code: "R00", Fallback: true}},
		"relabelled": {{Code: cands[0].Code, Feature: cands[0].Feature, Meaning: "marital_status", Contribution: ptr(0.5), Direction: "increase"}},
		"prohibited": {{Code: "R98", Feature: "Marital", Meaning: "marital_status", Contribution: ptr(0.5), Direction: "increase"}},
		"none":       {},
	}
	var second, taken, answered int
	for name, rs := range reasonSets {
		for _, pd := range []float64{0.1, 0.235, 0.25, 0.31234567890123456, 0.5, 0.9, 1} {
			for _, amount := range []float64{1000, 4000.5} {
				in := clean
				in.Features = map[string]any{}
				for k, v := range clean.Features {
					in.Features[k] = v
				}
				in.Features["Amount"] = amount
				in.ProbabilityOfDefault = pd
				in.Reasons, in.Explained = nil, false
				first, err := e.Decide(ctx, in)
				if err != nil || !first.ReasonsNeeded {
					continue
				}
				second++
				in.Reasons, in.Explained = rs, true
				want, wantErr := e.Decide(ctx, in)
				priors := map[string]*Outcome{"own": &first}
				// A prior for another PD, of the same verdict or not.
				for _, q := range []float64{pd - 0.001, 0.9} {
					if q == pd {
						continue // the same input: its own prior
					}
					o := in
					o.ProbabilityOfDefault, o.Reasons, o.Explained = q, nil, false
					if p, err := e.Decide(ctx, o); err == nil && p.ReasonsNeeded {
						priors[fmt.Sprint("pd ", q)] = &p
					}
				}
				// A prior for other features, the same in all but the amount.
				o := in
				o.Reasons, o.Explained = nil, false
				o.Features = maps.Clone(in.Features)
				o.Features["Amount"] = amount + 1
				if p, err := e.Decide(ctx, o); err == nil && p.ReasonsNeeded {
					priors["amount"] = &p
				}
				if p, err := other.Decide(ctx, DecisionInput{ModelID: in.ModelID, ProbabilityOfDefault: pd, Score: in.Score, Features: in.Features}); err == nil {
					priors["other engine"] = &p
				}
				for pname, prior := range priors {
					in.Prior = prior
					s, ok, err := e.secondInput(in)
					if err != nil {
						t.Fatal(err)
					}
					if ok {
						if pname != "own" {
							t.Errorf("%s pd %v: prior %s accepted", name, pd, pname)
						}
						taken++
						if _, err := e.eval(ctx, e.reasons, queryReasons, s); err == nil {
							answered++
						}
					}
					got, gotErr := e.Decide(ctx, in)
					in.Prior = nil
					if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
						t.Errorf("%s pd %v amount %v prior %s:\n got %+v %v\nwant %+v %v", name, pd, amount, pname, got, gotErr, want, wantErr)
					}
				}
			}
		}
	}
	// The grid has second evaluations, and the reason rules serve them.
	if second < 20 || taken != second || answered < second/2 {
		t.Errorf("%d second evaluations, %d taking the prior, %d answered by the reason rules", second, taken, answered)
	}
	t.Logf("%d second evaluations, %d answered by the reason rules", second, answered)
}
