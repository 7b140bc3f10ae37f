package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/glassbox-ledger/glassbox/api"
)

// TestPagesInBrowser opens the real server's applicant and audit pages in
// headless Chromium: the applicant page's in-browser check must verify a
// real decision against the real ledger. With GLASSBOX_SCREENSHOTS=1 it
// refreshes the screenshots in docs/.
func TestPagesInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	const chromium = "/usr/bin/chromium"
	if _, err := os.Stat(chromium); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium not found at %s (CI must install it)", chromium)
		}
		t.Skipf("chromium not found at %s", chromium)
	}
	p := startServe(t, t.TempDir())
	app := map[string]any{"application_id": "A-1001", "features": map[string]any{
		"Seniority": 1, "Home": "rent", "Time": 48, "Records": "no", "Job": "fixed", "Expenses": 60,
		"Income": 90, "Assets": 2000, "Debt": 0, "Amount": 2000, "Price": 2200}}
	code, body, err := call(context.Background(), http.MethodPost, p.url+"/v1/decisions?wait=integrated", lenderKey, app)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("decision: %d %v %s", code, err, body)
	}
	var d struct {
		DecisionID     string `json:"decision_id"`
		ApplicantToken string `json:"applicant_token"`
	}
	json.Unmarshal(body, &d)

	alloc, cancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()

	browse := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.Run(ctx, chromedp.Steps(steps...)); err != nil {
			t.Fatal(err)
		}
	}
	get := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	screenshot := func() []byte {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The link's token is exchanged for a cookie: the browser ends on the
	// URL without it, the page's script cannot read the cookie, and the
	// in-browser check fetches the proof with it.
	pageURL := p.url + "/ui/decisions/" + d.DecisionID
	browse(chromedp.Navigate(pageURL+"?token="+d.ApplicantToken), chromedp.WaitVisible(chromedp.CSS("#check-button")))
	if loc := get(chromedp.Location()); loc != pageURL {
		t.Errorf("the browser is at %q, want %q (no token in the URL or history)", loc, pageURL)
	}
	cookies, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{pageURL}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cookies.Cookies) != 1 {
		t.Fatalf("cookies %+v", cookies.Cookies)
	}
	if c := cookies.Cookies[0]; c.Name != api.TokenCookie || c.Value != d.ApplicantToken || !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || !c.Session || c.Secure {
		t.Errorf("cookie %+v", c)
	}
	if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.cookie`)); err != nil || v != "" {
		t.Errorf("document.cookie = %q %v: the token is visible to scripts", v, err)
	}
	if html := get(chromedp.OuterHTML(chromedp.CSS("html"))); strings.Contains(html, d.ApplicantToken) {
		t.Error("the page holds the token")
	}
	checkDecision := func() {
		t.Helper()
		browse(chromedp.WaitVisible(chromedp.CSS("#check-button")), chromedp.Click(chromedp.CSS("#check-button")))
		result := get(chromedp.Poll[string](`(() => { const t = document.getElementById("check-result").textContent; return /^(Verified|Verification failed)/.test(t) ? t : null; })()`,
			chromedp.WithPollingTimeout(30*time.Second)))
		if !strings.HasPrefix(result, "Verified") {
			t.Fatalf("in-browser check on a real decision: %q", result)
		}
		// The leaf is a commitment: the page opened it with the record it
		// shows and checked the leaf's authenticator.
		for _, step := range []string{"commitment", "authenticator", "decision", "inclusion"} {
			if cls := get(chromedp.Evaluate[string](`(document.querySelector('[data-check="` + step + `"]') || {}).className || ""`)); cls != "s-pass" {
				t.Errorf("in-browser check step %q: %q", step, cls)
			}
		}
	}
	checkDecision()
	saveShot(t, "applicant.png", screenshot())
	// The same check in the page on a proof whose record was changed on
	// the way, and on a leaf whose authenticator was (its id recomputed,
	// as for a leaf someone queued straight into Trillian): each fails at
	// that step.
	for step, change := range map[string]string{
		"commitment": `p.committed_record = btoa(atob(p.committed_record).replace('"decision":"', '"decision":"x'));`,
		"authenticator": `const env = JSON.parse(atob(p.record));
			const sig = GlassboxVerify.base64ToBytes(env.authenticator); sig[0] ^= 1;
			p.record = btoa(atob(p.record).replace(env.authenticator, btoa(String.fromCharCode(...sig))));
			id = GlassboxVerify.bytesToHex(await GlassboxVerify.leafHash(GlassboxVerify.base64ToBytes(p.record)));
			p.decision_id = id;`,
	} {
		js := `(async () => {
			let id = "` + d.DecisionID + `";
			const p = await (await fetch("/v1/decisions/" + id + "/proof", {credentials: "same-origin"})).json();
			const key = await (await fetch("/v1/ledger/public-key")).text();
			` + change + `
			const r = await GlassboxVerify.checkDecision({ decisionId: id, proof: p, verifierKey: key });
			return String(r.failed);
		})()`
		if got := get(chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise)); got != step {
			t.Errorf("in-browser check with the %s changed failed at %q, want %q", step, got, step)
		}
	}

	// The link as an applicant follows it from a web mail: a navigation
	// another site starts (127.0.0.1 and localhost are different sites).
	// SameSite=Strict cookies are not sent on such navigations; the page
	// must still open, with the token gone from the URL, and verify.
	_, port, _ := strings.Cut(strings.TrimPrefix(p.url, "http://"), ":")
	target := "http://localhost:" + port + "/ui/decisions/" + d.DecisionID
	mail := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>mail</title><a id="link" href="%s?token=%s">Your decision</a>`, target, d.ApplicantToken)
	}))
	defer mail.Close()
	browse(chromedp.Navigate(mail.URL), chromedp.WaitVisible(chromedp.CSS("#link")), chromedp.Click(chromedp.CSS("#link")))
	// The page navigates (redirect, maybe a reload): evaluating during a
	// navigation fails, so poll from here.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.host.startsWith("localhost") && document.readyState === "complete" && !!document.getElementById("check-button")`))
		if err == nil && ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page did not open from the mail link (%v); the browser shows: %s", err, get(chromedp.Text(chromedp.CSS("body"))))
		}
	}
	if loc := get(chromedp.Location()); loc != target {
		t.Errorf("after the mail link the browser is at %q, want %q", loc, target)
	}
	checkDecision()

	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("regulator:"+regulatorKey))
	// A browser sends the regulator key as Basic credentials after its
	// prompt; the test sets the header the prompt would produce.
	setAuth := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": auth}})
		return err
	})
	browse(setAuth, chromedp.Navigate(p.url+"/ui/audit"), chromedp.WaitVisible(chromedp.CSS("#consistency-form")))
	page := get(chromedp.Text(chromedp.CSS("body")))
	for _, want := range []string{"glassbox.local/ledger/", "credit-risk-v1", "Verified"} {
		if !strings.Contains(page, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	shot := screenshot()
	saveShot(t, "audit.png", shot)

}

func saveShot(t *testing.T, name string, png []byte) {
	if os.Getenv("GLASSBOX_SCREENSHOTS") != "1" {
		return
	}
	if err := os.WriteFile(filepath.Join("../../docs/screenshots", name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
