package api

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/glassbox-ledger/glassbox/internal/ijson"
)

var parseCases = []string{
	`{"application_id":"a","features":{"Income":130,"Home":"rent"}}`,
	`{"a":1,"a":2}`,
	`{"a":1,"\u0061":2}`,
	`{"x":{"a":1,"a":1}}`,
	`[{"a":1},{"a":1},{"b":{"c":[1,{"d":2,"d":3}]}}]`,
	`{"a:b":"c:d","e":"\":"}`,
	`{"a":[]," ":{}}`,
	`{"n":1e400,"m":-0.0,"s":"\ud800"}`,
	`{"a":1} `,
	`{"a":1} {"b":2}`,
	`{"a":1}x`,
	`{"a":`,
	`{"a" 1}`,
	`[1,2,]`,
	`null`, `true`, `"s"`, `12`, ``, `   `,
	`[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]`,
}

// TestParseJSONFastPathAgrees: parseJSON, fast path and all, gives what
// the token reader alone gives, value or error, on documents with and without duplicates
// (escaped, nested, in arrays), colons in strings, trailing data and
// malformed input.
func TestParseJSONFastPathAgrees(t *testing.T) {
	for _, c := range parseCases {
		checkSameParse(t, []byte(c))
	}
	// The fast path must actually serve clean documents, and only them.
	for doc, want := range map[string]bool{
		parseCases[0]:             true,
		`{"a:b":"c:d","e":"\":"}`: true,
		`[{"a":1},{"a":1}]`:       true,
		`{"a":1,"a":2}`:           false,
		`{"a":1,"\u0061":2}`:      false,
		`{"x":{"a":1,"a":1}}`:     false,
	} {
		members, err := scanJSON([]byte(doc), maxJSONDepth)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := decodeWhole([]byte(doc), members); ok != want {
			t.Errorf("%s: fast path taken %v, want %v", doc, ok, want)
		}
	}
}

func checkSameParse(t *testing.T, data []byte) {
	t.Helper()
	got, gotErr := parseJSON(data)
	if gotErr == nil {
		checkNoInventedReplacement(t, data, got)
	}
	if len(bytes.TrimSpace(data)) == 0 || !utf8.Valid(data) {
		return // refused before either reader runs
	}
	if ijson.LoneSurrogate(data) >= 0 {
		if gotErr == nil {
			t.Fatalf("%q: parseJSON accepted a lone surrogate as %#v", data, got)
		}
		return // refused before either reader runs
	}
	if _, err := scanJSON(data, maxJSONDepth); err != nil {
		return
	}
	want, wantErr := decodeTokens(data)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !reflect.DeepEqual(got, want) {
		t.Fatalf("%q: parseJSON = %#v, %v; token reader = %#v, %v", data, got, gotErr, want, wantErr)
	}
}

// checkNoInventedReplacement fails when a parsed value holds U+FFFD that
// the document did not: encoding/json writes it for a lone surrogate
// escape, which parseJSON must refuse instead (I-JSON).
func checkNoInventedReplacement(t *testing.T, data []byte, v any) {
	t.Helper()
	sent := bytes.Contains(data, []byte("\uFFFD")) || bytes.Contains(bytes.ToLower(data), []byte(`\ufffd`))
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case string:
			if !sent && strings.ContainsRune(x, utf8.RuneError) {
				t.Fatalf("%q: parsed string %q holds U+FFFD the document does not", data, x)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			for k, e := range x {
				walk(k)
				walk(e)
			}
		}
	}
	walk(v)
}

// TestParseJSONRefusesLoneSurrogates: both readers behind parseJSON would
// decode "\ud800" as U+FFFD; parseJSON refuses it wherever it is.
func TestParseJSONRefusesLoneSurrogates(t *testing.T) {
	for _, doc := range []string{
		`{"application_id":"\ud800","features":{}}`,
		`{"application_id":"a\uDFFFb","features":{}}`,
		`{"features":{"\udc00":1}}`,
		`{"a":1,"a":"\ud800"}`, // a duplicate too: the fast path is not taken
		`[{"x":["\ude00\ud83d"]}]`,
	} {
		v, err := parseJSON([]byte(doc))
		if err == nil || !strings.Contains(err.Error(), "surrogate") {
			t.Errorf("parseJSON(%s) = %v, %v; want a lone-surrogate error", doc, v, err)
		}
	}
	v, err := parseJSON([]byte(`{"s":"\ud83d\ude00\ufffd"}`))
	if err != nil || v.(map[string]any)["s"] != "\U0001F600\uFFFD" {
		t.Errorf("a pair and an escaped U+FFFD: %#v, %v", v, err)
	}
}

// FuzzParseJSONFastPath checks the same on arbitrary bytes.
func FuzzParseJSONFastPath(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameParse(t, data)
	})
}
