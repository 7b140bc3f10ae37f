package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

const distributionUsage = "glassbox models distribution --model DIR --data CSV [--bins N]"

// distributionBinning says how buildDistribution chose its edges; it is
// written into every distribution.json.
const distributionBinning = "numeric variables (every numeric feature, and the points score computed through the model): " +
	"upper edges at the distinct order statistics of ranks ceil(j*n/k), j = 1..k-1, of the non-missing values, " +
	"less any equal to the largest value, bins right-closed; categorical features: one bin per manifest level; " +
	"missing values counted apart"

// runModelsDistribution builds a package's distribution.json from a data
// set (its training data): every row is scored through the real model,
// and the score and every feature binned.
func runModelsDistribution(_ context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlags("models distribution", stderr)
	dir := flags.String("model", "", "model package folder (distribution.json is written there)")
	data := flags.String("data", "", "CSV data set, the model's training data (header with the model's feature names; categories as integer codes)")
	bins := flags.Int("bins", 10, "number of quantile bins for numeric variables")
	if err := parseFlags(flags, args, 0); err != nil {
		return err
	}
	if *dir == "" || *data == "" || *bins < 2 {
		return fmt.Errorf("%w: %s", errUsage, distributionUsage)
	}
	m, raw, rows, err := loadPackageData(*dir, *data)
	if err != nil {
		return err
	}
	d, err := buildDistribution(m, rows, *bins)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	d.DataSHA256 = hex.EncodeToString(sum[:])
	out, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	out = append(out, '\n')
	if _, err := models.ParseDistribution(out, m.Manifest); err != nil {
		return fmt.Errorf("built distribution does not validate: %w", err)
	}
	path := filepath.Join(*dir, models.DistributionFile)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return err
	}
	if d.DataSHA256 != m.Manifest.Provenance.TrainSHA256 {
		fmt.Fprintf(stderr, "warning: %s is not the training data the manifest names (train_sha256 %s)\n", *data, m.Manifest.Provenance.TrainSHA256)
	}
	fmt.Fprintf(stdout, "%s: %d rows, score in %d bins, %d features\n", path, d.Rows, len(d.Score.Counts), len(d.Features))
	return nil
}

// loadPackageData loads the package in dir and reads the CSV data set at
// path in the model's feature order, returning its bytes too (their hash
// goes into what is built from them).
func loadPackageData(dir, path string) (*scoring.Model, []byte, [][]float64, error) {
	pkg, err := models.LoadDir(dir)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		return nil, nil, nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, nil, err
	}
	rows, err := scoring.ReadCSV(bytes.NewReader(raw), m.Ensemble.FeatureNames)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, raw, rows, nil
}

// buildDistribution scores every row and bins the score and each feature.
func buildDistribution(m *scoring.Model, rows [][]float64, bins int) (*models.Distribution, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("the data set has no rows")
	}
	man := m.Manifest
	d := &models.Distribution{
		ModelID: man.ID, ModelSHA256: man.ModelSHA256, Rows: len(rows), Binning: distributionBinning,
		Features: map[string]*models.Histogram{},
	}
	scores := make([]float64, len(rows))
	for i, x := range rows {
		scores[i] = m.Predict(x).Score
	}
	d.Score = numericHistogram(scores, bins)
	col := make([]float64, len(rows))
	for j := range man.Features {
		f := &man.Features[j]
		for i, x := range rows {
			col[i] = x[j]
		}
		if f.Type != models.Categorical {
			d.Features[f.Name] = numericHistogram(col, bins)
			continue
		}
		h, err := levelHistogram(f, col)
		if err != nil {
			return nil, err
		}
		d.Features[f.Name] = h
	}
	return d, nil
}

func numericHistogram(values []float64, bins int) *models.Histogram {
	edges := audit.QuantileEdges(values, bins)
	counts, missing := audit.Counts(edges, values)
	return &models.Histogram{Edges: edges, Counts: counts, Missing: missing}
}

// levelHistogram counts a categorical feature's values (level indices,
// NaN for missing) per level.
func levelHistogram(f *models.Feature, values []float64) (*models.Histogram, error) {
	h := &models.Histogram{Counts: make([]int, len(f.Levels))}
	for _, v := range values {
		switch {
		case math.IsNaN(v):
			h.Missing++
		case v == math.Trunc(v) && v >= 0 && int(v) < len(f.Levels):
			h.Counts[int(v)]++
		default:
			return nil, fmt.Errorf("feature %q: %v is not a level index", f.Name, v)
		}
	}
	return h, nil
}
