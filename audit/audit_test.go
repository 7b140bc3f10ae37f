package audit

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func near(t *testing.T, name string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol || math.IsNaN(got) != math.IsNaN(want) {
		t.Errorf("%s = %.12g, want %.12g (±%g)", name, got, want, tol)
	}
}

// pairwiseAUC counts every (bad, good) pair directly: the definition.
func pairwiseAUC(pd []float64, bad []bool) float64 {
	var wins, pairs float64
	for i := range pd {
		if !bad[i] {
			continue
		}
		for j := range pd {
			if bad[j] {
				continue
			}
			pairs++
			switch {
			case pd[i] > pd[j]:
				wins++
			case pd[i] == pd[j]:
				wins += 0.5
			}
		}
	}
	return wins / pairs
}

// directKS evaluates both empirical CDFs by counting at every value.
func directKS(pd []float64, bad []bool) float64 {
	best := 0.0
	for _, t := range pd {
		var b, g, nb, ng float64
		for i, p := range pd {
			if bad[i] {
				nb++
				if p <= t {
					b++
				}
			} else {
				ng++
				if p <= t {
					g++
				}
			}
		}
		best = max(best, math.Abs(b/nb-g/ng))
	}
	return best
}

// sample draws n cases whose risk rises with pd, pd rounded to two
// digits so that ties are common.
func sample(seed uint64, n int) ([]float64, []bool) {
	r := rand.New(rand.NewPCG(seed, 7))
	pd, bad := make([]float64, n), make([]bool, n)
	for i := range pd {
		pd[i] = math.Round(r.Float64()*100) / 100
		bad[i] = r.Float64() < pd[i]*0.8
	}
	return pd, bad
}

func TestAUCAndKS(t *testing.T) {
	cases := []struct {
		name    string
		pd      []float64
		bad     []bool
		auc, ks float64
	}{
		// Pairs (bad, good): .35>.1, .35<.4, .8>.1, .8>.4: 3 of 4.
		{"hand", []float64{0.1, 0.4, 0.35, 0.8}, []bool{false, false, true, true}, 0.75, 0.5},
		{"one tie", []float64{0.5, 0.5}, []bool{true, false}, 0.5, 0},
		{"perfect", []float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1, 1},
		{"reversed", []float64{0.9, 0.8, 0.2, 0.1}, []bool{false, false, true, true}, 0, 1},
		// F_bad − F_good at .1: 0−.5, .2: .5−.5, .3: .5−1, .4: 1−1.
		{"ks steps", []float64{0.1, 0.2, 0.3, 0.4}, []bool{false, true, false, true}, 0.75, 0.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			auc, err := AUC(c.pd, c.bad)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "AUC", auc, c.auc, 1e-15)
			near(t, "AUC vs pairs", auc, pairwiseAUC(c.pd, c.bad), 1e-15)
			ks, err := KS(c.pd, c.bad)
			if err != nil {
				t.Fatal(err)
			}
			near(t, "KS", ks, c.ks, 1e-15)
			near(t, "KS vs direct", ks, directKS(c.pd, c.bad), 1e-15)
		})
	}
	for seed := uint64(1); seed <= 5; seed++ {
		pd, bad := sample(seed, 700)
		auc, err := AUC(pd, bad)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "AUC vs pairs (random)", auc, pairwiseAUC(pd, bad), 1e-12)
		ks, err := KS(pd, bad)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "KS vs direct (random)", ks, directKS(pd, bad), 1e-12)
	}
}

func TestRankInputErrors(t *testing.T) {
	cases := []struct {
		name string
		pd   []float64
		bad  []bool
	}{
		{"lengths", []float64{0.1}, []bool{true, false}},
		{"no bad", []float64{0.1, 0.2}, []bool{false, false}},
		{"no good", []float64{0.1, 0.2}, []bool{true, true}},
		{"nan", []float64{math.NaN(), 0.2}, []bool{true, false}},
		{"empty", nil, nil},
	}
	for _, c := range cases {
		if _, err := AUC(c.pd, c.bad); !errors.Is(err, ErrInput) {
			t.Errorf("%s: AUC error %v, want ErrInput", c.name, err)
		}
		if _, err := KS(c.pd, c.bad); !errors.Is(err, ErrInput) {
			t.Errorf("%s: KS error %v, want ErrInput", c.name, err)
		}
	}
}

