package policy

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// AccessRequest is what the API knows about a request when it asks whether
// to serve it.
type AccessRequest struct {
	// Role is the authenticated role, RoleAnonymous if none.
	Role Role `json:"role"`
	// Subject identifies the caller within its role (a lender's name).
	Subject string `json:"subject"`
	Action  Action `json:"action"`
	// ResourceOwner is the lender that created the decision acted on.
	ResourceOwner string `json:"resource_owner,omitempty"`
	// DecisionID is the decision acted on, if any.
	DecisionID string `json:"decision_id,omitempty"`
	// TokenDecisionID is the decision an applicant token is bound to.
	TokenDecisionID string `json:"token_decision_id,omitempty"`
}

// AccessDecision is the policy's answer to an AccessRequest.
type AccessDecision struct {
	Allow bool `json:"allow"`
	// Denials are the deny rules that fired; empty when allowed.
	Denials        []Finding `json:"denials,omitempty"`
	PolicyRevision string    `json:"policy_revision"`
}

// Authorize asks the access policy whether req may be served. A refusal
// returns the decision and a *Violation wrapping ErrDenied; any other
// error also comes with Allow false, so the result fails closed.
func (e *Engine) Authorize(ctx context.Context, req AccessRequest) (AccessDecision, error) {
	d := AccessDecision{PolicyRevision: e.revision}
	granted, gen := e.accessMemo.lookup(req)
	if granted {
		d.Allow = true
		return d, nil
	}
	// Built directly as AST: converting a struct through reflection would
	// cost more than evaluating the rules.
	input := ast.NewObject(
		item("role", ast.StringTerm(string(req.Role))),
		item("subject", ast.StringTerm(req.Subject)),
		item("action", ast.StringTerm(string(req.Action))),
		item("resource_owner", ast.StringTerm(req.ResourceOwner)),
		item("decision_id", ast.StringTerm(req.DecisionID)),
		item("token_decision_id", ast.StringTerm(req.TokenDecisionID)),
	)
	res, err := e.eval(ctx, e.access, queryAccess, input)
	if err != nil {
		return d, err
	}
	allow, err := asBool(res["allow"], queryAccess, "allow")
	if err != nil {
		return d, err
	}
	d.Denials = asFindings(res["deny"])
	// Both conditions, in case an override policy's allow forgets its deny
	// set: a fired deny rule always wins.
	d.Allow = allow && len(d.Denials) == 0
	if !d.Allow {
		return d, &Violation{Kind: ErrDenied, Op: fmt.Sprintf("%s %s", roleName(req.Role), req.Action), Findings: d.Denials}
	}
	e.accessMemo.remember(req, gen)
	return d, nil
}

func roleName(r Role) string {
	if r == RoleAnonymous {
		return "anonymous"
	}
	return string(r)
}
