package api_test

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/recoursestore"
	"github.com/glassbox-ledger/glassbox/transparency"
	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
)

type erasureOut struct {
	DecisionID string `json:"decision_id"`
	ID         string `json:"id"`
	LegalBasis string `json:"legal_basis"`
	ErasedAt   string `json:"erased_at"`
	Record     string `json:"record"`
	Ledger     struct {
		Status    string  `json:"status"`
		LeafIndex *uint64 `json:"leaf_index"`
	} `json:"ledger"`
}

type erasedProblem struct {
	api.Problem
	ErasureRecord *erasureOut `json:"erasure_record"`
}

type receiptOut struct {
	Record          string      `json:"record"`
	LeafIndex       uint64      `json:"leaf_index"`
	TreeSize        uint64      `json:"tree_size"`
	Hashes          []string    `json:"hashes"`
	CommittedRecord string      `json:"committed_record"`
	Erased          bool        `json:"erased"`
	ErasureRecord   *erasureOut `json:"erasure_record"`
	Salt            string      `json:"salt"`
}

func (e *env) erase(id string, body any) *response {
	e.t.Helper()
	return e.do(req{method: "POST", path: "/v1/decisions/" + id + "/erasure?wait=integrated", key: keyAdmin, body: body})
}

func (e *env) receipt(id, key string) receiptOut {
	e.t.Helper()
	r := e.do(req{method: "GET", path: "/v1/decisions/" + id + "/proof", key: key})
	if r.status != http.StatusOK {
		e.t.Fatalf("proof: %d %s", r.status, r.body)
	}
	var out receiptOut
	r.json(e.t, &out)
	return out
}

// verifyReceipt checks a receipt's inclusion proof with the library
// against the ledger's signed checkpoint at its tree size.
func (e *env) verifyReceipt(r receiptOut) {
	e.t.Helper()
	cp, err := e.ledger.CheckpointAt(context.Background(), r.TreeSize)
	if err != nil {
		e.t.Fatal(err)
	}
	leaf, err := base64.StdEncoding.DecodeString(r.Record)
	if err != nil {
		e.t.Fatal(err)
	}
	hashes := make([][]byte, len(r.Hashes))
	for i, h := range r.Hashes {
		if hashes[i], err = hex.DecodeString(h); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, r.LeafIndex, r.TreeSize, rfc6962.DefaultHasher.HashLeaf(leaf), hashes, cp.Root); err != nil {
		e.t.Fatalf("inclusion proof does not verify: %v", err)
	}
}

