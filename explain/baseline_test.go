package explain

import (
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/glassbox-ledger/glassbox/internal/testset"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// baselineBruteForce is the definition: for every feature i, the sum over
// all coalitions S not holding i of |S|!(n−|S|−1)!/n! times
// v(S ∪ {i}) − v(S), where v(S) is the mean over the reference rows of the
// model's raw score (as leaves computes it) with the features in S from x
// and the others from the reference row.
func baselineBruteForce(m *scoring.Model, x []float64, rows [][]float64) []float64 {
	n := len(x)
	v := make([]float64, 1<<n)
	z := make([]float64, n)
	for s := range v {
		var sum float64
		for _, r := range rows {
			for i := range z {
				if s&(1<<i) != 0 {
					z[i] = x[i]
				} else {
					z[i] = r[i]
				}
			}
			sum += m.Raw(z)
		}
		v[s] = sum / float64(len(rows))
	}
	fact := make([]float64, n+1)
	fact[0] = 1
	for i := 1; i <= n; i++ {
		fact[i] = fact[i-1] * float64(i)
	}
	phi := make([]float64, n)
	for i := range n {
		for s := range v {
			if s&(1<<i) != 0 {
				continue
			}
			k := bits.OnesCount(uint(s))
			phi[i] += fact[k] * fact[n-k-1] / fact[n] * (v[s|1<<i] - v[s])
		}
	}
	return phi
}

func TestBaselineMatchesBruteForce(t *testing.T) {
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 15))
		nf := 2 + rng.IntN(8)
		cfg := synthConfig{features: nf, cat: mixedCats(nf), levels: 100, trees: 1 + rng.IntN(8), maxLeaves: 2 + rng.IntN(30), chain: seed%5 == 4}
		wide := seed%6 == 3 && !cfg.chain
		if wide {
			// Trees with more than 64 splits: several words of split
			// bits per tree.
			cfg.minLeaves, cfg.maxLeaves = 70, 70+rng.IntN(50)
		}
		t.Run(fmt.Sprintf("seed%d/features%d", seed, nf), func(t *testing.T) {
			m, _ := loadSynth(t, synthModel(rng, cfg))
			rows := make([][]float64, 1+rng.IntN(6))
			for i := range rows {
				rows[i] = synthRow(rng, cfg)
			}
			b, err := NewBaseline(m, rows)
			if err != nil {
				t.Fatal(err)
			}
			if wide && b.maxWords < 2 {
				t.Fatalf("no tree has more than 64 splits (%d leaves at most asked)", cfg.maxLeaves)
			}
			if seed%2 == 1 {
				// The tree walk, which serves trees whose paths hold more
				// distinct features than the leaf form's masks.
				clear(b.leaves)
			}
			if seed%4 == 2 {
				// The leaf form for trees with more than one word of
				// split bits.
				clear(b.hot)
			}
			phi := make([]float64, nf)
			for r := range 10 {
				x := synthRow(rng, cfg)
				if r == 0 {
					x = rows[0] // the applicant equal to a reference row
				}
				if err := b.Shapley(x, m.Raw(x), phi); err != nil {
					t.Fatalf("row %d: %v", r, err)
				}
				want := baselineBruteForce(m, x, rows)
				if i, ok := closeTo(phi, want, 1e-12); !ok {
					t.Fatalf("row %d %v: baseline value %d = %.17g, brute force %.17g", r, x, i, phi[i], want[i])
				}
			}
		})
	}
}

