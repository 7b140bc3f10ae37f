package api_test

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// testClock is a clock tests move by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func problemOf(t *testing.T, r *response) api.Problem {
	t.Helper()
	var p api.Problem
	r.json(t, &p)
	return p
}

// TestTokenExpiryAndVersion: a token opens its decision until its
// expiry (25 months by default), then gets 401 with a token-expired
// problem; a genuine token of the first layout, which had no expiry, is
// refused saying so; neither counts as a failed authentication.
func TestTokenExpiryAndVersion(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e := newEnv(t, envOptions{
		tokenOptions: []api.TokenOption{api.WithTokenClock(clock.Now)},
		config:       func(c *api.Config) { c.AuthFailBurst = 1 },
	})
	d := e.createRisky("expiry-1")
	explanation := "/v1/decisions/" + d.DecisionID + "/explanation"
	if r := e.do(req{method: "GET", path: explanation, key: d.ApplicantToken}); r.status != 200 {
		t.Fatalf("fresh token: %d %s", r.status, r.body)
	}
	id, err := transparency.ParseID(d.DecisionID)
	if err != nil {
		t.Fatal(err)
	}
	v1 := e.tokens.IssueV1(id)
	for _, tc := range []struct{ name, path, token string }{
		{"header", explanation, v1},
		{"query", "/v1/decisions/" + d.DecisionID + "/proof?token=" + v1, ""},
		{"cookie", "/ui/decisions/" + d.DecisionID, "cookie:" + v1},
	} {
		t.Run("old version by "+tc.name, func(t *testing.T) {
			rq := req{method: "GET", path: tc.path, key: tc.token}
			if c, ok := strings.CutPrefix(tc.token, "cookie:"); ok {
				rq.key, rq.headers = "", map[string]string{"Cookie": api.TokenCookie + "=" + c}
			}
			r := e.do(rq)
			p := problemOf(t, r)
			if r.status != 401 || p.Type != "/problems/unauthenticated" || !strings.Contains(p.Detail, "old version") {
				t.Errorf("version 1 token: %d %+v", r.status, p)
			}
		})
	}

	clock.Add(api.DefaultTokenTTL - time.Minute)
	if r := e.do(req{method: "GET", path: explanation, key: d.ApplicantToken}); r.status != 200 {
		t.Fatalf("a minute before expiry: %d %s", r.status, r.body)
	}
	clock.Add(time.Minute)
	for _, rq := range []req{
		{method: "GET", path: explanation, key: d.ApplicantToken},
		{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/notice?token=" + d.ApplicantToken},
		{method: "GET", path: "/ui/decisions/" + d.DecisionID + "?token=" + d.ApplicantToken},
		{method: "GET", path: "/ui/decisions/" + d.DecisionID, headers: map[string]string{"Cookie": api.TokenCookie + "=" + d.ApplicantToken}},
	} {
		r := e.do(rq)
		p := problemOf(t, r)
		if r.status != 401 || p.Type != "/problems/token-expired" || !strings.Contains(p.Detail, "expired") {
			t.Errorf("%s: expired token: %d %+v", rq.path, r.status, p)
		}
		if rq.headers != nil && !strings.Contains(r.header.Get("Set-Cookie"), "Max-Age=0") {
			t.Errorf("an expired cookie is not cleared: Set-Cookie %q", r.header.Get("Set-Cookie"))
		}
	}
	// Genuine tokens are not guesses: with a failure budget of one, a
	// forged token still gets its 401 (not 429) after all of the above.
	forged := d.ApplicantToken[:len(d.ApplicantToken)-4] + "AAAA"
	if r := e.do(req{method: "GET", path: explanation, key: forged}); r.status != 401 {
		t.Errorf("first failed authentication: %d", r.status)
	}
}

// TestReadsOmitApplicantToken: only the scoring response carries the
// applicant token; lender and regulator reads do not.
func TestReadsOmitApplicantToken(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createDecision("no-token-1")
	if d.ApplicantToken == "" {
		t.Fatal("the scoring response has no applicant token")
	}
	for _, key := range []string{keyLender, keyRegulator} {
		r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: key})
		if r.status != 200 {
			t.Fatalf("read: %d %s", r.status, r.body)
		}
		var m map[string]any
		r.json(t, &m)
		if _, ok := m["applicant_token"]; ok || strings.Contains(string(r.body), d.ApplicantToken) {
			t.Errorf("a read with the %s key returns the applicant token", strings.Split(key, "-")[1])
		}
	}
}

