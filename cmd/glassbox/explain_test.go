package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestExplainCommandMatchesLightGBM(t *testing.T) {
	cases := []struct {
		name, model, data string
	}{
		{"credit-risk-v1", "../../models/credit-risk-v1", "../../testdata/credit_test.csv"},
		{"credit-risk-protected", "../../models/credit-risk-protected", "../../testdata/credit_protected_test.csv"},
		{"credit-risk-large", "../../testdata/models/credit-risk-large/model.txt", "../../testdata/credit_test.csv"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := []string{"explain", "--model", tc.model, "--data", tc.data}
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d: %s", code, stderr.String())
			}
			want := readLines(t, "../../testdata/reference/"+tc.name+".contrib.tsv")
			got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
			if len(got) != len(want) {
				t.Fatalf("%d lines, want %d", len(got), len(want))
			}
			for i := range want {
				g, w := strings.Split(got[i], "\t"), strings.Split(want[i], "\t")
				if len(g) != len(w) {
					t.Fatalf("row %d: %d values, want %d", i, len(g), len(w))
				}
				for j := range w {
					gv, err1 := strconv.ParseFloat(g[j], 64)
					wv, err2 := strconv.ParseFloat(w[j], 64)
					if err1 != nil || err2 != nil || math.Abs(gv-wv) > 1e-9 {
						t.Fatalf("row %d value %d: %s, LightGBM %s", i, j, g[j], w[j])
					}
					// The %.17g form round-trips the value exactly.
					if g[j] != strconv.FormatFloat(gv, 'g', 17, 64) {
						t.Fatalf("row %d value %d: %q is not in %%.17g form", i, j, g[j])
					}
				}
			}
		})
	}
}

func TestExplainCommandErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"no model", []string{"explain", "--data", "../../testdata/credit_test.csv"}, 2},
		{"stray argument", []string{"explain", "--model", "../../models/credit-risk-v1", "--data", "../../testdata/credit_test.csv", "extra"}, 2},
		{"missing file", []string{"explain", "--model", "../../models/credit-risk-v1", "--data", "does-not-exist.csv"}, 1},
		{"bench without data", []string{"bench", "--model", "../../models/credit-risk-v1"}, 2},
		{"bench bad passes", []string{"bench", "--model", "../../models/credit-risk-v1", "--data", "../../testdata/credit_test.csv", "--passes", "0"}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr.String())
			}
		})
	}
}

func TestBenchCommandPrintsOneJSONLine(t *testing.T) {
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "--model", "../../models/credit-risk-v1", "--data", "../../testdata/credit_test.csv", "--passes", "3", "--pass-time", "1ms"}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want exactly one line, got %q", out)
	}
	if !strings.HasPrefix(out, `{"rows":`) {
		t.Errorf("fields out of order: %s", out)
	}
	var rep struct {
		Rows               int     `json:"rows"`
		PredictUsPerRow    float64 `json:"predict_us_per_row"`
		ExplainUsPerRow    float64 `json:"explain_us_per_row"`
		ExplainOverPredict float64 `json:"explain_over_predict"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if rep.Rows != 890 || !(rep.PredictUsPerRow > 0) || !(rep.ExplainUsPerRow > 0) || !(rep.ExplainOverPredict > 0) {
		t.Errorf("report %+v", rep)
	}
}
