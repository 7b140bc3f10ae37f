package explain

import (
	"context"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/internal/testset"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// testRules mirror the embedded policy's credit-risk-v1 thresholds; the
// api package's tests check recourse against the real policy instead.
var testRules = Rules{MaxPD: 0.25 - 0.02, Limits: map[string]float64{"Amount": 4000}}

// rulesApprover approves exactly what testRules allow, from a fresh
// prediction (leaves), independent of the search's incremental scores.
type rulesApprover struct{ m *scoring.Model }

func (a rulesApprover) Approves(_ context.Context, x []float64, p scoring.Prediction) (bool, error) {
	if q := a.m.Predict(x); q != p {
		return false, nil
	}
	amount, price := x[a.m.Manifest.FeatureIndex("Amount")], x[a.m.Manifest.FeatureIndex("Price")]
	return p.PD < testRules.MaxPD && amount <= 4000 && amount <= price, nil
}

func loadDefault(t testing.TB) (*scoring.Model, [][]float64) {
	t.Helper()
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	rows := testset.Rows(t, m)
	return m, rows
}

// interior returns both ends of [low, high] and n points strictly inside.
func interior(low, high float64, n int) []float64 {
	out := []float64{low, high}
	for k := 1; k <= n; k++ {
		out = append(out, low+(high-low)*float64(k)/float64(n+1))
	}
	return out
}

// TestRecourseIntervalsHold re-scores every suggestion for every adverse
// row of the test set at both ends and interior points of each interval
// (every combination for two features).
func TestRecourseIntervalsHold(t *testing.T) {
	m, rows := loadDefault(t)
	rc, err := NewRecourser(m, testRules)
	if err != nil {
		t.Fatal(err)
	}
	ap := rulesApprover{m}
	ctx := context.Background()
	adverse, suggested := 0, 0
	for i, x := range rows {
		if testing.Short() && i%5 != 0 {
			continue // -short (the -race pass): a fifth of the rows
		}
		if ok, _ := ap.Approves(ctx, x, m.Predict(x)); ok {
			continue
		}
		adverse++
		cfs, err := rc.Find(ctx, x, ap)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfs) > MaxAlternatives {
			t.Errorf("row %d: %d alternatives", i, len(cfs))
		}
		if len(cfs) > 0 {
			suggested++
		}
		for _, cf := range cfs {
			if !strings.HasPrefix(cf.Text, "Based on our current model and policy, an application with ") || !strings.HasSuffix(cf.Text, " would have been approved.") {
				t.Errorf("row %d: text %q", i, cf.Text)
			}
			var check func(k int, y []float64)
			check = func(k int, y []float64) {
				if k == len(cf.Changes) {
					if ok, _ := ap.Approves(ctx, y, m.Predict(y)); !ok {
						t.Errorf("row %d: %q fails at %v (PD %v)", i, cf.Text, y, m.Predict(y).PD)
					}
					return
				}
				c := cf.Changes[k]
				j := m.Manifest.FeatureIndex(c.Feature)
				f := m.Manifest.Features[j]
				if f.Recourse == nil || !f.Recourse.Actionable {
					t.Fatalf("row %d: changes non-actionable %s", i, f.Name)
				}
				if *c.Low < *f.Recourse.Min || *c.High > *f.Recourse.Max || *c.Low > *c.High {
					t.Errorf("row %d: %s [%v, %v] outside [%v, %v]", i, f.Name, *c.Low, *c.High, *f.Recourse.Min, *f.Recourse.Max)
				}
				if !strings.Contains(cf.Text, formatAmount(*c.Low)) || !strings.Contains(cf.Text, formatAmount(*c.High)) {
					t.Errorf("row %d: text %q does not state [%v, %v]", i, cf.Text, *c.Low, *c.High)
				}
				y = append([]float64(nil), y...)
				for _, v := range interior(*c.Low, *c.High, 3) {
					y[j] = v
					check(k+1, y)
				}
			}
			check(0, x)
		}
	}
	if adverse == 0 || suggested < adverse/2 {
		t.Fatalf("%d adverse rows, %d with suggestions", adverse, suggested)
	}
	t.Logf("%d adverse rows, %d with suggestions", adverse, suggested)
}

func TestRecourseNoneWhenNothingCanSucceed(t *testing.T) {
	m, rows := loadDefault(t)
	// No application can reach a PD below 0: the answer is plainly none.
	rc, err := NewRecourser(m, Rules{MaxPD: 1e-300})
	if err != nil {
		t.Fatal(err)
	}
	cfs, err := rc.Find(context.Background(), rows[0], rulesApprover{m})
	if err != nil || len(cfs) != 0 {
		t.Fatalf("got %v, %v; want no counterfactuals", cfs, err)
	}
}

func TestStatedRounding(t *testing.T) {
	a := &actionable{step: 100}
	for _, tc := range []struct {
		lo, hi    float64
		closed    bool
		low, high float64
		ok        bool
	}{
		{1000, 2050.5, false, 1100, 2000, true},
		{1000, 2050.5, true, 1000, 2000, true},
		{1012.5, 1047, false, 1020, 1040, true},
		{1012.5, 1012.5, false, 0, 0, false},
	} {
		low, high, ok := a.stated(tc.lo, tc.hi, tc.closed)
		if ok != tc.ok || (ok && (low != tc.low || high != tc.high)) {
			t.Errorf("stated(%v, %v, %v) = %v, %v, %v", tc.lo, tc.hi, tc.closed, low, high, ok)
		}
	}
	if math.IsNaN(roundShort(0.1*3)) || roundShort(0.1*3) != 0.3 {
		t.Error("roundShort")
	}
}

