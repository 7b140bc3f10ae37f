package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestPredictCommandMatchesLightGBM(t *testing.T) {
	cases := []struct {
		name, model, data string
	}{
		{"credit-risk-v1", "../../models/credit-risk-v1", "../../testdata/credit_test.csv"},
		{"credit-risk-protected", "../../models/credit-risk-protected", "../../testdata/credit_protected_test.csv"},
		{"credit-risk-large", "../../testdata/models/credit-risk-large/model.txt", "../../testdata/credit_test.csv"},
	}
	for _, tc := range cases {
		for _, mode := range []string{"prob", "raw"} {
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				args := []string{"predict", "--model", tc.model, "--data", tc.data}
				if mode == "raw" {
					args = append(args, "--raw")
				}
				var stdout, stderr bytes.Buffer
				if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
					t.Fatalf("exit %d: %s", code, stderr.String())
				}
				want := readLines(t, "../../testdata/reference/"+tc.name+"."+mode+".tsv")
				got := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
				if len(got) != len(want) {
					t.Fatalf("%d lines, want %d", len(got), len(want))
				}
				for i := range want {
					g, err1 := strconv.ParseFloat(got[i], 64)
					w, err2 := strconv.ParseFloat(want[i], 64)
					if err1 != nil || err2 != nil || math.Abs(g-w) > 1e-12 {
						t.Errorf("row %d: %s, LightGBM %s", i, got[i], want[i])
					}
				}
			})
		}
	}
}

func TestPredictCommandErrors(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no flags", []string{"predict"}, 2, "--model and --data are required"},
		{"stray argument", []string{"predict", "--model", "x", "--data", "y", "z"}, 2, "unexpected arguments"},
		{"missing model", []string{"predict", "--model", "nope", "--data", "../../testdata/credit_test.csv"}, 1, "nope"},
		{"csv lacks a feature", []string{"predict", "--model", "../../models/credit-risk-protected", "--data", "../../testdata/credit_test.csv"}, 1, `no column for model feature "Age"`},
		{"unknown command", []string{"frobnicate"}, 2, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("exit %d, want %d (%s)", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.want)
			}
		})
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}
