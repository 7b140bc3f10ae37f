package policy

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestCheckAction asks the embedded final-action policy through the Go
// API: the texts come back from the rulebook and the model's reasons, and
// a refusal is a *Violation wrapping ErrRejected naming the rules.
func TestCheckAction(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	model := map[string]string{"F07": "Income too low"}
	cases := []struct {
		name     string
		in       ActionInput
		want     []string // finding ids; nil: allowed
		override bool
		reasons  []ActionReason
	}{
		{"reviewer declines a referral", ActionInput{Action: "decline", Reasons: []string{"F07", "P01"}, Actor: ActorReviewer, ModelDecision: "refer", ModelReasons: model},
			nil, false, []ActionReason{{"F07", "Income too low"}, {"P01", "Amount of credit requested is above the limit for automatic approval"}}},
		{"override without a note", ActionInput{Action: "approve", Actor: ActorReviewer, ModelDecision: "decline", ModelReasons: model, NoteChars: 5},
			[]string{"LIF-OVERRIDE-JUSTIFIED"}, true, nil},
		{"override with a note", ActionInput{Action: "approve", Actor: ActorReviewer, ModelDecision: "decline", ModelReasons: model, NoteChars: 40},
			nil, true, nil},
		{"system finishing a referral", ActionInput{Action: "approve", Actor: ActorSystem, ModelDecision: "refer", NoteChars: 30},
			[]string{"LIF-HUMAN-REVIEW"}, false, nil},
		{"second action", ActionInput{Action: "approve", Actor: ActorReviewer, ModelDecision: "refer", CurrentAction: "abc", NoteChars: 30},
			[]string{"LIF-ONE-FINAL"}, false, nil},
		{"amendment", ActionInput{Action: "withdrawn", Actor: ActorReviewer, ModelDecision: "refer", CurrentAction: "abc", Amends: "abc", NoteChars: 25},
			nil, false, nil},
		{"approving a referral without a note", ActionInput{Action: "approve", Actor: ActorReviewer, ModelDecision: "refer", NoteChars: 3},
			[]string{"LIF-REFERRAL-APPROVAL-JUSTIFIED"}, false, nil},
		{"unknown reason", ActionInput{Action: "decline", Reasons: []string{"X1"}, Actor: ActorReviewer, ModelDecision: "refer", ModelReasons: model},
			[]string{"LIF-REASON-UNKNOWN"}, false, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := e.CheckAction(ctx, c.in)
			var ids []string
			for _, f := range v.Findings {
				ids = append(ids, f.ID)
			}
			if !slices.Equal(ids, c.want) {
				t.Errorf("findings %v, want %v", ids, c.want)
			}
			if (err == nil) != (c.want == nil) || (err != nil && !errors.Is(err, ErrRejected)) {
				t.Errorf("err %v", err)
			}
			if v.Override != c.override {
				t.Errorf("override %v, want %v", v.Override, c.override)
			}
			if c.want == nil && !slices.Equal(v.Reasons, c.reasons) {
				t.Errorf("reasons %v, want %v", v.Reasons, c.reasons)
			}
			if v.PolicyRevision != e.Revision() {
				t.Errorf("revision %q", v.PolicyRevision)
			}
		})
	}
	s, err := e.Lifecycle(ctx)
	if err != nil || s.ReviewDeadlineDays != 30 || s.NoticeDeadlineDays != 30 {
		t.Errorf("Lifecycle() = %+v, %v", s, err)
	}
}
