package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/api"
)

// TestLoneSurrogatesRefused: a request whose JSON holds an unpaired UTF-16
// surrogate escape, wherever it is and however it is written, gets a 400
// problem naming it, and nothing reaches the ledger (encoding/json alone
// would have recorded U+FFFD in its place).
func TestLoneSurrogatesRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	before := e.settle()
	features, err := json.Marshal(validFeatures())
	if err != nil {
		t.Fatal(err)
	}
	feats := string(features[1 : len(features)-1]) // the members, without braces
	single := map[string]func(s string) string{
		"application id":       func(s string) string { return `{"application_id":"` + s + `","features":{` + feats + `}}` },
		"application id start": func(s string) string { return `{"application_id":"` + s + `a-1","features":{` + feats + `}}` },
		"application id end":   func(s string) string { return `{"application_id":"a-1` + s + `","features":{` + feats + `}}` },
		"level value":          func(s string) string { return strings.Replace(validBody(feats), `"rent"`, `"re`+s+`nt"`, 1) },
		"feature name":         func(s string) string { return strings.Replace(validBody(feats), `"Income"`, `"Inc`+s+`ome"`, 1) },
		"model": func(s string) string {
			return `{"application_id":"a-1","model":"` + s + `","features":{` + feats + `}}`
		},
		"unknown member name": func(s string) string { return `{"application_id":"a-1","` + s + `":1,"features":{` + feats + `}}` },
	}
	escapes := []string{`\ud800`, `\uDBFF`, `\udc00`, `\uDFFF`, `\ud800\ud800`, `\ude00\ud83d`, `\ud83d\ude00\udc00`, `\ud800\u0041`}
	for where, doc := range single {
		for _, esc := range escapes {
			t.Run(where+"/"+esc, func(t *testing.T) {
				sub := *e
				sub.t = t
				expectSurrogateProblem(t, sub.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: doc(esc)}))
				// The batch endpoint reads the same way, the bad
				// application anywhere in the list.
				batch := fmt.Sprintf(`{"applications":[%s,%s]}`, validBody(feats), doc(esc))
				expectSurrogateProblem(t, sub.do(req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: batch}))
			})
		}
	}
	if after := e.settle(); after != before {
		t.Errorf("ledger grew from %d to %d entries", before, after)
	}
}

func validBody(feats string) string {
	return `{"application_id":"a-1","features":{` + feats + `}}`
}

func expectSurrogateProblem(t *testing.T, r *response) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.status, r.body)
	}
	var p api.Problem
	r.json(t, &p)
	if !strings.Contains(p.Detail, "surrogate") {
		t.Errorf("problem %q does not name the surrogate", p.Detail)
	}
}
