package policy

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/models"
)

// servingEngine is an engine as `glassbox serve` has it: the embedded
// policy with the default model package admitted. It returns the decision
// input of an application referred with four reasons, the most expensive
// outcome, with reasons and meanings from that package's manifest.
func servingEngine(b testing.TB) (*Engine, DecisionInput) {
	b.Helper()
	ctx := context.Background()
	e := testEngine(b)
	pkg, err := models.Default()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := e.AdmitEvidence(ctx, pkg.Manifest, pkg.SHA256, pkg.Reference, pkg.Evidence); err != nil {
		b.Fatal(err)
	}
	in := DecisionInput{
		// A PD as the model gives it, with all 17 significant digits.
		ModelID: pkg.Manifest.ID, ProbabilityOfDefault: 0.31234567890123456, Score: 588,
		Features: map[string]any{
			"Seniority": 3.0, "Home": "rent", "Time": 48.0, "Records": "no", "Job": "fixed",
			"Expenses": 60.0, "Income": 110.0, "Assets": 0.0, "Debt": 0.0, "Amount": 1000.0, "Price": 1300.0,
		},
	}
	for _, name := range []string{"Income", "Debt", "Seniority", "Records", "Amount"} {
		f := pkg.Manifest.Features[pkg.Manifest.FeatureIndex(name)]
		in.Reasons = append(in.Reasons, Reason{Code: f.Reason.Code, Feature: f.Name, Meaning: f.Meaning, Contribution: ptr(0.5), Direction: "increase"})
	}
	in.Explained = true
	return e, in
}

// BenchmarkDecisionPolicies measures every policy evaluation the API makes
// for one scoring request: Authorize (lender creates a decision) plus
// Decide (an adverse outcome with four reasons, the most expensive path).
// Besides ns/op it reports the median of per-iteration times, which is the
// figure the budget (50 µs) is set on: a mean is pulled up by GC pauses
// and by other processes on shared cores.
func BenchmarkDecisionPolicies(b *testing.B) {
	ctx := context.Background()
	e, in := servingEngine(b)
	req := AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsCreate}
	times := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, err := e.Authorize(ctx, req); err != nil {
			b.Fatal(err)
		}
		o, err := e.Decide(ctx, in)
		if err != nil || o.Decision != Refer || len(o.Reasons) != 4 {
			b.Fatal(o, err)
		}
		if len(times) < cap(times) {
			times = append(times, time.Since(t0))
		}
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Nanoseconds())/1e3, "median-µs")
}

// BenchmarkAuthorize and BenchmarkDecide split the figure above.
// Authorize is timed on the request kinds the API sees most.
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	e := testEngine(b)
	for _, c := range []struct {
		name string
		req  AccessRequest
	}{
		{"lender-create", AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsCreate}},
		{"lender-read-own", AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsRead, ResourceOwner: "bank-a", DecisionID: "d1"}},
		{"applicant-proof", AccessRequest{Role: RoleApplicant, Subject: "token", Action: ActionDecisionsProof, DecisionID: "d1", TokenDecisionID: "d1"}},
		{"anonymous-checkpoint", AccessRequest{Action: ActionLedgerCheckpoint}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Authorize(ctx, c.req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecide times Decide alone: for an admitted model (the fast
// path) on the referral above and on an approval (60% of the credit test
// set's outcomes), and for a model the engine has not admitted (every rule
// evaluated). admitted-refer-second is the referral's second evaluation as
// the API makes it, with the first outcome as Prior (the reason rules
// only); admitted-refer-first is that first evaluation, without
// candidates.
func BenchmarkDecide(b *testing.B) {
	ctx := context.Background()
	admitted, refer := servingEngine(b)
	approve := refer
	approve.ProbabilityOfDefault = 0.11234567890123456
	first := refer
	first.Reasons, first.Explained = nil, false
	prior, err := admitted.Decide(ctx, first)
	if err != nil || !prior.ReasonsNeeded {
		b.Fatal(prior, err)
	}
	second := refer
	second.Prior = &prior
	for _, c := range []struct {
		name string
		e    *Engine
		in   DecisionInput
		want Decision
	}{
		{"admitted-refer", admitted, refer, Refer},
		{"admitted-approve", admitted, approve, Approve},
		{"admitted-refer-first", admitted, first, Refer},
		{"admitted-refer-second", admitted, second, Refer},
		{"not-admitted-refer", testEngine(b), refer, Refer},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if o, err := c.e.Decide(ctx, c.in); err != nil || o.Decision != c.want {
					b.Fatal(o, err)
				}
			}
		})
	}
}
