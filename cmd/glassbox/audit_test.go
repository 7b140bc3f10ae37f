package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/internal/testset"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// testRowApplications is every row of the credit test set as an
// application for the embedded default model.
func testRowApplications(t *testing.T) []map[string]any {
	t.Helper()
	m := defaultModel(t)
	rows := testset.Rows(t, m)
	apps := make([]map[string]any, len(rows))
	for i, x := range rows {
		apps[i] = map[string]any{"application_id": fmt.Sprintf("row-%d", i), "features": m.FeatureValues(x)}
	}
	return apps
}

// defaultModel loads the embedded default model.
func defaultModel(t *testing.T) *scoring.Model {
	t.Helper()
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// testLedger is a glassbox serve holding a decision for every row of the
// credit test set.
type testLedger struct {
	p   *serveProc
	key string
	ids []string
}

func newTestLedger(t *testing.T) *testLedger {
	t.Helper()
	p := startServe(t, t.TempDir())
	apps := testRowApplications(t)
	code, body, err := call(context.Background(), http.MethodPost, p.url+"/v1/decisions/batch?wait=integrated", lenderKey,
		map[string]any{"applications": apps})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("batch: %d %v %.300s", code, err, body)
	}
	var out struct {
		Decisions []struct {
			DecisionID string `json:"decision_id"`
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Decisions) != len(apps) {
		t.Fatalf("batch answer: %v, %d decisions", err, len(out.Decisions))
	}
	tl := &testLedger{p: p, key: publicKey(t, p.url)}
	for _, d := range out.Decisions {
		tl.ids = append(tl.ids, d.DecisionID)
	}
	return tl
}

func runCmd(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestAuditCommands(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	tl := newTestLedger(t)
	url := tl.p.url

	// Explanations of adverse decisions put recourse records into the
	// ledger (and the store in the data directory); the audit commands
	// must take them in their stride.
	recorded, before := 0, checkpointOf(t, url, tl.key).Size
	for _, id := range tl.ids[:30] {
		code, body, err := call(context.Background(), http.MethodGet, url+"/v1/decisions/"+id+"/explanation", regulatorKey, nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("explanation: %d %v %.300s", code, err, body)
		}
		var ex struct {
			RecourseRecord string `json:"recourse_record"`
		}
		if err := json.Unmarshal(body, &ex); err != nil {
			t.Fatal(err)
		}
		if ex.RecourseRecord != "" {
			recorded++
		}
	}
	if recorded == 0 {
		t.Fatal("no explanation recorded recourse")
	}
	// Recourse records are queued when shown; wait until they are signed.
	for start := time.Now(); checkpointOf(t, url, tl.key).Size < before+uint64(recorded); {
		if time.Since(start) > 30*time.Second {
			t.Fatal("recourse records not integrated")
		}
		time.Sleep(50 * time.Millisecond)
	}

	t.Run("no decision leaf holds applicant data", func(t *testing.T) {
		// Every leaf of the log, after the whole credit test set was
		// scored: each decision leaf is an envelope of exactly the
		// non-personal members, and none of its values is, or contains,
		// an application id, a feature value, an attribution or a reason
		// text of any decision (taken from the records beside the leaves,
		// whose commitments are checked here with crypto/sha256).
		c := &apiClient{base: url, key: regulatorKey, http: httpClient}
		size := checkpointOf(t, url, tl.key).Size
		leaves, committed, err := fetchLeaves(context.Background(), c, 0, size)
		if err != nil {
			t.Fatal(err)
		}
		type leafShape struct {
			Authenticator, Commitment string
			Format                    int
			Model                     struct{ ID, SHA256 string }
			Policy                    struct{ Revision string }
			Timestamp, Type           string
		}
		secrets := map[string]bool{}
		numbers := map[float64]bool{}
		var shapes []leafShape
		decisions, recourse := 0, 0
		for _, leaf := range leaves {
			if transparency.LeafFormat(leaf) != transparency.EnvelopeFormat {
				if bytes.Contains(leaf, []byte(`"type":"decision"`)) {
					t.Fatalf("a decision leaf in clear: %s", leaf)
				}
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(leaf))
			dec.DisallowUnknownFields()
			var sh leafShape
			if err := dec.Decode(&sh); err != nil {
				t.Fatalf("leaf %s has members beyond the envelope's: %v", leaf, err)
			}
			shapes = append(shapes, sh)
			cr := committed[transparency.RecordID(leaf)]
			sum := sha256.Sum256(append(append([]byte{}, cr.salt...), cr.record...))
			if hex.EncodeToString(sum[:]) != sh.Commitment {
				t.Fatalf("leaf %s: the record beside it does not open its commitment", leaf)
			}
			rec, err := transparency.DecodeRecord(cr.record)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Recourse != nil {
				// Which decision got recourse (an adverse one) and what it
				// was are the applicant's too.
				secrets[rec.Recourse.DecisionID], secrets[rec.Recourse.Digest] = true, true
				recourse++
			}
			if rec.Decision == nil {
				continue
			}
			decisions++
			d := rec.Decision
			secrets[d.ApplicationID] = true
			for _, v := range d.Features {
				if x, ok := v.Number(); ok {
					numbers[x] = true
				} else if l, ok := v.Level(); ok {
					secrets[l] = true
				}
			}
			for _, a := range d.Attributions {
				numbers[a] = true
			}
			for _, r := range d.Reasons {
				secrets[r.Text] = true
			}
		}
		if decisions != len(tl.ids) || recourse != recorded {
			t.Fatalf("%d decision and %d recourse records beside the leaves, %d decisions made and %d recourse recorded", decisions, recourse, len(tl.ids), recorded)
		}
		for x := range numbers {
			secrets[strconv.FormatFloat(x, 'g', -1, 64)] = true
		}
		for _, sh := range shapes {
			if _, err := time.Parse("2006-01-02T15:04:05Z", sh.Timestamp); err != nil || sh.Format != 2 || (sh.Type != "decision" && sh.Type != "recourse") {
				t.Fatalf("unexpected envelope %+v", sh)
			}
			// Values a reader could match against applicant data; the
			// commitment and authenticator are uniformly random bytes.
			for _, v := range []string{sh.Model.ID, sh.Model.SHA256, sh.Policy.Revision, sh.Timestamp, sh.Type} {
				for sec := range secrets {
					if len(sec) > 0 && (v == sec || len(sec) >= 4 && strings.Contains(v, sec) && !isHex(v)) {
						t.Errorf("leaf value %q contains applicant data %q", v, sec)
					}
				}
			}
		}
		// Long secrets (application ids, reason texts) cannot appear by
		// chance in the random members either.
		for _, leaf := range leaves {
			for sec := range secrets {
				if len(sec) >= 5 && !isNumber(sec) && bytes.Contains(leaf, []byte(sec)) && transparency.LeafFormat(leaf) == transparency.EnvelopeFormat {
					t.Errorf("leaf %s contains %q", leaf, sec)
				}
			}
		}
	})

	t.Run("replay reports zero mismatches", func(t *testing.T) {
		code, out, errOut := runCmd("audit", "replay", "--server", url, "--key", tl.key, "--api-key", regulatorKey)
		if code != 0 || !strings.Contains(out, fmt.Sprintf("replayed %d decisions", len(tl.ids))) || !strings.Contains(out, ": 0 mismatches, 0 not replayable") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, fmt.Sprintf("recomputed %d recourse records", recorded)) {
			t.Errorf("recourse records not all recomputed (%d recorded):\n%s", recorded, out)
		}
	})

	t.Run("replay catches altered records", func(t *testing.T) {
		r, err := newReplayer(context.Background(), "", "")
		if err != nil {
			t.Fatal(err)
		}
		c := &apiClient{base: url, key: regulatorKey, http: httpClient}
		entries, committed, err := fetchLeaves(context.Background(), c, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if r.verifier, err = transparency.NewLeafVerifier(tl.key); err != nil {
			t.Fatal(err)
		}
		// The records beside the format 2 leaves; alter returns one of
		// them, changed, as a format 1 leaf, which replay judges alone.
		alter := func(change func(d *transparency.Decision)) []byte {
			for _, e := range entries {
				rec, err := transparency.DecodeRecord(committed[transparency.RecordID(e)].record)
				if err != nil || rec.Type != transparency.TypeDecision {
					continue
				}
				change(rec.Decision)
				b, err := rec.Encode()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			t.Fatal("no decision among the first entries")
			return nil
		}
		cases := []struct {
			name             string
			change           func(d *transparency.Decision)
			mismatch, refuse int
		}{
			{"probability nudged by one ulp", func(d *transparency.Decision) { d.ProbabilityOfDefault = math.Nextafter(d.ProbabilityOfDefault, 1) }, 1, 0},
			{"decision flipped", func(d *transparency.Decision) {
				d.Decision = map[string]string{"approve": "decline", "decline": "approve", "refer": "approve"}[d.Decision]
			}, 1, 0},
			{"attribution changed", func(d *transparency.Decision) { d.Attributions["Income"] += 0.001 }, 1, 0},
			{"income changed", func(d *transparency.Decision) { d.Features["Income"] = transparency.NumberValue(999) }, 1, 0},
			{"model hash differs", func(d *transparency.Decision) { d.Model.SHA256 = strings.Repeat("0", 64) }, 0, 1},
			{"policy revision differs", func(d *transparency.Decision) { d.Policy.Revision = strings.Repeat("1", 64) }, 0, 1},
			{"unchanged", func(d *transparency.Decision) {}, 0, 0},
		}
		for _, tc := range cases {
			rep := r.replay(context.Background(), [][]byte{alter(tc.change)})
			if rep.mismatches != tc.mismatch || rep.refused != tc.refuse {
				t.Errorf("%s: %d mismatches, %d refused, want %d and %d: %v", tc.name, rep.mismatches, rep.refused, tc.mismatch, tc.refuse, rep.problems)
			}
		}
		// A format 2 leaf opens only with its own record: one whose
		// record was changed beside it is not replayed, and one signed by
		// another key is foreign.
		r.committed = committed
		var leaf []byte
		for _, e := range entries {
			if transparency.LeafFormat(e) == transparency.EnvelopeFormat {
				leaf = e
				break
			}
		}
		if rep := r.replay(context.Background(), [][]byte{leaf}); rep.replayed != 1 || rep.refused != 0 || rep.foreign != 0 {
			t.Errorf("genuine format 2 leaf: %+v", rep)
		}
		c2 := committed[transparency.RecordID(leaf)]
		r.committed = map[transparency.ID]committedRecord{transparency.RecordID(leaf): {record: alter(func(d *transparency.Decision) { d.Score++ }), salt: c2.salt}}
		if rep := r.replay(context.Background(), [][]byte{leaf}); rep.replayed != 0 || rep.refused != 1 {
			t.Errorf("format 2 leaf with a changed record: %+v", rep)
		}
		otherSigner, _ := testNoteSigner(t, strings.Split(tl.key, "+")[0])
		full, err := transparency.DecodeRecord(c2.record)
		if err != nil {
			t.Fatal(err)
		}
		foreign, err := transparency.SealCommitted(full, otherSigner)
		if err != nil {
			t.Fatal(err)
		}
		fs, fr, _ := foreign.Committed()
		r.committed = map[transparency.ID]committedRecord{foreign.ID(): {record: fr, salt: fs}}
		if rep := r.replay(context.Background(), [][]byte{foreign.Bytes()}); rep.foreign != 1 || rep.replayed != 0 {
			t.Errorf("leaf signed with another key: %+v", rep)
		}

		// A recourse record whose digest does not match what the decision's
		// recourse recomputes to is a mismatch.
		logged, loggedCommitted, err := fetchLeaves(context.Background(), c, 0, checkpointOf(t, url, tl.key).Size)
		if err != nil {
			t.Fatal(err)
		}
		r.committed = loggedCommitted
		byID := map[string][]byte{}
		var recourse []byte
		for _, e := range logged {
			rec, err := r.open(e)
			if err != nil {
				t.Fatal(err)
			}
			byID[transparency.RecordID(e).String()] = e
			if rec.Type == transparency.TypeRecourse && recourse == nil {
				recourse = e
			}
		}
		rec, err := r.open(recourse)
		if err != nil {
			t.Fatal(err)
		}
		decision := byID[rec.Recourse.DecisionID]
		if rep := r.replay(context.Background(), [][]byte{decision, recourse}); rep.recourse != 1 || rep.mismatches != 0 || rep.refused != 0 {
			t.Errorf("true recourse record: %+v", rep)
		}
		rec.Recourse.Digest = strings.Repeat("0", 64)
		forged, err := rec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if rep := r.replay(context.Background(), [][]byte{decision, forged}); rep.recourse != 1 || rep.mismatches != 1 {
			t.Errorf("forged recourse digest: %+v", rep)
		}

		// Entries that are not the leaves the signed tree holds are
		// refused, whoever altered them on the way.
		checkTamperedEntriesRefused(t, url, tl.key, alter(func(d *transparency.Decision) { d.Score++ }))
	})

	t.Run("verify-receipt", func(t *testing.T) {
		id := tl.ids[17]
		code, body, err := call(context.Background(), http.MethodGet, url+"/v1/decisions/"+id+"/proof", regulatorKey, nil)
		if err != nil || code != 200 {
			t.Fatalf("proof: %d %v", code, err)
		}
		var good Receipt
		if err := json.Unmarshal(body, &good); err != nil {
			t.Fatal(err)
		}
		otherKey := func() string {
			_, vk, err := note.GenerateKey(rand.Reader, strings.Split(tl.key, "+")[0])
			if err != nil {
				t.Fatal(err)
			}
			return vk
		}()
		rec, _ := base64.StdEncoding.DecodeString(good.Record)
		cases := []struct {
			name   string
			change func(r *Receipt)
			key    string
			ok     bool
		}{
			{"genuine", func(r *Receipt) {}, tl.key, true},
			{"another key", func(r *Receipt) {}, otherKey, false},
			{"proof hash altered", func(r *Receipt) { r.Hashes[0] = strings.Repeat("ab", 32) }, tl.key, false},
			{"leaf index altered", func(r *Receipt) { r.LeafIndex++ }, tl.key, false},
			{"leaf altered", func(r *Receipt) {
				b := bytes.Replace(rec, []byte(`"commitment":"`), []byte(`"commitment":"0`), 1)
				r.Record = base64.StdEncoding.EncodeToString(b)
			}, tl.key, false},
			{"committed record altered", func(r *Receipt) {
				full, _ := base64.StdEncoding.DecodeString(r.CommittedRecord)
				b := bytes.Replace(full, []byte(`"decision":"`), []byte(`"decision":"x`), 1)
				r.CommittedRecord = base64.StdEncoding.EncodeToString(b)
			}, tl.key, false},
			{"salt altered", func(r *Receipt) { r.Salt = strings.Repeat("00", 32) }, tl.key, false},
			{"without the record: the leaf alone", func(r *Receipt) { r.CommittedRecord, r.Salt = "", "" }, tl.key, true},
			{"checkpoint root altered", func(r *Receipt) {
				lines := strings.SplitN(r.Checkpoint, "\n", 4)
				lines[2] = base64.StdEncoding.EncodeToString(make([]byte, 32))
				r.Checkpoint = strings.Join(lines, "\n")
			}, tl.key, false},
			{"id of another decision", func(r *Receipt) { r.DecisionID = tl.ids[18] }, tl.key, false},
		}
		for _, tc := range cases {
			r := good
			r.Hashes = append([]string(nil), good.Hashes...)
			tc.change(&r)
			data, _ := json.Marshal(r)
			path := filepath.Join(t.TempDir(), "receipt.json")
			os.WriteFile(path, data, 0o600)
			code, out, errOut := runCmd("audit", "verify-receipt", "--key", tc.key, path)
			if (code == 0) != tc.ok {
				t.Errorf("%s: exit %d\n%s%s", tc.name, code, out, errOut)
			}
		}
	})

	t.Run("verify-receipt format 1", func(t *testing.T) {
		// A receipt from a format 1 log: the leaf is the record, alone in
		// a tree of size 1 whose root is its leaf hash.
		signer, vkey := testNoteSigner(t, "glassbox.test/format1")
		d := &transparency.Decision{Lender: "acme", ApplicationID: "f1", Decision: "approve"}
		rec, err := transparency.NewRecord(time.Now(), d)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := rec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		root := rfc6962.DefaultHasher.HashLeaf(leaf)
		cp, err := note.Sign(&note.Note{Text: fmt.Sprintf("glassbox.test/format1\n1\n%s\n", base64.StdEncoding.EncodeToString(root))}, signer)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			record []byte
			ok     bool
		}{{"genuine", leaf, true}, {"altered", bytes.Replace(leaf, []byte(`"approve"`), []byte(`"decline"`), 1), false}} {
			data, _ := json.Marshal(Receipt{Record: base64.StdEncoding.EncodeToString(tc.record), LeafIndex: 0, TreeSize: 1, Hashes: []string{}, Checkpoint: string(cp)})
			path := filepath.Join(t.TempDir(), "receipt.json")
			os.WriteFile(path, data, 0o600)
			if code, out, errOut := runCmd("audit", "verify-receipt", "--key", vkey, path); (code == 0) != tc.ok {
				t.Errorf("%s: exit %d\n%s%s", tc.name, code, out, errOut)
			}
		}
	})

	t.Run("monitor", func(t *testing.T) {
		state := filepath.Join(t.TempDir(), "state.json")
		args := []string{"audit", "monitor", "--server", url, "--key", tl.key, "--state", state, "--api-key", regulatorKey}
		if code, out, errOut := runCmd(args...); code != 0 {
			t.Fatalf("first check: %d %s %s", code, out, errOut)
		}
		// The log grows; the monitor checks the new checkpoint extends the old.
		if code, _, _ := call(context.Background(), http.MethodPost, url+"/v1/decisions?wait=integrated", lenderKey, sampleApplication(1)); code != 201 {
			t.Fatalf("post: %d", code)
		}
		code, out, errOut := runCmd(args...)
		if code != 0 || !strings.Contains(out, "consistent with size") {
			t.Fatalf("after growth: %d %s %s", code, out, errOut)
		}

		// A server that shows a forked or shrunk history, signed with its
		// own key, is caught against the saved state.
		skey, vkey, err := note.GenerateKey(rand.Reader, "fake.example/log")
		if err != nil {
			t.Fatal(err)
		}
		signer, _ := note.NewSigner(skey)
		sign := func(size uint64, root []byte) string {
			msg, err := note.Sign(&note.Note{Text: fmt.Sprintf("fake.example/log\n%d\n%s\n", size, base64.StdEncoding.EncodeToString(root))}, signer)
			if err != nil {
				t.Fatal(err)
			}
			return string(msg)
		}
		var current string
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(current))
		}))
		defer fake.Close()
		fakeState := filepath.Join(t.TempDir(), "state.json")
		fargs := []string{"audit", "monitor", "--server", fake.URL, "--key", vkey, "--state", fakeState}
		root := bytes.Repeat([]byte{1}, 32)
		current = sign(10, root)
		if code, out, errOut := runCmd(fargs...); code != 0 {
			t.Fatalf("fake first: %d %s %s", code, out, errOut)
		}
		current = sign(10, bytes.Repeat([]byte{2}, 32))
		if code, _, errOut := runCmd(fargs...); code == 0 || !strings.Contains(errOut, "forked") {
			t.Errorf("fork not caught: %d %s", code, errOut)
		}
		current = sign(9, root)
		if code, _, errOut := runCmd(fargs...); code == 0 || !strings.Contains(errOut, "shrank") {
			t.Errorf("shrunk tree not caught: %d %s", code, errOut)
		}
		current = sign(10, root)
		if code, out, errOut := runCmd(fargs...); code != 0 {
			t.Errorf("same checkpoint again: %d %s %s", code, out, errOut)
		}
		// A grown checkpoint whose tiles cannot prove it extends the old
		// one (this server has no tiles at all) is not accepted.
		current = sign(12, bytes.Repeat([]byte{3}, 32))
		if code, _, errOut := runCmd(fargs...); code == 0 || !strings.Contains(errOut, "INCONSISTENT") {
			t.Errorf("unprovable growth not caught: %d %s", code, errOut)
		}
	})
}

// testNoteSigner returns a fresh note signer named name and its verifier
// key.
func testNoteSigner(t *testing.T, name string) (note.Signer, string) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, vkey
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
