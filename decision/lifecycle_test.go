package decision_test

import (
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/transparency"
)

func record(t *testing.T, at time.Time, body any) (transparency.ID, *transparency.Record) {
	t.Helper()
	r, err := transparency.NewRecord(at, body)
	if err != nil {
		t.Fatal(err)
	}
	id, err := r.ID()
	if err != nil {
		t.Fatal(err)
	}
	return id, r
}

// TestIndex feeds the index records as the log would (some twice, as a
// server does when it reads back what it appended) and checks the queue
// and the state it derives.
func TestIndex(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	x := decision.NewIndex()
	refer := func(lender, app string, at time.Time) transparency.ID {
		id, r := record(t, at, &transparency.Decision{Lender: lender, ApplicationID: app, Decision: "refer"})
		x.Add(id, r)
		x.Add(id, r)
		return id
	}
	a := refer("acme", "a-1", t0.Add(2*day))
	b := refer("acme", "a-2", t0)
	c := refer("other", "o-1", t0.Add(day))
	approveID, approve := record(t, t0, &transparency.Decision{Lender: "acme", Decision: "approve"})
	x.Add(approveID, approve)
	x.AddReferral(b, "acme", "a-2", t0) // seen already: no second review

	got := x.Reviews("acme")
	if len(got) != 2 || got[0].DecisionID != b.String() || got[1].DecisionID != a.String() || got[0].ApplicationID != "a-2" {
		t.Fatalf("acme's queue %+v, want b then a", got)
	}
	if all := x.Reviews(""); len(all) != 3 {
		t.Errorf("every lender's queue has %d", len(all))
	}
	if n := x.Overdue(t0.Add(31*day+time.Hour), 30*day); n != 2 {
		t.Errorf("%d overdue, want b and c", n)
	}

	fa := func(did transparency.ID, action, amends string, at time.Time) (transparency.ID, *transparency.Record) {
		id, r := record(t, at, &transparency.FinalAction{DecisionID: did.String(), Lender: "acme", Action: action, Actor: "reviewer", Reviewer: "rv_1", Amends: amends})
		x.Add(id, r)
		return id, r
	}
	first, _ := fa(b, "withdrawn", "", t0.Add(3*day))
	if got := x.Reviews("acme"); len(got) != 1 || got[0].DecisionID != a.String() {
		t.Fatalf("after b's final action the queue is %+v", got)
	}
	// A contest brings b back, as a contest; the next action answers it.
	ctID, ct := record(t, t0.Add(4*day), &transparency.Contest{DecisionID: b.String(), Lender: "acme", ApplicationID: "a-2", Statement: "wrong income"})
	x.Add(ctID, ct)
	if got := x.Reviews("acme"); len(got) != 2 || got[1].DecisionID != b.String() || got[1].Kind != "contest" || got[1].ApplicationID != "a-2" || !got[1].Since.Equal(t0.Add(4*day)) {
		t.Fatalf("after the contest the queue is %+v", got)
	}
	st := decision.StateOf(x.Linked(b.String()))
	if !st.Contested || st.Contest == nil || st.Current.ID != first {
		t.Errorf("state after the contest %+v", st)
	}
	second, _ := fa(b, "approve", first.String(), t0.Add(5*day))
	st = decision.StateOf(x.Linked(b.String()))
	if st.Contested || st.Current.ID != second {
		t.Errorf("the amendment is not in force: %+v", st)
	}
	if got := x.Reviews("acme"); len(got) != 1 {
		t.Errorf("the answered contest is still queued: %+v", got)
	}
	// Outcomes: the latest as_of is in force, whatever the order reported.
	for _, o := range []struct{ status, asOf string }{{"current", "2026-02-01"}, {"defaulted", "2026-06-01"}, {"repaid", "2026-03-01"}} {
		id, r := record(t, t0.Add(6*day), &transparency.Outcome{DecisionID: b.String(), Lender: "acme", Status: o.status, AsOf: o.asOf})
		x.Add(id, r)
	}
	if st = decision.StateOf(x.Linked(b.String())); st.Outcome.Record.Outcome.Status != "defaulted" {
		t.Errorf("outcome in force %s", st.Outcome.Record.Outcome.Status)
	}
	if n := len(x.Linked(b.String())); n != 6 {
		t.Errorf("%d records linked to b, want 6", n)
	}
	if len(x.Linked(c.String())) != 0 || len(x.Linked(strings.Repeat("0", 64))) != 0 {
		t.Error("records linked to the wrong decision")
	}
	x.SetSynced(10)
	x.SetSynced(4)
	if x.Synced() != 10 {
		t.Errorf("synced %d", x.Synced())
	}
}
