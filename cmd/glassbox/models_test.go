package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestModelsCheck(t *testing.T) {
	tampered := t.TempDir()
	for _, f := range []string{"manifest.json", "model.txt"} {
		data, err := os.ReadFile(filepath.Join("../../models/credit-risk-v1", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "model.txt" {
			i := bytes.Index(data, []byte("leaf_value=-0.9"))
			data[i+len("leaf_value=-0.9")] ^= 1 // one digit of one leaf value
		}
		if err := os.WriteFile(filepath.Join(tampered, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name string
		dir  string
		code int
		want []string
	}{
		{"default admitted", "../../models/credit-risk-v1", 0, []string{"credit-risk-v1 1.0.0: ADMITTED"}},
		{"protected refused", "../../models/credit-risk-protected", 1, []string{
			"REFUSED", `feature "Marital"`, "12 CFR 1002.6(b)(1)", "features: Age", "12 CFR 1002.6(b)(2)"}},
		{"tampered refused", tampered, 1, []string{"REFUSED", "SHA-256"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"models", "check", tc.dir}, &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.code, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, stdout.String())
				}
			}
		})
	}
}

func TestServeRefusesRefusedModel(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(),
		"--models", "../../models/credit-risk-protected"}, &stdout, &stderr)
	if code == 0 {
		t.Fatal("serve started with a refused model")
	}
	for _, want := range []string{"credit-risk-protected", "Marital", "Age"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("refusal does not name %q:\n%s", want, stderr.String())
		}
	}
}

// TestModelsReference rebuilds the shipped reference.json from the test
// set through the real model and policy: the result is the shipped file,
// byte for byte, so the shipped reference is reproducible; then checks
// the usage errors.
func TestModelsReference(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"manifest.json", "model.txt"} {
		data, err := os.ReadFile(filepath.Join("../../models/credit-risk-v1", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, method := range []string{"cutoff", "approved"} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"models", "reference", "--model", dir, "--data", "../../testdata/credit_test.csv", "--method", method}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", method, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "method "+method+": 535 of 890 applicants approved") {
			t.Errorf("%s: output %q", method, stdout.String())
		}
	}
	got, err := os.ReadFile(filepath.Join(dir, "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../models/credit-risk-v1/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("rebuilt reference.json differs from the shipped one")
	}
	// The package with its reference (and the shipped evidence) is
	// admitted.
	evidence, err := os.ReadFile("../../models/credit-risk-v1/evidence.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "evidence.json"), evidence, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"models", "check", dir}, &stdout, &stderr); code != 0 {
		t.Errorf("models check: exit %d: %s", code, stdout.String())
	}
	for _, args := range [][]string{
		{"--model", dir, "--data", "../../testdata/credit_test.csv", "--method", "median"},
		{"--model", dir, "--method", "cutoff"},
		{"--data", "../../testdata/credit_test.csv", "--method", "cutoff"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), append([]string{"models", "reference"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
}
