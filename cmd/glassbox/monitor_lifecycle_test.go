package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// TestMonitorAndReplayLifecycle runs a real glassbox serve: real rows are
// scored, a reviewer declines one referral, the lender reports one model
// decline's notice as sent. audit monitor, judging at a time the test
// chooses, reports every other referral as overdue and every adverse
// outcome in force without its notice as not sent in time, and nothing
// before the deadlines; audit replay checks the final action and the
// notice record against the log and the policy.
func TestMonitorAndReplayLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	p := startServe(t, t.TempDir())
	ctx := context.Background()
	apps := testRowApplications(t)[:80]
	post := func(path, key string, body any, want int) []byte {
		t.Helper()
		code, out, err := call(ctx, http.MethodPost, p.url+path, key, body)
		if err != nil || code != want {
			t.Fatalf("POST %s: %d %v %.400s", path, code, err, out)
		}
		return out
	}
	var batch struct {
		Decisions []struct {
			DecisionID string `json:"decision_id"`
			Decision   string `json:"decision"`
			CreatedAt  string `json:"created_at"`
		}
	}
	if err := json.Unmarshal(post("/v1/decisions/batch?wait=integrated", lenderKey, map[string]any{"applications": apps}, http.StatusCreated), &batch); err != nil {
		t.Fatal(err)
	}
	var refs, declines []string
	for _, d := range batch.Decisions {
		switch d.Decision {
		case "refer":
			refs = append(refs, d.DecisionID)
		case "decline":
			declines = append(declines, d.DecisionID)
		}
	}
	if len(refs) < 2 || len(declines) < 2 {
		t.Fatalf("%d referrals and %d declines among the rows", len(refs), len(declines))
	}
	post("/v1/decisions/"+refs[0]+"/actions?wait=integrated", reviewerKey, map[string]any{"action": "decline", "reasons": []string{"P01"}}, http.StatusCreated)
	post("/v1/decisions/"+declines[0]+"/notice/sent?wait=integrated", lenderKey, map[string]any{"channel": "mail", "sent_at": time.Now().UTC().Format(time.RFC3339Nano)}, http.StatusCreated)
	key := publicKey(t, p.url)

	monitor := func(asOf time.Time) (int, string) {
		t.Helper()
		code, out, errOut := runCmd("audit", "monitor", "--server", p.url, "--key", key, "--api-key", regulatorKey,
			"--lifecycle", "--as-of", asOf.Format(time.RFC3339))
		if code != 0 {
			t.Fatalf("monitor exit %d\n%s\n%s", code, out, errOut)
		}
		return strings.Count(out, "finding: "), out
	}
	if n, out := monitor(time.Now().Add(29 * 24 * time.Hour)); n != 0 {
		t.Errorf("%d findings before any deadline:\n%s", n, out)
	}
	n, out := monitor(time.Now().Add(40 * 24 * time.Hour))
	overdue, unsent := strings.Count(out, "OVERDUE REVIEW"), strings.Count(out, "NOTICE NOT SENT IN TIME")
	// Every referral but the one decided; every model decline but the one
	// whose notice was sent, and the reviewer's decline.
	if overdue != len(refs)-1 || unsent != len(declines)-1+1 || n != overdue+unsent {
		t.Errorf("%d overdue, %d notices not sent, want %d and %d:\n%s", overdue, unsent, len(refs)-1, len(declines), out)
	}
	if strings.Contains(out, "referral "+refs[0]) || strings.Contains(out, "decision "+declines[0]) {
		t.Errorf("a decided referral or a decline whose notice was sent is reported:\n%s", out)
	}
	if !strings.Contains(out, "adverse decline on decision "+refs[0]) {
		t.Errorf("the reviewer's decline without a notice is not reported:\n%s", out)
	}

	code, rout, errOut := runCmd("audit", "replay", "--server", p.url, "--key", key, "--api-key", regulatorKey)
	if code != 0 || !strings.Contains(rout, "checked 2 lifecycle records: 0 problems, 0 not checked, 0 contests awaiting an answer") {
		t.Errorf("replay exit %d\n%s\n%s", code, rout, errOut)
	}
}

// TestLifecycleFindingsDeadlines: a notice counts only if it states the
// outcome in force and was sent by its deadline.
func TestLifecycleFindingsDeadlines(t *testing.T) {
	day := 24 * time.Hour
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	seal := func(ts time.Time, body any) []byte { return sealAt(t, ts, body) }
	decline := seal(at, &transparency.Decision{Lender: "acme", Decision: "decline"})
	did := transparency.RecordID(decline).String()
	sent := func(notice string, when time.Time) []byte {
		return seal(when, &transparency.NoticeSent{DecisionID: did, Lender: "acme", Notice: notice, Channel: "mail",
			SentAt: transparency.FormatSentAt(when), Format: "text", Lang: "en", SHA256: strings.Repeat("ab", 32)})
	}
	approve := seal(at.Add(2*day), &transparency.FinalAction{DecisionID: did, Lender: "acme", Action: "approve", Actor: "reviewer", Reviewer: "rv_1"})
	counter := seal(at.Add(2*day), &transparency.FinalAction{DecisionID: did, Lender: "acme", Action: "counteroffer", Actor: "reviewer", Reviewer: "rv_1",
		Reasons: []transparency.ActionReason{{Code: "P01", Text: "x"}}, Counteroffer: map[string]transparency.FeatureValue{"Amount": transparency.NumberValue(1)}})
	cid := transparency.RecordID(counter).String()
	now := at.Add(60 * day)
	cases := []struct {
		name string
		log  [][]byte
		want int
	}{
		{"sent in time", [][]byte{decline, sent(did, at.Add(10*day))}, 0},
		{"sent late", [][]byte{decline, sent(did, at.Add(31*day))}, 1},
		{"never sent", [][]byte{decline}, 1},
		{"approved on review: nothing adverse in force", [][]byte{decline, approve}, 0},
		{"counteroffer, only the decline's notice sent", [][]byte{decline, sent(did, at.Add(day)), counter}, 1},
		{"counteroffer with its notice", [][]byte{decline, counter, sent(cid, at.Add(3*day))}, 0},
	}
	for _, c := range cases {
		if got := lifecycleFindings(c.log, transparency.DecodeRecord, now, 30*day, 30*day); len(got) != c.want {
			t.Errorf("%s: %d findings, want %d: %v", c.name, len(got), c.want, got)
		}
	}
	if got := lifecycleFindings([][]byte{decline}, transparency.DecodeRecord, at.Add(29*day), 30*day, 30*day); len(got) != 0 {
		t.Errorf("before the deadline: %v", got)
	}
}
