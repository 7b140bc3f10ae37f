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
		{"reviewer", keyReviewer},
		{"other reviewer", keyOtherReviewer},
	}
	const (
		ok  = http.StatusOK
		new = http.StatusCreated
		no  = http.StatusForbidden
		who = http.StatusUnauthorized
		// bad is a request that passed access control and was refused
		// for its content: the lifecycle bodies below are ones policy or
		// validation refuses, so the matrix records no lifecycle record.
		bad = http.StatusUnprocessableEntity
	)
	id := d.DecisionID
	endpoints := []struct {
		method, path string
		body         any
		// want per caller, in the order of callers.
		want [9]int
	}{
		{"POST", "/v1/decisions", validApp("m"), [9]int{new, new, no, no, no, no, who, no, no}},
		{"POST", "/v1/decisions/batch", map[string]any{"applications": []any{validApp("m")}}, [9]int{new, new, no, no, no, no, who, no, no}},
		{"GET", "/v1/decisions/" + id, nil, [9]int{ok, no, no, no, ok, no, who, ok, no}},
		{"GET", "/v1/decisions/" + id + "/explanation", nil, [9]int{ok, no, ok, no, ok, no, who, ok, no}},
		{"GET", "/v1/decisions/" + id + "/proof", nil, [9]int{ok, no, ok, no, ok, no, who, ok, no}},
		{"GET", "/v1/ledger/checkpoint", nil, [9]int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/v1/ledger/public-key", nil, [9]int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", fmt.Sprintf("/v1/ledger/consistency?first=1&second=%d", size), nil, [9]int{no, no, no, no, ok, no, who, no, no}},
		{"GET", "/v1/ledger/entries?start=0&count=3", nil, [9]int{no, no, no, no, ok, no, who, no, no}},
		{"GET", "/v1/models", nil, [9]int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/v1/models/credit-risk-v1", nil, [9]int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/livez", nil, [9]int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/readyz", nil, [9]int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/openapi.json", nil, [9]int{ok, ok, ok, ok, ok, ok, ok, ok, ok}},
		{"GET", "/metrics", nil, [9]int{no, no, no, no, no, ok, who, no, no}},
		{"GET", "/v1/decisions/" + id + "/notice", nil, [9]int{ok, no, ok, no, ok, no, who, ok, no}},
		{"GET", "/v1/decisions/" + id + "/history", nil, [9]int{ok, no, ok, no, ok, no, who, ok, no}},
		{"GET", "/v1/reviews", nil, [9]int{ok, ok, no, no, ok, no, who, ok, ok}},
		{"GET", "/v1/reviews?status=overdue", nil, [9]int{ok, ok, no, no, ok, no, who, ok, ok}},
		{"GET", "/ui/reviews", nil, [9]int{ok, ok, no, no, ok, no, who, ok, ok}},
		{"GET", "/ui/audit", nil, [9]int{no, no, no, no, ok, no, who, no, no}},
		{"POST", "/v1/decisions/" + id + "/contest", map[string]any{"corrections": map[string]any{}}, [9]int{no, no, bad, no, no, no, who, no, no}},
		{"POST", "/v1/decisions/" + id + "/rescore", map[string]any{}, [9]int{bad, no, no, no, no, no, who, bad, no}},
		{"POST", "/v1/decisions/" + id + "/actions", map[string]any{"action": "approve", "reasons": []string{"Z99"}}, [9]int{bad, no, no, no, no, no, who, bad, no}},
		{"POST", "/v1/decisions/" + id + "/notice/sent", map[string]any{"channel": "mail", "sent_at": "2999-01-01T00:00:00Z"}, [9]int{bad, no, no, no, no, no, who, no, no}},
		{"POST", "/v1/decisions/" + id + "/outcome", map[string]any{"status": "current", "as_of": "2999-01-01", "months_on_book": 1}, [9]int{bad, no, no, no, no, no, who, no, no}},
		// Last: the admin's call erases d3.
		{"POST", "/v1/decisions/" + d3.DecisionID + "/erasure", map[string]string{"legal_basis": "GDPR Art. 17", "requester": "r"}, [9]int{no, no, no, no, no, new, who, no, no}},
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
