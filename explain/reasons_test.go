package explain

import (
	"maps"
	"math"
	"slices"
	"testing"

	"github.com/glassbox-ledger/glassbox/internal/testset"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// TestCandidatesAreVerified checks every candidate of every high-risk
// test row against the model: positive baseline contribution, ranked, the
// manifest's text for the direction the value takes relative to the
// reference, and a strictly lower raw score with the feature alone set to
// the reference value.
func TestCandidatesAreVerified(t *testing.T) {
	m, ref := shippedReference(t)
	man := m.Manifest
	for _, method := range []string{models.MethodCutoff, models.MethodApproved} {
		r, err := NewReasoner(m, ref, method)
		if err != nil {
			t.Fatal(err)
		}
		if r.Method() != MethodBaselinePrefix+method {
			t.Errorf("method %q", r.Method())
		}
		point := r.Point()
		n := 0
		for i, x := range testset.Rows(t, m) {
			raw := m.Raw(x)
			if m.Probability(raw) < 0.25 {
				continue
			}
			cs, err := r.Candidates(x, raw)
			if err != nil {
				t.Fatal(err)
			}
			if last := cs[len(cs)-1]; last.Code != FallbackReasonCode || last.Feature != "" || last.Contribution != nil {
				t.Fatalf("row %d: last candidate %+v is not the fallback", i, last)
			}
			for k, c := range cs[:len(cs)-1] {
				n++
				j := man.FeatureIndex(c.Feature)
				f := &man.Features[j]
				if c.Contribution == nil || !(*c.Contribution > 0) {
					t.Fatalf("row %d: %s contribution %v", i, c.Feature, c.Contribution)
				}
				if k > 0 && *c.Contribution > *cs[k-1].Contribution {
					t.Errorf("row %d: not ranked: %+v", i, cs)
				}
				if want := direction(f, x[j], point[j]); c.Direction != want || c.Text != f.TextFor(want) || c.Text == "" {
					t.Errorf("row %d: %s direction %q text %q, want %q", i, c.Feature, c.Direction, c.Text, want)
				}
				if c.Reference != f.Decode(point[j]) || (c.Value == nil) != math.IsNaN(x[j]) {
					t.Errorf("row %d: %s reference %v value %v", i, c.Feature, c.Reference, c.Value)
				}
				z := slices.Clone(x)
				z[j] = point[j]
				if !(m.Raw(z) < raw) {
					t.Errorf("row %d: %s does not verify", i, c.Feature)
				}
			}
		}
		if n < 100 {
			t.Errorf("%s: only %d candidates checked", method, n)
		}
	}
}

// A feature without a text for the direction it would need is never a
// candidate, whatever its contribution.
func TestCandidatesNeedATextForTheDirection(t *testing.T) {
	m, ref := shippedReference(t)
	man := *m.Manifest
	man.Features = slices.Clone(man.Features)
	for i := range man.Features {
		f := &man.Features[i]
		f.Reason.Texts = maps.Clone(f.Reason.Texts)
		delete(f.Reason.Texts, models.DirDecrease)
		delete(f.Reason.Texts, models.DirOther)
		// Kept non-empty: an empty map would mean a manifest without
		// per-direction texts (see models.Feature.TextFor).
		if _, ok := f.Reason.Texts[models.DirProvide]; !ok {
			f.Reason.Texts[models.DirProvide] = f.Name + " not provided"
		}
	}
	bare := *m
	bare.Manifest = &man
	r, err := NewReasoner(&bare, ref, models.MethodCutoff)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for i, x := range testset.Rows(t, m)[:200] {
		cs, err := r.Candidates(x, m.Raw(x))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs[:len(cs)-1] {
			seen++
			if c.Direction != models.DirIncrease && c.Direction != models.DirProvide {
				t.Fatalf("row %d: candidate %+v has no text for its direction", i, c)
			}
		}
	}
	if seen == 0 {
		t.Fatal("no candidates at all")
	}
}

func TestReasonerWithoutReference(t *testing.T) {
	m, ref := shippedReference(t)
	r, err := NewReasoner(m, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	x := testset.Rows(t, m)[0]
	cs, err := r.Candidates(x, m.Raw(x))
	if err != nil || len(cs) != 1 || cs[0].Code != FallbackReasonCode || r.Method() != MethodUnverified {
		t.Fatalf("candidates %+v, method %q, err %v", cs, r.Method(), err)
	}
	if _, err := NewReasoner(m, ref, "median"); err == nil {
		t.Error("unknown method accepted")
	}
	if _, err := NewReasoner(&scoring.Model{}, ref, models.MethodCutoff); err == nil {
		t.Error("model without manifest accepted")
	}
}

func TestDirection(t *testing.T) {
	num := &models.Feature{Type: models.Numeric}
	cat := &models.Feature{Type: models.Categorical, Levels: []string{"a", "b"}}
	for _, tc := range []struct {
		f      *models.Feature
		v, ref float64
		want   string
	}{
		{num, 1, 2, models.DirIncrease},
		{num, 3, 2, models.DirDecrease},
		{num, 2, 2, ""},
		{num, math.NaN(), 2, models.DirProvide},
		{cat, 0, 1, models.DirOther},
		{cat, 1, 1, ""},
		{cat, math.NaN(), 1, models.DirProvide},
	} {
		if got := direction(tc.f, tc.v, tc.ref); got != tc.want {
			t.Errorf("direction(%s, %v, %v) = %q, want %q", tc.f.Type, tc.v, tc.ref, got, tc.want)
		}
	}
}

func TestProvideReason(t *testing.T) {
	f := &models.Feature{Name: "Income", Description: "Monthly income", Reason: models.Reason{Code: "R07", Texts: map[string]string{"provide": "Income not provided"}}}
	if r := ProvideReason(f); r.Text != "Income not provided" || r.Direction != models.DirProvide || r.Contribution != nil || r.Feature != "Income" {
		t.Errorf("%+v", r)
	}
	f.Reason.Texts = nil
	if r := ProvideReason(f); r.Text != "Monthly income not provided" {
		t.Errorf("%+v", r)
	}
}