func TestFormatAmount(t *testing.T) {
	for in, want := range map[float64]string{1200: "1,200", 5: "5", 1234567.5: "1,234,567.5", 999: "999", 1000: "1,000"} {
		if got := formatAmount(in); got != want {
			t.Errorf("formatAmount(%v) = %q, want %q", in, got, want)
		}
	}
}

// BenchmarkRecourse is the first computation of one decision's recourse
// on credit-risk-v1, cycling over the adverse rows of the test set.
func BenchmarkRecourse(b *testing.B) {
	m, rows := loadDefault(b)
	rc, err := NewRecourser(m, testRules)
	if err != nil {
		b.Fatal(err)
	}
	ap := rulesApprover{m}
	ctx := context.Background()
	var adverse [][]float64
	for _, x := range rows {
		if ok, _ := ap.Approves(ctx, x, m.Predict(x)); !ok {
			adverse = append(adverse, x)
		}
	}
	i := 0
	for b.Loop() {
		if _, err := rc.Find(ctx, adverse[i%len(adverse)], ap); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// TestRecourseCategoricalLevels: with Home made actionable (a test-only
// manifest), every level a suggestion lists approves.
func TestRecourseCategoricalLevels(t *testing.T) {
	m, rows := loadDefault(t)
	man := *m.Manifest
	man.Features = append([]models.Feature(nil), man.Features...)
	home := man.FeatureIndex("Home")
	man.Features[home].Recourse = &models.FeatureRecourse{Actionable: true}
	mm := *m
	mm.Manifest = &man
	rc, err := NewRecourser(&mm, testRules)
	if err != nil {
		t.Fatal(err)
	}
	ap := rulesApprover{m}
	ctx := context.Background()
	levels := 0
	for i, x := range rows {
		if testing.Short() && i%5 != 0 {
			continue
		}
		if ok, _ := ap.Approves(ctx, x, m.Predict(x)); ok {
			continue
		}
		cfs, err := rc.Find(ctx, x, ap)
		if err != nil {
			t.Fatal(err)
		}
		for _, cf := range cfs {
			c := cf.Changes[0]
			if c.Feature != "Home" {
				continue
			}
			if len(cf.Changes) != 1 || c.Low != nil || len(c.Levels) == 0 {
				t.Fatalf("row %d: %+v", i, cf)
			}
			for _, l := range c.Levels {
				y := append([]float64(nil), x...)
				y[home] = float64(slices.Index(man.Features[home].Levels, l))
				if ok, _ := ap.Approves(ctx, y, m.Predict(y)); !ok || !strings.Contains(cf.Text, `"`+l+`"`) {
					t.Errorf("row %d: %q fails at level %s", i, cf.Text, l)
				}
				levels++
			}
		}
	}
	if levels == 0 {
		t.Fatal("no level was ever suggested")
	}
	t.Logf("%d suggested levels checked", levels)
}

// TestProfileMatchesFullPrediction: the incremental re-scoring (one walk
// per tree that uses the feature, other trees kept from the applicant's
// prediction) gives, for every cell of every actionable feature, the raw
// score the parsed ensemble computes from scratch.
func TestProfileMatchesFullPrediction(t *testing.T) {
	m, rows := loadDefault(t)
	rc, err := NewRecourser(m, testRules)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, x := range rows[:40] {
		s := &search{r: rc, x: x, y: slices.Clone(x), cur: make([]float64, len(m.Ensemble.Trees))}
		for ti := range s.cur {
			s.cur[ti] = s.leafAt(ti)
			s.sum += s.cur[ti]
		}
		for _, a := range rc.feats {
			if a.levels != nil {
				continue
			}
			prof := s.profile(a)
			base := s.sum
			for _, ti := range a.trees {
				base -= s.cur[ti]
			}
			// One value inside every segment, and the thresholds themselves.
			var vals []float64
			for k, b := range a.breaks {
				vals = append(vals, b)
				if k > 0 {
					vals = append(vals, (a.breaks[k-1]+b)/2)
				}
			}
			vals = append(vals, a.breaks[0]-1, a.breaks[len(a.breaks)-1]+1)
			for _, v := range vals {
				y := slices.Clone(x)
				y[a.idx] = v
				want := m.Ensemble.Raw(y)
				got := base + prof[sort.SearchFloat64s(a.breaks, v)]
				if math.Abs(got-want) > 1e-9 {
					t.Fatalf("%s=%v: incremental raw %v, full %v", a.f.Name, v, got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d values checked", checked)
}

// TestCellsSplitAtABreakOnTheLowerBound: a lower bound that is itself a
// split threshold belongs to the segment below it, so it gets a cell of
// its own instead of sharing one with the values above it.
func TestCellsSplitAtABreakOnTheLowerBound(t *testing.T) {
	a := &actionable{idx: 0, dir: "increase", breaks: []float64{10, 20, 30}, step: 1, lo: 0, hi: 40}
	s := &search{x: []float64{math.NaN()}}
	got := s.cells(a, 10, 40)
	want := []cell{{10, 10, true}, {10, 20, false}, {20, 30, false}, {30, 40, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("cells = %v, want %v", got, want)
	}
	got = s.cells(a, 5, 40)
	want = []cell{{5, 10, true}, {10, 20, false}, {20, 30, false}, {30, 40, false}}
	if !slices.Equal(got, want) {
		t.Fatalf("cells = %v, want %v", got, want)
	}
}
