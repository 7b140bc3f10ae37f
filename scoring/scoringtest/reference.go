package scoringtest

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// ReadTSV reads a reference file of LightGBM outputs (testdata/reference):
// one line per data row, tab-separated numbers.
func ReadTSV(tb testing.TB, path string) [][]float64 {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out [][]float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var row []float64
		for _, s := range strings.Split(sc.Text(), "\t") {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil {
				tb.Fatalf("%s: %v", path, err)
			}
			row = append(row, v)
		}
		out = append(out, row)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
