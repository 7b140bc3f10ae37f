package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
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
	browse(chromedp.Navigate(p.url+"/ui/decisions/"+d.DecisionID+"?token="+d.ApplicantToken),
		chromedp.WaitVisible(chromedp.CSS("#check-button")),
		chromedp.Click(chromedp.CSS("#check-button")))
	result := get(chromedp.Poll[string](`(() => { const t = document.getElementById("check-result").textContent; return /^(Verified|Verification failed)/.test(t) ? t : null; })()`,
		chromedp.WithPollingTimeout(30*time.Second)))
	if !strings.HasPrefix(result, "Verified") {
		t.Fatalf("in-browser check on a real decision: %q", result)
	}
	saveShot(t, "applicant.png", screenshot())

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
