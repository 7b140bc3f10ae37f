package policy

import (
	"context"
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func TestTruncateDigits(t *testing.T) {
	for _, c := range []struct {
		f    float64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{0.25, "0.25"},
		{0.31234567890123456, "0.312345678901234"},
		{0.30000000000000004, "0.3"},
		{0.000123456789012345678, "0.000123456789012345"},
		{0.9999999999999999, "0.999999999999999"},
		{1e-20, "0.00000000000000000001"},
		{123456789.01234567, "123456789.012345"},
		{12345678901234567890, "12345678901234500000"},
	} {
		if got := truncateDigits(c.f, 15); got != c.want {
			t.Errorf("truncateDigits(%v) = %q, want %q", c.f, got, c.want)
		}
	}
}

func rat(t *testing.T, s string) *big.Rat {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("%q is not a decimal", s)
	}
	return r
}

// nearCutoffs returns PDs within a few float64 steps of each cut-off, and
// some random ones.
func nearCutoffs(cutoffs []float64, random int) []float64 {
	var pds []float64
	for _, c := range cutoffs {
		lo, hi := c, c
		for range 40 {
			lo, hi = math.Nextafter(lo, 0), math.Nextafter(hi, 1)
			pds = append(pds, lo, hi)
		}
		pds = append(pds, c)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range random {
		pds = append(pds, rng.Float64())
	}
	return slices.DeleteFunc(pds, func(f float64) bool { return f < 0 || f > 1 })
}

// TestPolicyPDKeepsComparisons checks the claim policyPD's comment makes,
// in exact rational arithmetic: against cut-offs with few decimals, the
// truncated PD compares (< and >=) as its full shortest form does, is
// never above it and differs from it by less than a part in 10^14.
func TestPolicyPDKeepsComparisons(t *testing.T) {
	cutoffs := []float64{0, 0.02, 0.23, 0.25, 0.5, 0.123456789012345, 1}
	for _, pd := range nearCutoffs(cutoffs, 20000) {
		term, err := policyPD(pd)
		if err != nil {
			t.Fatal(err)
		}
		s := string(term.Value.(ast.Number))
		if n := len(strings.TrimLeft(strings.Replace(s, ".", "", 1), "0")); n > 15 {
			t.Fatalf("policyPD(%v) = %s has %d significant digits", pd, s, n)
		}
		full := rat(t, strconv.FormatFloat(pd, 'g', -1, 64))
		trunc := rat(t, s)
		if trunc.Cmp(full) > 0 {
			t.Fatalf("policyPD(%v) = %s is above the PD", pd, s)
		}
		if pd > 0 {
			rel := new(big.Rat).Quo(new(big.Rat).Sub(full, trunc), full)
			if rel.Cmp(big.NewRat(1, 1e14)) >= 0 {
				t.Fatalf("policyPD(%v) = %s is off by %s", pd, s, rel.FloatString(20))
			}
		}
		for _, c := range cutoffs {
			cr := rat(t, strconv.FormatFloat(c, 'g', -1, 64))
			if (trunc.Cmp(cr) < 0) != (full.Cmp(cr) < 0) || (trunc.Cmp(cr) >= 0) != (full.Cmp(cr) >= 0) {
				t.Fatalf("policyPD(%v) = %s compares differently with %v", pd, s, c)
			}
		}
	}
	// Outside [0, 1] nothing is truncated: the violation message shows
	// the value as computed.
	for _, pd := range []float64{-0.30000000000000004, 1.0000000000000002} {
		term, _ := policyPD(pd)
		if got, want := string(term.Value.(ast.Number)), strconv.FormatFloat(pd, 'g', -1, 64); got != want {
			t.Errorf("policyPD(%v) = %s, want %s", pd, got, want)
		}
	}
}

// TestDecideTruncatedPDSameOutcome runs the real decision rules with PDs
// next to credit-risk-v1's cut-offs twice: as Decide passes them, and with
// the PD's full shortest form put back into the input. Decision, rules and
// reasons must agree.
func TestDecideTruncatedPDSameOutcome(t *testing.T) {
	ctx := context.Background()
	e, in := servingEngine(t)
	seen := map[Decision]bool{}
	for _, pd := range nearCutoffs([]float64{0.23, 0.25, 0.5}, 200) {
		in.ProbabilityOfDefault = pd
		got, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(pd, err)
		}
		input, err := decisionValue(in, e.terms)
		if err != nil {
			t.Fatal(err)
		}
		input.Insert(ast.StringTerm("probability_of_default"), ast.NumberTerm(json.Number(strconv.FormatFloat(pd, 'g', -1, 64))))
		res, err := e.eval(ctx, e.decision, queryDecision, input)
		if err != nil {
			t.Fatal(err)
		}
		want := Decision(asString(res["decision"]))
		if got.Decision != want || !slices.Equal(ids(got.Rules), ids(asFindings(res["rules"]))) || len(got.Reasons) != len(asReasons(res["reasons"])) {
			t.Fatalf("PD %v: truncated gives %s %v, full gives %s %v", pd, got.Decision, ids(got.Rules), want, ids(asFindings(res["rules"])))
		}
		seen[got.Decision] = true
	}
	if len(seen) != 3 {
		t.Errorf("PDs near the cut-offs gave only %v", seen)
	}
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	slices.Sort(out)
	return out
}
