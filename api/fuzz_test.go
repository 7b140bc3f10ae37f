package api_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/glassbox-ledger/glassbox/api"
)

// FuzzDecisionRequest sends arbitrary bodies to POST /v1/decisions on a
// real server: whatever arrives, the answer is a decision or a client
// error with a problem document — never a server error, never a panic.
func FuzzDecisionRequest(f *testing.F) {
	seeds := []string{
		`{"application_id":"f-1","features":{"Seniority":3,"Home":"rent","Time":48,"Records":"no","Job":"fixed","Expenses":60,"Income":130,"Assets":2000,"Debt":0,"Amount":1000,"Price":1400}}`,
		`{"application_id":"f-2","model":"credit-risk-v1","features":{"Seniority":0,"Home":null,"Time":6,"Records":"yes","Job":null,"Expenses":35,"Income":null,"Assets":null,"Debt":null,"Amount":100,"Price":105}}`,
		`{"application_id":"f-3","features":{"Seniority":1e400}}`,
		`{"application_id":"","features":{}}`,
		`{"application_id":"x","features":{"Home":"castle"},"extra":1}`,
		`[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]`,
		`{"application_id":"\ud800","features":{}}`,
		`null`, `{}`, ``, `{"a":`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	e := newEnv(f, envOptions{})
	url := e.http.URL + "/v1/decisions"
	client := e.http.Client()
	f.Fuzz(func(t *testing.T, body []byte) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+keyLender)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		switch resp.StatusCode {
		case http.StatusCreated:
			var d struct {
				DecisionID string `json:"decision_id"`
			}
			if json.Unmarshal(data, &d) != nil || len(d.DecisionID) != 64 {
				t.Fatalf("201 without a decision id: %s", data)
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
			var p api.Problem
			if resp.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(data, &p) != nil || p.Status != resp.StatusCode {
				t.Fatalf("%d without a problem document: %s", resp.StatusCode, data)
			}
		default:
			t.Fatalf("body %q: status %d: %s", body, resp.StatusCode, data)
		}
	})
}
