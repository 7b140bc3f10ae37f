package policy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/open-policy-agent/opa/v1/storage"
)

func testEngine(t testing.TB) *Engine {
	t.Helper()
	e, err := New(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const testSHA = "884bc7af1e5dd56b00057477bd706ddf6058bf85114cc3706003801c6123dfa0"

func num(name, meaning string, monotone int) models.Feature {
	return models.Feature{
		Name: name, Meaning: meaning, Type: models.Numeric, Min: ptr(0), Max: ptr(1e6),
		Monotone: monotone, Reason: models.Reason{Code: "R-" + name, Text: name},
	}
}

func cat(name, meaning string) models.Feature {
	return models.Feature{
		Name: name, Meaning: meaning, Type: models.Categorical, Levels: []string{"a", "b"},
		Reason: models.Reason{Code: "R-" + name, Text: name},
	}
}

// compliantManifest mirrors credit-risk-v1.
func compliantManifest() *models.Manifest {
	return &models.Manifest{
		ID: "credit-risk-v1", Version: "1.0.0", Objective: "binary", ModelSHA256: testSHA,
		Features: []models.Feature{
			num("Seniority", "employment_tenure", -1), cat("Home", "housing_status"),
			num("Time", "loan_term", 0), cat("Records", "credit_records"), cat("Job", "employment_type"),
			num("Expenses", "expenses", 0), num("Income", "income", -1), num("Assets", "assets", -1),
			num("Debt", "debt", 1), num("Amount", "requested_amount", 1), num("Price", "purchase_price", 0),
		},
		Provenance: models.Provenance{TestAUC: 0.827},
		Approval:   models.Approval{Status: "approved", Approver: "model risk committee", Date: "2026-11-25"},
		ScoreScale: models.DefaultScoreScale(),
	}
}

// protectedManifest mirrors credit-risk-protected: Marital and an
// unjustified, unconstrained Age.
func protectedManifest() *models.Manifest {
	m := compliantManifest()
	m.ID = "credit-risk-protected"
	m.Features = append(m.Features, cat("Marital", "marital_status"), num("Age", "age", 0))
	return m
}

func TestAdmitCompliant(t *testing.T) {
	e := testEngine(t)
	a, err := e.AdmitModel(context.Background(), compliantManifest(), testSHA)
	if err != nil || !a.Admitted || len(a.Violations) != 0 {
		t.Fatalf("compliant manifest: %+v, %v", a, err)
	}
	if a.PolicyRevision != e.Revision() {
		t.Errorf("revision %q, want %q", a.PolicyRevision, e.Revision())
	}
	if out := FormatAdmission(a); !strings.Contains(out, "ADMITTED") {
		t.Errorf("FormatAdmission: %s", out)
	}
}

func TestAdmitProtectedRefused(t *testing.T) {
	e := testEngine(t)
	a, err := e.AdmitModel(context.Background(), protectedManifest(), testSHA)
	if !errors.Is(err, ErrRejected) || a.Admitted {
		t.Fatalf("protected manifest admitted: %+v, %v", a, err)
	}
	byFeature := map[string][]Finding{}
	for _, v := range a.Violations {
		for _, f := range v.Features {
			byFeature[f] = append(byFeature[f], v)
		}
	}
	want := map[string]struct{ id, citation string }{
		"Marital": {"ADM-PROHIBITED-BASIS", "12 CFR 1002.6(b)(1)"},
		"Age":     {"ADM-AGE-JUSTIFICATION", "12 CFR 1002.6(b)(2)(ii)"},
	}
	for feature, w := range want {
		var found bool
		for _, v := range byFeature[feature] {
			found = found || (v.ID == w.id && strings.Contains(v.Citation, w.citation))
		}
		if !found {
			t.Errorf("%s: no %s violation citing %s in %+v", feature, w.id, w.citation, byFeature[feature])
		}
	}
	// The monotone age rule fires too: an undeclared direction is not enough.
	if !hasID(byFeature["Age"], "ADM-AGE-MONOTONE") {
		t.Errorf("Age: ADM-AGE-MONOTONE missing: %+v", byFeature["Age"])
	}
	// Both the error and the CLI text name the features and cite the rules.
	out := FormatAdmission(a)
	for _, s := range []string{err.Error(), out} {
		for _, needle := range []string{"Marital", "Age", "12 CFR 1002.6(b)(1)", "12 CFR 1002.6(b)(2)(ii)"} {
			if !strings.Contains(s, needle) {
				t.Errorf("%q missing from:\n%s", needle, s)
			}
		}
	}
	if !strings.Contains(out, "REFUSED") {
		t.Errorf("verdict missing:\n%s", out)
	}
	v, ok := AsViolation(err)
	if !ok || len(v.Findings) != len(a.Violations) {
		t.Errorf("AsViolation: %v %v", v, ok)
	}
	t.Logf("\n%s", out)
}

func TestAdmitJustifiedAge(t *testing.T) {
	e := testEngine(t)
	m := compliantManifest()
	age := num("ApplicantAge", "", -1)
	age.Justification = "12 CFR 1002.6(b)(2)(ii): empirically derived, demonstrably and statistically sound system"
	m.Features = append(m.Features, age)
	if _, err := e.AdmitModel(context.Background(), m, testSHA); err != nil {
		t.Fatalf("justified, decreasing age refused: %v", err)
	}
	m.Features[len(m.Features)-1].Monotone = 0
	a, err := e.AdmitModel(context.Background(), m, testSHA)
	if !errors.Is(err, ErrRejected) || !hasID(a.Violations, "ADM-AGE-MONOTONE") {
		t.Fatalf("age with monotone 0 admitted: %+v %v", a, err)
	}
}

func TestAdmitSynonyms(t *testing.T) {
	e := testEngine(t)
	for _, f := range []models.Feature{
		cat("civil_status", ""), cat("Sex", ""), cat("Gender", "x"), cat("Race", ""), cat("Ethnicity", ""),
		cat("Religion", ""), cat("Nationality", ""), num("DOB", "", -1), num("BirthYear", "", -1),
		cat("Feature7", "marital_status"), cat("benefits", "public_assistance"),
	} {
		m := compliantManifest()
		m.Features = append(m.Features, f)
		a, err := e.AdmitModel(context.Background(), m, testSHA)
		if !errors.Is(err, ErrRejected) || a.Admitted {
			t.Errorf("%s (%s) admitted", f.Name, f.Meaning)
			continue
		}
		if v := a.Violations[0]; len(v.Features) != 1 || v.Features[0] != f.Name {
			t.Errorf("%s: violation names %v", f.Name, v.Features)
		}
	}
}

func TestAdmitRefusals(t *testing.T) {
	e := testEngine(t)
	cases := []struct {
		name   string
		edit   func(*models.Manifest)
		sha    string
		wantID string
	}{
		{"hash mismatch", func(*models.Manifest) {}, strings.Repeat("0", 64), "ADM-HASH"},
		{"no hash", func(*models.Manifest) {}, "", "ADM-HASH"},
		{"pending", func(m *models.Manifest) { m.Approval.Status = "pending" }, testSHA, "ADM-APPROVAL"},
		{"rejected", func(m *models.Manifest) { m.Approval.Status = "rejected" }, testSHA, "ADM-APPROVAL"},
		{"AUC below floor", func(m *models.Manifest) { m.Provenance.TestAUC = 0.69 }, testSHA, "ADM-AUC"},
		{"income without monotone", func(m *models.Manifest) { m.Features[6].Monotone = 0 }, testSHA, "ADM-MONOTONE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := compliantManifest()
			c.edit(m)
			a, err := e.AdmitModel(context.Background(), m, c.sha)
			if !errors.Is(err, ErrRejected) || a.Admitted {
				t.Fatalf("admitted: %+v %v", a, err)
			}
			if len(a.Violations) != 1 || a.Violations[0].ID != c.wantID || a.Violations[0].Citation == "" {
				t.Fatalf("violations %+v, want only %s", a.Violations, c.wantID)
			}
		})
	}
	m := compliantManifest()
	m.Provenance.TestAUC = 0.70
	if _, err := e.AdmitModel(context.Background(), m, strings.ToUpper(testSHA)); err != nil {
		t.Errorf("AUC at the floor, upper-case hash: %v", err)
	}
	if _, err := e.AdmitModel(context.Background(), nil, testSHA); err == nil || errors.Is(err, ErrRejected) {
		t.Errorf("nil manifest: %v", err)
	}
}

// TestAdmitRealPackages checks the packages in models/, when present.
func TestAdmitRealPackages(t *testing.T) {
	e := testEngine(t)
	for dir, want := range map[string]bool{"credit-risk-v1": true, "credit-risk-protected": false} {
		p, err := models.LoadDir(filepath.Join("..", "models", dir))
		if err != nil {
			t.Logf("skipping %s: %v", dir, err)
			continue
		}
		a, err := e.AdmitPackage(context.Background(), p.Manifest, p.SHA256, p.Reference)
		if a.Admitted != want || (err == nil) != want {
			t.Errorf("%s: admitted %v (%v), want %v\n%s", dir, a.Admitted, err, want, FormatAdmission(a))
		}
		if !want {
			out := FormatAdmission(a)
			for _, needle := range []string{"Marital", "Age", "1002.6(b)(1)", "1002.6(b)(2)(ii)"} {
				if !strings.Contains(out, needle) {
					t.Errorf("%s: %q missing:\n%s", dir, needle, out)
				}
			}
		}
	}
}

func hasID(fs []Finding, id string) bool {
	for _, f := range fs {
		if f.ID == id {
			return true
		}
	}
	return false
}

// roleMatrix is the access matrix of the issue: which role may perform
// which action on a decision it is entitled to (own decision for a lender,
// bound decision for an applicant).
var roleMatrix = map[Role][]Action{
	RoleAnonymous: {ActionLedgerCheckpoint, ActionLedgerPublicKey, ActionModelsList, ActionHealth, ActionOpenAPI},
	RoleLender: {ActionDecisionsCreate, ActionDecisionsRead, ActionDecisionsExplanation, ActionDecisionsProof, ActionDecisionsNotice,
		ActionDecisionsAct, ActionDecisionsNoticeSent, ActionDecisionsOutcome, ActionDecisionsHistory, ActionReviewsList,
		ActionLedgerCheckpoint, ActionLedgerPublicKey, ActionModelsList, ActionHealth, ActionOpenAPI},
	RoleApplicant: {ActionDecisionsExplanation, ActionDecisionsProof, ActionDecisionsNotice, ActionDecisionsHistory, ActionDecisionsContest,
		ActionLedgerCheckpoint, ActionLedgerPublicKey, ActionModelsList, ActionHealth, ActionOpenAPI},
	RoleRegulator: {ActionDecisionsRead, ActionDecisionsExplanation, ActionDecisionsProof, ActionDecisionsNotice, ActionDecisionsReplay,
		ActionLedgerConsistency, ActionLedgerEntries, ActionAuditRead, ActionDecisionsHistory, ActionReviewsList,
		ActionLedgerCheckpoint, ActionLedgerPublicKey, ActionModelsList, ActionHealth, ActionOpenAPI},
	RoleAdmin: {ActionDecisionsErase, ActionModelsRead, ActionModelsAdmit, ActionPolicyRead, ActionMetrics,
		ActionLedgerCheckpoint, ActionLedgerPublicKey, ActionModelsList, ActionHealth, ActionOpenAPI},
	RoleReviewer: {ActionDecisionsRead, ActionDecisionsExplanation, ActionDecisionsProof, ActionDecisionsNotice,
		ActionDecisionsAct, ActionDecisionsHistory, ActionReviewsList,
		ActionLedgerCheckpoint, ActionLedgerPublicKey, ActionModelsList, ActionHealth, ActionOpenAPI},
}

func TestAuthorizeMatrix(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	subjects := map[Role]string{RoleLender: "bank-a", RoleApplicant: "applicant-token", RoleRegulator: "cfpb", RoleAdmin: "ops", RoleReviewer: "bank-a"}
	for _, role := range Roles() {
		for _, action := range Actions() {
			want := false
			for _, a := range roleMatrix[role] {
				want = want || a == action
			}
			req := AccessRequest{
				Role: role, Subject: subjects[role], Action: action,
				ResourceOwner: "bank-a", DecisionID: "dec-1", TokenDecisionID: "dec-1",
			}
			d, err := e.Authorize(ctx, req)
			if d.Allow != want {
				t.Errorf("%s × %s: allow %v, want %v (%v)", roleName(role), action, d.Allow, want, err)
			}
			if want != (err == nil) || (!want && !errors.Is(err, ErrDenied)) {
				t.Errorf("%s × %s: err %v", roleName(role), action, err)
			}
			if !want && len(d.Denials) == 0 {
				t.Errorf("%s × %s: denied without a reason", roleName(role), action)
			}
		}
	}
}

func TestAuthorizeOwnershipAndTokens(t *testing.T) {
	e := testEngine(t)
	cases := []struct {
		name   string
		req    AccessRequest
		wantID string // "" means allowed
	}{
		{"lender reads own", AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsRead, ResourceOwner: "bank-a", DecisionID: "d1"}, ""},
		{"lender reads another lender's decision", AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsRead, ResourceOwner: "bank-b", DecisionID: "d1"}, "ACC-OWNER"},
		{"lender reads another lender's notice", AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsNotice, ResourceOwner: "bank-b", DecisionID: "d1"}, "ACC-OWNER"},
		{"lender without identity", AccessRequest{Role: RoleLender, Action: ActionDecisionsCreate}, "ACC-SUBJECT"},
		{"applicant bound", AccessRequest{Role: RoleApplicant, Action: ActionDecisionsProof, DecisionID: "d1", TokenDecisionID: "d1"}, ""},
		{"applicant token bound to a different decision", AccessRequest{Role: RoleApplicant, Action: ActionDecisionsExplanation, DecisionID: "d2", TokenDecisionID: "d1"}, "ACC-TOKEN"},
		{"applicant token without binding", AccessRequest{Role: RoleApplicant, Action: ActionDecisionsNotice, DecisionID: "d2"}, "ACC-TOKEN"},
		{"regulator reads any lender", AccessRequest{Role: RoleRegulator, Subject: "cfpb", Action: ActionDecisionsRead, ResourceOwner: "bank-b", DecisionID: "d1"}, ""},
		{"anonymous reads decision", AccessRequest{Action: ActionDecisionsRead, DecisionID: "d1"}, "ACC-AUTHENTICATION"},
		{"unknown role", AccessRequest{Role: "root", Subject: "x", Action: ActionAuditRead}, "ACC-UNKNOWN-ROLE"},
		{"unknown action", AccessRequest{Role: RoleRegulator, Subject: "x", Action: "decisions.delete"}, "ACC-UNKNOWN-ACTION"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, err := e.Authorize(context.Background(), c.req)
			if c.wantID == "" {
				if err != nil || !d.Allow {
					t.Fatalf("denied: %+v %v", d, err)
				}
				return
			}
			if d.Allow || !errors.Is(err, ErrDenied) || !hasID(d.Denials, c.wantID) {
				t.Fatalf("got %+v %v, want denial %s", d, err, c.wantID)
			}
			if !strings.Contains(err.Error(), c.wantID) {
				t.Errorf("error %q does not name %s", err, c.wantID)
			}
		})
	}
}