// backupOpens decrypts the record id from a copy of the record store's
// ciphertexts with the wrapped keys of the live key store and the KEK,
// following the formats in docs/record-store.md rather than the store's
// code. It tries every live key: the record's own and the others'.
func backupOpens(t *testing.T, backupDB, keysDB string, kek []byte, id [32]byte) ([]byte, bool) {
	t.Helper()
	open := func(path string) *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	var sealed []byte
	if err := open(backupDB).QueryRow(`SELECT sealed FROM recordstore_records WHERE id = ?`, id[:]).Scan(&sealed); err != nil {
		t.Fatalf("the backup holds no ciphertext of the record: %v", err)
	}
	rows, err := open(keysDB).Query(`SELECT id, wrapped FROM recordstore_keys`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	gcm := func(key []byte) cipher.AEAD {
		b, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		a, err := cipher.NewGCM(b)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	kekAEAD := gcm(kek)
	for rows.Next() {
		var kid, wrapped []byte
		if err := rows.Scan(&kid, &wrapped); err != nil {
			t.Fatal(err)
		}
		for _, under := range [][]byte{kid, id[:]} {
			dk, err := kekAEAD.Open(nil, wrapped[:12], wrapped[12:], append([]byte("glassbox recordstore data key v1\x00"), under...))
			if err != nil {
				continue
			}
			pt, err := gcm(dk).Open(nil, sealed[:12], sealed[12:], append([]byte("glassbox recordstore record v1\x00"), id[:]...))
			if err == nil {
				n := int(pt[0])<<8 | int(pt[1])
				return pt[2+n:], true
			}
		}
	}
	return nil, false
}

// copyFiles copies the named files of dir to a new directory.
func copyFiles(t *testing.T, dir string, names ...string) string {
	t.Helper()
	to := t.TempDir()
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

// TestErasure walks an erasure through the API: the record is gone (410,
// naming the erasure record) from every read, the leaf and the proofs
// still verify, the erasure record is in the log once, the recourse went
// with it, and a backup of the record store taken before the erasure
// cannot reveal the record.
func TestErasure(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rs, err := recoursestore.Open(ctx, filepath.Join(dir, "recourse.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	e := newEnv(t, envOptions{dir: dir, config: func(c *api.Config) { c.Recourse = rs }})
	d := e.createRisky("erase-me-7731")
	keep := e.createDecision("keep-me")
	ex, _ := e.explanation(d) // records recourse
	if ex.RecourseRecord == "" {
		t.Fatal("no recourse recorded: the recourse part cannot be checked")
	}
	before := e.settle()
	id, _ := transparency.ParseID(d.DecisionID)

	// What the record looked like, and a backup of the ciphertexts.
	r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender})
	if r.status != http.StatusOK {
		t.Fatalf("read before erasure: %d %s", r.status, r.body)
	}
	var view struct {
		CommittedRecord string `json:"committed_record"`
		Record          string `json:"record"`
	}
	r.json(t, &view)
	committed, _ := base64.StdEncoding.DecodeString(view.CommittedRecord)
	if !bytes.Contains(committed, []byte("erase-me-7731")) {
		t.Fatalf("committed record %s lacks the application id", committed)
	}
	// The store is in WAL mode: a backup is the file with its WAL.
	backup := copyFiles(t, filepath.Join(dir, "records"), recordstore.RecordsFile, recordstore.RecordsFile+"-wal")
	kek, err := recordstore.LoadKEK(filepath.Join(dir, "records.kek"))
	if err != nil {
		t.Fatal(err)
	}
	liveKeys := filepath.Join(dir, "records", recordstore.KeysFile)
	if got, ok := backupOpens(t, filepath.Join(backup, recordstore.RecordsFile), liveKeys, kek, id); !ok || !bytes.Equal(got, committed) {
		t.Fatalf("before the erasure the backup does not open (%v): the test could not fail", ok)
	}
	proofBefore := e.receipt(d.DecisionID, d.ApplicantToken)

	const requester = "Jane Q. Applicant, 12 Privacy Lane"
	r = e.erase(d.DecisionID, map[string]string{"legal_basis": "GDPR Art. 17(1)(a)", "requester": requester})
	if r.status != http.StatusCreated {
		t.Fatalf("erasure: %d %s", r.status, r.body)
	}
	var er erasureOut
	r.json(t, &er)
	erData, _ := base64.StdEncoding.DecodeString(er.Record)
	erRec, err := transparency.DecodeRecord(erData)
	if err != nil || erRec.Type != transparency.TypeErasure || erRec.Erasure.DecisionID != d.DecisionID || erRec.Erasure.LegalBasis != "GDPR Art. 17(1)(a)" {
		t.Fatalf("erasure record %s: %v", erData, err)
	}
	if transparency.RecordID(erData).String() != er.ID || er.DecisionID != d.DecisionID || er.Ledger.Status != "integrated" || er.Ledger.LeafIndex == nil {
		t.Fatalf("erasure answer %+v", er)
	}
	if bytes.Contains(erData, []byte("Jane")) {
		t.Fatalf("the erasure record names the requester: %s", erData)
	}

	// Every read of the decision answers 410 naming the erasure record.
	reads := []req{
		{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender},
		{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyRegulator},
		{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: d.ApplicantToken},
		{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/notice", key: d.ApplicantToken},
		{method: "GET", path: "/ui/decisions/" + d.DecisionID, headers: map[string]string{"Cookie": api.TokenCookie + "=" + d.ApplicantToken}},
	}
	for _, rq := range reads {
		r := e.do(rq)
		if r.status != http.StatusGone {
			t.Errorf("%s after erasure: %d %s", rq.path, r.status, r.body)
			continue
		}
		var p erasedProblem
		r.json(t, &p)
		if p.Type != "/problems/erased" || p.ErasureRecord == nil || p.ErasureRecord.ID != er.ID || p.ErasureRecord.LeafIndex() != *er.Ledger.LeafIndex || !strings.Contains(p.Detail, er.ID) {
			t.Errorf("%s: problem %s does not name erasure record %s", rq.path, r.body, er.ID)
		}
		if bytes.Contains(r.body, []byte("erase-me-7731")) {
			t.Errorf("%s: the 410 shows the erased record: %s", rq.path, r.body)
		}
	}
	// A token for another decision still gets 403, not 410; an admin,
	// who may erase but not read decisions, too.
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: keep.ApplicantToken}); r.status != http.StatusForbidden {
		t.Errorf("another applicant: %d", r.status)
	}
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyAdmin}); r.status != http.StatusForbidden {
		t.Errorf("admin: %d", r.status)
	}

	// The leaf and the proofs remain and verify.
	after := e.settle()
	p := e.receipt(d.DecisionID, d.ApplicantToken)
	if !p.Erased || p.Record != proofBefore.Record || p.CommittedRecord != "" || p.Salt != "" || p.ErasureRecord == nil || p.ErasureRecord.ID != er.ID {
		t.Fatalf("proof after erasure: %+v", p)
	}
	e.verifyReceipt(proofBefore)
	e.verifyReceipt(p)
	r = e.do(req{method: "GET", path: fmt.Sprintf("/v1/ledger/consistency?first=%d&second=%d", before, after), key: keyRegulator})
	var cons struct{ Hashes []string }
	r.json(t, &cons)
	first, _ := e.ledger.CheckpointAt(ctx, before)
	second, _ := e.ledger.CheckpointAt(ctx, after)
	hashes := make([][]byte, len(cons.Hashes))
	for i, h := range cons.Hashes {
		hashes[i], _ = hex.DecodeString(h)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, before, after, hashes, first.Root, second.Root); err != nil {
		t.Fatalf("consistency across the erasure: %v", err)
	}

	// The log holds the erasure record once, the decision leaf as erased.
	count := func() (erasures int, erased, recourseErased bool) {
		r := e.do(req{method: "GET", path: fmt.Sprintf("/v1/ledger/entries?start=0&count=%d", e.settle()), key: keyRegulator})
		var out struct {
			Entries []struct {
				ID, Type, Data string
				Erased         bool
			}
		}
		r.json(t, &out)
		for _, en := range out.Entries {
			if en.Type == "erasure" && en.ID == er.ID {
				erasures++
			}
			if en.ID == d.DecisionID {
				erased = en.Erased
			}
			if en.ID == ex.RecourseRecord {
				recourseErased = en.Erased
			}
		}
		return erasures, erased, recourseErased
	}
	if n, erased, rerased := count(); n != 1 || !erased || !rerased {
		t.Fatalf("log: %d erasure records, decision erased %v, its recourse record erased %v", n, erased, rerased)
	}

	// Idempotent: 200 with the same erasure record, nothing appended.
	r = e.erase(d.DecisionID, map[string]string{"legal_basis": "again", "requester": "someone"})
	var again erasureOut
	r.json(t, &again)
	if r.status != http.StatusOK || again.ID != er.ID || again.LegalBasis != er.LegalBasis {
		t.Fatalf("repeated erasure: %d %s", r.status, r.body)
	}
	if n, _, _ := count(); n != 1 {
		t.Fatalf("%d erasure records after the repeat", n)
	}

	// The recourse went with the decision.
	if _, ok, err := rs.Get(ctx, d.DecisionID); ok || err != nil {
		t.Fatalf("recourse of the erased decision still stored: %v %v", ok, err)
	}

	// The backup taken before cannot reveal the record now, with the
	// KEK and every key left in the live key store.
	if _, ok := backupOpens(t, filepath.Join(backup, recordstore.RecordsFile), liveKeys, kek, id); ok {
		t.Fatal("the pre-erasure backup still opens the record")
	}
	// And the requester is nowhere in clear in the data directory.
	filepath.WalkDir(dir, func(path string, de os.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		if data, _ := os.ReadFile(path); bytes.Contains(data, []byte("Privacy Lane")) {
			t.Errorf("%s holds the requester in clear", path)
		}
		return nil
	})

	// Recourse stored after the erasure (by a computation that ran
	// concurrently, or on another replica) goes at the next read: the
	// suggestions are deleted and the record's key destroyed.
	late, err := transparency.NewRecord(time.Now(), &transparency.Recourse{DecisionID: d.DecisionID, Digest: strings.Repeat("0f", 32)})
	if err != nil {
		t.Fatal(err)
	}
	lateSealed, err := e.ledger.Seal(late)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ledger.PutRecord(ctx, lateSealed); err != nil {
		t.Fatal(err)
	}
	if _, _, err := rs.Put(ctx, recoursestore.Entry{DecisionID: d.DecisionID, Counterfactuals: []byte("[]"), Record: lateSealed.Bytes(), RecordID: lateSealed.ID().String()}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: d.ApplicantToken}); r.status != http.StatusGone {
		t.Fatalf("explanation after late recourse: %d %s", r.status, r.body)
	}
	if _, ok, err := rs.Get(ctx, d.DecisionID); ok || err != nil {
		t.Fatalf("late recourse still stored: %v %v", ok, err)
	}
	reader, err := recordstore.OpenSQLite(ctx, filepath.Join(dir, "records"), kek)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	if _, _, err := reader.Get(ctx, lateSealed.ID()); !errors.Is(err, recordstore.ErrErased) {
		t.Fatalf("the late recourse record: %v, want erased", err)
	}

	// The other decision is untouched.
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + keep.DecisionID, key: keyLender}); r.status != http.StatusOK {
		t.Fatalf("kept decision: %d %s", r.status, r.body)
	}
}

