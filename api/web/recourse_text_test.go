package web

import (
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/models"
)

// TestRecourseText: a suggestion is worded from its verified changes with
// the manifest's plain names, units and levels, in English or Spanish, the
// bounds printed exactly as verified and the sentence hedged.
func TestRecourseText(t *testing.T) {
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m := pkg.Manifest
	f := func(v float64) *float64 { return &v }
	cases := []struct {
		name, lang string
		changes    []explain.Change
		want       string
	}{
		{"interval", English, []explain.Change{{Feature: "Amount", From: 4200.0, Low: f(100), High: f(4000)}},
			"Based on our current model and policy, an application with the amount you asked to borrow between 100 and 4,000 dollars would have been approved."},
		{"interval, Spanish", Spanish, []explain.Change{{Feature: "Amount", From: 4200.0, Low: f(100), High: f(4000)}},
			"Con nuestro modelo y reglas de hoy, una solicitud con suma que pidió entre 100 y 4,000 dólares habría sido aprobada."},
		{"exact bounds are not rounded", English, []explain.Change{{Feature: "Time", From: 60.0, Low: f(12.125), High: f(12.125)}},
			"Based on our current model and policy, an application with the length of the loan of exactly 12.125 months would have been approved."},
		{"missing value provided, and two changes", English, []explain.Change{
			{Feature: "Income", From: nil, Low: f(125), High: f(300)},
			{Feature: "Amount", From: 1000.0, Low: f(500), High: f(900)}},
			"Based on our current model and policy, an application with the monthly income (which you did not give) between 125 and 300 dollars a month and the amount you asked to borrow between 500 and 900 dollars would have been approved."},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := RecourseText(tc.lang, m, tc.changes); got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	// Levels are shown by their display names, never raw.
	job := m.Features[m.FeatureIndex("Job")]
	got := RecourseText(Spanish, m, []explain.Change{{Feature: "Job", From: "partime", Levels: []string{"fixed", "freelance"}}})
	for _, l := range []string{"fixed", "freelance"} {
		if !strings.Contains(got, "“"+job.DisplayLevel(Spanish, l)+"”") {
			t.Errorf("%q lacks the display name of %s", got, l)
		}
	}
}

func TestSingularUnit(t *testing.T) {
	for _, tc := range []struct{ lang, unit, want string }{
		{English, "years", "year"},
		{English, "months", "month"},
		{English, "dollars a month", "dollar a month"},
		{English, "", ""},
		{Spanish, "años", "año"},
		{Spanish, "meses", "mes"},
		{Spanish, "dólares al mes", "dólar al mes"},
		{Spanish, "dólares", "dólar"},
	} {
		if got := singular(tc.lang, tc.unit); got != tc.want {
			t.Errorf("singular(%q, %q) = %q, want %q", tc.lang, tc.unit, got, tc.want)
		}
	}
}
