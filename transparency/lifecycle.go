package transparency

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The records of a decision's life after the model's moment (issue 20,
// docs/lifecycle.md). Each names the decision it belongs to by id; none
// holds personal data in the clear: a reviewer's justification and an
// applicant's statement enter the ledger as SHA-256 digests, a reviewer
// as a pseudonym.
const (
	TypeFinalAction RecordType = "final_action"
	TypeNoticeSent  RecordType = "notice_sent"
	TypeOutcome     RecordType = "outcome"
	// TypeContest holds the applicant's statement: personal data, so it is
	// written as a format 2 leaf whose record lives in the record store
	// (envelope.go), erasable.
	TypeContest RecordType = "contest"
	// TypeRescore links a decision to the decision re-made from it with
	// the corrections of a contest.
	TypeRescore RecordType = "rescore"
)

// Final actions (FinalAction.Action), the actions Regulation B's 1002.9
// distinguishes.
const (
	ActionApprove      = "approve"
	ActionDecline      = "decline"
	ActionCounteroffer = "counteroffer"
	ActionWithdrawn    = "withdrawn"
	ActionIncomplete   = "incomplete"
)

// FinalActions lists the final actions.
func FinalActions() []string {
	return []string{ActionApprove, ActionDecline, ActionCounteroffer, ActionWithdrawn, ActionIncomplete}
}

// AdverseAction reports whether a final action is adverse (12 CFR
// 1002.2(c)): a refusal, or a counteroffer (adverse unless the applicant
// accepts it).
func AdverseAction(action string) bool {
	return action == ActionDecline || action == ActionCounteroffer
}

// Loan statuses (Outcome.Status).
var loanStatuses = []string{"current", "repaid", "delinquent", "defaulted", "charged_off"}

// LoanStatuses lists the loan statuses an outcome may report.
func LoanStatuses() []string { return slices.Clone(loanStatuses) }

// ActionReason is one principal reason of a final action, with the text
// in force when it was taken (the rulebook's or the model manifest's), so
// that the notice can be built from the ledger alone.
type ActionReason struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// FinalAction is the body of a "final_action" record: what the lender
// finally did about a decision.
type FinalAction struct {
	DecisionID string `json:"decision_id"`
	Lender     string `json:"lender"`
	// Action is one of FinalActions.
	Action  string         `json:"action"`
	Reasons []ActionReason `json:"reasons"`
	// Counteroffer holds the terms offered, for a counteroffer only.
	Counteroffer map[string]FeatureValue `json:"counteroffer,omitempty"`
	// NoteSHA256 is the SHA-256 (hex) of the justification note: the note
	// stays with the lender (it may name the applicant), the ledger proves
	// which note it was.
	NoteSHA256 string `json:"note_sha256,omitempty"`
	// Amends is the id of the final_action record this one amends.
	Amends string `json:"amends,omitempty"`
	// Actor is "reviewer" (a person) or "system" (the lender's system).
	Actor string `json:"actor"`
	// Reviewer is the reviewer's pseudonym (empty for the system).
	Reviewer string `json:"reviewer,omitempty"`
	// Override is set when the action goes against the model's outcome.
	Override bool      `json:"override"`
	Policy   PolicyRef `json:"policy"`
	Nonce    string    `json:"nonce"`
}

// NoticeSent is the body of a "notice_sent" record: the lender delivered
// a notice, whose exact bytes hash to SHA256.
type NoticeSent struct {
	DecisionID string `json:"decision_id"`
	Lender     string `json:"lender"`
	// Notice is the id of the record the notice states: the decision or
	// one of its final actions.
	Notice  string `json:"notice"`
	Channel string `json:"channel"`
	// SentAt is when it was delivered (RFC 3339, UTC, nine fractional
	// digits).
	SentAt string `json:"sent_at"`
	// Format ("text" or "html") and Lang are the rendering hashed.
	Format string `json:"format"`
	Lang   string `json:"lang"`
	SHA256 string `json:"sha256"`
}

// Outcome is the body of an "outcome" record: how the loan performed, as
// of a date. A later as_of supersedes an earlier one.
type Outcome struct {
	DecisionID   string `json:"decision_id"`
	Lender       string `json:"lender"`
	Status       string `json:"status"`
	AsOf         string `json:"as_of"`
	MonthsOnBook int    `json:"months_on_book"`
}

// Contest is the body of a "contest" record: the applicant contests the
// decision, with a statement and proposed corrections of feature values.
type Contest struct {
	DecisionID string `json:"decision_id"`
	Lender     string `json:"lender"`
	// ApplicationID is the lender's reference of the application, for the
	// reviewer queue.
	ApplicationID string `json:"application_id,omitempty"`
	Statement     string `json:"statement"`
	// Corrections are the feature values the applicant says are right.
	Corrections map[string]FeatureValue `json:"corrections,omitempty"`
	Nonce       string                  `json:"nonce"`
}

// Rescore is the body of a "rescore" record: decision DecisionID was
// decided again, as decision Rescored, with the corrections of contest
// Contest.
type Rescore struct {
	DecisionID string `json:"decision_id"`
	Lender     string `json:"lender"`
	Contest    string `json:"contest"`
	Rescored   string `json:"rescored"`
}

// FormatSentAt formats an instant as NoticeSent.SentAt.
func FormatSentAt(t time.Time) string { return t.UTC().Format(timestampLayout) }

// ParseSentAt parses NoticeSent.SentAt.
func ParseSentAt(s string) (time.Time, error) { return time.Parse(timestampLayout, s) }

// AsOfLayout is the layout of Outcome.AsOf.
const AsOfLayout = "2006-01-02"

// LinkedDecision returns the decision id a lifecycle record belongs to
// (recourse included), or "" for a decision or a governance record.
func (r *Record) LinkedDecision() string {
	switch {
	case r.Recourse != nil:
		return r.Recourse.DecisionID
	case r.FinalAction != nil:
		return r.FinalAction.DecisionID
	case r.NoticeSent != nil:
		return r.NoticeSent.DecisionID
	case r.Outcome != nil:
		return r.Outcome.DecisionID
	case r.Contest != nil:
		return r.Contest.DecisionID
	case r.Rescore != nil:
		return r.Rescore.DecisionID
	}
	return ""
}

// lifecycleBody is the body of a lifecycle record, nil for other types.
func (r *Record) lifecycleBody() any {
	switch {
	case r.FinalAction != nil:
		return r.FinalAction
	case r.NoticeSent != nil:
		return r.NoticeSent
	case r.Outcome != nil:
		return r.Outcome
	case r.Contest != nil:
		return r.Contest
	case r.Rescore != nil:
		return r.Rescore
	}
	return nil
}

func isLowerHex(s string, n int) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == n && strings.ToLower(s) == s
}

