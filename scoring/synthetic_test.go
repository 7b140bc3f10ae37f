package scoring

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/glassbox-ledger/glassbox/scoring/scoringtest"
)

// TestSyntheticModels checks prediction on generated LightGBM models with
// many-level categorical features and every missing-value rule, against
// the generator's own evaluator.
func TestSyntheticModels(t *testing.T) {
	cases := []scoringtest.Options{
		{Features: 4, Categorical: 1, Levels: 100, Trees: 20, MaxLeaves: 8, Unused: -1, Seed: 1},
		{Features: 8, Categorical: 3, Levels: 40, Trees: 50, MaxLeaves: 31, Unused: 2, Seed: 2},
		{Features: 12, Categorical: 0, Trees: 100, MaxLeaves: 63, Unused: -1, Seed: 3},
		{Features: 3, Categorical: 3, Levels: 257, Trees: 10, MaxLeaves: 16, Unused: -1, Seed: 4},
	}
	for _, o := range cases {
		gen := scoringtest.Random(o)
		m, err := FromBytes(gen.Text)
		if err != nil {
			t.Fatalf("seed %d: %v", o.Seed, err)
		}
		rng := rand.New(rand.NewPCG(o.Seed, 7))
		for i := 0; i < 2000; i++ {
			x := gen.Row(rng)
			want := gen.Raw(x)
			if got := m.Raw(x); math.Abs(got-want) > 1e-12 {
				t.Fatalf("seed %d row %v: leaves %v, generator %v", o.Seed, x, got, want)
			}
			if got := m.Ensemble.Raw(x); math.Abs(got-want) > 1e-12 {
				t.Fatalf("seed %d row %v: parsed trees %v, generator %v", o.Seed, x, got, want)
			}
		}
	}
}