func TestPSI(t *testing.T) {
	cases := []struct {
		name             string
		expected, actual []int
		want             float64
	}{
		{"same", []int{5, 3, 2}, []int{50, 30, 20}, 0},
		// Proportions .5 .3 .2 against .4 .3 .3.
		{"hand", []int{50, 30, 20}, []int{40, 30, 30}, (0.4-0.5)*math.Log(0.4/0.5) + 0 + (0.3-0.2)*math.Log(0.3/0.2)},
		// The empty expected bin counts as 1e-4.
		{"empty bin", []int{10, 0}, []int{5, 5}, (0.5-1)*math.Log(0.5/1) + (0.5-1e-4)*math.Log(0.5/1e-4)},
		{"symmetric", []int{40, 30, 30}, []int{50, 30, 20}, (0.4-0.5)*math.Log(0.4/0.5) + (0.3-0.2)*math.Log(0.3/0.2)},
	}
	for _, c := range cases {
		got, err := PSI(c.expected, c.actual)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		near(t, c.name, got, c.want, 1e-15)
	}
	for _, bad := range [][2][]int{{{1, 2}, {1}}, {{}, {}}, {{0, 0}, {1, 1}}, {{1, -1}, {1, 1}}} {
		if _, err := PSI(bad[0], bad[1]); !errors.Is(err, ErrInput) {
			t.Errorf("PSI(%v, %v) error %v, want ErrInput", bad[0], bad[1], err)
		}
	}
}

func TestQuantileEdgesAndCounts(t *testing.T) {
	cases := []struct {
		name   string
		values []float64
		k      int
		edges  []float64
		counts []int
	}{
		// Ranks ⌈2.5⌉=3, 5, ⌈7.5⌉=8 of 1..10.
		{"quartiles", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 4, []float64{3, 5, 8}, []int{3, 2, 3, 2}},
		{"ties share a bin", []float64{1, 1, 1, 1, 2}, 2, []float64{1}, []int{4, 1}},
		{"constant", []float64{3, 3, 3}, 10, []float64{}, []int{3}},
		{"nan ignored", []float64{math.NaN(), 1, 2}, 2, []float64{1}, []int{1, 1}},
	}
	for _, c := range cases {
		edges := QuantileEdges(c.values, c.k)
		if !slices.Equal(edges, c.edges) {
			t.Errorf("%s: edges %v, want %v", c.name, edges, c.edges)
		}
		counts, _ := Counts(edges, c.values)
		if !slices.Equal(counts, c.counts) {
			t.Errorf("%s: counts %v, want %v", c.name, counts, c.counts)
		}
	}
	// Right-closed bins, checked value by value.
	edges := []float64{1, 2}
	for x, want := range map[float64]int{0: 0, 1: 0, 1.5: 1, 2: 1, 2.01: 2, 99: 2} {
		if got := Bin(edges, x); got != want {
			t.Errorf("Bin(%v) = %d, want %d", x, got, want)
		}
	}
}

// TestGammaQ checks the incomplete gamma against closed forms of the
// chi-square tail and against table critical values.
func TestGammaQ(t *testing.T) {
	for _, x := range []float64{0.01, 0.3, 1, 2.5, 4, 7.9, 15, 40} {
		near(t, "Q(1,x)", GammaQ(1, x), math.Exp(-x), 1e-13)
		near(t, "chi2 df=1", ChiSquareSF(x, 1), math.Erfc(math.Sqrt(x/2)), 1e-13)
		near(t, "chi2 df=2", ChiSquareSF(x, 2), math.Exp(-x/2), 1e-13)
		near(t, "chi2 df=3", ChiSquareSF(x, 3), math.Erfc(math.Sqrt(x/2))+math.Sqrt(2*x/math.Pi)*math.Exp(-x/2), 1e-13)
		near(t, "chi2 df=4", ChiSquareSF(x, 4), math.Exp(-x/2)*(1+x/2), 1e-13)
	}
	// 95th percentiles of the chi-square distribution (standard tables).
	for df, crit := range map[float64]float64{1: 3.841459, 5: 11.070498, 8: 15.507313, 10: 18.307038, 30: 43.772972} {
		near(t, "5% critical value", ChiSquareSF(crit, df), 0.05, 1e-6)
	}
	if ChiSquareSF(0, 3) != 1 || ChiSquareSF(math.Inf(1), 3) != 0 {
		t.Error("chi-square tail at 0 or +Inf is not 1 or 0")
	}
	if !math.IsNaN(GammaQ(-1, 1)) {
		t.Error("GammaQ(-1, 1) is not NaN")
	}
}

