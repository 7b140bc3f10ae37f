package policy

import (
	"context"
	"fmt"
	"testing"
)

// TestInputTermsBounded decides with more distinct reasons than the cache
// keeps: answers stay right and the cache stops growing at its limit.
func TestInputTermsBounded(t *testing.T) {
	ctx := context.Background()
	e, in := servingEngine(t)
	in.ProbabilityOfDefault = 0.6 // a decline discloses its reasons
	for i := range inputTermsLimit + 10 {
		// The fallback carries no contribution, so its term is kept.
		r := Reason{Code: fmt.Sprintf("Z%d", i), Feature: fmt.Sprintf("F%d", i), Meaning: "something", Fallback: true}
		in.Reasons = []Reason{r}
		in.Features = map[string]any{fmt.Sprintf("F%d", i): 1.0, "Amount": 100.0}
		o, err := e.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if len(o.Reasons) != 1 || o.Reasons[0] != r {
			t.Fatalf("reason %d: got %+v", i, o.Reasons)
		}
	}
	if n, m := len(e.terms.reasons), len(e.terms.names); n != inputTermsLimit || m != inputTermsLimit {
		t.Errorf("cache holds %d reasons and %d names, limit %d", n, m, inputTermsLimit)
	}
}
