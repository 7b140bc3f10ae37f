package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
)

const shippedPackage = "../../models/credit-risk-v1"

// copyPackage copies the named files of the shipped package to a fresh
// folder.
func copyPackage(t *testing.T, files ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(shippedPackage, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readCSVFile(t *testing.T, path string) [][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// TestModelsDistribution rebuilds the shipped distribution.json from the
// training data through the real model (byte for byte) and checks its
// bins against counts taken from the CSV here.
func TestModelsDistribution(t *testing.T) {
	dir := copyPackage(t, "manifest.json", "model.txt", "reference.json")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"models", "distribution", "--model", dir, "--data", "../../testdata/credit_train.csv"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s (the training data is the manifest's)", stderr.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, models.DistributionFile))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(shippedPackage, models.DistributionFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("rebuilt distribution.json differs from the shipped one")
	}
	pkg, err := models.LoadDir(shippedPackage)
	if err != nil {
		t.Fatal(err)
	}
	d := pkg.Distribution
	recs := readCSVFile(t, "../../testdata/credit_train.csv")
	header, rows := recs[0], recs[1:]
	if d.Rows != len(rows) {
		t.Fatalf("rows %d, want %d", d.Rows, len(rows))
	}
	for _, f := range pkg.Manifest.Features {
		col := slices.Index(header, f.Name)
		h := d.Features[f.Name]
		counts := make([]int, len(h.Counts))
		missing := 0
		var values []float64
		for _, r := range rows {
			if r[col] == "nan" {
				missing++
				continue
			}
			v, err := strconv.ParseFloat(r[col], 64)
			if err != nil {
				t.Fatal(err)
			}
			values = append(values, v)
			if f.Type == models.Categorical {
				counts[int(v)]++
				continue
			}
			// Right-closed bins, by linear scan.
			b := len(h.Edges)
			for i, e := range h.Edges {
				if v <= e {
					b = i
					break
				}
			}
			counts[b]++
		}
		if !slices.Equal(counts, h.Counts) || missing != h.Missing {
			t.Errorf("%s: counts %v missing %d, shipped %v missing %d", f.Name, counts, missing, h.Counts, h.Missing)
		}
		if f.Type == models.Categorical {
			continue
		}
		// Each edge is the order statistic of rank ⌈j·n/10⌉ for some j.
		slices.Sort(values)
		var ranks []float64
		for j := 1; j < 10; j++ {
			ranks = append(ranks, values[int(math.Ceil(float64(j*len(values))/10))-1])
		}
		for _, e := range h.Edges {
			if !slices.Contains(ranks, e) {
				t.Errorf("%s: edge %v is not a decile order statistic %v", f.Name, e, ranks)
			}
		}
	}
	// The score histogram bins the scores the model gives the rows.
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	xs, err := scoring.ReadCSV(bytes.NewReader([]byte(csvText(recs))), m.Ensemble.FeatureNames)
	if err != nil {
		t.Fatal(err)
	}
	counts := make([]int, len(d.Score.Counts))
	for _, x := range xs {
		s := m.Predict(x).Score
		b := len(d.Score.Edges)
		for i, e := range d.Score.Edges {
			if s <= e {
				b = i
				break
			}
		}
		counts[b]++
	}
	if !slices.Equal(counts, d.Score.Counts) {
		t.Errorf("score counts %v, shipped %v", counts, d.Score.Counts)
	}
	for _, args := range [][]string{{"--model", dir}, {"--data", "x.csv"}, {"--model", dir, "--data", "x.csv", "--bins", "1"}} {
		if code := run(context.Background(), append([]string{"models", "distribution"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func csvText(recs [][]string) string {
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.WriteAll(recs)
	return b.String()
}

// TestGroupFile checks the shipped group file against the protected test
// set it was derived from: row i's age band and marital status, and the
// protected set's other columns are the test set's.
func TestGroupFile(t *testing.T) {
	prot := readCSVFile(t, "../../testdata/credit_protected_test.csv")
	test := readCSVFile(t, "../../testdata/credit_test.csv")
	groups := readCSVFile(t, "../../testdata/credit_protected_groups.csv")
	if len(prot) != len(test) || len(prot) != len(groups) {
		t.Fatalf("%d, %d and %d lines", len(prot), len(test), len(groups))
	}
	age, marital := slices.Index(prot[0], "Age"), slices.Index(prot[0], "Marital")
	levels := []string{"divorced", "married", "separated", "single", "widow"} // credit_categories.json
	band := func(a float64) string {
		switch {
		case a < 25:
			return "18-24"
		case a < 35:
			return "25-34"
		case a < 45:
			return "35-44"
		case a < 55:
			return "45-54"
		}
		return "55+"
	}
	for i := 1; i < len(prot); i++ {
		for j, name := range test[0] {
			if prot[i][slices.Index(prot[0], name)] != test[i][j] {
				t.Fatalf("line %d: %s differs between the protected and the plain test set", i+1, name)
			}
		}
		a, err := strconv.ParseFloat(prot[i][age], 64)
		if err != nil {
			t.Fatal(err)
		}
		m := ""
		if prot[i][marital] != "nan" {
			k, _ := strconv.Atoi(prot[i][marital])
			m = levels[k]
		}
		if want := []string{strconv.Itoa(i), band(a), m}; !slices.Equal(groups[i], want) {
			t.Fatalf("group line %d = %v, want %v", i+1, groups[i], want)
		}
	}
}

// TestModelsCheckEvidence measures the shipped model on the test set with
// its protected attributes: the evidence written is the shipped file byte
// for byte, its AUC is the pairwise count over the model's own
// probabilities, and its adverse impact ratios are the ratios of the
// approval counts, counted here from policy decisions.
func TestModelsCheckEvidence(t *testing.T) {
	dir := copyPackage(t, "manifest.json", "model.txt", "reference.json", "distribution.json")
	out := filepath.Join(t.TempDir(), "evidence.json")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"models", "check", dir, "--validation", "../../testdata/credit_test.csv",
		"--groups", "../../testdata/credit_protected_groups.csv", "--out", out}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"ADMITTED", "AUC 0.827", "Age=18-24: 52 of 119 approved"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile(filepath.Join(shippedPackage, models.EvidenceFile))
	if err != nil {
		t.Fatal(err)
	}
	// Every figure is the shipped one. The policy revision is compared
	// apart: a policy edit that leaves every decision alone (an access
	// rule) changes the revision, not the evidence.
	var ev, want models.Evidence
	if err := json.Unmarshal(got, &ev); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(shipped, &want); err != nil {
		t.Fatal(err)
	}
	if ev.PolicyRevision != want.PolicyRevision {
		t.Logf("evidence measured under policy %s, shipped under %s: regenerate with glassbox models check models/credit-risk-v1 --validation testdata/credit_test.csv --groups testdata/credit_protected_groups.csv", ev.PolicyRevision, want.PolicyRevision)
	}
	want.PolicyRevision = ev.PolicyRevision
	if a, b := mustJSON(t, ev), mustJSON(t, want); !bytes.Equal(a, b) {
		t.Errorf("measured evidence differs from the shipped evidence.json:\n%s\n%s", a, b)
	}

	// Independent figures: the model's probabilities, counted pairwise.
	pkg, err := models.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../testdata/credit_test.csv")
	if err != nil {
		t.Fatal(err)
	}
	xs, err := scoring.ReadCSV(bytes.NewReader(raw), m.Ensemble.FeatureNames)
	if err != nil {
		t.Fatal(err)
	}
	recs := readCSVFile(t, "../../testdata/credit_test.csv")
	pol, err := policy.New(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var wins, pairs float64
	pd := make([]float64, len(xs))
	approved := make([]bool, len(xs))
	for i, x := range xs {
		p := m.Predict(x)
		pd[i] = p.PD
		o, err := pol.Decide(context.Background(), policy.DecisionInput{ModelID: m.Manifest.ID, ProbabilityOfDefault: p.PD, Score: p.Score, Features: m.FeatureValues(x)})
		if err != nil {
			t.Fatal(err)
		}
		approved[i] = o.Decision == policy.Approve
	}
	for i := range xs {
		for j := range xs {
			if recs[i+1][0] == "1" && recs[j+1][0] == "0" {
				pairs++
				switch {
				case pd[i] > pd[j]:
					wins++
				case pd[i] == pd[j]:
					wins += 0.5
				}
			}
		}
	}
	if math.Abs(ev.AUC-wins/pairs) > 1e-12 {
		t.Errorf("evidence AUC %v, pairwise %v", ev.AUC, wins/pairs)
	}
	groups := readCSVFile(t, "../../testdata/credit_protected_groups.csv")
	for a, attr := range ev.Fairness.Attributes {
		n, k := map[string]int{}, map[string]int{}
		for i := range xs {
			g := groups[i+1][a+1]
			if g == "" {
				continue
			}
			n[g]++
			if approved[i] {
				k[g]++
			}
		}
		var fav audit.GroupFigures
		for _, g := range attr.Groups {
			if g.Favoured {
				fav = g
			}
		}
		for _, g := range attr.Groups {
			if g.N != n[g.Group] || g.Approved != k[g.Group] {
				t.Errorf("%s=%s: %d of %d, counted %d of %d", attr.Attribute, g.Group, g.Approved, g.N, k[g.Group], n[g.Group])
			}
			want := (float64(k[g.Group]) / float64(n[g.Group])) / (float64(k[fav.Group]) / float64(n[fav.Group]))
			if math.Abs(g.Ratio-want) > 1e-12 {
				t.Errorf("%s=%s: ratio %v, counts give %v", attr.Attribute, g.Group, g.Ratio, want)
			}
		}
	}
	// The figures, tried by hand on this data: single against
	// married 0.733, 18–24 against the most approved age band (55+) 0.583.
	for _, c := range []struct {
		attr, group string
		ratio       float64
	}{{"Marital", "single", (90.0 / 191) / (421.0 / 655)}, {"Age", "18-24", (52.0 / 119) / (60.0 / 80)}} {
		for _, a := range ev.Fairness.Attributes {
			for _, g := range a.Groups {
				if a.Attribute == c.attr && g.Group == c.group && math.Abs(g.Ratio-c.ratio) > 1e-12 {
					t.Errorf("%s=%s: ratio %v, want %v", c.attr, c.group, g.Ratio, c.ratio)
				}
			}
		}
	}
}

// TestModelsCheckRefusesLowImpactRatio raises the policy's adverse impact
// floor above the shipped model's measured 18–24 ratio: admission refuses
// and names the group and the figure. Without evidence, the package is
// refused too.
func TestModelsCheckRefusesLowImpactRatio(t *testing.T) {
	polDir := t.TempDir()
	entries, err := os.ReadDir("../../policy/rego")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join("../../policy/rego", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "data.json" {
			data = bytes.Replace(data, []byte(`"min_adverse_impact_ratio": 0.5`), []byte(`"min_adverse_impact_ratio": 0.6`), 1)
			if !bytes.Contains(data, []byte(`"min_adverse_impact_ratio": 0.6`)) {
				t.Fatal("data.json has no min_adverse_impact_ratio 0.5 to raise")
			}
		}
		if err := os.WriteFile(filepath.Join(polDir, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"models", "check", "--policy", polDir, shippedPackage}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s%s", code, stdout.String(), stderr.String())
	}
	for _, want := range []string{"REFUSED", "ADM-ADVERSE-IMPACT", `Age group "18-24"`, "0.583 (52 of 119 approved)", `"55+"`, "floor 0.6"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	dir := copyPackage(t, "manifest.json", "model.txt", "reference.json")
	stdout.Reset()
	if code := run(context.Background(), []string{"models", "check", dir}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), "ADM-EVIDENCE") {
		t.Errorf("no evidence: exit %d:\n%s", code, stdout.String())
	}
	for _, args := range [][]string{{"check", "--groups", "g.csv", dir}, {"check", "--out", "e.json", dir}, {"check"}} {
		if code := run(context.Background(), append([]string{"models"}, args...), &stdout, &stderr); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
