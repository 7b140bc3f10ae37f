package api_test

import (
	"encoding/base64"
	"math"
	"net/http"
	"strings"
	"testing"
)

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
			body := strings.ToLower(strings.Join(strings.Fields(string(r.body)), " "))
			for _, want := range []string{d.DecisionID, d.Reasons[0].Text, "Equal Credit Opportunity Act", "300 to 850", "reconsideration"} {
				if !strings.Contains(body, strings.ToLower(want)) {
					t.Errorf("notice lacks %q", want)
				}
			}
		})
	}
}

func TestPages(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createRisky("page-1")
	r := e.do(req{method: "GET", path: "/ui/decisions/" + d.DecisionID + "?token=" + d.ApplicantToken})
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Fatalf("applicant page: %d %s", r.status, r.header.Get("Content-Type"))
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src") {
		t.Errorf("applicant page CSP %q", csp)
	}
	for _, want := range []string{"<svg", d.Reasons[0].Text, "would have been approved"} {
		if !strings.Contains(string(r.body), want) {
			t.Errorf("applicant page lacks %q", want)
		}
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
