package api_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// TestAuditReportPage opens the audit page's report view in a real
// browser: it reports the decisions made, every chart has a title and a
// description for assistive technology and a table beside it, and the
// page's style sheet is the one its Content-Security-Policy allows.
func TestAuditReportPage(t *testing.T) {
	e := newEnv(t, envOptions{})
	apps := testApplications(t, e.model)[:200]
	r := e.do(req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: map[string]any{"applications": apps}})
	if r.status != http.StatusCreated {
		t.Fatalf("batch: %d %.300s", r.status, r.body)
	}
	size := e.settle()
	for _, c := range []struct {
		key    string
		status int
	}{{"", http.StatusUnauthorized}, {keyLender, http.StatusForbidden}, {keyAdmin, http.StatusForbidden}, {keyRegulator, http.StatusOK}} {
		if resp := e.do(req{method: "GET", path: "/ui/audit/report", key: c.key}); resp.status != c.status {
			t.Errorf("key %q: status %d, want %d", c.key, resp.status, c.status)
		}
	}
	if resp := e.do(req{method: "GET", path: "/ui/audit/report?x=1", key: keyRegulator}); resp.status != http.StatusBadRequest {
		t.Errorf("unknown query: %d", resp.status)
	}

	path := "/usr/bin/chromium"
	if p := os.Getenv("GLASSBOX_CHROMIUM"); p != "" {
		path = p
	}
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s", path)
		}
		t.Skipf("chromium not found at %s", path)
	}
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), chromedp.ExecPath(path), chromedp.Headless,
		chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-dev-shm-usage", true))
	defer cancel()
	ctx, cancel := chromedp.NewContext(alloc)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	setAuth := chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Bearer " + keyRegulator}})
		return err
	})
	if _, err := chromedp.Run(ctx, chromedp.Steps(setAuth, chromedp.Navigate(e.http.URL+"/ui/audit/report"), chromedp.WaitVisible(chromedp.CSS("main")))); err != nil {
		t.Fatal(err)
	}
	str := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	num := func(js string) int {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[int](js))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	title, text := str(chromedp.Title()), str(chromedp.Text(chromedp.CSS("main")))
	font := str(chromedp.Evaluate[string](`getComputedStyle(document.body).fontFamily`))
	charts := num(`document.querySelectorAll('svg[role="img"]').length`)
	described := num(`[...document.querySelectorAll('svg[role="img"]')].filter(s => {
		const ids = s.getAttribute('aria-labelledby').split(' ');
		return ids.every(id => { const el = document.getElementById(id); return el && s.contains(el) && el.textContent.trim() !== ''; });
	}).length`)
	tables := num(`document.querySelectorAll('table caption').length`)
	if title != "glassbox monitoring report" {
		t.Errorf("title %q", title)
	}
	for _, want := range []string{fmt.Sprintf("first %d entries", size), "200 decisions", "Population stability index"} {
		if !strings.Contains(text, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Three charts per segment (outcomes, score bands, PSI), each
	// labelled and described, and their tables.
	if charts < 3 || described != charts || tables < 3 {
		t.Errorf("%d charts, %d labelled and described, %d tables", charts, described, tables)
	}
	if !strings.Contains(font, "system-ui") {
		t.Errorf("body font %q: the page's style sheet was blocked", font)
	}
}
