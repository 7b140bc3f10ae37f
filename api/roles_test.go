package api_test

import (
	"fmt"
	"net/http"
	"testing"
)

// TestRoleMatrix calls every endpoint as every kind of caller.
func TestRoleMatrix(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createDecision("matrix-1")
	d2 := e.createDecision("matrix-2")
	// Erased by the admin's call in the last row; the others read d.
	d3 := e.createDecision("matrix-3")
	size := e.settle()

	callers := []struct{ name, key string }{
		{"lender", keyLender},
		{"other lender", keyOtherLender},
		{"applicant", d.ApplicantToken},
		{"other applicant", d2.ApplicantToken},
		{"regulator", keyRegulator},
		{"admin", keyAdmin},
		{"anonymous", ""},
	}
	const (
		ok  = http.StatusOK
		new = http.StatusCreated
		no  = http.StatusForbidden
		who = http.StatusUnauthorized
	)
	id := d.DecisionID
	endpoints := []struct {
		method, path string
		body         any
		// want per caller, in the order of callers.
		want [7]int
	}{
		{"POST", "/v1/decisions", validApp("m"), [7]int{new, new, no, no, no, no, who}},
		{"POST", "/v1/decisions/batch", map[string]any{"applications": []any{validApp("m")}}, [7]int{new, new, no, no, no, no, who}},
		{"GET", "/v1/decisions/" + id, nil, [7]int{ok, no, no, no, ok, no, who}},
		{"GET", "/v1/decisions/" + id + "/explanation", nil, [7]int{ok, no, ok, no, ok, no, who}},
		{"GET", "/v1/decisions/" + id + "/proof", nil, [7]int{ok, no, ok, no, ok, no, who}},
		{"GET", "/v1/ledger/checkpoint", nil, [7]int{ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/v1/ledger/public-key", nil, [7]int{ok, ok, ok, ok, ok, ok, ok}},
		{"GET", fmt.Sprintf("/v1/ledger/consistency?first=1&second=%d", size), nil, [7]int{no, no, no, no, ok, no, who}},
		{"GET", "/v1/ledger/entries?start=0&count=3", nil, [7]int{no, no, no, no, ok, no, who}},
		{"GET", "/v1/models", nil, [7]int{ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/v1/models/credit-risk-v1", nil, [7]int{ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/livez", nil, [7]int{ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/readyz", nil, [7]int{ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/openapi.json", nil, [7]int{ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/metrics", nil, [7]int{no, no, no, no, no, ok, who}},
		// Last: the admin's call erases d3.
		{"POST", "/v1/decisions/" + d3.DecisionID + "/erasure", map[string]string{"legal_basis": "GDPR Art. 17", "requester": "r"}, [7]int{no, no, no, no, no, new, who}},
	}
	for _, ep := range endpoints {
		for i, c := range callers {
			t.Run(ep.method+" "+ep.path+" as "+c.name, func(t *testing.T) {
				sub := *e
				sub.t = t
				r := sub.do(req{method: ep.method, path: ep.path, key: c.key, body: ep.body})
				if r.status != ep.want[i] {
					t.Errorf("status %d, want %d: %.300s", r.status, ep.want[i], r.body)
				}
			})
		}
	}

	// The applicant may also present the token in the query string.
	r := e.do(req{method: "GET", path: "/v1/decisions/" + id + "/explanation?token=" + d.ApplicantToken})
	if r.status != http.StatusOK {
		t.Errorf("token in query: %d %s", r.status, r.body)
	}
}
