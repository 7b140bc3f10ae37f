package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// newBrowser starts headless Chromium for a test, or skips (fails in CI)
// when it is not installed.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found at %s (CI must install it)", chromium)
		}
		t.Skipf("chromium not found at %s", chromium)
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true))
	t.Cleanup(cancel)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestApplicantPageChecksWitnesses opens the applicant page of a glassbox
// whose checkpoints a real litewitness cosigns: the in-browser check must
// verify the decision's tlog-proof and its cosignature, and the page's
// verifier must reject the same proof with the cosignature tampered with.
func TestApplicantPageChecksWitnesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx := newBrowser(t)
	w := startLitewitness(t)
	p := startServe(t, t.TempDir(), "--witness", w.url, "--witness-key", w.vkey, "--witness-quorum", "1", "--witness-interval", "100ms")
	logKey := publicKey(t, p.url)
	w.addLog(keyName(logKey), logKey)
	d := createForApplicant(t, p.url, sampleApplication(7))
	index := leafIndex(t, p.url, d.DecisionID)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st := readyWitnesses(t, p.url); st.QuorumMet && st.Size > index {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the decision's checkpoint was never cosigned: %+v", readyWitnesses(t, p.url))
		}
	}

	pageURL := p.url + "/ui/decisions/" + d.DecisionID
	run := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Steps(actions...)); err != nil {
			t.Fatal(err)
		}
	}
	run(chromedp.Navigate(pageURL+"?token="+d.ApplicantToken), chromedp.WaitVisible(chromedp.CSS("#check-button")),
		chromedp.Click(chromedp.CSS("#check-button")))
	result, err := chromedp.Run(ctx, chromedp.Poll[string](`(() => { const t = document.getElementById("check-result").textContent; return /^(Verified|Verification failed)/.test(t) ? t : null; })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(result, "Verified") || !strings.Contains(result, "cosigned by "+w.name) {
		t.Fatalf("in-browser check with a witness: %q", result)
	}
	steps, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll("#check-steps li")].map((li) => li.dataset.check + ":" + li.className).join(" ")`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(steps, "witnesses:s-pass") || !strings.Contains(steps, "tlog-inclusion:s-pass") {
		t.Fatalf("steps: %s", steps)
	}

	// The same proof, fetched by the page with its cookie, with one bit of
	// the witness's signature flipped, and then with a quorum of 2.
	check := func(tamper, quorum string) map[string]any {
		t.Helper()
		script := `(async () => {
			const panel = document.getElementById("ledger-check");
			const res = await fetch("/v1/decisions/` + d.DecisionID + `/proof?format=tlog-proof", { credentials: "same-origin" });
			let text = await res.text();
			const key = await (await fetch("/v1/ledger/public-key")).text();
			if (` + tamper + `) {
				const lines = text.split("\n");
				const i = lines.findIndex((l) => l.startsWith("\u2014 ` + w.name + ` "));
				const [dash, name, sig] = lines[i].split(" ");
				const raw = GlassboxVerify.base64ToBytes(sig);
				raw[raw.length - 1] ^= 1;
				lines[i] = [dash, name, btoa(String.fromCharCode(...raw))].join(" ");
				text = lines.join("\n");
			}
			const r = await GlassboxVerify.checkTLogProof({ decisionId: panel.dataset.decisionId, tlogProof: text, verifierKey: key,
				witnessKeys: panel.dataset.witnessKeys.split(" "), quorum: ` + quorum + ` });
			return { ok: r.ok, failed: r.failed, message: r.message };
		})()`
		v, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]any](script, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if r := check("false", "1"); r["ok"] != true {
		t.Fatalf("untampered proof in the page: %v", r)
	}
	if r := check("true", "1"); r["ok"] != false || r["failed"] != "witnesses" {
		t.Fatalf("tampered cosignature in the page: %v", r)
	}
	if r := check("false", "2"); r["ok"] != false || r["failed"] != "witnesses" {
		t.Fatalf("quorum 2 of one witness in the page: %v", r)
	}
}

// applicantDecision is a decision as its applicant's link names it.
type applicantDecision struct {
	DecisionID     string `json:"decision_id"`
	ApplicantToken string `json:"applicant_token"`
}

// createForApplicant makes a decision, waiting until it is integrated.
func createForApplicant(t *testing.T, url string, app map[string]any) applicantDecision {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodPost, url+"/v1/decisions?wait=integrated", lenderKey, app)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("decision: %d %v %s", code, err, body)
	}
	var d applicantDecision
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	return d
}
