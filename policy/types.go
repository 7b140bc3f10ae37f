package policy

import (
	"errors"
	"fmt"
	"strings"
)

// Role is a caller's role; "" is an anonymous caller.
type Role string

// Roles known to the embedded policy.
const (
	RoleAnonymous Role = ""
	// RoleLender scores applications and reads the decisions it created.
	RoleLender Role = "lender"
	// RoleApplicant holds a token bound to one decision and reads that
	// decision's explanation, proof and notice.
	RoleApplicant Role = "applicant"
	// RoleRegulator reads every decision, the ledger, replays and audits.
	RoleRegulator Role = "regulator"
	// RoleAdmin administers models and policy.
	RoleAdmin Role = "admin"
	// RoleReviewer is a person at a lender (the subject is the lender)
	// who takes final actions on its referred and contested decisions.
	RoleReviewer Role = "reviewer"
)

// Roles lists every role including RoleAnonymous.
func Roles() []Role {
	return []Role{RoleAnonymous, RoleLender, RoleApplicant, RoleRegulator, RoleAdmin, RoleReviewer}
}

// Action names one API operation. The strings are stable: they appear in
// the policy and in audit records.
type Action string

// Actions the API asks the policy about, one per endpoint.
const (
	ActionDecisionsCreate      Action = "decisions.create"
	ActionDecisionsRead        Action = "decisions.read"
	ActionDecisionsExplanation Action = "decisions.explanation"
	ActionDecisionsProof       Action = "decisions.proof"
	ActionDecisionsNotice      Action = "decisions.notice"
	ActionDecisionsReplay      Action = "decisions.replay"
	ActionDecisionsErase       Action = "decisions.erase"
	ActionLedgerCheckpoint     Action = "ledger.checkpoint"
	ActionLedgerPublicKey      Action = "ledger.public_key"
	ActionLedgerConsistency    Action = "ledger.consistency"
	ActionLedgerEntries        Action = "ledger.entries"
	ActionModelsList           Action = "models.list"
	ActionModelsRead           Action = "models.read"
	ActionModelsAdmit          Action = "models.admit"
	ActionPolicyRead           Action = "policy.read"
	ActionAuditRead            Action = "audit.read"
	ActionHealth               Action = "health"
	ActionMetrics              Action = "metrics"
	ActionOpenAPI              Action = "openapi"
	// The life of a decision after the model (docs/lifecycle.md).
	ActionDecisionsAct        Action = "decisions.act"
	ActionDecisionsNoticeSent Action = "decisions.notice_sent"
	ActionDecisionsOutcome    Action = "decisions.outcome"
	ActionDecisionsHistory    Action = "decisions.history"
	ActionReviewsList         Action = "reviews.list"
	ActionDecisionsContest    Action = "decisions.contest"
)

// Actions lists every action constant.
func Actions() []Action {
	return []Action{
		ActionDecisionsCreate, ActionDecisionsRead, ActionDecisionsExplanation,
		ActionDecisionsProof, ActionDecisionsNotice, ActionDecisionsReplay, ActionDecisionsErase,
		ActionLedgerCheckpoint, ActionLedgerPublicKey, ActionLedgerConsistency,
		ActionLedgerEntries, ActionModelsList, ActionModelsRead, ActionModelsAdmit,
		ActionPolicyRead, ActionAuditRead, ActionHealth, ActionMetrics, ActionOpenAPI,
		ActionDecisionsAct, ActionDecisionsNoticeSent, ActionDecisionsOutcome, ActionDecisionsHistory, ActionReviewsList,
		ActionDecisionsContest,
	}
}

// Decision is the outcome of a credit decision.
type Decision string

// Decisions the policy can reach.
const (
	Approve Decision = "approve"
	// Refer sends the application to human review.
	Refer   Decision = "refer"
	Decline Decision = "decline"
)

// Adverse reports whether d is an adverse outcome, one that needs
// principal reasons. An incomplete application is not decided and so not
// adverse: its notice names what is missing (12 CFR 1002.9(c)).
func (d Decision) Adverse() bool { return d == Refer || d == Decline }

// Finding is one policy rule that fired. ID, Title and Citation come from
// the rule's METADATA annotation.
type Finding struct {
	ID       string `json:"id"`
	Title    string `json:"title"`
	Citation string `json:"citation"`
	Message  string `json:"message"`
	// Features names the model features or record fields concerned.
	Features []string `json:"features,omitempty"`
	// Outcome is set on decision rules: the outcome the rule asks for.
	Outcome Decision `json:"outcome,omitempty"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: %s [%s]", f.ID, f.Message, f.Citation)
}

// Sentinel errors. A *Violation wraps one of them.
var (
	// ErrDenied: the caller may not perform the action (HTTP 403).
	ErrDenied = errors.New("policy: access denied")
	// ErrRejected: the request breaks a policy rule, e.g. a model that may
	// not serve or a decision that may not be issued (HTTP 422).
	ErrRejected = errors.New("policy: rejected")
	// ErrUndefined: the policy produced no answer for a query, which means
	// an override policy lacks a rule the engine needs.
	ErrUndefined = errors.New("policy: query undefined")
)

// Violation is a policy refusal with the rules that caused it.
type Violation struct {
	// Kind is ErrDenied or ErrRejected.
	Kind     error
	Op       string
	Findings []Finding
}

func (v *Violation) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", v.Op, v.Kind)
	for i, f := range v.Findings {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	return b.String()
}

func (v *Violation) Unwrap() error { return v.Kind }

// AsViolation returns the *Violation in err's chain, if any, so the API can
// put the findings into a problem response.
func AsViolation(err error) (*Violation, bool) {
	var v *Violation
	ok := errors.As(err, &v)
	return v, ok
}
