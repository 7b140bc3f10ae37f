package api_test

import (
	"encoding/base64"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/api/web"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// scoreRangeText is the default model's score range as the notice words
// it (scoring's tests check the range itself against the trees).
func scoreRangeText(t *testing.T) string {
	t.Helper()
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	lo, hi, _ := m.ScoreRange()
	if lo == m.Scale().Min && hi == m.Scale().Max {
		t.Fatalf("the default model's range is the nominal scale")
	}
	return fmt.Sprintf("From %.0f to %.0f", math.Round(lo), math.Round(hi))
}

// TestNoticeAndPageLanguage: Spanish for ?lang=es or Accept-Language es,
// English otherwise, on both the notice and the applicant page.
func TestNoticeAndPageLanguage(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("lang-1")
	cases := []struct {
		name, query, acceptLanguage, want string
		status                            int
	}{
		{"default", "", "", "en", 200},
		{"Accept-Language es", "", "es-MX,es;q=0.9,en;q=0.5", "es", 200},
		{"Accept-Language en first", "", "en-US,es;q=0.5", "en", 200},
		{"lang=es", "lang=es", "en", "es", 200},
		{"lang=en over Accept-Language es", "lang=en", "es", "en", 200},
		{"lang=fr", "lang=fr", "", "", 400},
	}
	marks := map[string]map[string]string{
		"notice": {"es": "Lo que decidimos", "en": "What we decided"},
		"page":   {"es": "Razones principales", "en": "Main reasons"},
	}
	for _, tc := range cases {
		for _, kind := range []string{"notice", "page"} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				path := "/v1/decisions/" + d.DecisionID + "/notice?token=" + d.ApplicantToken
				h := map[string]string{"Accept": "text/html"}
				if tc.query != "" {
					path += "&" + tc.query
				}
				if kind == "page" {
					// The page takes its token from the cookie the link's
					// token is exchanged for (TestTokenCookieExchange).
					path = "/ui/decisions/" + d.DecisionID
					if tc.query != "" {
						path += "?" + tc.query
					}
					h["Cookie"] = api.TokenCookie + "=" + d.ApplicantToken
				}
				if tc.acceptLanguage != "" {
					h["Accept-Language"] = tc.acceptLanguage
				}
				r := e.do(req{method: "GET", path: path, headers: h})
				if r.status != tc.status {
					t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
				}
				if tc.status != 200 {
					if !strings.Contains(string(r.body), "lang must be one of en, es") {
						t.Errorf("problem %s", r.body)
					}
					return
				}
				body := string(r.body)
				if !strings.Contains(body, `<html lang="`+tc.want+`">`) || r.header.Get("Content-Language") != tc.want {
					t.Errorf("want %s: Content-Language %q, body %.200s", tc.want, r.header.Get("Content-Language"), body)
				}
				for lang, mark := range marks[kind] {
					if strings.Contains(body, mark) != (lang == tc.want) {
						t.Errorf("want %s: %q present %v", tc.want, mark, lang != tc.want)
					}
				}
			})
		}
	}
}

// riskyApp is an application the default policy does not approve.
func riskyApp(id string) map[string]any {
	f := validFeatures()
	f["Seniority"], f["Income"], f["Amount"], f["Price"] = 1, 90, 2000, 2200
	return map[string]any{"application_id": id, "features": f}
}

func (e *env) createRisky(id string) decisionOut {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: riskyApp(id)})
	if r.status != http.StatusCreated {
		e.t.Fatalf("creating decision: %d %s", r.status, r.body)
	}
	var d decisionOut
	r.json(e.t, &d)
	if d.Decision == "approve" {
		e.t.Fatalf("risky application approved (PD %v)", d.ProbabilityOfDefault)
	}
	return d
}