// candidateReasons are verified feature reasons as the explainer offers
// them, each above the default materiality floor.
var candidateReasons = []Reason{
	{Code: "R-Income", Feature: "Income", Meaning: "income", Contribution: ptr(0.9), Direction: "increase"},
	{Code: "R-Debt", Feature: "Debt", Meaning: "debt", Contribution: ptr(0.7), Direction: "decrease"},
	{Code: "R-Seniority", Feature: "Seniority", Meaning: "employment_tenure", Contribution: ptr(0.5), Direction: "increase"},
	{Code: "R-Records", Feature: "Records", Meaning: "credit_records", Contribution: ptr(0.3), Direction: "other"},
	{Code: "R-Amount", Feature: "Amount", Meaning: "requested_amount", Contribution: ptr(0.1), Direction: "decrease"},
}

func TestDecide(t *testing.T) {
	e := testEngine(t)
	cases := []struct {
		name      string
		pd        float64
		amount    float64
		want      Decision
		wantRules []string
	}{
		{"low PD approves", 0.08, 1000, Approve, []string{"DEC-APPROVE"}},
		{"just below margin approves", 0.2299, 1000, Approve, []string{"DEC-APPROVE"}},
		{"within margin of cut-off refers", 0.23, 1000, Refer, []string{"DEC-APPROVE", "DEC-REASONS", "DEC-REFER-MARGIN"}},
		{"at approval cut-off refers", 0.25, 1000, Refer, []string{"DEC-REASONS", "DEC-REFER-BAND"}},
		{"between cut-offs refers", 0.40, 1000, Refer, []string{"DEC-REASONS", "DEC-REFER-BAND"}},
		{"at decline cut-off declines", 0.50, 1000, Decline, []string{"DEC-DECLINE", "DEC-REASONS"}},
		{"high PD declines", 0.91, 1000, Decline, []string{"DEC-DECLINE", "DEC-REASONS"}},
		{"large amount refers an approval", 0.08, 4500, Refer, []string{"DEC-APPROVE", "DEC-REASONS", "DEC-REFER-AMOUNT"}},
		{"amount at the limit approves", 0.08, 4000, Approve, []string{"DEC-APPROVE"}},
		{"large amount does not soften a decline", 0.75, 4500, Decline, []string{"DEC-DECLINE", "DEC-REASONS", "DEC-REFER-AMOUNT"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := e.Decide(context.Background(), DecisionInput{
				ModelID: "credit-risk-v1", ProbabilityOfDefault: c.pd, Score: 600,
				Features:  map[string]any{"Amount": c.amount, "Income": 130, "Home": "owner"},
				Reasons:   candidateReasons,
				Explained: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			if o.Decision != c.want {
				t.Errorf("decision %s, want %s", o.Decision, c.want)
			}
			var ids []string
			for _, r := range o.Rules {
				ids = append(ids, r.ID)
				if r.Citation == "" || r.Title == "" {
					t.Errorf("rule %s without metadata", r.ID)
				}
			}
			if strings.Join(ids, ",") != strings.Join(c.wantRules, ",") {
				t.Errorf("rules %v, want %v", ids, c.wantRules)
			}
			// A referral only for the amount names the rule alone; model
			// reasons come when the score contributed, after any rule's.
			wantReasons := 4
			if c.pd < 0.23 {
				wantReasons = 1
			}
			switch {
			case c.want.Adverse() && len(o.Reasons) != wantReasons:
				t.Errorf("adverse outcome with %d reasons, want %d", len(o.Reasons), wantReasons)
			case !c.want.Adverse() && len(o.Reasons) != 0:
				t.Errorf("approval with reasons %v", o.Reasons)
			}
		})
	}
}

func TestDecideRejections(t *testing.T) {
	e := testEngine(t)
	base := DecisionInput{ModelID: "credit-risk-v1", ProbabilityOfDefault: 0.6, Features: map[string]any{"Amount": 1000.0}, Reasons: candidateReasons[:2], Explained: true}
	cases := []struct {
		name   string
		edit   func(*DecisionInput)
		wantID string
		cite   string
	}{
		{"adverse without reasons", func(in *DecisionInput) { in.Reasons = nil }, "DEC-REASONS-MISSING", "1002.9(b)(2)"},
		{"reason naming marital status", func(in *DecisionInput) {
			in.Reasons = append([]Reason{{Code: "R-Marital", Feature: "Marital", Meaning: "marital_status", Contribution: ptr(1)}}, in.Reasons...)
		}, "DEC-PROHIBITED-REASON", "1002.6(b)(1)"},
		{"reason naming age by meaning", func(in *DecisionInput) {
			in.Reasons = []Reason{{Code: "R9", Feature: "F9", Meaning: "age", Contribution: ptr(1)}}
		}, "DEC-PROHIBITED-REASON", "1002.6(b)(1)"},
		{"reason without code", func(in *DecisionInput) {
			in.Reasons = []Reason{{Feature: "Income", Meaning: "income", Contribution: ptr(1)}}
		}, "DEC-REASON-INCOMPLETE", "1002.9(b)(2)"},
		{"unknown model", func(in *DecisionInput) { in.ModelID = "credit-risk-protected" }, "DEC-UNKNOWN-MODEL", "SR 11-7"},
		{"PD above one", func(in *DecisionInput) { in.ProbabilityOfDefault = 1.2 }, "DEC-PD-INVALID", "CP-1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base
			c.edit(&in)
			o, err := e.Decide(context.Background(), in)
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("issued: %+v %v", o, err)
			}
			if !hasID(o.Violations, c.wantID) || !strings.Contains(err.Error(), c.cite) {
				t.Fatalf("violations %+v, err %v; want %s citing %s", o.Violations, err, c.wantID, c.cite)
			}
		})
	}
	in := base
	in.ProbabilityOfDefault = 0.1
	in.Reasons = nil
	if o, err := e.Decide(context.Background(), in); err != nil || o.Decision != Approve {
		t.Errorf("approval without reasons: %+v %v", o, err)
	}
	in.Features = map[string]any{"Amount": make(chan int)}
	if _, err := e.Decide(context.Background(), in); err == nil || errors.Is(err, ErrRejected) {
		t.Errorf("unconvertible feature: %v", err)
	}
}

