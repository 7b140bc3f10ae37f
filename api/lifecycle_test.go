package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/transparency"
)

func newClockEnv(t *testing.T) (*env, *testClock) {
	clock := &testClock{now: time.Now().UTC().Add(-400 * 24 * time.Hour)}
	e := newEnv(t, envOptions{config: func(c *api.Config) { c.Now = clock.Now }})
	return e, clock
}

type (
	lifecycleOut struct {
		RecordID   string          `json:"record_id"`
		DecisionID string          `json:"decision_id"`
		Type       string          `json:"type"`
		Body       json.RawMessage `json:"body"`
		Notice     string          `json:"notice"`
		Record     string          `json:"record"`
	}
	historyOut struct {
		DecisionID string `json:"decision_id"`
		TreeSize   uint64 `json:"tree_size"`
		Checkpoint string `json:"checkpoint"`
		State      struct {
			Stage       string  `json:"stage"`
			FinalAction *string `json:"final_action"`
			Action      *string `json:"action"`
			Outcome     *string `json:"outcome"`
			NoticesSent int     `json:"notices_sent"`
		} `json:"state"`
		Records []struct {
			RecordID        string          `json:"record_id"`
			Type            string          `json:"type"`
			Status          string          `json:"status"`
			Body            json.RawMessage `json:"body"`
			Record          string          `json:"record"`
			LeafFormat      int             `json:"leaf_format"`
			CommittedRecord string          `json:"committed_record"`
			InclusionProof  *proofOut       `json:"inclusion_proof"`
		} `json:"records"`
	}
	reviewsOut struct {
		DeadlineDays int `json:"deadline_days"`
		Reviews      []struct {
			DecisionID string  `json:"decision_id"`
			Lender     string  `json:"lender"`
			Kind       string  `json:"kind"`
			Since      string  `json:"since"`
			AgeDays    float64 `json:"age_days"`
			Overdue    bool    `json:"overdue"`
		} `json:"reviews"`
	}
)

func (e *env) post(key, path string, body any, want int) *response {
	e.t.Helper()
	r := e.do(req{method: "POST", path: path, key: key, body: body})
	if r.status != want {
		e.t.Fatalf("POST %s: %d, want %d: %s", path, r.status, want, r.body)
	}
	return r
}

func (e *env) get(key, path string, want int) *response {
	e.t.Helper()
	r := e.do(req{method: "GET", path: path, key: key})
	if r.status != want {
		e.t.Fatalf("GET %s: %d, want %d: %s", path, r.status, want, r.body)
	}
	return r
}

// history reads a decision's history once every record in it is
// integrated, and verifies it independently: the checkpoint against the
// published key, each record id as the RFC 6962 leaf hash of its bytes,
// each inclusion proof with the merkle library against the checkpoint's
// root.
func (e *env) history(key, id string) historyOut {
	e.t.Helper()
	e.settle()
	var h historyOut
	e.get(key, "/v1/decisions/"+id+"/history", http.StatusOK).json(e.t, &h)
	pub := e.get("", "/v1/ledger/public-key", http.StatusOK)
	verifier, err := note.NewVerifier(strings.TrimSpace(string(pub.body)))
	if err != nil {
		e.t.Fatal(err)
	}
	size, root := checkpointNote(e.t.(*testing.T), h.Checkpoint, verifier)
	if size != h.TreeSize {
		e.t.Fatalf("history tree_size %d, checkpoint %d", h.TreeSize, size)
	}
	if h.DecisionID != id || len(h.Records) == 0 || h.Records[0].RecordID != id || h.Records[0].Type != "decision" {
		e.t.Fatalf("history does not start with decision %s: %+v", id, h)
	}
	for i, r := range h.Records {
		leaf, err := base64.StdEncoding.DecodeString(r.Record)
		if err != nil {
			e.t.Fatal(err)
		}
		if got := hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(leaf)); got != r.RecordID {
			e.t.Errorf("record %d: id %s, leaf hash %s", i, r.RecordID, got)
		}
		if r.Status != "integrated" || r.InclusionProof == nil {
			e.t.Fatalf("record %d (%s) not integrated after settling: %s", i, r.Type, r.Status)
		}
		p := r.InclusionProof
		if p.TreeSize != size {
			e.t.Errorf("record %d proves against size %d, checkpoint is %d", i, p.TreeSize, size)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, rfc6962.DefaultHasher.HashLeaf(leaf), mustHex(e.t.(*testing.T), p.Hashes), root); err != nil {
			e.t.Errorf("record %d (%s): inclusion proof does not verify: %v", i, r.Type, err)
		}
		// The record itself: the leaf, or what a format 2 leaf commits to.
		data := leaf
		if r.LeafFormat == transparency.EnvelopeFormat {
			if data, err = base64.StdEncoding.DecodeString(r.CommittedRecord); err != nil {
				e.t.Fatal(err)
			}
		}
		rec, err := transparency.DecodeRecord(data)
		if err != nil || string(rec.Type) != r.Type {
			e.t.Fatalf("record %d (%s) does not decode: %v", i, r.Type, err)
		}
		if i > 0 && rec.LinkedDecision() != id {
			e.t.Errorf("record %d: linked to %q, want %s", i, rec.LinkedDecision(), id)
		}
	}
	return h
}