// LeafIndex is the named record's leaf index (0 if not integrated).
func (p *erasureOut) LeafIndex() uint64 {
	if p.Ledger.LeafIndex == nil {
		return 0
	}
	return *p.Ledger.LeafIndex
}

// TestErasureRefusals: every bad erasure request gets a 4xx problem and
// changes nothing.
func TestErasureRefusals(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createDecision("refuse-1")
	size := e.settle()
	var governance string
	r := e.do(req{method: "GET", path: "/v1/ledger/entries?start=0&count=1", key: keyRegulator})
	var out struct{ Entries []struct{ ID, Type string } }
	r.json(t, &out)
	if governance = out.Entries[0].ID; out.Entries[0].Type == "decision" {
		t.Fatal("the first leaf is no governance record")
	}
	good := map[string]any{"legal_basis": "GDPR Art. 17", "requester": "r"}
	path := "/v1/decisions/" + d.DecisionID + "/erasure"
	cases := []struct {
		name string
		req  req
		want int
	}{
		{"anonymous", req{method: "POST", path: path, body: good}, http.StatusUnauthorized},
		{"lender", req{method: "POST", path: path, key: keyLender, body: good}, http.StatusForbidden},
		{"regulator", req{method: "POST", path: path, key: keyRegulator, body: good}, http.StatusForbidden},
		{"applicant", req{method: "POST", path: path, key: d.ApplicantToken, body: good}, http.StatusForbidden},
		{"bad id", req{method: "POST", path: "/v1/decisions/xyz/erasure", key: keyAdmin, body: good}, http.StatusBadRequest},
		{"unknown id", req{method: "POST", path: "/v1/decisions/" + strings.Repeat("ab", 32) + "/erasure", key: keyAdmin, body: good}, http.StatusNotFound},
		{"governance record", req{method: "POST", path: "/v1/decisions/" + governance + "/erasure", key: keyAdmin, body: good}, http.StatusConflict},
		{"missing basis", req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"requester": "r"}}, http.StatusUnprocessableEntity},
		{"missing requester", req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": "b"}}, http.StatusUnprocessableEntity},
		{"empty basis", req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": " ", "requester": "r"}}, http.StatusUnprocessableEntity},
		{"basis too long", req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": strings.Repeat("x", 201), "requester": "r"}}, http.StatusUnprocessableEntity},
		{"requester not a string", req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": "b", "requester": 7}}, http.StatusUnprocessableEntity},
		{"unknown member", req{method: "POST", path: path, key: keyAdmin, body: map[string]any{"legal_basis": "b", "requester": "r", "reason": "x"}}, http.StatusUnprocessableEntity},
		{"not an object", req{method: "POST", path: path, key: keyAdmin, body: `["b"]`}, http.StatusUnprocessableEntity},
		{"not JSON", req{method: "POST", path: path, key: keyAdmin, body: `{"legal_basis":`}, http.StatusBadRequest},
		{"wrong media type", req{method: "POST", path: path, key: keyAdmin, body: `x`, contentType: "text/plain"}, http.StatusUnsupportedMediaType},
		{"too large", req{method: "POST", path: path, key: keyAdmin, body: `{"legal_basis":"` + strings.Repeat("x", 8<<10) + `"}`}, http.StatusRequestEntityTooLarge},
		{"bad wait", req{method: "POST", path: path + "?wait=soon", key: keyAdmin, body: good}, http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := *e
			sub.t = t
			r := sub.do(tc.req)
			if r.status != tc.want {
				t.Errorf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
		})
	}
	if now := e.settle(); now != size {
		t.Fatalf("refusals changed the log: %d → %d", size, now)
	}
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender}); r.status != http.StatusOK {
		t.Fatalf("the decision after refusals: %d %s", r.status, r.body)
	}
}

// TestErasureOfFormat1: a decision whose record is in clear in the leaf
// cannot be shredded: 409, and the log is unchanged.
func TestErasureOfFormat1(t *testing.T) {
	e := newEnv(t, envOptions{ledger: func(t testing.TB, dir string) *transparency.Ledger {
		l, err := transparency.OpenEmbedded(context.Background(), transparency.EmbeddedConfig{DataDir: dir, IntegrationInterval: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		return l
	}})
	d := e.createDecision("clear-1")
	size := e.settle()
	r := e.erase(d.DecisionID, map[string]string{"legal_basis": "GDPR Art. 17", "requester": "r"})
	if r.status != http.StatusConflict || !bytes.Contains(r.body, []byte("format 1")) && !bytes.Contains(r.body, []byte("in clear")) {
		t.Fatalf("erasure of a format 1 decision: %d %s", r.status, r.body)
	}
	if now := e.settle(); now != size {
		t.Fatalf("the refusal changed the log: %d → %d", size, now)
	}
	if r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender}); r.status != http.StatusOK {
		t.Fatalf("the decision: %d", r.status)
	}
}