// TestTokenCookieExchange: the link's token is swapped for a cookie and
// the browser redirected to the URL without it; the cookie then opens the
// page and the applicant's reads of that decision only, never a write.
func TestTokenCookieExchange(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *api.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	}})
	d := e.createRisky("cookie-1")
	other := e.createDecision("cookie-2")
	page := "/ui/decisions/" + d.DecisionID

	r := e.do(req{method: "GET", path: page + "?token=" + d.ApplicantToken})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != page {
		t.Fatalf("link: %d, Location %q, want 303 to %s", r.status, r.header.Get("Location"), page)
	}
	cookies := (&http.Response{Header: r.header}).Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies %v", cookies)
	}
	c := cookies[0]
	if c.Name != api.TokenCookie || c.Value != d.ApplicantToken || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure {
		t.Errorf("cookie over plain HTTP: %s", c)
	}
	for _, h := range []string{"Cache-Control", "Referrer-Policy"} {
		if r.header.Get(h) == "" {
			t.Errorf("redirect without %s", h)
		}
	}
	// The language choice survives the exchange; only the token leaves.
	r = e.do(req{method: "GET", path: page + "?lang=es&token=" + d.ApplicantToken})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != page+"?lang=es" {
		t.Errorf("link with lang: %d, Location %q, want 303 to %s?lang=es", r.status, r.header.Get("Location"), page)
	}
	// Behind a trusted proxy that terminated TLS, the cookie is Secure.
	r = e.do(req{method: "GET", path: page + "?token=" + d.ApplicantToken, headers: map[string]string{"X-Forwarded-Proto": "https"}})
	if cs := (&http.Response{Header: r.header}).Cookies(); r.status != 303 || len(cs) != 1 || !cs[0].Secure {
		t.Errorf("cookie behind a TLS proxy: %d %v", r.status, cs)
	}
	// Another decision's token is not exchanged.
	if r := e.do(req{method: "GET", path: page + "?token=" + other.ApplicantToken}); r.status != 403 || r.header.Get("Set-Cookie") != "" {
		t.Errorf("another decision's token: %d, Set-Cookie %q", r.status, r.header.Get("Set-Cookie"))
	}

	cookie := map[string]string{"Cookie": c.String()}
	for _, tc := range []struct {
		name   string
		r      req
		status int
	}{
		{"page", req{method: "GET", path: page, headers: cookie}, 200},
		{"proof", req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/proof", headers: cookie}, 200},
		{"explanation", req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", headers: cookie}, 200},
		{"notice", req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/notice", headers: cookie}, 200},
		{"another decision's page", req{method: "GET", path: "/ui/decisions/" + other.DecisionID, headers: cookie}, 403},
		// The cookie authorizes nothing outside the decision reads.
		{"a write", req{method: "POST", path: "/v1/decisions", headers: cookie, body: validApp("cookie-3")}, 401},
		{"the audit page", req{method: "GET", path: "/ui/audit", headers: cookie}, 401},
		{"no cookie", req{method: "GET", path: page}, 401},
		{"forged cookie", req{method: "GET", path: page, headers: map[string]string{"Cookie": api.TokenCookie + "=gbt_forged"}}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(tc.r)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, tc.status, r.body)
			}
			if tc.status == 200 && strings.Contains(string(r.body), d.ApplicantToken) {
				t.Error("the response holds the token")
			}
		})
	}

	// A navigation from another site arrives without the SameSite=Strict
	// cookie: it gets a page that reloads itself as a same-site
	// navigation, which carries the cookie.
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
	r = e.do(req{method: "GET", path: page, headers: cross})
	if r.status != 200 || !strings.Contains(string(r.body), `http-equiv="refresh"`) {
		t.Errorf("cross-site navigation without cookie: %d %.200s", r.status, r.body)
	}
	checkPageHeaders(t, e, r)
}

// TestNoStore: every JSON response about a decision (personal data)
// carries Cache-Control: no-store; public ledger reads do not need it.
func TestNoStore(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.do(req{method: "POST", path: "/v1/decisions?wait=integrated", key: keyLender, body: validApp("no-store-1")})
	if r.status != 201 || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("scoring response: %d, Cache-Control %q", r.status, r.header.Get("Cache-Control"))
	}
	var d decisionOut
	r.json(t, &d)
	batch := e.do(req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: map[string]any{"applications": []any{validApp("no-store-2")}}})
	if batch.status != 201 || batch.header.Get("Cache-Control") != "no-store" {
		t.Errorf("batch response: %d, Cache-Control %q", batch.status, batch.header.Get("Cache-Control"))
	}
	for _, rq := range []req{
		{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender},
		{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: d.ApplicantToken},
		{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/proof", key: d.ApplicantToken},
	} {
		r := e.do(rq)
		if r.status != 200 || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d, Cache-Control %q", rq.path, r.status, r.header.Get("Cache-Control"))
		}
		if !json.Valid(r.body) {
			t.Errorf("%s: not JSON", rq.path)
		}
	}
}
