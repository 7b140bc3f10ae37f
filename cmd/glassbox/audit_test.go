package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/internal/testset"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

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
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	rows := testset.Rows(t, m)
	var apps []map[string]any
	for i, x := range rows {
		apps = append(apps, map[string]any{"application_id": fmt.Sprintf("row-%d", i), "features": m.FeatureValues(x)})
	}
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
	if err := json.Unmarshal(body, &out); err != nil || len(out.Decisions) != len(rows) {
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
		entries, err := fetchEntries(context.Background(), c, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		alter := func(change func(d *transparency.Decision)) []byte {
			for _, e := range entries {
				rec, err := transparency.DecodeRecord(e)
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
		// A recourse record whose digest does not match what the decision's
		// recourse recomputes to is a mismatch.
		logged, err := fetchEntries(context.Background(), c, 0, checkpointOf(t, url, tl.key).Size)
		if err != nil {
			t.Fatal(err)
		}
		byID := map[string][]byte{}
		var recourse []byte
		for _, e := range logged {
			rec, err := transparency.DecodeRecord(e)
			if err != nil {
				t.Fatal(err)
			}
			byID[transparency.RecordID(e).String()] = e
			if rec.Type == transparency.TypeRecourse && recourse == nil {
				recourse = e
			}
		}
		rec, err := transparency.DecodeRecord(recourse)
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

		// Entries that do not hash to the signed root are refused whole.
		cp := checkpointOf(t, url, tl.key)
		all, err := fetchEntries(context.Background(), c, 0, cp.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkRoot(all, cp); err != nil {
			t.Fatalf("true entries: %v", err)
		}
		all[3] = alter(func(d *transparency.Decision) { d.Score++ })
		if err := checkRoot(all, cp); err == nil {
			t.Error("altered entries hash to the signed root")
		}
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
			{"record altered", func(r *Receipt) {
				b := bytes.Replace(rec, []byte(`"decision":"`), []byte(`"decision":"x`), 1)
				r.Record = base64.StdEncoding.EncodeToString(b)
			}, tl.key, false},
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
	})
}
