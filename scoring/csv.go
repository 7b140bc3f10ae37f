package scoring

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// ReadCSV reads rows for a model with the given feature names. The CSV has
// a header; columns are matched to features by name and other columns are
// ignored. Categorical columns hold integer codes; "nan" or an empty field
// is a missing value.
func ReadCSV(r io.Reader, features []string) ([][]float64, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("csv header: %w", err)
	}
	col := make([]int, len(features))
	for i, name := range features {
		col[i] = -1
		for j, h := range header {
			if strings.TrimSpace(h) == name {
				col[i] = j
				break
			}
		}
		if col[i] < 0 {
			return nil, fmt.Errorf("csv: no column for model feature %q", name)
		}
	}
	var rows [][]float64
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, fmt.Errorf("csv: %w", err)
		}
		x := make([]float64, len(features))
		for i, j := range col {
			x[i], err = parseCell(rec[j])
			if err != nil {
				return nil, fmt.Errorf("csv line %d, column %q: %w", line, features[i], err)
			}
		}
		rows = append(rows, x)
	}
}

func parseCell(s string) (float64, error) {
	s = strings.TrimSpace(s)
	if s == "" || strings.EqualFold(s, "nan") || strings.EqualFold(s, "na") {
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}
