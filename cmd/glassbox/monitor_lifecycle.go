package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// lifecycleFindings judges the lives of the decisions in a log (every
// entry from the start) at now:
//   - a referral with no final action older than reviewDeadline is an
//     overdue review (12 CFR 1002.9(a)(1): the final action is due
//     within 30 days);
//   - an adverse outcome in force (a model decline with no final action,
//     or a final decline or counteroffer) whose notice was not recorded as
//     sent within noticeDeadline of it, once that deadline has passed, is
//     a notice not sent in time.
//
// It reads the log alone, not what the server says about it, so it holds
// the server to account; open turns a leaf into its record (a format 2
// leaf into the record it commits to).
func lifecycleFindings(entries [][]byte, open func([]byte) (*transparency.Record, error), now time.Time, reviewDeadline, noticeDeadline time.Duration) []string {
	type life struct {
		rec     *transparency.Record
		current string // final action in force
		action  *transparency.Record
		sent    map[string][]time.Time // stated record → sent_at
	}
	lives := map[string]*life{}
	var order []string
	for _, data := range entries {
		rec, err := open(data)
		if err != nil {
			continue // replay reports leaves that do not open
		}
		id := transparency.RecordID(data).String()
		if rec.Type == transparency.TypeDecision {
			lives[id] = &life{rec: rec, sent: map[string][]time.Time{}}
			order = append(order, id)
			continue
		}
		l := lives[rec.LinkedDecision()]
		if l == nil {
			continue // replay reports dangling records
		}
		switch rec.Type {
		case transparency.TypeFinalAction:
			l.current, l.action = id, rec
		case transparency.TypeNoticeSent:
			if t, err := transparency.ParseSentAt(rec.NoticeSent.SentAt); err == nil {
				l.sent[rec.NoticeSent.Notice] = append(l.sent[rec.NoticeSent.Notice], t)
			}
		}
	}
	var out []string
	for _, id := range order {
		l := lives[id]
		d := l.rec.Decision
		if l.action == nil && d.Decision == "refer" {
			if age := now.Sub(l.rec.Timestamp); age > reviewDeadline {
				out = append(out, fmt.Sprintf("OVERDUE REVIEW: referral %s of %s (application %s) has waited %.0f days for a final action (deadline %.0f)",
					id, d.Lender, d.ApplicationID, age.Hours()/24, reviewDeadline.Hours()/24))
			}
			continue
		}
		stated, at, kind := id, l.rec.Timestamp, d.Decision
		if l.action != nil {
			stated, at, kind = l.current, l.action.Timestamp, l.action.FinalAction.Action
		}
		adverse := kind == "decline" || transparency.AdverseAction(kind)
		due := at.Add(noticeDeadline)
		if !adverse || now.Before(due) {
			continue
		}
		sent := l.sent[stated]
		sort.Slice(sent, func(i, j int) bool { return sent[i].Before(sent[j]) })
		if len(sent) == 0 || sent[0].After(due) {
			what := "no notice sent"
			if len(sent) > 0 {
				what = "notice sent only on " + sent[0].Format(time.DateOnly)
			}
			out = append(out, fmt.Sprintf("NOTICE NOT SENT IN TIME: adverse %s on decision %s of %s (record %s, %s): %s, due by %s",
				kind, id, d.Lender, stated, at.Format(time.DateOnly), what, due.Format(time.DateOnly)))
		}
	}
	return out
}

// monitorLifecycle are audit monitor's lifecycle flags.
type monitorLifecycle struct {
	on             *bool
	asOf           *string
	review, notice *time.Duration
}

func lifecycleFlags(fs *flag.FlagSet) *monitorLifecycle {
	return &monitorLifecycle{
		on:     fs.Bool("lifecycle", false, "also report overdue referrals and adverse actions without a notice sent in time (reads every entry: needs a regulator --api-key)"),
		asOf:   fs.String("as-of", "", "judge deadlines at this RFC 3339 time (default: now)"),
		review: fs.Duration("review-deadline", 30*24*time.Hour, "time a referral may wait for its final action"),
		notice: fs.Duration("notice-deadline", 30*24*time.Hour, "time after an adverse action by which its notice must have been sent"),
	}
}

// report fetches the entries of the checkpoint just verified, checks them
// against its root and prints the lifecycle findings.
func (m *monitorLifecycle) report(ctx context.Context, c *apiClient, st *monitorState, key string, stdout io.Writer) error {
	if !*m.on {
		return nil
	}
	now := time.Now()
	if *m.asOf != "" {
		t, err := time.Parse(time.RFC3339Nano, *m.asOf)
		if err != nil {
			return fmt.Errorf("%w: --as-of: %v", errUsage, err)
		}
		now = t
	}
	cp, err := transparency.OpenCheckpoint([]byte(st.Checkpoint), key, "")
	if err != nil {
		return fmt.Errorf("checkpoint signature: %w", err)
	}
	entries, committed, err := fetchLeaves(ctx, c, 0, cp.Size)
	if err != nil {
		return err
	}
	if err := checkRoot(entries, cp); err != nil {
		return err
	}
	v, err := transparency.NewLeafVerifier(key)
	if err != nil {
		return err
	}
	opener := &replayer{verifier: v, committed: committed}
	findings := lifecycleFindings(entries, opener.open, now, *m.review, *m.notice)
	for _, f := range findings {
		fmt.Fprintln(stdout, "finding:", f)
	}
	fmt.Fprintf(stdout, "lifecycle: %d findings in %d entries as of %s\n", len(findings), len(entries), now.UTC().Format(time.RFC3339))
	return nil
}
