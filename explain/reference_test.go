package explain

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/glassbox-ledger/glassbox/scoring/scoringtest"

	"github.com/glassbox-ledger/glassbox/scoring"
)

// referenceCases are the shipped models with LightGBM 4.6.0's pred_contrib.
var referenceCases = []struct {
	name, model, data string
}{
	{"credit-risk-v1", "../models/credit-risk-v1", "../testdata/credit_test.csv"},
	{"credit-risk-protected", "../models/credit-risk-protected", "../testdata/credit_protected_test.csv"},
	{"credit-risk-large", "../testdata/models/credit-risk-large/model.txt", "../testdata/credit_test.csv"},
}

// fixture is a loaded reference model with its rows and explainer; models
// are loaded once per test binary since the large one takes a while.
type fixture struct {
	m    *scoring.Model
	e    *Explainer
	rows [][]float64
	want [][]float64
}

var (
	fixturesMu sync.Mutex
	fixtures   = map[string]*fixture{}
)

func loadFixture(t testing.TB, name string) *fixture {
	t.Helper()
	fixturesMu.Lock()
	defer fixturesMu.Unlock()
	if fx, ok := fixtures[name]; ok {
		return fx
	}
	for _, tc := range referenceCases {
		if tc.name != name {
			continue
		}
		m, err := scoring.LoadPath(tc.model)
		if err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(tc.data)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := scoring.ReadCSV(f, m.Ensemble.FeatureNames)
		if err != nil {
			t.Fatal(err)
		}
		e, err := New(m)
		if err != nil {
			t.Fatal(err)
		}
		fx := &fixture{m: m, e: e, rows: rows, want: scoringtest.ReadTSV(t, filepath.Join("../testdata/reference", name+".contrib.tsv"))}
		fixtures[name] = fx
		return fx
	}
	t.Fatalf("no reference case %q", name)
	return nil
}

func TestMatchesLightGBMPredContrib(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadFixture(t, tc.name)
			if len(fx.rows) != len(fx.want) || len(fx.rows) == 0 {
				t.Fatalf("rows %d, reference %d", len(fx.rows), len(fx.want))
			}
			nf := fx.e.NumFeatures()
			missing := 0
			out := make([]float64, nf+1)
			for i, x := range fx.rows {
				if len(fx.want[i]) != nf+1 {
					t.Fatalf("reference row %d has %d values, want %d", i, len(fx.want[i]), nf+1)
				}
				for _, v := range x {
					if math.IsNaN(v) {
						missing++
						break
					}
				}
				ref := Reference(fx.m, x)
				if err := fx.e.Explain(x, out); err != nil {
					t.Fatalf("row %d: %v", i, err)
				}
				for j := range nf + 1 {
					want := fx.want[i][j]
					if d := math.Abs(ref[j] - want); d > 1e-9 {
						t.Errorf("row %d value %d: oracle %.17g, LightGBM %.17g (diff %g)", i, j, ref[j], want, d)
					}
					if d := math.Abs(out[j] - want); d > 1e-9 {
						t.Errorf("row %d value %d: fast %.17g, LightGBM %.17g (diff %g)", i, j, out[j], want, d)
					}
				}
			}
			if missing == 0 {
				t.Error("reference rows include no missing values; the test would not cover them")
			}
			if d := math.Abs(fx.e.ExpectedValue() - fx.want[0][nf]); d > 1e-9 {
				t.Errorf("expected value %.17g, LightGBM %.17g", fx.e.ExpectedValue(), fx.want[0][nf])
			}
		})
	}
}

// TestBothKernelFormsMatchLightGBM runs each model through the kernel
// form New did not pick for it (see lanes.go).
func TestBothKernelFormsMatchLightGBM(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadFixture(t, tc.name)
			e, err := New(fx.m)
			if err != nil {
				t.Fatal(err)
			}
			e.branchy = !fx.e.branchy
			out := make([]float64, e.NumFeatures()+1)
			for i, x := range fx.rows {
				if err := e.Explain(x, out); err != nil {
					t.Fatalf("row %d: %v", i, err)
				}
				if j, ok := closeTo(out, fx.want[i], 1e-9); !ok {
					t.Fatalf("row %d value %d: %.17g, LightGBM %.17g", i, j, out[j], fx.want[i][j])
				}
			}
		})
	}
}

func TestBatchEqualsSingle(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.name, func(t *testing.T) {
			fx := loadFixture(t, tc.name)
			got, err := fx.e.ExplainBatch(context.Background(), fx.rows)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float64, fx.e.NumFeatures()+1)
			for i, x := range fx.rows {
				if err := fx.e.Explain(x, out); err != nil {
					t.Fatal(err)
				}
				for j := range out {
					if math.Float64bits(out[j]) != math.Float64bits(got[i][j]) {
						t.Fatalf("row %d value %d: batch %v, single %v", i, j, got[i][j], out[j])
					}
				}
			}
		})
	}
}

func TestBatchHonoursContext(t *testing.T) {
	fx := loadFixture(t, "credit-risk-v1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := fx.e.ExplainBatch(ctx, fx.rows); err == nil {
		t.Fatal("ExplainBatch with a cancelled context succeeded")
	}
}
