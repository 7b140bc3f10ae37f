package explain

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
)

func TestReasonsOnHighRiskRows(t *testing.T) {
	fx := loadFixture(t, "credit-risk-v1")
	man := fx.m.Manifest
	out := make([]float64, fx.e.NumFeatures()+1)
	high := 0
	for i, x := range fx.rows {
		if fx.m.Predict(x).PD < 0.5 {
			continue
		}
		high++
		if err := fx.e.Explain(x, out); err != nil {
			t.Fatal(err)
		}
		rs := Reasons(fx.m, x, out, MaxReasons)
		if len(rs) < 1 || len(rs) > 4 {
			t.Fatalf("row %d: %d reasons", i, len(rs))
		}
		for k, r := range rs {
			if r.Code == FallbackReasonCode {
				t.Fatalf("row %d: fallback reason although PD is %v", i, fx.m.Predict(x).PD)
			}
			j := man.FeatureIndex(r.Feature)
			if j < 0 {
				t.Fatalf("row %d: reason for unknown feature %q", i, r.Feature)
			}
			f := man.Features[j]
			if r.Code != f.Reason.Code || r.Text != f.Reason.Text {
				t.Errorf("row %d: reason %q/%q for %s, manifest says %q/%q", i, r.Code, r.Text, r.Feature, f.Reason.Code, f.Reason.Text)
			}
			if !(r.Contribution > 0) || r.Contribution != out[j] {
				t.Errorf("row %d: %s contribution %v (explanation %v)", i, r.Feature, r.Contribution, out[j])
			}
			if k > 0 && r.Contribution > rs[k-1].Contribution {
				t.Errorf("row %d: reasons not ordered by contribution: %v", i, rs)
			}
			switch v := r.Value.(type) {
			case nil:
				if !math.IsNaN(x[j]) {
					t.Errorf("row %d: %s value nil, row has %v", i, r.Feature, x[j])
				}
			case string:
				if f.Type != models.Categorical || f.Levels[int(x[j])] != v {
					t.Errorf("row %d: %s value %q, row has %v", i, r.Feature, v, x[j])
				}
			case float64:
				if f.Type != models.Numeric || v != x[j] {
					t.Errorf("row %d: %s value %v, row has %v", i, r.Feature, v, x[j])
				}
			default:
				t.Errorf("row %d: %s value of type %T", i, r.Feature, v)
			}
		}
		// Every feature that raised the risk more than the last reason
		// listed is among the reasons.
		last := rs[len(rs)-1].Contribution
		for j := range fx.e.NumFeatures() {
			if out[j] > last {
				found := false
				for _, r := range rs {
					found = found || r.Feature == man.Features[j].Name
				}
				if !found {
					t.Errorf("row %d: %s (%v) outranks the reasons given", i, man.Features[j].Name, out[j])
				}
			}
		}
	}
	if high == 0 {
		t.Fatal("no test row has PD >= 0.5")
	}
}

func TestReasonsFallback(t *testing.T) {
	fx := loadFixture(t, "credit-risk-v1")
	x := fx.rows[0]
	contrib := make([]float64, fx.e.NumFeatures()+1)
	for i := range fx.e.NumFeatures() {
		contrib[i] = -0.1 * float64(i) // nothing raised the risk
	}
	contrib[fx.e.NumFeatures()] = 3 // a high baseline
	rs := Reasons(fx.m, x, contrib, 4)
	if len(rs) != 1 {
		t.Fatalf("got %d reasons, want the one fallback", len(rs))
	}
	if r := rs[0]; r.Code != FallbackReasonCode || r.Text != FallbackReasonText || r.Feature != "" || r.Value != nil || r.Contribution != 0 {
		t.Errorf("fallback reason %+v", r)
	}
	// NaN contributions are never reasons either.
	contrib[2] = math.NaN()
	if rs := Reasons(fx.m, x, contrib, 4); len(rs) != 1 || rs[0].Code != FallbackReasonCode {
		t.Errorf("NaN contribution gave %+v", rs)
	}
}

func TestReasonsLimitAndTies(t *testing.T) {
	fx := loadFixture(t, "credit-risk-v1")
	x := fx.rows[0]
	nf := fx.e.NumFeatures()
	contrib := make([]float64, nf+1)
	for i := range nf {
		contrib[i] = 0.5 // all tied
	}
	contrib[7] = 0.9
	tests := []struct {
		max  int
		want []string
	}{
		{max: 0, want: []string{"Assets", "Seniority", "Home", "Time"}},
		{max: 2, want: []string{"Assets", "Seniority"}},
		{max: 10, want: []string{"Assets", "Seniority", "Home", "Time"}},
	}
	for _, tc := range tests {
		rs := Reasons(fx.m, x, contrib, tc.max)
		if len(rs) != len(tc.want) {
			t.Errorf("max %d: %d reasons, want %d", tc.max, len(rs), len(tc.want))
			continue
		}
		for k, r := range rs {
			if r.Feature != tc.want[k] {
				t.Errorf("max %d: reason %d is %s, want %s", tc.max, k, r.Feature, tc.want[k])
			}
		}
	}
}

// A feature the model never splits on is never a reason, whatever the
// contributions handed in say.
func TestReasonsOnlyForUsedFeatures(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	cfg := synthConfig{features: 5, trees: 4, maxLeaves: 10, unused: []int{1}}
	m, _ := loadSynth(t, synthModel(rng, cfg))
	contrib := []float64{0.1, 5, 0.2, 0, 0, 0}
	rs := Reasons(m, synthRow(rng, cfg), contrib, 4)
	for _, r := range rs {
		if r.Feature == "f1" {
			t.Fatalf("unused feature given as a reason: %+v", rs)
		}
		// A bare model file has no reason codes.
		if r.Code != "" || r.Text != "" {
			t.Errorf("bare model reason %+v has code or text", r)
		}
	}
	if len(rs) != 2 || rs[0].Feature != "f2" || rs[1].Feature != "f0" {
		t.Errorf("reasons %+v, want f2 then f0", rs)
	}
}
