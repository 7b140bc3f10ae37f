package explain

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// perturb replaces some of a real row's values with the awkward ones an
// explanation must still get right: missing values, infinities, huge and
// negative numbers, fractions where categories are expected.
func perturb(rng *rand.Rand, x []float64) []float64 {
	odd := []float64{math.NaN(), math.Inf(1), math.Inf(-1), 1e300, -1e300, -0.5, -1, 2.5, 3e9, 0, math.Copysign(0, -1), 1e-36, 99, -12345.678}
	y := append([]float64(nil), x...)
	for i := range y {
		if rng.IntN(3) == 0 {
			y[i] = odd[rng.IntN(len(odd))]
		}
	}
	return y
}

func TestAdditivityOnRandomInputs(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadFixture(t, tc.name)
			rng := rand.New(rand.NewPCG(1, 2))
			out := make([]float64, fx.e.NumFeatures()+1)
			for r := range 400 {
				x := perturb(rng, fx.rows[rng.IntN(len(fx.rows))])
				// Explain checks the sum against leaves' raw score.
				if err := fx.e.Explain(x, out); err != nil {
					t.Fatalf("row %v: %v", x, err)
				}
				if r%8 == 0 {
					ref := Reference(fx.m, x)
					if i, ok := closeTo(out, ref, 1e-9); !ok {
						t.Fatalf("row %v: fast value %d = %.17g, oracle %.17g", x, i, out[i], ref[i])
					}
				}
			}
		})
	}
}

func TestUnusedFeatureGetsExactlyZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	cfg := synthConfig{features: 6, cat: mixedCats(6), levels: 100, trees: 5, maxLeaves: 30, unused: []int{2, 3}}
	m, e := loadSynth(t, synthModel(rng, cfg))
	for f := range cfg.features {
		if want := f != 2 && f != 3; e.Uses(f) != want {
			t.Errorf("Uses(%d) = %v", f, !want)
		}
	}
	out := make([]float64, cfg.features+1)
	for range 200 {
		x := synthRow(rng, cfg)
		if err := e.Explain(x, out); err != nil {
			t.Fatal(err)
		}
		ref := Reference(m, x)
		for _, f := range cfg.unused {
			if math.Float64bits(out[f]) != 0 || math.Float64bits(ref[f]) != 0 {
				t.Fatalf("unused feature %d: fast %v, oracle %v", f, out[f], ref[f])
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	cfg := synthConfig{features: 8, cat: mixedCats(8), levels: 100, trees: 20, maxLeaves: 40}
	_, e := loadSynth(t, synthModel(rng, cfg))
	rows := make([][]float64, 300)
	for i := range rows {
		rows[i] = synthRow(rng, cfg)
	}
	batch, err := e.ExplainBatch(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	a, b := make([]float64, 9), make([]float64, 9)
	for i, x := range rows {
		if err := e.Explain(x, a); err != nil {
			t.Fatal(err)
		}
		if err := e.Explain(x, b); err != nil {
			t.Fatal(err)
		}
		for j := range a {
			if math.Float64bits(a[j]) != math.Float64bits(b[j]) || math.Float64bits(a[j]) != math.Float64bits(batch[i][j]) {
				t.Fatalf("row %d value %d: %v, then %v, batch %v", i, j, a[j], b[j], batch[i][j])
			}
		}
	}
}

func TestInconsistencyIsReported(t *testing.T) {
	fx := loadFixture(t, "credit-risk-v1")
	// A private copy whose tables disagree with the model leaves scores.
	e, err := New(fx.m)
	if err != nil {
		t.Fatal(err)
	}
	e.leaves[0] += 0.01
	out := make([]float64, e.NumFeatures()+1)
	bad := 0
	for _, x := range fx.rows[:50] {
		if err := e.Explain(x, out); err != nil {
			if !errors.Is(err, ErrInconsistent) {
				t.Fatalf("error %v does not wrap ErrInconsistent", err)
			}
			bad++
		}
	}
	if bad == 0 {
		t.Fatal("a corrupted explainer passed the consistency check on every row")
	}
	if _, err := e.ExplainBatch(context.Background(), fx.rows); !errors.Is(err, ErrInconsistent) {
		t.Errorf("ExplainBatch: %v, want ErrInconsistent", err)
	}
	// The scored variant checks against the score it is given.
	if err := fx.e.ExplainScored(fx.rows[0], fx.m.Raw(fx.rows[0])+1e-6, out); !errors.Is(err, ErrInconsistent) {
		t.Errorf("ExplainScored with a wrong score: %v", err)
	}
}

func TestExplainRejectsWrongLengths(t *testing.T) {
	fx := loadFixture(t, "credit-risk-v1")
	nf := fx.e.NumFeatures()
	if err := fx.e.Explain(make([]float64, nf-1), make([]float64, nf+1)); err == nil {
		t.Error("short row accepted")
	}
	if err := fx.e.Explain(fx.rows[0], make([]float64, nf)); err == nil {
		t.Error("short output accepted")
	}
}

func TestExplainDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	for _, name := range []string{"credit-risk-v1", "credit-risk-large"} {
		fx := loadFixture(t, name)
		out := make([]float64, fx.e.NumFeatures()+1)
		x := fx.rows[0]
		raw := fx.m.Raw(x)
		if n := testing.AllocsPerRun(50, func() {
			if err := fx.e.ExplainScored(x, raw, out); err != nil {
				t.Fatal(err)
			}
		}); n != 0 {
			t.Errorf("%s: ExplainScored allocates %v times per row", name, n)
		}
		// Explain adds leaves' prediction for the check, which allocates
		// its one-value result slice; nothing else may allocate.
		predict := testing.AllocsPerRun(50, func() { fx.m.Raw(x) })
		if n := testing.AllocsPerRun(50, func() {
			if err := fx.e.Explain(x, out); err != nil {
				t.Fatal(err)
			}
		}); n > predict {
			t.Errorf("%s: Explain allocates %v times per row, leaves' predict %v", name, n, predict)
		}
	}
}
