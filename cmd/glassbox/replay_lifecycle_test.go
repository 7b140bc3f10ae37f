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
		{"other policy revision", [][]byte{decision, action(func(a *transparency.FinalAction) { a.Policy.Revision = strings.Repeat("1", 64) })}, 0, 1, "NOT CHECKED"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep := r.checkLifecycle(ctx, c.log, 0, uint64(len(c.log)))
			if rep.problems != c.problems || rep.refused != c.refused || rep.checked != len(c.log)-1 {
				t.Fatalf("%d problems, %d refused, %d checked; want %d, %d, %d: %v", rep.problems, rep.refused, rep.checked, c.problems, c.refused, len(c.log)-1, rep.lines)
			}
			if c.want != "" && !strings.Contains(strings.Join(rep.lines, "\n"), c.want) {
				t.Errorf("report does not say %q: %v", c.want, rep.lines)
			}
		})
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
