package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
)

// editedEngine builds an engine from the embedded policy with access.rego
// edited by edit.
func editedEngine(t *testing.T, edit func(string) string) *Engine {
	t.Helper()
	return engineWithFile(t, "access.rego", func(b []byte) []byte { return []byte(edit(string(b))) })
}

// TestAccessMemoMatchesEvaluation asks every role, caller and action twice
// (the second time from the memo where the first was a grant) and compares
// both answers with an engine that evaluates every request.
func TestAccessMemoMatchesEvaluation(t *testing.T) {
	ctx := context.Background()
	memo := testEngine(t)
	fresh := testEngine(t)
	fresh.accessMemo = nil
	if memo.accessMemo == nil {
		t.Fatal("the embedded policy is deterministic, yet its answers are not remembered")
	}
	actions := append(Actions(), "decisions.delete")
	grants := 0
	for _, role := range append(Roles(), "root") {
		for _, subject := range []string{"", "bank-a"} {
			for _, action := range actions {
				req := AccessRequest{Role: role, Subject: subject, Action: action}
				want, wantErr := fresh.Authorize(ctx, req)
				for pass := range 2 {
					got, err := memo.Authorize(ctx, req)
					if got.Allow != want.Allow || len(got.Denials) != len(want.Denials) || (err == nil) != (wantErr == nil) || got.PolicyRevision != want.PolicyRevision {
						t.Errorf("%+v pass %d: memo engine says %+v %v, evaluation %+v %v", req, pass, got, err, want, wantErr)
					}
				}
				if want.Allow {
					grants++
				}
			}
		}
	}
	if n := len(memo.accessMemo.granted); n != grants || grants == 0 {
		t.Errorf("memo holds %d grants, want %d", n, grants)
	}
	// Decision-bound requests are evaluated every time.
	req := AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsRead, ResourceOwner: "bank-a", DecisionID: "d1"}
	if _, err := memo.Authorize(ctx, req); err != nil {
		t.Fatal(err)
	}
	if _, kept := memo.accessMemo.granted[req]; kept {
		t.Error("a decision-bound grant was remembered")
	}
}

// TestAccessMemoInvalidatedByAdmission uses an access policy that serves
// the public checkpoint only while no model is admitted: the grant
// remembered before AdmitModel must not outlive the store write.
func TestAccessMemoInvalidatedByAdmission(t *testing.T) {
	ctx := context.Background()
	e := editedEngine(t, func(src string) string {
		src = strings.Replace(src, "granted if cfg.actions[input.action].public\n",
			"granted if {\n\tcfg.actions[input.action].public\n\tcount(data.admitted) == 0\n}\n", 1)
		return strings.Replace(src, "\tcfg.actions[input.action].public\n\tinput.role == \"\"\n",
			"\tcfg.actions[input.action].public\n\tinput.role == \"\"\n\tcount(data.admitted) == 0\n", 1)
	})
	req := AccessRequest{Action: ActionLedgerCheckpoint}
	for range 2 {
		if d, err := e.Authorize(ctx, req); err != nil || !d.Allow {
			t.Fatalf("before admission: %+v %v", d, err)
		}
	}
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.AdmitEvidence(ctx, pkg.Manifest, pkg.SHA256, pkg.Reference, pkg.Evidence); err != nil {
		t.Fatal(err)
	}
	if d, err := e.Authorize(ctx, req); d.Allow || !errors.Is(err, ErrDenied) {
		t.Fatalf("after admission the remembered grant was served: %+v %v", d, err)
	}
}

// TestAccessMemoOffForNondeterministicPolicy: a policy that reads the
// clock may answer the same request differently, so nothing is
// remembered.
func TestAccessMemoOffForNondeterministicPolicy(t *testing.T) {
	e := editedEngine(t, func(src string) string {
		return strings.Replace(src, "granted_decision := ", "after_epoch if time.now_ns() > 0\n\ngranted_decision := ", 1)
	})
	if e.accessMemo != nil {
		t.Fatal("a policy calling time.now_ns has its access answers remembered")
	}
	if !deterministic(nil) {
		t.Fatal("no modules, yet a non-deterministic call was found")
	}
	d, err := e.Authorize(context.Background(), AccessRequest{Role: RoleLender, Subject: "bank-a", Action: ActionDecisionsCreate})
	if err != nil || !d.Allow {
		t.Fatalf("%+v %v", d, err)
	}
}
