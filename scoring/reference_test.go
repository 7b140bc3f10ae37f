package scoring

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/glassbox-ledger/glassbox/scoring/scoringtest"
)

func readRows(t testing.TB, m *Model, csvPath string) [][]float64 {
	t.Helper()
	f, err := os.Open(csvPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := ReadCSV(f, m.Ensemble.FeatureNames)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// referenceCases are the shipped models with LightGBM 4.6.0's own outputs.
var referenceCases = []struct {
	name, model, data string
}{
	{"credit-risk-v1", "../models/credit-risk-v1", "../testdata/credit_test.csv"},
	{"credit-risk-protected", "../models/credit-risk-protected", "../testdata/credit_protected_test.csv"},
	{"credit-risk-large", "../testdata/models/credit-risk-large/model.txt", "../testdata/credit_test.csv"},
}

func TestPredictMatchesLightGBM(t *testing.T) {
	for _, tc := range referenceCases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := LoadPath(tc.model)
			if err != nil {
				t.Fatal(err)
			}
			rows := readRows(t, m, tc.data)
			raw := scoringtest.ReadTSV(t, filepath.Join("../testdata/reference", tc.name+".raw.tsv"))
			prob := scoringtest.ReadTSV(t, filepath.Join("../testdata/reference", tc.name+".prob.tsv"))
			if len(rows) != len(raw) || len(rows) != len(prob) || len(rows) == 0 {
				t.Fatalf("rows %d, raw %d, prob %d", len(rows), len(raw), len(prob))
			}
			missing := 0
			for i, x := range rows {
				for _, v := range x {
					if math.IsNaN(v) {
						missing++
						break
					}
				}
				p := m.Predict(x)
				if d := math.Abs(p.Raw - raw[i][0]); d > 1e-12 {
					t.Errorf("row %d: raw %.17g, LightGBM %.17g (diff %g)", i, p.Raw, raw[i][0], d)
				}
				if d := math.Abs(p.PD - prob[i][0]); d > 1e-12 {
					t.Errorf("row %d: PD %.17g, LightGBM %.17g (diff %g)", i, p.PD, prob[i][0], d)
				}
				// The parsed trees walked by glassbox must agree with leaves.
				if d := math.Abs(m.Ensemble.Raw(x) - p.Raw); d > 1e-12 {
					t.Errorf("row %d: parsed-tree raw differs from leaves by %g", i, d)
				}
			}
			if missing == 0 {
				t.Error("reference rows include no missing values; the test would not cover them")
			}
		})
	}
}