func TestCalibrate(t *testing.T) {
	// Three bands of three: E = .3, .6, 1.5; O = 0, 1, 2.
	// HL = .09/.27 + .16/.48 + .25/.75 = 1 on 1 df.
	pd := []float64{0.5, 0.1, 0.2, 0.1, 0.5, 0.2, 0.1, 0.5, 0.2}
	bad := []bool{true, false, true, false, true, false, false, false, false}
	c, err := Calibrate(pd, bad, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Bands) != 3 || c.DF != 1 {
		t.Fatalf("%d bands on %d df, want 3 on 1", len(c.Bands), c.DF)
	}
	for i, want := range []struct {
		lo, hi float64
		n, o   int
		e      float64
	}{{0.1, 0.1, 3, 0, 0.3}, {0.2, 0.2, 3, 1, 0.6}, {0.5, 0.5, 3, 2, 1.5}} {
		b := c.Bands[i]
		if b.Lower != want.lo || b.Upper != want.hi || b.N != want.n || b.Observed != want.o {
			t.Errorf("band %d = %+v, want %+v", i, b, want)
		}
		near(t, "expected", b.Expected, want.e, 1e-15)
		near(t, "observed rate", b.ObservedRate, float64(want.o)/3, 1e-15)
	}
	near(t, "HL", c.HL, 1, 1e-14)
	near(t, "p", c.PValue, math.Erfc(math.Sqrt(0.5)), 1e-13)

	// Ties are never split: four equal values fill the first band.
	c, err = Calibrate([]float64{0.1, 0.1, 0.1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, []bool{false, true, false, false, false, true, false, true, true}, 3)
	if err != nil {
		t.Fatal(err)
	}
	if c.Bands[0].N != 4 {
		t.Errorf("first band holds %d, want the 4 tied values", c.Bands[0].N)
	}
	// Independent HL from the bands, the formula written out.
	var hl float64
	n := 0
	for _, b := range c.Bands {
		hl += math.Pow(float64(b.Observed)-b.Expected, 2) / (b.Expected * (1 - b.Expected/float64(b.N)))
		n += b.N
	}
	if n != 9 {
		t.Errorf("bands hold %d cases, want 9", n)
	}
	near(t, "HL (tied)", c.HL, hl, 1e-13)

	if _, err := Calibrate(pd, bad, 2); !errors.Is(err, ErrInput) {
		t.Errorf("2 groups: error %v, want ErrInput", err)
	}
}

func TestAdverseImpact(t *testing.T) {
	groups := []GroupRate{{"b", 100, 60}, {"a", 100, 80}, {"c", 50, 30}, {"empty", 0, 0}}
	got, err := AdverseImpact(groups, 0, Z95)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Group != "a" || !got[0].Favoured || got[0].CILow != nil {
		t.Fatalf("impacts %+v: want a, b, c with a favoured and without an interval", got)
	}
	// From the counts: (60/100)/(80/100) and (30/50)/(80/100).
	near(t, "AIR b", got[1].Ratio, (60.0/100)/(80.0/100), 1e-15)
	near(t, "AIR c", got[2].Ratio, (30.0/50)/(80.0/100), 1e-15)
	// Katz: se = sqrt(1/60 − 1/100 + 1/80 − 1/100) = 0.0957427; by hand
	// 0.75·exp(∓1.96·0.0957427) = 0.62166, 0.90482.
	near(t, "CI low b", *got[1].CILow, 0.62166, 5e-5)
	near(t, "CI high b", *got[1].CIHigh, 0.90482, 5e-5)
	// The interval is symmetric about the ratio on the log scale.
	near(t, "log symmetry", math.Log(*got[2].CIHigh)+math.Log(*got[2].CILow), 2*math.Log(got[2].Ratio), 1e-12)

	// Equal rates: the label that sorts first is favoured.
	if f := Favoured([]GroupRate{{"y", 10, 5}, {"x", 20, 10}}, 0); f != 1 {
		t.Errorf("favoured %d, want 1 (x)", f)
	}
	// A tiny group with the best rate does not set the benchmark...
	tiny := []GroupRate{{"big", 100, 60}, {"tiny", 3, 3}, {"mid", 50, 20}}
	if f := Favoured(tiny, 30); f != 0 {
		t.Errorf("favoured %d, want 0 (big): tiny has fewer than 30", f)
	}
	// ...unless no group is large enough.
	if f := Favoured(tiny, 1000); f != 1 {
		t.Errorf("favoured %d, want 1 (tiny) when no group has 1000", f)
	}
	// A group with no approval: ratio 0, no interval.
	got, err = AdverseImpact([]GroupRate{{"a", 10, 5}, {"b", 10, 0}}, 0, Z95)
	if err != nil || got[1].Ratio != 0 || got[1].CILow != nil {
		t.Errorf("zero approvals: %+v, %v", got, err)
	}
	for _, bad := range [][]GroupRate{{{"a", 10, 11}}, {{"a", 10, 0}}, {}} {
		if _, err := AdverseImpact(bad, 0, Z95); !errors.Is(err, ErrInput) {
			t.Errorf("AdverseImpact(%v) error %v, want ErrInput", bad, err)
		}
	}
}

func TestSMD(t *testing.T) {
	cases := []struct {
		x, ref []float64
		want   float64
	}{
		{[]float64{1, 2, 3}, []float64{3, 4, 5}, -2},
		// Means 5 and 2, variances 8 and 2 (n−1), pooled sqrt((8+2)/2).
		{[]float64{3, 7}, []float64{1, 3}, 3 / math.Sqrt(5)},
	}
	for _, c := range cases {
		got, err := SMD(c.x, c.ref)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "SMD", got, c.want, 1e-15)
	}
	if _, err := SMD([]float64{1}, []float64{1, 2}); !errors.Is(err, ErrInput) {
		t.Errorf("one value: %v", err)
	}
}

