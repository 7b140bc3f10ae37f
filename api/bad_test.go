package api_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/api"
)

func validFeatures() map[string]any {
	return map[string]any{
		"Seniority": 3, "Home": "rent", "Time": 48, "Records": "no", "Job": "fixed",
		"Expenses": 60, "Income": 130, "Assets": 2000, "Debt": 0, "Amount": 1000, "Price": 1400,
	}
}

func validApp(id string) map[string]any {
	return map[string]any{"application_id": id, "features": validFeatures()}
}

func withFeature(name string, v any) map[string]any {
	f := validFeatures()
	if v == nil {
		delete(f, name)
	} else {
		f[name] = v
	}
	return map[string]any{"application_id": "bad-1", "features": f}
}

// rawApp is a single-application body with one feature written verbatim.
func rawApp(name, literal string) string {
	f := validFeatures()
	delete(f, name)
	b, _ := json.Marshal(f)
	return fmt.Sprintf(`{"application_id":"bad-raw","features":{%q:%s,%s}`, name, literal, b[1:])
}

func (e *env) createDecision(id string) decisionOut {
	e.t.Helper()
	r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: validApp(id)})
	if r.status != http.StatusCreated {
		e.t.Fatalf("creating decision: %d %s", r.status, r.body)
	}
	var d decisionOut
	r.json(e.t, &d)
	return d
}