// TestCounterfactualsRescoreToApprove follows every suggestion of the
// explanation through the real API: applied to the application, each one
// must be approved.
func TestCounterfactualsRescoreToApprove(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("risky-1")
	r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: d.ApplicantToken})
	if r.status != http.StatusOK {
		t.Fatalf("explanation: %d %s", r.status, r.body)
	}
	var ex explanationOut
	r.json(t, &ex)
	if len(ex.Counterfactuals) == 0 || len(ex.Counterfactuals) > 3 {
		t.Fatalf("%d counterfactuals (recourse %q)", len(ex.Counterfactuals), ex.Recourse)
	}
	immutable := map[string]bool{"Records": true, "Seniority": true, "Home": true, "Job": true}
	for i, cf := range ex.Counterfactuals {
		app := riskyApp("risky-1-cf")
		feats := app["features"].(map[string]any)
		for _, ch := range cf.Changes {
			if immutable[ch.Feature] {
				t.Errorf("suggestion %q changes immutable %s", cf.Text, ch.Feature)
			}
			// The end nearest the applicant, where the reported PD is.
			if from, ok := ch.From.(float64); ok && from < *ch.Low {
				feats[ch.Feature] = *ch.Low
			} else {
				feats[ch.Feature] = *ch.High
			}
		}
		r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: app})
		var got decisionOut
		r.json(t, &got)
		if r.status != http.StatusCreated || got.Decision != "approve" {
			t.Errorf("counterfactual %d (%s): %d, decision %q", i, cf.Text, r.status, got.Decision)
		}
		if math.Abs(got.ProbabilityOfDefault-cf.ProbabilityOfDefault) > 1e-12 {
			t.Errorf("counterfactual %d (%s): PD %v at the nearest point, stated %v", i, cf.Text, got.ProbabilityOfDefault, cf.ProbabilityOfDefault)
		}
	}
}

func TestNoticeEndpoint(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("notice-1")
	cases := []struct {
		name, key, accept, wantType string
		status                      int
	}{
		{"applicant, text", d.ApplicantToken, "", "text/plain", 200},
		{"applicant, html", d.ApplicantToken, "text/html", "text/html", 200},
		{"lender", keyLender, "text/plain", "text/plain", 200},
		{"regulator", keyRegulator, "", "text/plain", 200},
		{"other lender", keyOtherLender, "", "", 403},
		{"anonymous", "", "", "", 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.accept != "" {
				h["Accept"] = tc.accept
			}
			r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/notice", key: tc.key, headers: h})
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if tc.status != 200 {
				return
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), tc.wantType) {
				t.Errorf("content type %q", r.header.Get("Content-Type"))
			}
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			if tc.wantType == "text/html" {
				// The same security headers as the pages.
				checkPageHeaders(t, e, r)
			}
			body := strings.ToLower(strings.Join(strings.Fields(string(r.body)), " "))
			for _, want := range []string{d.DecisionID, d.Reasons[0].Text, "Equal Credit Opportunity Act", scoreRangeText(t), "How to ask us to look again", notice.SpecimenMark} {
				if !strings.Contains(body, strings.ToLower(want)) {
					t.Errorf("notice lacks %q", want)
				}
			}
		})
	}
}

// checkPageHeaders checks the security headers every HTML response of
// the service carries, against the pages' own policy.
func checkPageHeaders(t *testing.T, e *env, r *response) {
	t.Helper()
	csp, err := web.ContentSecurityPolicy()
	if err != nil {
		t.Fatal(err)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": csp, "Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
	} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
}

func TestPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("page-1")
	r := e.do(req{method: "GET", path: "/ui/decisions/" + d.DecisionID, headers: map[string]string{"Cookie": api.TokenCookie + "=" + d.ApplicantToken}})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("applicant page: %d %s", r.status, r.header.Get("Content-Type"))
	}
	checkPageHeaders(t, e, r)
	for _, want := range []string{"<svg", d.Reasons[0].Text, "would have been approved"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("applicant page lacks %q", want)
		}
	}
	if strings.Contains(string(r.body), d.ApplicantToken) {
		t.Error("the applicant page holds the token")
	}
	other := e.createDecision("page-2")
	if r := e.do(req{method: "GET", path: "/ui/decisions/" + d.DecisionID + "?token=" + other.ApplicantToken}); r.status != 403 {
		t.Errorf("another decision's token opens the page: %d", r.status)
	}

	r = e.do(req{method: "GET", path: "/ui/audit"})
	if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("audit page without key: %d, WWW-Authenticate %q", r.status, r.header.Get("WWW-Authenticate"))
	}
	basic := func(key string) map[string]string {
		return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("regulator:"+key))}
	}
	if r := e.do(req{method: "GET", path: "/ui/audit", headers: basic(keyLender)}); r.status != 403 {
		t.Errorf("audit page for a lender: %d", r.status)
	}
	r = e.do(req{method: "GET", path: "/ui/audit", headers: basic(keyRegulator)})
	if r.status != 200 {
		t.Fatalf("audit page: %d %s", r.status, r.body)
	}
	cp := e.do(req{method: "GET", path: "/v1/ledger/checkpoint"})
	origin, _, _ := strings.Cut(string(cp.body), "\n")
	for _, want := range []string{origin, "model_admitted", "policy_activated"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
}