func TestLedgerFields(t *testing.T) {
	e := testEngine(t)
	fields := e.LedgerFields()
	if len(fields) == 0 {
		t.Fatal("no ledger fields")
	}
	for _, f := range fields {
		if f == "name" || f == "ssn" || f == "email" {
			t.Errorf("ledger field %q", f)
		}
	}
	fields[0] = "mutated"
	if e.LedgerFields()[0] == "mutated" {
		t.Error("LedgerFields exposes engine state")
	}
	ctx := context.Background()
	if err := e.CheckLedgerFields(ctx, e.LedgerFields()); err != nil {
		t.Errorf("policy fields refused: %v", err)
	}
	for _, bad := range []string{"name", "applicant_name", "Address", "SSN", "email", "phoneNumber", "date_of_birth"} {
		err := e.CheckLedgerFields(ctx, append(e.LedgerFields(), bad))
		v, ok := AsViolation(err)
		if !errors.Is(err, ErrRejected) || !ok || len(v.Findings) != 1 || v.Findings[0].Features[0] != bad {
			t.Errorf("%s: %v", bad, err)
		}
	}
}

func TestRevisionAndOverrideDir(t *testing.T) {
	ctx := context.Background()
	e := testEngine(t)
	if len(e.Revision()) != 64 || strings.ToLower(e.Revision()) != e.Revision() {
		t.Fatalf("revision %q", e.Revision())
	}
	// The source directory is the embedded policy: same revision.
	fromDir, err := New(ctx, "rego")
	if err != nil {
		t.Fatal(err)
	}
	if fromDir.Revision() != e.Revision() {
		t.Errorf("rego/ revision %s != embedded %s", fromDir.Revision(), e.Revision())
	}

	// An override with a stricter cut-off changes the revision and the
	// decision.
	dir := t.TempDir()
	files, err := readPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		data := f.Data
		if f.Path == DataFile {
			data = []byte(strings.Replace(string(data), `"approve_below": 0.25`, `"approve_below": 0.1`, 1))
		}
		if err := os.WriteFile(filepath.Join(dir, f.Path), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	strict, err := New(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if strict.Revision() == e.Revision() {
		t.Error("changed data, same revision")
	}
	in := DecisionInput{ModelID: "credit-risk-v1", ProbabilityOfDefault: 0.15, Features: map[string]any{"Amount": 100.0}, Reasons: candidateReasons}
	if o, _ := e.Decide(ctx, in); o.Decision != Approve {
		t.Errorf("embedded: %s", o.Decision)
	}
	if o, _ := strict.Decide(ctx, in); o.Decision != Refer {
		t.Errorf("override: %s", o.Decision)
	}

	// Framing: moving bytes between a name and a content changes the hash.
	a := Revision([]File{{Path: "a.rego", Data: []byte("xy")}})
	b := Revision([]File{{Path: "a.regox", Data: []byte("y")}})
	if a == b {
		t.Error("revision framing is ambiguous")
	}
	if Revision([]File{{"b", []byte("1")}, {"a", []byte("2")}}) != Revision([]File{{"a", []byte("2")}, {"b", []byte("1")}}) {
		t.Error("revision depends on file order")
	}
}

func TestNewErrors(t *testing.T) {
	ctx := context.Background()
	write := func(t *testing.T, files map[string]string) string {
		dir := t.TempDir()
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	embeddedFiles, err := readPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]string{}
	for _, f := range embeddedFiles {
		all[f.Path] = string(f.Data)
	}
	with := func(name, body string) map[string]string {
		m := map[string]string{}
		for k, v := range all {
			m[k] = v
		}
		m[name] = body
		return m
	}
	cases := map[string]map[string]string{
		"missing dir":          nil,
		"no data":              {"x.rego": "package x\n"},
		"no rego":              {DataFile: "{}"},
		"syntax error":         with("access.rego", "package glassbox.access\nallow if {"),
		"data not an object":   with(DataFile, "[]"),
		"identifier in ledger": with(DataFile, strings.Replace(all[DataFile], `"application_id",`, `"application_id", "applicant_email",`, 1)),
		"missing rule":         with("ledger.rego", "package glassbox.ledger\n"),
		"sets engine data":     with(DataFile, strings.Replace(all[DataFile], `"config": {`, `"admitted": {}, "config": {`, 1)),
		"sets rulebook":        with(DataFile, strings.Replace(all[DataFile], `"config": {`, `"rulebook": {}, "config": {`, 1)),
		// Two rules may share an id only if they cite alike: the hot path
		// cites by id.
		"conflicting rule ids": with("extra.rego", "package glassbox.extra\n\n# METADATA\n# title: Something else\n# custom:\n#   id: DEC-APPROVE\n#   citation: elsewhere\nx := 1\n"),
	}
	for name, files := range cases {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "absent")
			if files != nil {
				dir = write(t, files)
			}
			if _, err := New(ctx, dir); err == nil {
				t.Fatal("no error")
			} else {
				t.Log(err)
			}
		})
	}
}

