package main

import (
	"context"
	"fmt"
	"math"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// lifecycleReport is what replay found about the records that follow
// decisions (final actions, notices sent, outcomes, recourse).
type lifecycleReport struct {
	checked, problems, refused int
	// unanswered are the contests in range with no final action after
	// them (awaiting a reviewer, not in themselves a fault).
	unanswered int
	lines      []string
}

// checkLifecycle checks the lifecycle records among entries[from:end]
// against the whole log before them: each names a decision logged
// earlier, of the same lender; and each final action is one the final-
// action policy allows, with the override flag and reason texts policy
// gives, under the policy revision it names. A final action's note is in
// the ledger only as a digest, so policy is asked as if a note long
// enough were given whenever one was.
func (r *replayer) checkLifecycle(ctx context.Context, entries [][]byte, from, end uint64) lifecycleReport {
	var rep lifecycleReport
	decisions := map[string]*transparency.Decision{}
	current := map[string]string{} // decision id → final action in force
	contests := map[string]*transparency.Contest{}
	open := map[string]bool{} // contests in range not yet answered, by decision
	// contestedBefore is whether a decision has a contest no final action
	// has followed yet (policy's input.contested).
	contestedBefore := map[string]bool{}
	for i := uint64(0); i < end && i < uint64(len(entries)); i++ {
		data := entries[i]
		rec, err := r.open(data)
		if err != nil {
			continue // replay reports records that do not open
		}
		id := transparency.RecordID(data).String()
		if rec.Type == transparency.TypeDecision {
			decisions[id] = rec.Decision
			continue
		}
		did := rec.LinkedDecision()
		if did == "" {
			continue
		}
		inRange := i >= from
		if inRange {
			rep.checked++
		}
		problem := func(format string, args ...any) {
			if inRange {
				rep.problems++
				rep.lines = append(rep.lines, fmt.Sprintf("%s: %s %s", id, rec.Type, fmt.Sprintf(format, args...)))
			}
		}
		d, ok := decisions[did]
		if !ok {
			problem("DANGLING: refers to decision %s, which the log does not hold before it", did)
			continue
		}
		if lender := lenderOf(rec); lender != "" && d.Lender != "" && lender != d.Lender {
			problem("MISMATCH: lender %q, the decision's is %q", lender, d.Lender)
		}
		switch rec.Type {
		case transparency.TypeContest:
			contests[id] = rec.Contest
			contestedBefore[did] = true
			if inRange {
				open[did] = true
			}
			continue
		case transparency.TypeRescore:
			r.checkRescore(rec.Rescore, d, decisions, contests, problem)
			continue
		case transparency.TypeFinalAction:
		default:
			continue
		}
		fa := rec.FinalAction
		delete(open, did)
		contested := contestedBefore[did]
		contestedBefore[did] = false
		prev := current[did]
		current[did] = id
		if !inRange {
			continue
		}
		if fa.Policy.Revision != r.pol.Revision() {
			rep.refused++
			rep.lines = append(rep.lines, fmt.Sprintf("%s: final_action NOT CHECKED: taken under policy revision %s, this is %s (--policy)", id, fa.Policy.Revision, r.pol.Revision()))
			continue
		}
		in := policy.ActionInput{
			Action: fa.Action, HasTerms: len(fa.Counteroffer) > 0, Actor: fa.Actor, ModelDecision: d.Decision,
			ModelReasons: r.modelReasons(d), CurrentAction: prev, Amends: fa.Amends, Contested: contested,
		}
		for _, rs := range fa.Reasons {
			in.Reasons = append(in.Reasons, rs.Code)
		}
		if fa.NoteSHA256 != "" {
			in.NoteChars = math.MaxInt32
		}
		v, err := r.pol.CheckAction(ctx, in)
		if err != nil {
			problem("POLICY: %v", err)
			continue
		}
		if v.Override != fa.Override {
			problem("MISMATCH: override logged %v, policy says %v", fa.Override, v.Override)
		}
		if len(v.Reasons) != len(fa.Reasons) {
			problem("MISMATCH: %d reasons logged, policy gives %d", len(fa.Reasons), len(v.Reasons))
			continue
		}
		for j, rs := range v.Reasons {
			if rs.Code != fa.Reasons[j].Code || rs.Text != fa.Reasons[j].Text {
				problem("MISMATCH: reason %d logged %s %q, policy gives %s %q", j+1, fa.Reasons[j].Code, fa.Reasons[j].Text, rs.Code, rs.Text)
			}
		}
	}
	rep.unanswered = len(open)
	for did := range open {
		rep.lines = append(rep.lines, fmt.Sprintf("%s: contested, not yet answered by a final action", did))
	}
	return rep
}

// checkRescore checks a rescore record: its contest is one of the
// decision's logged before it, and the decision it names was logged
// before it with the decision's features as the contest corrected them,
// for the same lender and application (that decision is itself replayed
// like any other).
func (r *replayer) checkRescore(rs *transparency.Rescore, d *transparency.Decision, decisions map[string]*transparency.Decision,
	contests map[string]*transparency.Contest, problem func(string, ...any)) {
	ct, ok := contests[rs.Contest]
	if !ok || ct.DecisionID != rs.DecisionID {
		problem("DANGLING: names contest %s, which is not a contest of decision %s logged before it", rs.Contest, rs.DecisionID)
		return
	}
	nd, ok := decisions[rs.Rescored]
	if !ok {
		problem("DANGLING: names rescored decision %s, which the log does not hold before it", rs.Rescored)
		return
	}
	if nd.Lender != d.Lender || nd.ApplicationID != d.ApplicationID {
		problem("MISMATCH: the rescored decision is of %s/%s, the contested one of %s/%s", nd.Lender, nd.ApplicationID, d.Lender, d.ApplicationID)
	}
	for name, logged := range d.Features {
		want := logged
		if c, ok := ct.Corrections[name]; ok {
			want = c
		}
		if got := nd.Features[name]; !sameFeature(got, want) {
			problem("MISMATCH: the rescored decision has %s = %v, the contest corrected it to %v", name, got, want)
		}
	}
}

func sameFeature(a, b transparency.FeatureValue) bool {
	if x, ok := a.Number(); ok {
		y, ok := b.Number()
		return ok && math.Float64bits(x) == math.Float64bits(y)
	}
	if x, ok := a.Level(); ok {
		y, ok := b.Level()
		return ok && x == y
	}
	return a.IsMissing() && b.IsMissing()
}

// modelReasons are the reason codes of a decision's model (the one it
// pins, when at hand) with their texts, and the fallback's.
func (r *replayer) modelReasons(d *transparency.Decision) map[string]string {
	out := map[string]string{explain.FallbackReasonCode: explain.FallbackReasonText}
	if m := r.models[d.Model.SHA256]; m != nil {
		for _, f := range m.Manifest.Features {
			out[f.Reason.Code] = f.Reason.Text
		}
	}
	return out
}

// lenderOf is the lender a lifecycle record names ("" if none).
func lenderOf(rec *transparency.Record) string {
	switch {
	case rec.FinalAction != nil:
		return rec.FinalAction.Lender
	case rec.NoticeSent != nil:
		return rec.NoticeSent.Lender
	case rec.Outcome != nil:
		return rec.Outcome.Lender
	}
	return ""
}
