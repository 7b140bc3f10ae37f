package audit

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestReadGroups(t *testing.T) {
	g, err := ReadGroups(strings.NewReader("application_id,Age,Marital\nA1,18-24,single\nA2,55+,\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Key != "application_id" || len(g.Attributes) != 2 || g.Labels["A2"][1] != "" {
		t.Fatalf("groups %+v", g)
	}
	if col := g.Column(0, []string{"A2", "missing", "A1"}); col[0] != "55+" || col[1] != "" || col[2] != "18-24" {
		t.Errorf("column %q", col)
	}
	for name, in := range map[string]string{
		"empty":              "",
		"wrong key":          "name,Age\nx,1\n",
		"no attributes":      "application_id\nA1\n",
		"repeated column":    "application_id,Age,Age\nA1,1,2\n",
		"empty column":       "application_id,,Age\nA1,1,2\n",
		"repeated id":        "application_id,Age\nA1,1\nA1,2\n",
		"empty id":           "application_id,Age\n,1\n",
		"ragged":             "application_id,Age\nA1,1,2\n",
		"no rows":            "decision_id,Age\n",
		"unterminated quote": "application_id,Age\n\"A1,1\n",
	} {
		if _, err := ReadGroups(strings.NewReader(in)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCompareGroups(t *testing.T) {
	// a: 3 of 4 approved, b: 1 of 2, unlabelled 1; scores by group.
	labels := []string{"a", "a", "a", "a", "b", "b", ""}
	approved := []bool{true, true, true, false, true, false, true}
	score := []float64{600, 620, 640, 500, 550, 450, 700}
	af, err := CompareGroups("X", labels, approved, score, 0)
	if err != nil {
		t.Fatal(err)
	}
	if af.Unlabelled != 1 || len(af.Groups) != 2 || !af.Groups[0].Favoured || af.Groups[0].Group != "a" {
		t.Fatalf("figures %+v", af)
	}
	b := af.Groups[1]
	near(t, "ratio", b.Ratio, (1.0/2)/(3.0/4), 1e-15)
	near(t, "mean", b.ScoreMean, 500, 1e-12)
	// Pooled sd: a has mean 590, SS = 100+900+2500+8100 = 11600; b SS 5000.
	near(t, "SMD", *b.ScoreSMD, (500-590)/math.Sqrt((11600+5000)/4.0), 1e-12)
	if low, ok := af.Lowest(0); !ok || low.Group != "b" {
		t.Errorf("lowest %+v %v", low, ok)
	}
	if _, ok := af.Lowest(3); ok {
		t.Error("a group of 2 gated with minimum 3")
	}
	if _, err := CompareGroups("X", labels, approved[:2], score, 0); !errors.Is(err, ErrInput) {
		t.Errorf("lengths: %v", err)
	}
}
