package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/glassbox-ledger/glassbox/scoring"
)

func runPredict(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("predict", stderr)
	modelPath := fs.String("model", "", "model package folder or bare LightGBM text file")
	dataPath := fs.String("data", "", "CSV file with a header; columns matched to features by name")
	raw := fs.Bool("raw", false, "print the raw score (log-odds) instead of the probability of default")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	m, rows, err := loadModelAndRows(*modelPath, *dataPath)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(stdout)
	buf := make([]byte, 0, 32)
	for _, x := range rows {
		v := m.Raw(x)
		if !*raw {
			v = m.Probability(v)
		}
		buf = strconv.AppendFloat(buf[:0], v, 'g', 17, 64)
		buf = append(buf, '\n')
		w.Write(buf)
	}
	return w.Flush()
}

// loadModelAndRows loads --model and reads --data for it.
func loadModelAndRows(modelPath, dataPath string) (*scoring.Model, [][]float64, error) {
	if modelPath == "" || dataPath == "" {
		return nil, nil, fmt.Errorf("%w: --model and --data are required", errUsage)
	}
	m, err := scoring.LoadPath(modelPath)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(dataPath)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	rows, err := scoring.ReadCSV(f, m.Ensemble.FeatureNames)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dataPath, err)
	}
	return m, rows, nil
}