// TestBaselineShippedModelDefinition checks the shipped model and its
// shipped reference set against the definition on a few test rows (2^11
// coalitions times the reference rows per row, so only a few).
func TestBaselineShippedModelDefinition(t *testing.T) {
	m, ref := shippedReference(t)
	method := ref.Methods[models.MethodCutoff]
	rows, err := method.Vectors(m.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBaseline(m, rows)
	if err != nil {
		t.Fatal(err)
	}
	test := testset.Rows(t, m)
	phi := make([]float64, m.NumFeatures())
	picks := []int{0, 123}
	if testing.Short() {
		picks = picks[:1] // each row is 2^11 · 64 predictions
	}
	for _, k := range picks {
		x := test[k]
		if err := b.Shapley(x, m.Raw(x), phi); err != nil {
			t.Fatal(err)
		}
		want := baselineBruteForce(m, x, rows)
		if i, ok := closeTo(phi, want, 1e-9); !ok {
			t.Fatalf("test row %d: baseline value %d = %.17g, definition %.17g", k, i, phi[i], want[i])
		}
		var sum float64
		for _, v := range phi {
			sum += v
		}
		if math.Abs(sum-(m.Raw(x)-b.ReferenceRaw())) > 1e-9 {
			t.Fatalf("test row %d: values sum to %g, want %g", k, sum, m.Raw(x)-b.ReferenceRaw())
		}
	}
}

func TestNewBaselineRefuses(t *testing.T) {
	m, _ := shippedReference(t)
	nf := m.NumFeatures()
	for name, rows := range map[string][][]float64{
		"no rows":     nil,
		"short row":   {make([]float64, nf-1)},
		"too many":    make([][]float64, MaxReferenceRows+1),
		"long row":    {make([]float64, nf+1)},
		"nil in many": append([][]float64{make([]float64, nf)}, nil),
	} {
		if _, err := NewBaseline(m, rows); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// shippedReference loads the shipped model package and its reference.json.
func shippedReference(t testing.TB) (*scoring.Model, *models.Reference) {
	t.Helper()
	p, err := models.LoadDir("../models/credit-risk-v1")
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Reference == nil {
		t.Fatal("credit-risk-v1 ships no reference.json")
	}
	return m, p.Reference
}

// BenchmarkBaselineShapley is one adverse decision's reason work: exact
// baseline Shapley values against the shipped cutoff reference set (64
// rows) and the verification of every candidate.
func BenchmarkBaselineShapley(b *testing.B) {
	m, ref := shippedReference(b)
	r, err := NewReasoner(m, ref, models.MethodCutoff)
	if err != nil {
		b.Fatal(err)
	}
	x := testset.Rows(b, m)[1]
	raw := m.Raw(x)
	for b.Loop() {
		if _, err := r.Candidates(x, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBaselineShapleyTestSet is the reason work over the credit test
// set's rows that score above the reference rows' mean (the applicants
// that are adverse against a reference set just above the approval
// cut-off), cycling through them, so that the tables are read as a server
// reads them: a different row each time, not one row's leaves kept in
// cache.
func BenchmarkBaselineShapleyTestSet(b *testing.B) {
	m, ref := shippedReference(b)
	r, err := NewReasoner(m, ref, models.MethodCutoff)
	if err != nil {
		b.Fatal(err)
	}
	var rows [][]float64
	var raws []float64
	for _, x := range testset.Rows(b, m) {
		if raw := m.Raw(x); raw > r.baseline.ReferenceRaw() {
			rows, raws = append(rows, x), append(raws, raw)
		}
	}
	if len(rows) == 0 {
		b.Fatal("no test row scores above the reference")
	}
	n := 0
	for b.Loop() {
		k := n % len(rows)
		n++
		if _, err := r.Candidates(rows[k], raws[k]); err != nil {
			b.Fatal(err)
		}
	}
}

// TestChangeLowersMatchesModel checks the incremental rescoring of the
// verification against the model scoring the whole changed row: for the
// shipped model on the credit test rows and for generated models (with
// categorical splits and missing values), every feature set to every
// reference row's value and to missing.
func TestChangeLowersMatchesModel(t *testing.T) {
	check := func(t *testing.T, m *scoring.Model, rows, test [][]float64) {
		t.Helper()
		b, err := NewBaseline(m, rows)
		if err != nil {
			t.Fatal(err)
		}
		nf := m.NumFeatures()
		phi, z := make([]float64, nf), make([]float64, nf)
		xl := make([]uint64, b.xWords)
		for k, x := range test {
			raw := m.Raw(x)
			var p, walked xPaths
			if err := b.shapley(x, raw, phi, xl, &p); err != nil {
				t.Fatal(err)
			}
			// The paths shapley records on its way are those a walk of
			// every tree finds.
			b.paths(xl, &walked)
			if !slices.Equal(p.leaf, walked.leaf) || !slices.Equal(p.feats, walked.feats) {
				t.Fatalf("row %d: shapley's paths %v %v, walked %v %v", k, p.leaf, p.feats, walked.leaf, walked.feats)
			}
			for f := range nf {
				for _, v := range append([]float64{math.NaN()}, columnOf(rows, f)...) {
					zz := slices.Clone(x)
					zz[f] = v
					want := m.Raw(zz) < raw
					if got := b.changeLowers(x, raw, xl, &p, f, v, z); got != want {
						t.Fatalf("row %d, feature %d set to %v: lowers %v, model says %v", k, f, v, got, want)
					}
				}
			}
		}
	}
	t.Run("shipped", func(t *testing.T) {
		m, ref := shippedReference(t)
		rows, err := ref.Methods[models.MethodCutoff].Vectors(m.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		test := testset.Rows(t, m)
		if testing.Short() {
			test = test[:20]
		} else {
			test = test[:200]
		}
		check(t, m, rows, test)
	})
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 16))
		nf := 2 + rng.IntN(8)
		cfg := synthConfig{features: nf, cat: mixedCats(nf), levels: 100, trees: 1 + rng.IntN(8), maxLeaves: 2 + rng.IntN(30), chain: seed%5 == 4}
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			m, _ := loadSynth(t, synthModel(rng, cfg))
			rows := make([][]float64, 1+rng.IntN(6))
			for i := range rows {
				rows[i] = synthRow(rng, cfg)
			}
			test := make([][]float64, 10)
			for i := range test {
				test[i] = synthRow(rng, cfg)
			}
			check(t, m, rows, test)
		})
	}
}

func columnOf(rows [][]float64, f int) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = r[f]
	}
	return out
}

// TestHotWeights checks that hotWeight is exact: hotDenominator times the
// leaf weight a!·b!/(a+b+1)! is an integer for every a+b+1 up to
// maxTableFeatures, and equals the float weight NewBaseline uses.
func TestHotWeights(t *testing.T) {
	fact := func(n int) int {
		f := 1
		for i := 2; i <= n; i++ {
			f *= i
		}
		return f
	}
	for a := range maxTableFeatures {
		for b := 0; a+b+1 <= maxTableFeatures; b++ {
			num, den := hotDenominator*fact(a)*fact(b), fact(a+b+1)
			if num%den != 0 {
				t.Fatalf("%d·%d!·%d!/%d! is not an integer", hotDenominator, a, b, a+b+1)
			}
			if got := hotWeight(a, b); got != int64(num/den) || float64(got)/hotDenominator != factorialRatio(a, b) {
				t.Errorf("hotWeight(%d, %d) = %d, want %d (weight %v)", a, b, got, num/den, factorialRatio(a, b))
			}
		}
	}
}
