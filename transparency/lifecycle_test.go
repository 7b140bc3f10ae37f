package transparency

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func testFinalAction() *FinalAction {
	return &FinalAction{
		DecisionID: strings.Repeat("ab", 32),
		Lender:     "acme",
		Action:     ActionCounteroffer,
		Reasons:    []ActionReason{{Code: "F07", Text: "Income insufficient for amount of credit requested"}},
		Counteroffer: map[string]FeatureValue{
			"Amount": NumberValue(800), "Time": NumberValue(36), "Kind": LevelValue("secured"),
		},
		NoteSHA256: strings.Repeat("0e", 32),
		Amends:     strings.Repeat("cd", 32),
		Actor:      "reviewer",
		Reviewer:   "rv_0123456789abcdef",
		Override:   true,
		Policy:     PolicyRef{Revision: "r1"},
	}
}

func testNoticeSent() *NoticeSent {
	return &NoticeSent{
		DecisionID: strings.Repeat("ab", 32), Lender: "acme", Notice: strings.Repeat("ef", 32),
		Channel: "mail", SentAt: FormatSentAt(testTime), Format: "text", Lang: "en", SHA256: strings.Repeat("12", 32),
	}
}

func testOutcome() *Outcome {
	return &Outcome{DecisionID: strings.Repeat("ab", 32), Lender: "acme", Status: "defaulted", AsOf: "2026-09-30", MonthsOnBook: 6}
}

// TestLifecycleRecordsRoundTrip checks each lifecycle record against the
// reference encoding (json.Marshal then Canonicalize), decodes it back to
// the same bytes and body, and checks its members by name.
func TestLifecycleRecordsRoundTrip(t *testing.T) {
	plain := testFinalAction()
	plain.Action, plain.Counteroffer, plain.Amends, plain.NoteSHA256, plain.Override = ActionApprove, nil, "", "", false
	plain.Reasons = nil
	system := testFinalAction()
	system.Action, system.Counteroffer, system.Actor, system.Reviewer = ActionDecline, nil, "system", ""
	tests := []struct {
		name    string
		body    any
		members []string
	}{
		{"final action", testFinalAction(), []string{"action", "actor", "amends", "counteroffer", "decision_id", "lender", "nonce", "note_sha256", "override", "policy", "reasons", "reviewer"}},
		{"plain approval", plain, []string{"action", "actor", "decision_id", "lender", "nonce", "override", "policy", "reasons", "reviewer"}},
		{"system decline", system, []string{"action", "actor", "amends", "decision_id", "lender", "nonce", "note_sha256", "override", "policy", "reasons"}},
		{"notice sent", testNoticeSent(), []string{"channel", "decision_id", "format", "lang", "lender", "notice", "sent_at", "sha256"}},
		{"outcome", testOutcome(), []string{"as_of", "decision_id", "lender", "months_on_book", "status"}},
		{"contest", &Contest{DecisionID: strings.Repeat("ab", 32), Lender: "acme", ApplicationID: "a-1", Statement: "My income is 180, not 130: the pay slip was old.",
			Corrections: map[string]FeatureValue{"Income": NumberValue(180)}}, []string{"application_id", "corrections", "decision_id", "lender", "nonce", "statement"}},
		{"contest without corrections", &Contest{DecisionID: strings.Repeat("ab", 32), Lender: "acme", Statement: "I was not asked about my assets."},
			[]string{"decision_id", "lender", "nonce", "statement"}},
		{"rescore", &Rescore{DecisionID: strings.Repeat("ab", 32), Lender: "acme", Contest: strings.Repeat("cd", 32), Rescored: strings.Repeat("ef", 32)},
			[]string{"contest", "decision_id", "lender", "rescored"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRecord(t, tt.body)
			b := mustEncode(t, r)
			ref, err := encodeReference(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, ref) {
				t.Fatalf("encoding differs from the reference\n got %s\nwant %s", b, ref)
			}
			got, err := DecodeRecord(b)
			if err != nil {
				t.Fatalf("DecodeRecord(%s): %v", b, err)
			}
			if again := mustEncode(t, got); !bytes.Equal(again, b) {
				t.Errorf("round trip changed bytes\n got %s\nwant %s", again, b)
			}
			if got.Type != r.Type || got.LinkedDecision() != strings.Repeat("ab", 32) {
				t.Errorf("decoded type %q linked %q", got.Type, got.LinkedDecision())
			}
			var env struct {
				Body map[string]json.RawMessage `json:"body"`
			}
			if err := json.Unmarshal(b, &env); err != nil {
				t.Fatal(err)
			}
			var names []string
			for k := range env.Body {
				names = append(names, k)
			}
			if strings.Join(slices.Sorted(slices.Values(names)), ",") != strings.Join(tt.members, ",") {
				t.Errorf("body members %v, want %v", slices.Sorted(slices.Values(names)), tt.members)
			}
		})
	}
}

