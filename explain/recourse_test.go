package explain

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// pdBelow approves when the probability of default is below a cut-off.
type pdBelow float64

func (c pdBelow) Approves(_ context.Context, _ []float64, p scoring.Prediction) (bool, error) {
	return p.PD < float64(c), nil
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
	f, err := os.Open("../testdata/credit_test.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := scoring.ReadCSV(f, m.Ensemble.FeatureNames)
	if err != nil {
		t.Fatal(err)
	}
	return m, rows
}

func TestRecourseOnDeclinedRows(t *testing.T) {
	m, rows := loadDefault(t)
	const cut = 0.25
	ctx := context.Background()
	declined, withSuggestion, without := 0, 0, 0
	for i, x := range rows {
		if m.Predict(x).PD < cut {
			continue
		}
		declined++
		if declined > 60 {
			break
		}
		cfs, err := Recourse(ctx, m, x, pdBelow(cut), RecourseOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(cfs) == 0 {
			without++
		} else {
			withSuggestion++
		}
		if len(cfs) > 3 {
			t.Errorf("row %d: %d alternatives", i, len(cfs))
		}
		for _, cf := range cfs {
			y := append([]float64(nil), x...)
			for _, c := range cf.Changes {
				j := m.Manifest.FeatureIndex(c.Feature)
				f := m.Manifest.Features[j]
				if !f.Changeable {
					t.Errorf("row %d: changes immutable feature %s", i, f.Name)
				}
				if c.To < *f.Min || c.To > *f.Max {
					t.Errorf("row %d: %s=%v outside %v..%v", i, f.Name, c.To, *f.Min, *f.Max)
				}
				if (f.ChangeDirection == "increase" && c.To < c.From) || (f.ChangeDirection == "decrease" && c.To > c.From) {
					t.Errorf("row %d: %s moves %v→%v against %s", i, f.Name, c.From, c.To, f.ChangeDirection)
				}
				y[j] = c.To
			}
			p := m.Predict(y)
			if p.PD >= cut || math.Abs(p.PD-cf.ProbabilityOfDefault) > 1e-15 {
				t.Errorf("row %d: suggestion %s re-scores to PD %v", i, cf.Text, p.PD)
			}
			if !strings.HasPrefix(cf.Text, "If ") || !strings.Contains(cf.Text, "would be approved") {
				t.Errorf("text %q", cf.Text)
			}
		}
		for k := 1; k < len(cfs); k++ {
			if len(cfs[k].Changes) < len(cfs[k-1].Changes) {
				t.Errorf("row %d: alternatives not ordered by number of changes", i)
			}
		}
	}
	if withSuggestion == 0 {
		t.Fatal("no declined row got a suggestion")
	}
	t.Logf("declined rows %d: %d with suggestions, %d without", min(declined, 60), withSuggestion, without)
}

func TestRecourseNoneWhenNothingCanSucceed(t *testing.T) {
	m, rows := loadDefault(t)
	// No application can reach a PD below 0: the answer is plainly none.
	cfs, err := Recourse(context.Background(), m, rows[0], pdBelow(0), RecourseOptions{})
	if err != nil || len(cfs) != 0 {
		t.Fatalf("got %v, %v; want no counterfactuals", cfs, err)
	}
}

func TestFormatAmount(t *testing.T) {
	for in, want := range map[float64]string{1200: "1,200", 5: "5", 1234567.5: "1,234,567.5", 999: "999", 1000: "1,000"} {
		if got := formatAmount(in); got != want {
			t.Errorf("formatAmount(%v) = %q, want %q", in, got, want)
		}
	}
}
