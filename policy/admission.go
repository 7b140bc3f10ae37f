package policy

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
)

// Admission is the verdict on a model package.
type Admission struct {
	ModelID      string `json:"model_id"`
	ModelVersion string `json:"model_version"`
	Admitted     bool   `json:"admitted"`
	// Violations lists every violated rule, not only the first.
	Violations     []Finding `json:"violations,omitempty"`
	PolicyRevision string    `json:"policy_revision"`
}

// AdmitModel decides whether the model described by m may serve.
// actualSHA256 is the hex SHA-256 of the package's model file, computed by
// the caller from the bytes it will load. A refused model returns the full
// Admission and a *Violation wrapping ErrRejected.
func (e *Engine) AdmitModel(ctx context.Context, m *models.Manifest, actualSHA256 string) (Admission, error) {
	return e.AdmitPackage(ctx, m, actualSHA256, nil)
}

// AdmitPackage is AdmitModel for a package that may ship a reference.json
// (nil if not): admission checks the reason texts' directions against it.
// It passes no validation evidence, which the admission policy refuses
// (ADM-EVIDENCE); AdmitEvidence is the call for a package that has it.
func (e *Engine) AdmitPackage(ctx context.Context, m *models.Manifest, actualSHA256 string, ref *models.Reference) (Admission, error) {
	return e.AdmitEvidence(ctx, m, actualSHA256, ref, nil)
}

// AdmitEvidence is AdmitPackage with the package's validation evidence
// (evidence.json, nil if none): the measured figures the admission policy
// gates on (AUC floor, adverse impact ratio floor), in place of what the
// manifest says about itself.
func (e *Engine) AdmitEvidence(ctx context.Context, m *models.Manifest, actualSHA256 string, ref *models.Reference, ev *models.Evidence) (Admission, error) {
	if m == nil {
		return Admission{PolicyRevision: e.revision}, errors.New("policy: admit model: nil manifest")
	}
	a := Admission{ModelID: m.ID, ModelVersion: m.Version, PolicyRevision: e.revision}
	manifest, err := toValue(m)
	if err != nil {
		return a, fmt.Errorf("policy: admit model %q: %w", m.ID, err)
	}
	reference := ast.NullTerm()
	if ref != nil {
		v, err := toValue(ref)
		if err != nil {
			return a, fmt.Errorf("policy: admit model %q: reference: %w", m.ID, err)
		}
		reference = ast.NewTerm(v)
	}
	evidence := ast.NullTerm()
	if ev != nil {
		v, err := toValue(ev)
		if err != nil {
			return a, fmt.Errorf("policy: admit model %q: evidence: %w", m.ID, err)
		}
		evidence = ast.NewTerm(v)
	}
	input := ast.NewObject(
		item("manifest", ast.NewTerm(manifest)),
		item("actual_sha256", ast.StringTerm(actualSHA256)),
		item("reference", reference),
		item("evidence", evidence),
	)
	res, err := e.eval(ctx, e.admission, queryAdmission, input)
	if err != nil {
		return a, err
	}
	admitted, err := asBool(res["admitted"], queryAdmission, "admitted")
	if err != nil {
		return a, err
	}
	a.Violations = asFindings(res["violations"])
	a.Admitted = admitted && len(a.Violations) == 0
	if !a.Admitted {
		return a, &Violation{Kind: ErrRejected, Op: fmt.Sprintf("admit model %q", m.ID), Findings: a.Violations}
	}
	// Recorded only now, for an admitted model: decisions for it may then
	// take the decision rules' fast path.
	reasons, ok := res["reasons"].(ast.Set)
	if !ok {
		return a, fmt.Errorf("policy: %s: reasons is %v, not a set", queryAdmission, res["reasons"])
	}
	record := ast.NewObject(item("reasons", ast.NewTerm(reasons)))
	// After the write, whether or not it succeeded: an access policy may
	// read data.admitted.
	defer e.accessMemo.invalidate()
	if err := storage.WriteOne(ctx, e.store, storage.AddOp, storage.Path{admittedRoot, m.ID}, record); err != nil {
		e.reasonPlans.set(m.ID, nil)
		return a, fmt.Errorf("policy: admit model %q: recording admission: %w", m.ID, err)
	}
	if e.useReasonPlans {
		e.reasonPlans.set(m.ID, e.buildReasonPlan(ctx, m.ID, reasons))
	}
	return a, nil
}

// FormatAdmission renders an Admission for `glassbox models check`: the
// verdict, then every violated rule with its features and citation.
func FormatAdmission(a Admission) string {
	var b strings.Builder
	verdict := "ADMITTED"
	if !a.Admitted {
		verdict = "REFUSED"
	}
	id := a.ModelID
	if a.ModelVersion != "" {
		id += " " + a.ModelVersion
	}
	fmt.Fprintf(&b, "model %s: %s (policy revision %s)\n", id, verdict, a.PolicyRevision)
	if !a.Admitted && len(a.Violations) == 0 {
		b.WriteString("  no rule reported; the policy did not admit the model\n")
	}
	for _, v := range a.Violations {
		fmt.Fprintf(&b, "  - %s: %s\n", v.ID, v.Title)
		fmt.Fprintf(&b, "      %s\n", v.Message)
		if len(v.Features) > 0 {
			fmt.Fprintf(&b, "      features: %s\n", strings.Join(v.Features, ", "))
		}
		fmt.Fprintf(&b, "      citation: %s\n", v.Citation)
	}
	return b.String()
}
