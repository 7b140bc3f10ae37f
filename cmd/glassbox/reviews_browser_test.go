package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestReviewerPageInBrowser: a reviewer opens /ui/reviews of a real
// server in headless Chromium, sees the referrals of real rows, is refused
// by policy when approving one without a justification, records the
// approval with one; the ledger then holds that final action, the queue no
// longer lists the referral, and the applicant's page shows it in the
// history. The applicant of a decline contests it from their page, and the
// reviewer's page lists the contest.
func TestReviewerPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx := newBrowser(t)
	p := startServe(t, t.TempDir())
	bg := context.Background()
	code, body, err := call(bg, http.MethodPost, p.url+"/v1/decisions/batch?wait=integrated", lenderKey,
		map[string]any{"applications": testRowApplications(t)[:40]})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("batch: %d %v %.300s", code, err, body)
	}
	var batch struct {
		Decisions []struct {
			DecisionID     string `json:"decision_id"`
			Decision       string `json:"decision"`
			ApplicantToken string `json:"applicant_token"`
		}
	}
	if err := json.Unmarshal(body, &batch); err != nil {
		t.Fatal(err)
	}
	var refs []int
	decl := -1
	for i, d := range batch.Decisions {
		switch d.Decision {
		case "refer":
			refs = append(refs, i)
		case "decline":
			decl = i
		}
	}
	if decl < 0 {
		t.Fatal("no decline among the rows")
	}
	if len(refs) < 2 {
		t.Fatalf("%d referrals among the rows", len(refs))
	}
	ref := batch.Decisions[refs[0]]

	browse := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Steps(steps...)); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	headers := func(h network.Headers) chromedp.Action[chromedp.Void] {
		return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
			return err
		})
	}
	// What the browser sends after its Basic prompt, for the page and for
	// the page's own requests.
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("rita:"+reviewerKey))
	browse(headers(network.Headers{"Authorization": auth}), chromedp.Navigate(p.url+"/ui/reviews"), chromedp.WaitVisible(chromedp.CSS(".action-form")))
	if n := eval(`String(document.querySelectorAll("li.review").length)`); n != itoa(len(refs)) {
		t.Fatalf("the page lists %s reviews, want the %d referrals", n, len(refs))
	}
	form := `form[data-decision-id="` + ref.DecisionID + `"]`
	submit := func(note string) string {
		t.Helper()
		browse(
			chromedp.Evaluate[chromedp.Void](`(() => {
				const f = document.querySelector(`+jsQuote(form)+`);
				f.elements.action.value = "approve";
				f.elements.note.value = `+jsQuote(note)+`;
				f.querySelector(".result").textContent = "";
			})()`),
			chromedp.Click(chromedp.CSS(form+` button[type=submit]`)),
		)
		v, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const t = document.querySelector(`+jsQuote(form+" .result")+`).textContent; return /^(Recorded|Not recorded)/.test(t) ? t : null; })()`,
			chromedp.WithPollingTimeout(20*time.Second)))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if msg := submit(""); !strings.Contains(msg, "Not recorded") || !strings.Contains(msg, "LIF-REFERRAL-APPROVAL-JUSTIFIED") {
		t.Errorf("approval without a justification: %q", msg)
	}
	msg := submit("Income verified with the employer by phone; affordability fine.")
	if !strings.HasPrefix(msg, "Recorded: final action ") {
		t.Fatalf("approval with a justification: %q", msg)
	}
	recordID := strings.Fields(strings.TrimPrefix(msg, "Recorded: final action "))[0]

	// The ledger holds it, as the regulator reads it.
	code, hbody, err := call(bg, http.MethodGet, p.url+"/v1/decisions/"+ref.DecisionID+"/history", regulatorKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("history: %d %v %s", code, err, hbody)
	}
	var h struct {
		State struct {
			FinalAction *string `json:"final_action"`
			Action      *string `json:"action"`
		} `json:"state"`
	}
	if err := json.Unmarshal(hbody, &h); err != nil || h.State.FinalAction == nil || *h.State.FinalAction != recordID || *h.State.Action != "approve" {
		t.Errorf("history state %s (%v), want final action %s", hbody, err, recordID)
	}
	browse(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#queue-count")))
	if n := eval(`String(document.querySelectorAll("li.review").length)`); n != itoa(len(refs)-1) {
		t.Errorf("after the action the page lists %s reviews, want %d", n, len(refs)-1)
	}
	if eval(`String(!!document.querySelector(`+jsQuote(form)+`))`) != "false" {
		t.Error("the decided referral is still listed")
	}

	// The applicant's page shows the final action in the history.
	browse(headers(network.Headers{}), chromedp.Navigate(p.url+"/ui/decisions/"+ref.DecisionID+"?token="+ref.ApplicantToken),
		chromedp.WaitVisible(chromedp.CSS("#history")))
	hist := eval(`document.getElementById("history").textContent`)
	if !strings.Contains(hist, "Final decision by the lender: approve") || !strings.Contains(hist, recordID) {
		t.Errorf("applicant history: %q", hist)
	}
	d := batch.Decisions[decl]
	contestInBrowser(t, ctx, p.url, d.DecisionID, d.ApplicantToken, auth)
}

// contestInBrowser: the applicant of a decline contests it from their
// page, correcting their income; the reviewer's page then lists it.
func contestInBrowser(t *testing.T, ctx context.Context, url, id, token, reviewerAuth string) {
	t.Helper()
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Steps(steps...)); err != nil {
			t.Fatal(err)
		}
	}
	run(chromedp.Navigate(url+"/ui/decisions/"+id+"?token="+token), chromedp.WaitVisible(chromedp.CSS("#contest-form")))
	run(chromedp.Evaluate[chromedp.Void](`(() => {
		const f = document.getElementById("contest-form");
		f.elements.statement.value = "My income is higher: the application used last year's pay slip.";
		const inc = document.getElementById("correct-Income");
		inc.value = String(Number(inc.value) * 2);
	})()`), chromedp.Click(chromedp.CSS(`#contest-form button[type=submit]`)))
	msg, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const t = document.getElementById("contest-result").textContent; return /^(Recorded|Not recorded)/.test(t) ? t : null; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msg, "Recorded: ") {
		t.Fatalf("contest from the applicant page: %q", msg)
	}
	// Reloaded, the page shows the contest instead of the form.
	run(chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#contest-recorded")))
	run(chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": reviewerAuth}})
		return err
	}), chromedp.Navigate(url+"/ui/reviews"), chromedp.WaitVisible(chromedp.CSS("#queue-count")))
	text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector('li.review[data-decision-id="`+id+`"]') || {textContent: ""}).textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "contest") {
		t.Errorf("the reviewer page does not list the contest: %q", text)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
