package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// TestErasure: an admin erases a decision's record; reads answer 410
// naming the erasure record, the proof of the leaf still verifies, the
// erasure record is in the log with no personal data, a second request
// answers the same record, and bad requests change nothing.
func TestErasure(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("erase-1")
	keep := e.createRisky("erase-2")
	// The recourse shown for the decision is recorded too, and must go
	// with it.
	shown, _ := e.explanation(d)
	if shown.RecourseRecord == "" {
		t.Fatalf("no recourse recorded for %s", d.DecisionID)
	}
	e.settle()
	path := "/v1/decisions/" + d.DecisionID + "/erasure"
	body := map[string]any{"legal_basis": "GDPR Art. 17(1)(a)", "requester": "ticket 4711"}

	// Refused requests erase nothing.
	for _, c := range []struct {
		r      req
		status int
		kind   string
	}{
		{req{method: "POST", path: path, key: keyLender, body: body}, http.StatusForbidden, "forbidden"},
		{req{method: "POST", path: path, key: keyRegulator, body: body}, http.StatusForbidden, "forbidden"},
		{req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": "x"}}, http.StatusUnprocessableEntity, "validation"},
		{req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": "x", "requester": "y", "name": "Jane"}}, http.StatusUnprocessableEntity, "validation"},
		{req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": 17, "requester": "y"}}, http.StatusUnprocessableEntity, "validation"},
		{req{method: "POST", path: "/v1/decisions/" + string(bytes.Repeat([]byte("0"), 64)) + "/erasure", key: keyAdmin, body: body}, http.StatusNotFound, "not-found"},
		{req{method: "POST", path: "/v1/decisions/nothex/erasure", key: keyAdmin, body: body}, http.StatusBadRequest, "invalid-id"},
	} {
		expectProblem(t, e.do(c.r), c.status, c.kind)
	}
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender}); r.status != http.StatusOK {
		t.Fatalf("after refused erasures: %d %s", r.status, r.body)
	}

	r := e.do(req{method: "POST", path: path, key: keyAdmin, body: body})
	if r.status != http.StatusOK {
		t.Fatalf("erasure: %d %s", r.status, r.body)
	}
	var er struct {
		DecisionID    string `json:"decision_id"`
		ErasureRecord string `json:"erasure_record"`
		AlreadyErased bool   `json:"already_erased"`
	}
	r.json(t, &er)
	if er.DecisionID != d.DecisionID || er.AlreadyErased || len(er.ErasureRecord) != 64 {
		t.Fatalf("erasure answer %+v", er)
	}
	for _, p := range []string{"", "/explanation", "/notice"} {
		for _, key := range []string{keyLender, keyRegulator} {
			r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + p, key: key})
			var prob api.Problem
			r.json(t, &prob)
			if r.status != http.StatusGone || prob.Type != "/problems/erased" || prob.ErasureRecord != er.ErasureRecord {
				t.Errorf("GET %s after erasure: %d %s", p, r.status, r.body)
			}
		}
	}
	// The leaf stays, and its proof verifies against a signed checkpoint.
	e.settle()
	pr := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/proof", key: keyRegulator})
	if pr.status != http.StatusOK {
		t.Fatalf("proof after erasure: %d %s", pr.status, pr.body)
	}
	var receipt struct {
		Record          string `json:"record"`
		CommittedRecord string `json:"committed_record"`
	}
	pr.json(t, &receipt)
	leaf, _ := base64.StdEncoding.DecodeString(receipt.Record)
	if transparency.RecordID(leaf).String() != d.DecisionID || receipt.CommittedRecord != "" {
		t.Fatalf("receipt after erasure: %s", pr.body)
	}
	id, _ := transparency.ParseID(d.DecisionID)
	p, err := e.ledger.InclusionProof(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	verifyProofAgainstCheckpoint(t, e, p)

	// The erasure record: in clear, naming the decision and the basis, and
	// nothing of the request's requester.
	eid, _ := transparency.ParseID(er.ErasureRecord)
	ent, err := e.ledger.GetEntry(context.Background(), eid)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := transparency.DecodeRecord(ent.Data)
	if err != nil || rec.Erasure == nil || rec.Erasure.DecisionID != d.DecisionID || rec.Erasure.LegalBasis != "GDPR Art. 17(1)(a)" || bytes.Contains(ent.Data, []byte("4711")) {
		t.Fatalf("erasure record %s: %v", ent.Data, err)
	}

	rid, _ := transparency.ParseID(shown.RecourseRecord)
	if re, err := e.ledger.GetEntry(context.Background(), rid); err != nil || !re.Erased || re.Record != nil {
		t.Fatalf("recourse record after the erasure: %+v %v", re, err)
	}

	// Again: the same erasure record; the other decision is untouched.
	r = e.do(req{method: "POST", path: path, key: keyAdmin, body: body})
	var again struct {
		ErasureRecord string `json:"erasure_record"`
		AlreadyErased bool   `json:"already_erased"`
	}
	r.json(t, &again)
	if r.status != http.StatusOK || !again.AlreadyErased || again.ErasureRecord != er.ErasureRecord {
		t.Fatalf("second erasure: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + keep.DecisionID, key: keyLender}); r.status != http.StatusOK {
		t.Fatalf("other decision after erasure: %d %s", r.status, r.body)
	}
}

// verifyProofAgainstCheckpoint checks p with the published key and the
// merkle library, not the ledger's own checks.
func verifyProofAgainstCheckpoint(t *testing.T, e *env, p *transparency.InclusionProof) {
	t.Helper()
	pub := e.do(req{method: "GET", path: "/v1/ledger/public-key"})
	verifier, err := note.NewVerifier(strings.TrimSpace(string(pub.body)))
	if err != nil {
		t.Fatal(err)
	}
	size, root := checkpointNote(t, string(p.Checkpoint.Note), verifier)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, size, p.ID[:], p.Hashes, root); err != nil {
		t.Fatalf("inclusion proof of %s: %v", p.ID, err)
	}
}