func TestLifecycleRecordValidation(t *testing.T) {
	cases := map[string]any{
		"unknown action":            func() any { a := testFinalAction(); a.Action = "maybe"; return a }(),
		"terms without offer":       func() any { a := testFinalAction(); a.Action = ActionDecline; return a }(),
		"offer without terms":       func() any { a := testFinalAction(); a.Counteroffer = nil; return a }(),
		"term without value":        func() any { a := testFinalAction(); a.Counteroffer["Amount"] = MissingValue(); return a }(),
		"reason without text":       func() any { a := testFinalAction(); a.Reasons[0].Text = ""; return a }(),
		"reviewer without name":     func() any { a := testFinalAction(); a.Reviewer = ""; return a }(),
		"system with name":          func() any { a := testFinalAction(); a.Actor = "system"; return a }(),
		"unknown actor":             func() any { a := testFinalAction(); a.Actor = "model"; return a }(),
		"short decision id":         func() any { a := testFinalAction(); a.DecisionID = "ab"; return a }(),
		"upper-case amends":         func() any { a := testFinalAction(); a.Amends = strings.Repeat("CD", 32); return a }(),
		"bad note digest":           func() any { a := testFinalAction(); a.NoteSHA256 = "x"; return a }(),
		"notice without channel":    func() any { n := testNoticeSent(); n.Channel = ""; return n }(),
		"notice bad time":           func() any { n := testNoticeSent(); n.SentAt = "2026-01-01"; return n }(),
		"notice bad digest":         func() any { n := testNoticeSent(); n.SHA256 = "00"; return n }(),
		"outcome unknown status":    func() any { o := testOutcome(); o.Status = "late"; return o }(),
		"outcome bad date":          func() any { o := testOutcome(); o.AsOf = "2026-9-30"; return o }(),
		"outcome impossible date":   func() any { o := testOutcome(); o.AsOf = "2026-02-30"; return o }(),
		"outcome negative months":   func() any { o := testOutcome(); o.MonthsOnBook = -1; return o }(),
		"contest without statement": &Contest{DecisionID: strings.Repeat("ab", 32), Lender: "acme"},
		"contest correction without value": &Contest{DecisionID: strings.Repeat("ab", 32), Lender: "acme", Statement: "x",
			Corrections: map[string]FeatureValue{"Income": MissingValue()}},
		"rescore without decision": &Rescore{DecisionID: strings.Repeat("ab", 32), Contest: strings.Repeat("cd", 32)},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := NewRecord(testTime, body); !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("NewRecord: %v, want ErrInvalidRecord", err)
			}
		})
	}
	// Two encodings of "no reasons" would give one action two ids: null is
	// refused, [] is the form.
	b := mustEncode(t, mustRecord(t, &Outcome{DecisionID: strings.Repeat("ab", 32), Lender: "l", Status: "current", AsOf: "2026-01-01"}))
	if _, err := DecodeRecord(b); err != nil {
		t.Fatal(err)
	}
	a := testFinalAction()
	a.Action, a.Counteroffer = ActionApprove, nil
	fb := string(mustEncode(t, mustRecord(t, a)))
	for name, mutated := range map[string]string{
		"null reasons":       strings.Replace(fb, `"reasons":[{"code":"F07","text":"Income insufficient for amount of credit requested"}]`, `"reasons":null`, 1),
		"empty amends":       strings.Replace(fb, `"amends":"`+strings.Repeat("cd", 32)+`"`, `"amends":""`, 1),
		"empty counteroffer": strings.Replace(fb, `"decision_id"`, `"counteroffer":{},"decision_id"`, 1),
		"unknown member":     strings.Replace(fb, `"decision_id"`, `"colour":"red","decision_id"`, 1),
	} {
		if mutated == fb {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := DecodeRecord([]byte(mutated)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: DecodeRecord: %v, want ErrInvalidRecord", name, err)
		}
	}
}