func (h historyOut) types() []string {
	var out []string
	for _, r := range h.Records {
		out = append(out, r.Type)
	}
	return out
}

// bodyOf decodes a lifecycle answer's body.
func bodyOf(t *testing.T, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// scoredRows scores real rows of testdata/credit_test.csv as lender acme
// and returns the decisions by outcome.
func (e *env) scoredRows(n int) map[string][]decisionOut {
	e.t.Helper()
	apps := testApplications(e.t.(*testing.T), e.model)[:n]
	list := make([]any, len(apps))
	for i, a := range apps {
		list[i] = a
	}
	var b struct {
		Decisions []decisionOut `json:"decisions"`
	}
	e.post(keyLender, "/v1/decisions/batch", map[string]any{"applications": list}, http.StatusCreated).json(e.t, &b)
	out := map[string][]decisionOut{}
	for _, d := range b.Decisions {
		out[d.Decision] = append(out[d.Decision], d)
	}
	for _, want := range []string{"approve", "refer", "decline"} {
		if len(out[want]) < 3 {
			e.t.Fatalf("only %d %s decisions among the first %d rows", len(out[want]), want, n)
		}
	}
	return out
}

const justification = "Verified income with two recent pay slips; affordability confirmed."

// TestLifecycleFlows runs the flows of issue 20 over real rows: a
// referral approved by a reviewer with the justification policy asks for
// and its notice; a referral answered with a counteroffer; a model
// decline finalised by the lender's system, then amended by a reviewer;
// an approval followed by loan outcomes; the reviewer queue with its
// deadline on a clock the test moves. Each record is checked in the
// history with a verifying proof.
func TestLifecycleFlows(t *testing.T) {
	e, clock := newClockEnv(t)
	byOutcome := e.scoredRows(120)
	refs, declines, approvals := byOutcome["refer"], byOutcome["decline"], byOutcome["approve"]

	// The queue: every referral of acme, oldest first, none for the other
	// lender's reviewer.
	var q reviewsOut
	e.get(keyReviewer, "/v1/reviews?status=all", http.StatusOK).json(t, &q)
	if len(q.Reviews) != len(refs) || q.DeadlineDays != 30 {
		t.Fatalf("queue holds %d reviews (deadline %d), want the %d referrals", len(q.Reviews), q.DeadlineDays, len(refs))
	}
	want := map[string]bool{}
	for _, d := range refs {
		want[d.DecisionID] = true
	}
	for i, r := range q.Reviews {
		if !want[r.DecisionID] || r.Kind != "referral" || r.Lender != "acme" || r.Overdue {
			t.Errorf("review %d: %+v", i, r)
		}
		if i > 0 && r.Since < q.Reviews[i-1].Since {
			t.Errorf("queue not oldest first at %d", i)
		}
	}
	e.get(keyOtherReviewer, "/v1/reviews?status=all", http.StatusOK).json(t, &q)
	if len(q.Reviews) != 0 {
		t.Errorf("the other lender's reviewer sees %d reviews", len(q.Reviews))
	}

	t.Run("referral approved with a justification", func(t *testing.T) {
		e := e.sub(t)
		d := refs[0]
		path := "/v1/decisions/" + d.DecisionID + "/actions"
		r := e.post(keyReviewer, path, map[string]any{"action": "approve"}, http.StatusUnprocessableEntity)
		if !strings.Contains(string(r.body), "LIF-REFERRAL-APPROVAL-JUSTIFIED") {
			t.Errorf("refusal does not name the rule: %s", r.body)
		}
		var a lifecycleOut
		e.post(keyReviewer, path, map[string]any{"action": "approve", "note": justification}, http.StatusCreated).json(t, &a)
		body := bodyOf(t, a.Body)
		sum := sha256.Sum256([]byte(justification))
		if body["action"] != "approve" || body["actor"] != "reviewer" || body["note_sha256"] != hex.EncodeToString(sum[:]) ||
			body["override"] != false || body["decision_id"] != d.DecisionID || !strings.HasPrefix(body["reviewer"].(string), "rv_") {
			t.Errorf("final action body %v", body)
		}
		if strings.Contains(string(a.Record), "rita") || strings.Contains(string(a.Body), "rita") || strings.Contains(string(a.Body), "Verified income") {
			t.Error("the reviewer's name or the note's text is in the ledger")
		}
		// The notice in force is the final action's.
		n := e.get(d.ApplicantToken, "/v1/decisions/"+d.DecisionID+"/notice", http.StatusOK)
		for _, want := range []string{"We approved your application", a.RecordID, d.DecisionID} {
			if !strings.Contains(string(n.body), want) {
				t.Errorf("final notice lacks %q:\n%s", want, n.body)
			}
		}
		if strings.Contains(string(n.body), "not made a final decision") {
			t.Error("final notice still says no final decision was made")
		}
		// The referral's own notice is still there by its id.
		ref := e.get(keyLender, "/v1/decisions/"+d.DecisionID+"/notice?record="+d.DecisionID, http.StatusOK)
		if !strings.Contains(string(ref.body), "not made a final decision") {
			t.Errorf("the referral notice changed:\n%s", ref.body)
		}
		// The lender reports the notice sent, with the hash of the bytes
		// it downloaded.
		sent := sha256.Sum256(n.body)
		var ns lifecycleOut
		e.post(keyLender, "/v1/decisions/"+d.DecisionID+"/notice/sent", map[string]any{
			"channel": "mail", "sent_at": clock.Now().Format(time.RFC3339), "sha256": hex.EncodeToString(sent[:]),
		}, http.StatusCreated).json(t, &ns)
		nb := bodyOf(t, ns.Body)
		if nb["sha256"] != hex.EncodeToString(sent[:]) || nb["notice"] != a.RecordID || nb["format"] != "text" || nb["lang"] != "en" {
			t.Errorf("notice_sent body %v", nb)
		}
		h := e.history(d.ApplicantToken, d.DecisionID)
		if got := strings.Join(h.types(), ","); got != "decision,final_action,notice_sent" {
			t.Errorf("history %s", got)
		}
		if h.State.Stage != "final" || *h.State.Action != "approve" || *h.State.FinalAction != a.RecordID || h.State.NoticesSent != 1 {
			t.Errorf("state %+v", h.State)
		}
		var after reviewsOut
		e.get(keyReviewer, "/v1/reviews?status=all", http.StatusOK).json(t, &after)
		for _, r := range after.Reviews {
			if r.DecisionID == d.DecisionID {
				t.Error("a decided referral is still in the queue")
			}
		}
		if len(after.Reviews) != len(refs)-1 {
			t.Errorf("queue holds %d, want %d", len(after.Reviews), len(refs)-1)
		}
	})

	t.Run("referral answered with a counteroffer", func(t *testing.T) {
		e := e.sub(t)
		d := refs[1]
		var a lifecycleOut
		e.post(keyReviewer, "/v1/decisions/"+d.DecisionID+"/actions", map[string]any{
			"action": "counteroffer", "reasons": []string{"P01"}, "counteroffer": map[string]any{"Amount": 800, "Time": 36},
		}, http.StatusCreated).json(t, &a)
		n := e.get(d.ApplicantToken, a.Notice, http.StatusOK)
		for _, want := range []string{"we can offer you credit on the terms below", "800", "36",
			"Amount of credit requested is above the limit for automatic approval", "P01"} {
			if !strings.Contains(string(n.body), want) {
				t.Errorf("counteroffer notice lacks %q:\n%s", want, n.body)
			}
		}
		h := e.history(keyRegulator, d.DecisionID)
		if h.State.Stage != "final" || *h.State.Action != "counteroffer" {
			t.Errorf("state %+v", h.State)
		}
	})

	t.Run("decline finalised by the system, then amended by a reviewer", func(t *testing.T) {
		e := e.sub(t)
		d := declines[0]
		path := "/v1/decisions/" + d.DecisionID + "/actions"
		code := d.Reasons[0].Code
		var first lifecycleOut
		e.post(keyLender, path, map[string]any{"action": "decline", "reasons": []string{code}}, http.StatusCreated).json(t, &first)
		fb := bodyOf(t, first.Body)
		if fb["actor"] != "system" || fb["reviewer"] != nil || fb["override"] != false {
			t.Errorf("system action body %v", fb)
		}
		rs := fb["reasons"].([]any)
		if len(rs) != 1 || rs[0].(map[string]any)["code"] != code || rs[0].(map[string]any)["text"] == "" {
			t.Errorf("reasons %v, want %s with its text", rs, code)
		}
		n := e.get(d.ApplicantToken, first.Notice, http.StatusOK)
		if !strings.Contains(string(n.body), "cannot approve") || !strings.Contains(string(n.body), code) {
			t.Errorf("decline notice:\n%s", n.body)
		}
		// The reviewer overrides the model, amending the final action in
		// force, with a justification.
		var second lifecycleOut
		e.post(keyReviewer, path, map[string]any{"action": "approve", "amends": first.RecordID, "note": justification}, http.StatusCreated).json(t, &second)
		sb := bodyOf(t, second.Body)
		if sb["amends"] != first.RecordID || sb["override"] != true {
			t.Errorf("amendment body %v", sb)
		}
		h := e.history(keyLender, d.DecisionID)
		if got := strings.Join(h.types(), ","); got != "decision,final_action,final_action" || *h.State.FinalAction != second.RecordID || *h.State.Action != "approve" {
			t.Errorf("history %s, state %+v", got, h.State)
		}
	})

	t.Run("decline contested with a corrected income, rescored, decided", func(t *testing.T) {
		e := e.sub(t)
		d := declines[1]
		logged := e.features(d.DecisionID)
		income := logged["Income"].(float64) * 2
		var ct lifecycleOut
		e.post(d.ApplicantToken, "/v1/decisions/"+d.DecisionID+"/contest", map[string]any{
			"statement": "My income doubled last month; the application used an old pay slip.", "corrections": map[string]any{"Income": income},
		}, http.StatusCreated).json(t, &ct)
		if cb := bodyOf(t, ct.Body); cb["corrections"].(map[string]any)["Income"] != income || cb["statement"] == nil {
			t.Errorf("contest body %v", cb)
		}
		// The statement is personal data: the leaf is a commitment, not
		// the statement.
		leaf, _ := base64.StdEncoding.DecodeString(ct.Record)
		if strings.Contains(string(leaf), "pay slip") || transparency.LeafFormat(leaf) != transparency.EnvelopeFormat {
			t.Errorf("the contest leaf holds the statement or is not a commitment: %s", leaf)
		}
		var q reviewsOut
		e.get(keyReviewer, "/v1/reviews?status=all", http.StatusOK).json(t, &q)
		found := false
		for _, r := range q.Reviews {
			found = found || (r.DecisionID == d.DecisionID && r.Kind == "contest")
		}
		if !found {
			t.Error("the contest is not in the reviewer queue")
		}
		// The system may not answer a contest: a person must.
		r := e.post(keyLender, "/v1/decisions/"+d.DecisionID+"/actions", map[string]any{"action": "decline", "reasons": []string{d.Reasons[0].Code}}, http.StatusUnprocessableEntity)
		if !strings.Contains(string(r.body), "LIF-HUMAN-REVIEW") {
			t.Errorf("system answer to a contest: %s", r.body)
		}
		var rs struct {
			lifecycleOut
			Rescored decisionOut `json:"rescored_decision"`
		}
		e.post(keyReviewer, "/v1/decisions/"+d.DecisionID+"/rescore", map[string]any{}, http.StatusCreated).json(t, &rs)
		// The new decision is the model's on the corrected features,
		// computed here with the model directly.
		feats := map[string]any{}
		for k, v := range logged {
			if v != nil {
				feats[k] = v
			}
		}
		feats["Income"] = income
		x, err := e.model.Vectorize(feats)
		if err != nil {
			t.Fatal(err)
		}
		if want := e.model.Predict(x); rs.Rescored.ProbabilityOfDefault != want.PD || rs.Rescored.DecisionID == d.DecisionID {
			t.Errorf("rescored PD %v, the model gives %v", rs.Rescored.ProbabilityOfDefault, want.PD)
		}
		if rb := bodyOf(t, rs.Body); rb["rescored"] != rs.Rescored.DecisionID || rb["contest"] != ct.RecordID {
			t.Errorf("rescore body %v", rb)
		}
		e.post(keyReviewer, "/v1/decisions/"+d.DecisionID+"/rescore", map[string]any{}, http.StatusUnprocessableEntity)
		note := "Re-scored with the corrected income; " + rs.Rescored.Decision + " on the corrected application."
		body := map[string]any{"action": "decline", "reasons": []string{d.Reasons[0].Code}}
		if rs.Rescored.Decision == "approve" {
			body = map[string]any{"action": "approve", "note": note}
		}
		e.post(keyReviewer, "/v1/decisions/"+d.DecisionID+"/actions", body, http.StatusCreated)
		h := e.history(d.ApplicantToken, d.DecisionID)
		if got := strings.Join(h.types(), ","); got != "decision,contest,rescore,final_action" || h.State.Stage != "final" {
			t.Errorf("history %s, state %+v", got, h.State)
		}
		if h2 := e.history(keyRegulator, rs.Rescored.DecisionID); len(h2.Records) != 1 {
			t.Errorf("the rescored decision's history: %v", h2.types())
		}
		e.get(keyReviewer, "/v1/reviews?status=all", http.StatusOK).json(t, &q)
		for _, r := range q.Reviews {
			if r.DecisionID == d.DecisionID {
				t.Error("an answered contest is still in the queue")
			}
		}
	})

	t.Run("approval with loan outcomes", func(t *testing.T) {
		e := e.sub(t)
		d := approvals[0]
		path := "/v1/decisions/" + d.DecisionID + "/outcome"
		day := clock.Now().UTC().Format("2006-01-02")
		e.post(keyLender, path, map[string]any{"status": "current", "as_of": day, "months_on_book": 0}, http.StatusCreated)
		clock.Add(200 * 24 * time.Hour)
		later := clock.Now().UTC().Format("2006-01-02")
		var o lifecycleOut
		e.post(keyLender, path, map[string]any{"status": "defaulted", "as_of": later, "months_on_book": 6}, http.StatusCreated).json(t, &o)
		h := e.history(d.ApplicantToken, d.DecisionID)
		if got := strings.Join(h.types(), ","); got != "decision,outcome,outcome" || h.State.Outcome == nil || *h.State.Outcome != "defaulted" || h.State.Stage != "decided" {
			t.Errorf("history %s, state %+v", got, h.State)
		}
		// An earlier as_of reported later does not supersede.
		e.post(keyLender, path, map[string]any{"status": "repaid", "as_of": day, "months_on_book": 0}, http.StatusCreated)
		h = e.history(d.ApplicantToken, d.DecisionID)
		if *h.State.Outcome != "defaulted" {
			t.Errorf("outcome in force %s, want defaulted", *h.State.Outcome)
		}
	})

	t.Run("overdue referrals", func(t *testing.T) {
		e := e.sub(t)
		var open, overdue reviewsOut
		e.get(keyReviewer, "/v1/reviews?status=overdue", http.StatusOK).json(t, &overdue)
		e.get(keyReviewer, "/v1/reviews", http.StatusOK).json(t, &open)
		// 200 days have passed in the outcome flow: every remaining
		// referral (all but the two decided) is past the deadline.
		if len(overdue.Reviews) != len(refs)-2 || len(open.Reviews) != 0 {
			t.Fatalf("%d overdue and %d open, want %d and 0", len(overdue.Reviews), len(open.Reviews), len(refs)-2)
		}
		for _, r := range overdue.Reviews {
			if !r.Overdue || r.AgeDays <= 30 {
				t.Errorf("review %+v", r)
			}
		}
		m := e.get(keyAdmin, "/metrics", http.StatusOK)
		line := fmt.Sprintf("glassbox_reviews_overdue %d", len(refs)-2)
		if !bytes.Contains(m.body, []byte(line)) {
			t.Errorf("metrics lack %q", line)
		}
	})
}

// features are a decision's logged features, as the lender reads them.
func (e *env) features(id string) map[string]any {
	e.t.Helper()
	var d struct {
		Features map[string]any `json:"features"`
	}
	e.get(keyLender, "/v1/decisions/"+id, http.StatusOK).json(e.t, &d)
	return d.Features
}

// sub is the env with another test's t.
func (e *env) sub(t *testing.T) *env {
	s := *e
	s.t = t
	return &s
}

// TestLifecycleBadRequests sends every bad lifecycle request of issue 20:
// each gets a 4xx problem document and the ledger does not grow.
func TestLifecycleBadRequests(t *testing.T) {
	e, clock := newClockEnv(t)
	byOutcome := e.scoredRows(120)
	ref, decl, appr := byOutcome["refer"][0], byOutcome["decline"][0], byOutcome["approve"][0]
	done := byOutcome["approve"][1]
	e.post(keyLender, "/v1/decisions/"+done.DecisionID+"/actions", map[string]any{"action": "approve"}, http.StatusCreated)
	doneAction := e.history(keyRegulator, done.DecisionID).Records[1]
	erased := byOutcome["approve"][2]
	store := openRecords(t, e.dir)
	eid, err := transparency.ParseID(erased.DecisionID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Erase(context.Background(), eid); err != nil {
		t.Fatal(err)
	}
	contested := byOutcome["decline"][1]
	e.post(contested.ApplicantToken, "/v1/decisions/"+contested.DecisionID+"/contest", map[string]any{"statement": "I was not asked about my assets."}, http.StatusCreated)
	before := e.settle()

	act := func(d decisionOut) string { return "/v1/decisions/" + d.DecisionID + "/actions" }
	unknown := "/v1/decisions/" + strings.Repeat("ab", 32)
	today := clock.Now().UTC().Format("2006-01-02")
	cases := []struct {
		name string
		r    req
		want int
		rule string // a policy rule or field the problem must name
	}{
		{"action on unknown decision", req{method: "POST", path: unknown + "/actions", key: keyReviewer, body: map[string]any{"action": "approve"}}, 404, ""},
		{"action on an erased decision", req{method: "POST", path: act(erased), key: keyLender, body: map[string]any{"action": "approve"}}, 410, ""},
		{"outcome of an erased decision", req{method: "POST", path: "/v1/decisions/" + erased.DecisionID + "/outcome", key: keyLender, body: map[string]any{"status": "current", "as_of": today, "months_on_book": 0}}, 410, ""},
		{"contest of an erased decision", req{method: "POST", path: "/v1/decisions/" + erased.DecisionID + "/contest", key: erased.ApplicantToken, body: map[string]any{"statement": "x"}}, 410, ""},
		{"action on malformed id", req{method: "POST", path: "/v1/decisions/xyz/actions", key: keyReviewer, body: map[string]any{"action": "approve"}}, 400, ""},
		{"second final action without amendment", req{method: "POST", path: act(done), key: keyReviewer, body: map[string]any{"action": "withdrawn"}}, 422, "LIF-ONE-FINAL"},
		{"amendment of the wrong action", req{method: "POST", path: act(done), key: keyReviewer, body: map[string]any{"action": "withdrawn", "amends": strings.Repeat("cd", 32), "note": justification}}, 422, "LIF-AMEND-CURRENT"},
		{"amendment by the system", req{method: "POST", path: act(done), key: keyLender, body: map[string]any{"action": "withdrawn", "amends": doneAction.RecordID, "note": justification}}, 422, "LIF-AMEND-RULES"},
		{"adverse action without reasons", req{method: "POST", path: act(ref), key: keyReviewer, body: map[string]any{"action": "decline"}}, 422, "LIF-REASONS-REQUIRED"},
		{"reason not in the rulebook", req{method: "POST", path: act(ref), key: keyReviewer, body: map[string]any{"action": "decline", "reasons": []string{"Z99"}}}, 422, "LIF-REASON-UNKNOWN"},
		{"reasons given twice", req{method: "POST", path: act(ref), key: keyReviewer, body: map[string]any{"action": "decline", "reasons": []string{"P01", "P01"}}}, 422, "reasons[1]"},
		{"unknown action", req{method: "POST", path: act(ref), key: keyReviewer, body: map[string]any{"action": "maybe"}}, 422, "action"},
		{"unknown member", req{method: "POST", path: act(ref), key: keyReviewer, body: map[string]any{"action": "approve", "note": justification, "colour": "red"}}, 422, "colour"},
		{"counteroffer without terms", req{method: "POST", path: act(ref), key: keyReviewer, body: map[string]any{"action": "counteroffer", "reasons": []string{"P01"}}}, 422, "LIF-COUNTEROFFER-TERMS"},
		{"counteroffer term of a bad type", req{method: "POST", path: act(ref), key: keyReviewer, body: map[string]any{"action": "counteroffer", "reasons": []string{"P01"}, "counteroffer": map[string]any{"Amount": []int{1}}}}, 422, "counteroffer.Amount"},
		{"system finishing a referral", req{method: "POST", path: act(ref), key: keyLender, body: map[string]any{"action": "approve", "note": justification}}, 422, "LIF-HUMAN-REVIEW"},
		{"override without justification", req{method: "POST", path: act(decl), key: keyReviewer, body: map[string]any{"action": "approve"}}, 422, "LIF-OVERRIDE-JUSTIFIED"},
		{"system overriding the model", req{method: "POST", path: act(appr), key: keyLender, body: map[string]any{"action": "decline", "reasons": []string{"P01"}, "note": justification}}, 422, "LIF-OVERRIDE-REVIEWER"},
		{"lender acting on another lender's decision", req{method: "POST", path: act(ref), key: keyOtherLender, body: map[string]any{"action": "approve"}}, 403, ""},
		{"reviewer acting on another lender's decision", req{method: "POST", path: act(ref), key: keyOtherReviewer, body: map[string]any{"action": "approve", "note": justification}}, 403, ""},
		{"applicant acting", req{method: "POST", path: act(ref), key: ref.ApplicantToken, body: map[string]any{"action": "approve"}}, 403, ""},
		{"anonymous acting", req{method: "POST", path: act(ref), body: map[string]any{"action": "approve"}}, 401, ""},
		{"not JSON", req{method: "POST", path: act(ref), key: keyReviewer, body: "action=approve", contentType: "text/plain"}, 415, ""},
		{"malformed JSON", req{method: "POST", path: act(ref), key: keyReviewer, body: `{"action":`}, 400, ""},
		{"outcome in the future", req{method: "POST", path: "/v1/decisions/" + appr.DecisionID + "/outcome", key: keyLender, body: map[string]any{"status": "current", "as_of": clock.Now().Add(48 * time.Hour).Format("2006-01-02"), "months_on_book": 0}}, 422, "as_of"},
		{"outcome before the decision", req{method: "POST", path: "/v1/decisions/" + appr.DecisionID + "/outcome", key: keyLender, body: map[string]any{"status": "current", "as_of": clock.Now().Add(-48 * time.Hour).Format("2006-01-02"), "months_on_book": 0}}, 422, "as_of"},
		{"outcome with an impossible date", req{method: "POST", path: "/v1/decisions/" + appr.DecisionID + "/outcome", key: keyLender, body: map[string]any{"status": "current", "as_of": "2026-02-30", "months_on_book": 0}}, 422, "as_of"},
		{"outcome of unknown status", req{method: "POST", path: "/v1/decisions/" + appr.DecisionID + "/outcome", key: keyLender, body: map[string]any{"status": "late", "as_of": today, "months_on_book": 0}}, 422, "status"},
		{"outcome with negative months", req{method: "POST", path: "/v1/decisions/" + appr.DecisionID + "/outcome", key: keyLender, body: map[string]any{"status": "current", "as_of": today, "months_on_book": -1}}, 422, "months_on_book"},
		{"outcome of a declined application", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/outcome", key: keyLender, body: map[string]any{"status": "current", "as_of": today, "months_on_book": 0}}, 422, "no credit was granted"},
		{"outcome by a reviewer", req{method: "POST", path: "/v1/decisions/" + appr.DecisionID + "/outcome", key: keyReviewer, body: map[string]any{"status": "current", "as_of": today, "months_on_book": 0}}, 403, ""},
		{"outcome on another lender's decision", req{method: "POST", path: "/v1/decisions/" + appr.DecisionID + "/outcome", key: keyOtherLender, body: map[string]any{"status": "current", "as_of": today, "months_on_book": 0}}, 403, ""},
		{"notice sent in the future", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/notice/sent", key: keyLender, body: map[string]any{"channel": "mail", "sent_at": clock.Now().Add(time.Hour).Format(time.RFC3339)}}, 422, "sent_at"},
		{"notice sent before the decision", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/notice/sent", key: keyLender, body: map[string]any{"channel": "mail", "sent_at": clock.Now().Add(-time.Hour).Format(time.RFC3339)}}, 422, "sent_at"},
		{"notice sent by an unknown channel", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/notice/sent", key: keyLender, body: map[string]any{"channel": "pigeon", "sent_at": clock.Now().Format(time.RFC3339)}}, 422, "channel"},
		{"notice sent that is not the notice", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/notice/sent", key: keyLender, body: map[string]any{"channel": "mail", "sent_at": clock.Now().Format(time.RFC3339), "sha256": strings.Repeat("00", 32)}}, 422, "sha256"},
		{"notice sent of another decision's record", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/notice/sent", key: keyLender, body: map[string]any{"channel": "mail", "sent_at": clock.Now().Format(time.RFC3339), "record": doneAction.RecordID}}, 422, "record"},
		{"contest by the lender", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/contest", key: keyLender, body: map[string]any{"statement": "x"}}, 403, ""},
		{"contest with another applicant's token", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/contest", key: ref.ApplicantToken, body: map[string]any{"statement": "x"}}, 403, ""},
		{"contest without a statement", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/contest", key: decl.ApplicantToken, body: map[string]any{"corrections": map[string]any{"Income": 500}}}, 422, "statement"},
		{"contest with an unknown feature", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/contest", key: decl.ApplicantToken, body: map[string]any{"statement": "wrong", "corrections": map[string]any{"Salary": 500}}}, 422, "corrections.Salary"},
		{"contest with an invalid value", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/contest", key: decl.ApplicantToken, body: map[string]any{"statement": "wrong", "corrections": map[string]any{"Home": "castle"}}}, 422, "corrections.Home"},
		{"contest that corrects nothing", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/contest", key: decl.ApplicantToken, body: map[string]any{"statement": "wrong", "corrections": map[string]any{"Income": e.features(decl.DecisionID)["Income"]}}}, 422, "not a correction"},
		{"second contest", req{method: "POST", path: "/v1/decisions/" + contested.DecisionID + "/contest", key: contested.ApplicantToken, body: map[string]any{"statement": "again"}}, 422, "contested already"},
		{"rescore without a contest", req{method: "POST", path: "/v1/decisions/" + decl.DecisionID + "/rescore", key: keyReviewer, body: map[string]any{}}, 422, "no contest"},
		{"rescore of a contest without corrections", req{method: "POST", path: "/v1/decisions/" + contested.DecisionID + "/rescore", key: keyReviewer, body: map[string]any{}}, 422, "no contest with corrections"},
		{"rescore by the applicant", req{method: "POST", path: "/v1/decisions/" + contested.DecisionID + "/rescore", key: contested.ApplicantToken, body: map[string]any{}}, 403, ""},
		{"reviews of an unknown status", req{method: "GET", path: "/v1/reviews?status=late", key: keyReviewer}, 400, ""},
		{"history of an unknown decision", req{method: "GET", path: unknown + "/history", key: keyRegulator}, 404, ""},
		{"history of another lender's decision", req{method: "GET", path: "/v1/decisions/" + ref.DecisionID + "/history", key: keyOtherLender}, 403, ""},
		{"history with another applicant's token", req{method: "GET", path: "/v1/decisions/" + ref.DecisionID + "/history", key: decl.ApplicantToken}, 403, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.sub(t).do(c.r)
			if r.status != c.want {
				t.Fatalf("status %d, want %d: %s", r.status, c.want, r.body)
			}
			if c.rule != "" && !strings.Contains(string(r.body), c.rule) {
				t.Errorf("problem does not name %q: %s", c.rule, r.body)
			}
		})
	}
	if after := e.settle(); after != before {
		t.Errorf("bad requests changed the ledger: %d entries, was %d", after, before)
	}
	// Nothing was linked to the decisions the bad requests named.
	for _, d := range []decisionOut{ref, decl, appr} {
		h := e.history(keyRegulator, d.DecisionID)
		if len(h.Records) != 1 {
			t.Errorf("%s has %d records: %v", d.DecisionID, len(h.Records), h.types())
		}
	}
}

// TestErasureTakesContests: erasing a contested decision erases the
// contest's record too (the statement is the applicant's), while the
// leaves and their proofs stay; a lifecycle call on the erased decision
// is refused.
func TestErasureTakesContests(t *testing.T) {
	e, _ := newClockEnv(t)
	d := e.scoredRows(120)["decline"][0]
	var ct lifecycleOut
	e.post(d.ApplicantToken, "/v1/decisions/"+d.DecisionID+"/contest", map[string]any{"statement": "The debt shown is my brother's, not mine."}, http.StatusCreated).json(t, &ct)
	e.settle()
	e.post(keyAdmin, "/v1/decisions/"+d.DecisionID+"/erasure", map[string]any{"legal_basis": "GDPR Art. 17(1)(a)", "requester": "ticket 17"}, http.StatusCreated)
	cid, err := transparency.ParseID(ct.RecordID)
	if err != nil {
		t.Fatal(err)
	}
	entry, err := e.ledger.GetEntry(context.Background(), cid)
	if err != nil {
		t.Fatal(err)
	}
	if !entry.Erased || entry.Record != nil || strings.Contains(string(entry.Data), "brother") {
		t.Errorf("contest after erasure: erased %v, record %q", entry.Erased, entry.Record)
	}
	if _, err := e.ledger.InclusionProof(context.Background(), cid, 0); err != nil {
		t.Errorf("the contest's leaf lost its proof: %v", err)
	}
	before := e.settle()
	e.post(keyReviewer, "/v1/decisions/"+d.DecisionID+"/actions", map[string]any{"action": "withdrawn"}, http.StatusGone)
	if after := e.settle(); after != before {
		t.Errorf("an action on an erased decision changed the ledger: %d → %d", before, after)
	}
}