// validateLifecycle checks a lifecycle record's body.
func (r *Record) validateLifecycle() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidRecord, r.Type, fmt.Sprintf(format, args...))
	}
	if r.lifecycleBody() == nil {
		return bad("record without body")
	}
	if !isLowerHex(r.LinkedDecision(), 32) {
		return bad("decision_id must be 64 lowercase hex digits")
	}
	switch r.Type {
	case TypeFinalAction:
		a := r.FinalAction
		if a == nil {
			return bad("record without body")
		}
		if !slices.Contains(FinalActions(), a.Action) {
			return bad("unknown action %q", a.Action)
		}
		if a.Reasons == nil {
			return bad("reasons must be an array")
		}
		for i, rs := range a.Reasons {
			if rs.Code == "" || rs.Text == "" {
				return bad("reason %d needs a code and a text", i+1)
			}
		}
		if (a.Action == ActionCounteroffer) != (len(a.Counteroffer) > 0) {
			return bad("counteroffer terms go with a counteroffer, and only with one")
		}
		for k, v := range a.Counteroffer {
			if v.IsMissing() {
				return bad("counteroffer term %q has no value", k)
			}
		}
		if a.NoteSHA256 != "" && !isLowerHex(a.NoteSHA256, 32) {
			return bad("note_sha256 must be 64 lowercase hex digits")
		}
		if a.Amends != "" && !isLowerHex(a.Amends, 32) {
			return bad("amends must be 64 lowercase hex digits")
		}
		switch {
		case a.Actor == "reviewer" && a.Reviewer == "":
			return bad("a reviewer's action names the reviewer")
		case a.Actor == "system" && a.Reviewer != "":
			return bad("a system action names no reviewer")
		case a.Actor != "reviewer" && a.Actor != "system":
			return bad("actor must be reviewer or system")
		}
		if !isLowerHex(a.Nonce, 16) {
			return bad("nonce must be 32 lowercase hex digits")
		}
	case TypeNoticeSent:
		n := r.NoticeSent
		if n == nil {
			return bad("record without body")
		}
		if !isLowerHex(n.Notice, 32) || !isLowerHex(n.SHA256, 32) {
			return bad("notice and sha256 must be 64 lowercase hex digits")
		}
		if n.Channel == "" || n.Format == "" || n.Lang == "" {
			return bad("channel, format and lang are required")
		}
		if _, err := ParseSentAt(n.SentAt); err != nil {
			return bad("sent_at: %v", err)
		}
	case TypeOutcome:
		o := r.Outcome
		if o == nil {
			return bad("record without body")
		}
		if !slices.Contains(loanStatuses, o.Status) {
			return bad("unknown status %q", o.Status)
		}
		if d, err := time.Parse(AsOfLayout, o.AsOf); err != nil || d.Format(AsOfLayout) != o.AsOf {
			return bad("as_of must be a date YYYY-MM-DD")
		}
		if o.MonthsOnBook < 0 {
			return bad("months_on_book may not be negative")
		}
	case TypeContest:
		ct := r.Contest
		if ct == nil {
			return bad("record without body")
		}
		if ct.Statement == "" {
			return bad("a contest states why")
		}
		for k, v := range ct.Corrections {
			if v.IsMissing() {
				return bad("correction %q has no value", k)
			}
		}
		if !isLowerHex(ct.Nonce, 16) {
			return bad("nonce must be 32 lowercase hex digits")
		}
	case TypeRescore:
		rs := r.Rescore
		if rs == nil {
			return bad("record without body")
		}
		if !isLowerHex(rs.Contest, 32) || !isLowerHex(rs.Rescored, 32) {
			return bad("contest and rescored must be 64 lowercase hex digits")
		}
	}
	return nil
}

