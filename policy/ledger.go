package policy

import (
	"context"

	"github.com/open-policy-agent/opa/v1/ast"
)

// CheckLedgerFields asks the ledger policy whether a record with these
// fields may enter the ledger. A field that is a direct identifier (name,
// address, SSN, email, phone, ...) gives a *Violation wrapping ErrRejected.
func (e *Engine) CheckLedgerFields(ctx context.Context, fields []string) error {
	terms := make([]*ast.Term, len(fields))
	for i, f := range fields {
		terms[i] = ast.StringTerm(f)
	}
	input := ast.NewObject(item("fields", ast.ArrayTerm(terms...)))
	res, err := e.eval(ctx, e.ledger, queryLedger, input)
	if err != nil {
		return err
	}
	ok, err := asBool(res["ok"], queryLedger, "ok")
	if err != nil {
		return err
	}
	violations := asFindings(res["violations"])
	if !ok || len(violations) > 0 {
		return &Violation{Kind: ErrRejected, Op: "ledger fields", Findings: violations}
	}
	return nil
}
