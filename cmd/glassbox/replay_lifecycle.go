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
	lines                      []string
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
		if rec.Type != transparency.TypeFinalAction {
			continue
		}
		fa := rec.FinalAction
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
			ModelReasons: r.modelReasons(d), CurrentAction: prev, Amends: fa.Amends,
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
	return rep
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