// TestAdmissionRecord checks the record AdmitModel keeps: written for an
// admitted model only, and changing what decisions cost, never what they
// are. Two engines, one that admitted the default model and one that did
// not, must give identical outcomes and errors on every input, including
// reasons relabelled with a prohibited meaning and reasons for features
// the model does not have.
func TestAdmissionRecord(t *testing.T) {
	ctx := context.Background()
	admitted, fresh := testEngine(t), testEngine(t)
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admitted.AdmitPackage(ctx, pkg.Manifest, pkg.SHA256, pkg.Reference); err != nil {
		t.Fatal(err)
	}
	protected, err := models.LoadDir(filepath.Join("..", "models", "credit-risk-protected"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admitted.AdmitModel(ctx, protected.Manifest, protected.SHA256); err == nil {
		t.Fatal("protected model admitted")
	}
	for id, want := range map[string]bool{pkg.Manifest.ID: true, protected.Manifest.ID: false} {
		_, err := storage.ReadOne(ctx, admitted.store, storage.Path{admittedRoot, id})
		if got := err == nil; got != want {
			t.Errorf("admission record for %s: present %v, want %v (%v)", id, got, want, err)
		}
	}

	var manifestReasons []Reason
	for _, f := range pkg.Manifest.Features {
		manifestReasons = append(manifestReasons, Reason{Code: f.Reason.Code, Feature: f.Name, Meaning: f.Meaning})
	}
	reasonSets := map[string][]Reason{
		"manifest":          manifestReasons,
		"first":             manifestReasons[:1],
		"none":              nil,
		"relabelled":        append([]Reason{{Code: "R01", Feature: manifestReasons[0].Feature, Meaning: "marital_status"}}, manifestReasons[1:]...),
		"foreign feature":   append([]Reason{{Code: "R99", Feature: "Sex", Meaning: "sex"}}, manifestReasons...),
		"other code":        append([]Reason{{Code: "R99", Feature: manifestReasons[0].Feature, Meaning: manifestReasons[0].Meaning}}, manifestReasons[1:]...),
		"no code":           append([]Reason{{Feature: manifestReasons[0].Feature, Meaning: manifestReasons[0].Meaning}}, manifestReasons[1:]...),
		"fallback":          {{Code: "R00"}},
		"prohibited beyond": append(slices.Clone(manifestReasons[:4]), Reason{Code: "R98", Feature: "Marital", Meaning: "marital_status"}),
	}
	var n int
	for name, rs := range reasonSets {
		for _, pd := range []float64{0, 0.1, 0.235, 0.25, 0.31, 0.5, 0.9, 1, 1.2} {
			for _, amount := range []float64{1000, 4000.5} {
				for _, model := range []string{pkg.Manifest.ID, "unknown-model"} {
					in := DecisionInput{ModelID: model, ProbabilityOfDefault: pd, Score: 600, Features: map[string]any{"Amount": amount}, Reasons: rs}
					a, errA := admitted.Decide(ctx, in)
					f, errF := fresh.Decide(ctx, in)
					// Each engine keeps its own first evaluation for a
					// second Decide; the outcomes themselves must agree.
					a.first, f.first = nil, nil
					if fmt.Sprint(errA) != fmt.Sprint(errF) || !reflect.DeepEqual(a, f) {
						t.Errorf("%s pd %v amount %v model %s:\nadmitted: %+v %v\nfresh:    %+v %v", name, pd, amount, model, a, errA, f, errF)
					}
					n++
				}
			}
		}
	}
	t.Logf("%d inputs decided alike", n)
}

// TestConcurrent exercises one Engine from many goroutines (run with -race).
func TestConcurrent(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				pd := float64((g*50+i)%100) / 100
				if _, err := e.Authorize(ctx, AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsCreate}); err != nil {
					t.Error(err)
				}
				o, err := e.Decide(ctx, DecisionInput{ModelID: "credit-risk-v1", ProbabilityOfDefault: pd, Features: map[string]any{"Amount": 100.0}, Reasons: candidateReasons})
				if err != nil {
					t.Error(err)
				}
				want := Approve
				switch {
				case pd >= 0.5:
					want = Decline
				case pd >= 0.23:
					want = Refer
				}
				if o.Decision != want {
					t.Errorf("pd %v: %s, want %s", pd, o.Decision, want)
				}
			}
		})
	}
	wg.Wait()
}
func ptr(f float64) *float64 { return &f }