// TestBadRequests sends malformed, invalid and unauthorised requests: each
// gets its status and a problem document, and the ledger does not grow.
func TestBadRequests(t *testing.T) {
	e := newEnv(t, envOptions{})
	mine := e.createDecision("mine-1")
	other := e.createDecision("other-1")
	before := e.settle()

	batch := func(apps ...any) map[string]any { return map[string]any{"applications": apps} }
	tooMany := make([]any, api.DefaultMaxBatch+1)
	for i := range tooMany {
		tooMany[i] = validApp(fmt.Sprintf("b-%d", i))
	}
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	forged := mine.ApplicantToken[:len(mine.ApplicantToken)-4] + "AAAA"

	cases := []struct {
		name string
		req  req
		want int
		// field, when set, must be among the problem's errors.
		field string
	}{
		{"malformed JSON", req{method: "POST", path: "/v1/decisions", key: keyLender, body: `{"application_id": "x",`}, 400, ""},
		{"trailing data", req{method: "POST", path: "/v1/decisions", key: keyLender, body: `{"application_id":"x","features":{}} {}`}, 400, ""},
		{"empty body", req{method: "POST", path: "/v1/decisions", key: keyLender, body: ""}, 400, ""},
		{"NaN literal", req{method: "POST", path: "/v1/decisions", key: keyLender, body: rawApp("Income", "NaN")}, 400, ""},
		{"Infinity literal", req{method: "POST", path: "/v1/decisions", key: keyLender, body: rawApp("Income", "Infinity")}, 400, ""},
		{"huge number", req{method: "POST", path: "/v1/decisions", key: keyLender, body: rawApp("Income", "1e400")}, 422, "features.Income"},
		{"duplicate member", req{method: "POST", path: "/v1/decisions", key: keyLender, body: `{"application_id":"a","application_id":"b","features":{}}`}, 400, ""},
		{"invalid UTF-8", req{method: "POST", path: "/v1/decisions", key: keyLender, body: []byte("{\"application_id\":\"\xff\"}")}, 400, ""},
		{"deeply nested", req{method: "POST", path: "/v1/decisions", key: keyLender, body: deep}, 400, ""},
		{"not an object", req{method: "POST", path: "/v1/decisions", key: keyLender, body: `[1,2]`}, 422, ""},
		{"number as string", req{method: "POST", path: "/v1/decisions", key: keyLender, body: withFeature("Income", "130")}, 422, "features.Income"},
		{"level as number", req{method: "POST", path: "/v1/decisions", key: keyLender, body: withFeature("Home", 2)}, 422, "features.Home"},
		{"unknown level", req{method: "POST", path: "/v1/decisions", key: keyLender, body: withFeature("Home", "castle")}, 422, "features.Home"},
		{"unknown feature", req{method: "POST", path: "/v1/decisions", key: keyLender, body: withFeature("Gender", "f")}, 422, "features.Gender"},
		{"out of range", req{method: "POST", path: "/v1/decisions", key: keyLender, body: withFeature("Income", -5)}, 422, "features.Income"},
		{"missing required feature", req{method: "POST", path: "/v1/decisions", key: keyLender, body: withFeature("Seniority", nil)}, 422, "features.Seniority"},
		{"object as feature value", req{method: "POST", path: "/v1/decisions", key: keyLender, body: withFeature("Amount", map[string]any{"v": 1})}, 422, "features.Amount"},
		{"missing application id and features", req{method: "POST", path: "/v1/decisions", key: keyLender, body: `{}`}, 422, "application_id"},
		{"application id not a string", req{method: "POST", path: "/v1/decisions", key: keyLender, body: map[string]any{"application_id": 7, "features": validFeatures()}}, 422, "application_id"},
		{"application id with spaces", req{method: "POST", path: "/v1/decisions", key: keyLender, body: map[string]any{"application_id": "John Smith", "features": validFeatures()}}, 422, "application_id"},
		{"features null", req{method: "POST", path: "/v1/decisions", key: keyLender, body: `{"application_id":"x","features":null}`}, 422, "features"},
		{"unknown JSON field", req{method: "POST", path: "/v1/decisions", key: keyLender, body: map[string]any{"application_id": "x", "features": validFeatures(), "name": "John"}}, 422, "name"},
		{"unknown model", req{method: "POST", path: "/v1/decisions", key: keyLender, body: map[string]any{"application_id": "x", "model": "nope", "features": validFeatures()}}, 422, "model"},
		{"oversized body", req{method: "POST", path: "/v1/decisions", key: keyLender, body: `{"application_id":"` + strings.Repeat("a", 70<<10) + `"}`}, 413, ""},
		{"oversized batch", req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: `{"applications":["` + strings.Repeat("a", 5<<20) + `"]}`}, 413, ""},
		{"wrong content type", req{method: "POST", path: "/v1/decisions", key: keyLender, body: validApp("x"), contentType: "text/plain"}, 415, ""},
		{"no content type", req{method: "POST", path: "/v1/decisions", key: keyLender, body: validApp("x"), contentType: "-"}, 415, ""},
		{"unknown query parameter", req{method: "POST", path: "/v1/decisions?debug=1", key: keyLender, body: validApp("x")}, 400, ""},
		{"bad wait", req{method: "POST", path: "/v1/decisions?wait=forever", key: keyLender, body: validApp("x")}, 400, ""},
		{"empty batch", req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: batch()}, 422, "applications"},
		{"batch too large", req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: batch(tooMany...)}, 422, "applications"},
		{"batch not a list", req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: `{"applications":{}}`}, 422, "applications"},
		{"batch with one bad application", req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: batch(validApp("ok-1"), withFeature("Income", "x"), validApp("ok-3"))}, 422, "applications[1].features.Income"},
		{"no key", req{method: "POST", path: "/v1/decisions", body: validApp("x")}, 401, ""},
		{"wrong key", req{method: "POST", path: "/v1/decisions", key: "not-a-key-at-all-000", body: validApp("x")}, 401, ""},
		{"not a bearer credential", req{method: "POST", path: "/v1/decisions", body: validApp("x"), headers: map[string]string{"Authorization": "Basic " + keyLender}}, 401, ""},
		{"wrong role", req{method: "POST", path: "/v1/decisions", key: keyRegulator, body: validApp("x")}, 403, ""},
		{"applicant token posting", req{method: "POST", path: "/v1/decisions", key: mine.ApplicantToken, body: validApp("x")}, 403, ""},
		{"forged applicant token", req{method: "GET", path: "/v1/decisions/" + mine.DecisionID + "/explanation", key: forged}, 401, ""},
		{"token of another decision", req{method: "GET", path: "/v1/decisions/" + other.DecisionID + "/explanation", key: mine.ApplicantToken}, 403, ""},
		{"token of another decision in query", req{method: "GET", path: "/v1/decisions/" + other.DecisionID + "/proof?token=" + mine.ApplicantToken}, 403, ""},
		{"API key in query", req{method: "GET", path: "/v1/decisions/" + mine.DecisionID + "?token=" + keyLender}, 401, ""},
		{"bad decision id", req{method: "GET", path: "/v1/decisions/xyz", key: keyLender}, 400, ""},
		{"non-hex decision id", req{method: "GET", path: "/v1/decisions/" + strings.Repeat("g", 64), key: keyRegulator}, 400, ""},
		{"unknown decision", req{method: "GET", path: "/v1/decisions/" + strings.Repeat("0", 64), key: keyRegulator}, 404, ""},
		{"bad tree size", req{method: "GET", path: "/v1/decisions/" + mine.DecisionID + "/proof?tree_size=abc", key: keyRegulator}, 400, ""},
		{"zero tree size", req{method: "GET", path: "/v1/decisions/" + mine.DecisionID + "/proof?tree_size=0", key: keyRegulator}, 400, ""},
		{"tree size beyond the log", req{method: "GET", path: "/v1/decisions/" + mine.DecisionID + "/proof?tree_size=999999", key: keyRegulator}, 400, ""},
		{"negative start", req{method: "GET", path: "/v1/ledger/entries?start=-1", key: keyRegulator}, 400, ""},
		{"count too large", req{method: "GET", path: "/v1/ledger/entries?start=0&count=5000", key: keyRegulator}, 400, ""},
		{"missing start", req{method: "GET", path: "/v1/ledger/entries", key: keyRegulator}, 400, ""},
		{"consistency without second", req{method: "GET", path: "/v1/ledger/consistency?first=1", key: keyRegulator}, 400, ""},
		{"consistency backwards", req{method: "GET", path: "/v1/ledger/consistency?first=3&second=2", key: keyRegulator}, 400, ""},
		{"repeated parameter", req{method: "GET", path: "/v1/ledger/entries?start=0&start=1", key: keyRegulator}, 400, ""},
		{"unknown model id", req{method: "GET", path: "/v1/models/nope"}, 404, ""},
		{"unknown route", req{method: "GET", path: "/v1/nothing"}, 404, ""},
		{"wrong method", req{method: "DELETE", path: "/v1/decisions"}, 405, ""},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sub := *e
			sub.t = t
			r := sub.do(tc.req)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
			var p api.Problem
			r.json(t, &p)
			if tc.field != "" {
				fields := make([]string, len(p.Errors))
				for i, fe := range p.Errors {
					fields[i] = fe.Field
				}
				if !slices.Contains(fields, tc.field) {
					t.Errorf("problem errors %v lack %q", fields, tc.field)
				}
			}
		})
	}
	if after := e.settle(); after != before {
		t.Errorf("ledger grew from %d to %d entries", before, after)
	}
}

// TestValidationListsEveryProblem: one request with several mistakes gets
// all of them back.
func TestValidationListsEveryProblem(t *testing.T) {
	e := newEnv(t, envOptions{})
	f := validFeatures()
	f["Income"] = "lots"
	f["Home"] = "castle"
	f["Zodiac"] = "leo"
	delete(f, "Seniority")
	r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: map[string]any{"features": f, "extra": 1}})
	if r.status != http.StatusUnprocessableEntity {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	var p api.Problem
	r.json(t, &p)
	got := map[string]bool{}
	for _, fe := range p.Errors {
		got[fe.Field] = true
	}
	for _, want := range []string{"application_id", "extra", "features.Income", "features.Home", "features.Zodiac", "features.Seniority"} {
		if !got[want] {
			t.Errorf("no problem reported for %s; got %v", want, slices.Sorted(maps.Keys(got)))
		}
	}
}
