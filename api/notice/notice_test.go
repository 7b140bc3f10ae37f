package notice

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

func decisionRecord(t *testing.T, decision string, reasons int) *transparency.Record {
	t.Helper()
	d := &transparency.Decision{
		Lender: "lender-a", ApplicationID: "app-<42>", Decision: decision, Score: 571.4, ProbabilityOfDefault: 0.31,
		Model: transparency.ModelRef{ID: "credit-risk-v1", SHA256: strings.Repeat("ab", 32)},
	}
	texts := []string{"Amount of credit requested is too high", "Income too low relative to the amount requested", "Insufficient assets", "Record of past credit problems", "Type of residence"}
	one := 1.0
	for i := 0; i < reasons; i++ {
		d.Reasons = append(d.Reasons, transparency.Reason{Code: "R1" + string(rune('0'+i)), Feature: "F", Text: texts[i], Contribution: &one})
	}
	rec, err := transparency.NewRecord(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), d)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestNoticeHasEveryRequiredElement(t *testing.T) {
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	c := Creditor{Name: "Example Bank", Address: "1 Main St", Reconsideration: "Call 555-0100 to ask for review.", Agency: "Consumer Financial Protection Bureau"}
	n, err := Build("abcd", decisionRecord(t, "decline", 5), c, 300, 850)
	if err != nil {
		t.Fatal(err)
	}
	if len(n.Reasons) != 4 {
		t.Errorf("%d reasons, want at most 4", len(n.Reasons))
	}
	for _, format := range []string{"text", "html"} {
		var b bytes.Buffer
		if format == "text" {
			err = r.Text(&b, n)
		} else {
			err = r.HTML(&b, n)
		}
		if err != nil {
			t.Fatal(err)
		}
		out := strings.Join(strings.Fields(b.String()), " ")
		required := map[string]string{
			"action taken (1002.9(a)(2))":       "unable to approve your application",
			"principal reason 1 (1002.9(b)(2))": "Amount of credit requested is too high",
			"principal reason 4":                "Record of past credit problems",
			"score used (FCRA 615(a))":          "571",
			"score range":                       "300 to 850",
			"date":                              "25 November 2026",
			"score source":                      "credit-risk-v1",
			"key factors heading":               "Key factors that adversely affected your score",
			"creditor name (1002.9(a)(2))":      "Example Bank",
			"creditor address":                  "1 Main St",
			"reconsideration":                   "Call 555-0100",
			"ECOA statement (1002.9(b)(1))":     "Equal Credit Opportunity Act prohibits creditors from discriminating",
			"administering agency":              "Consumer Financial Protection Bureau",
			"decision id for the ledger check":  "abcd",
		}
		for what, s := range required {
			if !strings.Contains(out, s) {
				t.Errorf("%s notice lacks %s (%q)", format, what, s)
			}
		}
		if strings.Contains(out, "Type of residence") {
			t.Errorf("%s notice lists a fifth reason", format)
		}
		if format == "html" && strings.Contains(out, "app-<42>") {
			t.Error("html notice does not escape the application id")
		}
	}
}

func TestNoticeActions(t *testing.T) {
	cases := []struct {
		decision string
		reasons  int
		adverse  bool
		wantErr  bool
	}{
		{"approve", 0, false, false},
		{"refer", 2, true, false},
		{"decline", 1, true, false},
		{"decline", 0, true, true},
		{"maybe", 1, false, true},
	}
	for _, tc := range cases {
		n, err := Build("id", decisionRecord(t, tc.decision, tc.reasons), DefaultCreditor(), 300, 850)
		if (err != nil) != tc.wantErr {
			t.Errorf("%s/%d: err %v", tc.decision, tc.reasons, err)
			continue
		}
		if err == nil && n.Adverse != tc.adverse {
			t.Errorf("%s: adverse %v", tc.decision, n.Adverse)
		}
	}
	if _, err := Build("id", nil, DefaultCreditor(), 300, 850); err == nil {
		t.Error("nil record accepted")
	}
}

// An incomplete application gets a notice of incompleteness: what is
// missing, and by when; rule and missing-item reasons are not key factors
// of the score.
func TestNoticeIncomplete(t *testing.T) {
	rec := decisionRecord(t, "incomplete", 0)
	rec.Decision.Reasons = []transparency.Reason{
		{Code: "P02", Text: "Credit application incomplete", Rule: "DEC-INCOMPLETE"},
		{Code: "R07", Feature: "Income", Text: "Income not provided", Direction: "provide"},
	}
	n, err := Build("id", rec, DefaultCreditor(), 300, 850)
	if err != nil {
		t.Fatal(err)
	}
	if !n.Incomplete || n.Adverse || len(n.Reasons) != 2 || len(n.KeyFactors) != 0 {
		t.Fatalf("notice %+v", n)
	}
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	var txt bytes.Buffer
	if err := r.Text(&txt, n); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"INFORMATION NEEDED", "Income not provided", "within 30 days"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text notice lacks %q:\n%s", want, txt.String())
		}
	}
	rec.Decision.Reasons = nil
	if _, err := Build("id", rec, DefaultCreditor(), 300, 850); err == nil {
		t.Error("incomplete notice without the missing items built")
	}
}
