package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// TestReplayChecksLifecycle feeds replay's lifecycle check logs built
// record by record and asks the real embedded policy about each final
// action: a dangling link, a lender mismatch, a second final action
// without amendment, a forged override flag or reason text, and another
// policy revision are each reported; the honest log is clean.
func TestReplayChecksLifecycle(t *testing.T) {
	ctx := context.Background()
	r, err := newReplayer(ctx, "", "")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seal := func(body any) []byte { return sealAt(t, at, body) }
	var sha string
	for k := range r.models {
		sha = k
	}
	decision := seal(&transparency.Decision{Lender: "acme", ApplicationID: "a-1", Decision: "refer",
		Model: transparency.ModelRef{ID: "credit-risk-v1", SHA256: sha}})
	did := transparency.RecordID(decision).String()
	rev := r.pol.Revision()
	action := func(change func(*transparency.FinalAction)) []byte {
		fa := &transparency.FinalAction{DecisionID: did, Lender: "acme", Action: "decline", Actor: "reviewer", Reviewer: "rv_1",
			Reasons: []transparency.ActionReason{{Code: "P01", Text: "Amount of credit requested is above the limit for automatic approval"}},
			Policy:  transparency.PolicyRef{Revision: rev}}
		if change != nil {
			change(fa)
		}
		return seal(fa)
	}
	honest := action(nil)
	declined := seal(&transparency.Decision{Lender: "acme", ApplicationID: "a-2", Decision: "decline",
		Model: transparency.ModelRef{ID: "credit-risk-v1", SHA256: sha}, Features: map[string]transparency.FeatureValue{"Income": transparency.NumberValue(100)}})
	declID := transparency.RecordID(declined).String()
	contest := seal(&transparency.Contest{DecisionID: declID, Lender: "acme", Statement: "my income is 200",
		Corrections: map[string]transparency.FeatureValue{"Income": transparency.NumberValue(200)}})
	contestID := transparency.RecordID(contest).String()
	rescored := func(income float64) []byte {
		return seal(&transparency.Decision{Lender: "acme", ApplicationID: "a-2", Decision: "approve",
			Model: transparency.ModelRef{ID: "credit-risk-v1", SHA256: sha}, Features: map[string]transparency.FeatureValue{"Income": transparency.NumberValue(income)}})
	}
	rescore := func(nd []byte) []byte {
		return seal(&transparency.Rescore{DecisionID: declID, Lender: "acme", Contest: contestID, Rescored: transparency.RecordID(nd).String()})
	}
	right, wrong := rescored(200), rescored(100)
	systemDecline := seal(&transparency.FinalAction{DecisionID: declID, Lender: "acme", Action: "decline", Actor: "system",
		Reasons: []transparency.ActionReason{{Code: "P01", Text: "Amount of credit requested is above the limit for automatic approval"}},
		Policy:  transparency.PolicyRef{Revision: rev}})
	cases := []struct {
		name              string
		log               [][]byte
		problems, refused int
		want              string
	}{
		{"honest", [][]byte{decision, honest, seal(&transparency.NoticeSent{DecisionID: did, Lender: "acme", Notice: transparency.RecordID(honest).String(),
			Channel: "mail", SentAt: transparency.FormatSentAt(at), Format: "text", Lang: "en", SHA256: strings.Repeat("ab", 32)})}, 0, 0, ""},
		{"dangling", [][]byte{action(nil), decision}, 1, 0, "DANGLING"},
		{"other lender", [][]byte{decision, action(func(a *transparency.FinalAction) { a.Lender = "other" })}, 1, 0, "lender"},
		{"second without amendment", [][]byte{decision, honest, action(func(a *transparency.FinalAction) { a.Action = "withdrawn"; a.Reasons = nil })}, 1, 0, "LIF-ONE-FINAL"},
		{"forged override", [][]byte{decision, action(func(a *transparency.FinalAction) { a.Override = true })}, 1, 0, "override"},
		{"forged reason text", [][]byte{decision, action(func(a *transparency.FinalAction) { a.Reasons[0].Text = "You asked for too much" })}, 1, 0, "reason 1"},
		{"system finishing a referral", [][]byte{decision, action(func(a *transparency.FinalAction) { a.Actor, a.Reviewer = "system", "" })}, 1, 0, "LIF-HUMAN-REVIEW"},
		{"system answering a contest", [][]byte{declined, contest, systemDecline}, 1, 0, "LIF-HUMAN-REVIEW"},
		{"system decline before any contest", [][]byte{declined, systemDecline}, 0, 0, ""},
		{"rescore with the corrections", [][]byte{declined, contest, right, rescore(right)}, 0, 0, ""},
		{"rescore that ignores the corrections", [][]byte{declined, contest, wrong, rescore(wrong)}, 1, 0, "corrected it"},
		{"rescore of a decision not logged", [][]byte{declined, contest, rescore(rescored(200))}, 1, 0, "DANGLING"},
		{"other policy revision", [][]byte{decision, action(func(a *transparency.FinalAction) { a.Policy.Revision = strings.Repeat("1", 64) })}, 0, 1, "NOT CHECKED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := r.checkLifecycle(ctx, c.log, 0, uint64(len(c.log)))
			decisions := 0
			for _, b := range c.log {
				if strings.Contains(string(b), `"type":"decision"`) {
					decisions++
				}
			}
			if rep.problems != c.problems || rep.refused != c.refused || rep.checked != len(c.log)-decisions {
				t.Fatalf("%d problems, %d refused, %d checked; want %d, %d, %d: %v", rep.problems, rep.refused, rep.checked, c.problems, c.refused, len(c.log)-decisions, rep.lines)
			}
			if c.want != "" && !strings.Contains(strings.Join(rep.lines, "\n"), c.want) {
				t.Errorf("report does not say %q: %v", c.want, rep.lines)
			}
		})
	}
	if rep := r.checkLifecycle(ctx, [][]byte{declined, contest}, 0, 2); rep.unanswered != 1 || rep.problems != 0 {
		t.Errorf("an unanswered contest: %+v", rep)
	}
	// Records before the range are context, not checked.
	if rep := r.checkLifecycle(ctx, [][]byte{decision, honest}, 2, 2); rep.checked != 0 || rep.problems != 0 {
		t.Errorf("out of range: %+v", rep)
	}
}

// sealAt encodes a record of body made at ts.
func sealAt(t *testing.T, ts time.Time, body any) []byte {
	t.Helper()
	rec, err := transparency.NewRecord(ts, body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}