// setLifecycleBody wraps a lifecycle body; ok is false for other bodies.
func (r *Record) setLifecycleBody(body any) (bool, error) {
	switch b := body.(type) {
	case *FinalAction:
		if b.Reasons == nil {
			b.Reasons = []ActionReason{}
		}
		if b.Nonce == "" {
			n, err := NewNonce()
			if err != nil {
				return true, err
			}
			b.Nonce = n
		}
		r.Type, r.FinalAction = TypeFinalAction, b
	case *NoticeSent:
		r.Type, r.NoticeSent = TypeNoticeSent, b
	case *Outcome:
		r.Type, r.Outcome = TypeOutcome, b
	case *Contest:
		if b.Nonce == "" {
			n, err := NewNonce()
			if err != nil {
				return true, err
			}
			b.Nonce = n
		}
		r.Type, r.Contest = TypeContest, b
	case *Rescore:
		r.Type, r.Rescore = TypeRescore, b
	default:
		return false, nil
	}
	return true, nil
}

// decodeLifecycle decodes the body of a lifecycle record type; ok is
// false for other types.
func (r *Record) decodeLifecycle(body []byte) (bool, error) {
	var dst any
	switch r.Type {
	case TypeFinalAction:
		r.FinalAction = &FinalAction{}
		dst = r.FinalAction
	case TypeNoticeSent:
		r.NoticeSent = &NoticeSent{}
		dst = r.NoticeSent
	case TypeOutcome:
		r.Outcome = &Outcome{}
		dst = r.Outcome
	case TypeContest:
		r.Contest = &Contest{}
		dst = r.Contest
	case TypeRescore:
		r.Rescore = &Rescore{}
		dst = r.Rescore
	default:
		return false, nil
	}
	return true, strictUnmarshal(body, dst)
}