func TestCramersV(t *testing.T) {
	phi := func(a, b, c, d float64) float64 {
		return math.Abs(a*d-b*c) / math.Sqrt((a+b)*(c+d)*(a+c)*(b+d))
	}
	cases := []struct {
		name  string
		table [][]int
		want  float64
	}{
		{"2x2 is |phi|", [][]int{{10, 20}, {30, 5}}, phi(10, 20, 30, 5)},
		{"independent", [][]int{{10, 20}, {20, 40}}, 0},
		{"determined", [][]int{{7, 0, 0}, {0, 3, 0}, {0, 0, 9}}, 1},
		// Hand: n=60, rows 30/30, cols 20/20/20, E=10 everywhere;
		// χ² = (10²+0+10²+10²+0+10²)/10 = 40; V = sqrt(40/60).
		{"2x3", [][]int{{20, 10, 0}, {0, 10, 20}}, math.Sqrt(40.0 / 60)},
		{"empty row dropped", [][]int{{10, 20}, {0, 0}, {30, 5}}, phi(10, 20, 30, 5)},
	}
	for _, c := range cases {
		got, err := CramersV(c.table)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		near(t, c.name, got, c.want, 1e-14)
	}
	if _, err := CramersV([][]int{{1, 2}}); !errors.Is(err, ErrInput) {
		t.Errorf("one row: %v", err)
	}
}

func TestPointBiserial(t *testing.T) {
	pearson := func(x, y []float64) float64 {
		mx, _ := MeanSD(x)
		my, _ := MeanSD(y)
		var sxy, sxx, syy float64
		for i := range x {
			sxy += (x[i] - mx) * (y[i] - my)
			sxx += (x[i] - mx) * (x[i] - mx)
			syy += (y[i] - my) * (y[i] - my)
		}
		return sxy / math.Sqrt(sxx*syy)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 5 {
		x, in, y := make([]float64, 200), make([]bool, 200), make([]float64, 200)
		for i := range x {
			in[i] = r.IntN(3) == 0
			x[i] = r.NormFloat64()
			if in[i] {
				x[i] += 0.7
				y[i] = 1
			}
		}
		got, err := PointBiserial(x, in)
		if err != nil {
			t.Fatal(err)
		}
		near(t, "point-biserial vs Pearson", got, pearson(x, y), 1e-12)
	}
	if _, err := PointBiserial([]float64{1, 2}, []bool{true, true}); !errors.Is(err, ErrInput) {
		t.Errorf("no non-members: %v", err)
	}
}

func TestColumnMeans(t *testing.T) {
	got := ColumnMeans([][]float64{{1, 2}, {3, 6}})
	if !slices.Equal(got, []float64{2, 4}) {
		t.Errorf("ColumnMeans = %v, want [2 4]", got)
	}
	if ColumnMeans(nil) != nil {
		t.Error("ColumnMeans(nil) is not nil")
	}
}
