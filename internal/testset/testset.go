// Package testset gives tests the credit test set (testdata/credit_test.csv,
// 890 held-out applications of the credit-risk-v1 training data) as
// feature vectors, wherever in the module the test runs.
package testset

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/glassbox-ledger/glassbox/scoring"
)

// Path is the test set's file.
func Path(tb testing.TB) string {
	tb.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		tb.Fatal("testset: cannot locate the module")
	}
	// This file is internal/testset/testset.go under the module root.
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "credit_test.csv")
}

// Rows reads the test set in m's feature order and encoding.
func Rows(tb testing.TB, m *scoring.Model) [][]float64 {
	tb.Helper()
	f, err := os.Open(Path(tb))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := scoring.ReadCSV(f, m.Ensemble.FeatureNames)
	if err != nil {
		tb.Fatal(err)
	}
	return rows
}
