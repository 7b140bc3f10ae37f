package reasontext

import (
	"os"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/explain"
)

func TestTranslate(t *testing.T) {
	cases := []struct{ lang, code, text, want string }{
		{"es", "P02", "Credit application incomplete", "Solicitud de crédito incompleta"},
		{"en", "P02", "Credit application incomplete", "Credit application incomplete"},
		{"es", "P02", "Some other meaning of P02", "Some other meaning of P02"},
		{"es", "P09", "Credit application incomplete", "Credit application incomplete"},
		{"fr", "P02", "Credit application incomplete", "Credit application incomplete"},
		{"es", explain.FallbackReasonCode, explain.FallbackReasonText, shipped()[2].other["es"]},
	}
	for _, tc := range cases {
		if got := Translate(tc.lang, tc.code, tc.text); got != tc.want {
			t.Errorf("Translate(%q, %q, %q) = %q, want %q", tc.lang, tc.code, tc.text, got, tc.want)
		}
	}
}

// TestShippedTextsMatch: the English texts here are the shipped rulebook's
// and the explainer's, so a change there cannot silently stop (or skew)
// the translation.
func TestShippedTextsMatch(t *testing.T) {
	rego, err := os.ReadFile("../../policy/rego/decision.rego")
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range shipped() {
		if tr.code == explain.FallbackReasonCode {
			if tr.english != explain.FallbackReasonText {
				t.Errorf("fallback text differs from the explainer's")
			}
			continue
		}
		want := "reason_code: " + tr.code + "\n#   reason_text: \"" + tr.english + "\""
		if !strings.Contains(string(rego), want) {
			t.Errorf("decision.rego has no rule with %s", want)
		}
	}
}
