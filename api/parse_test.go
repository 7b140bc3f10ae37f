package api

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
	"unicode/utf8"
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
	if len(bytes.TrimSpace(data)) == 0 || !utf8.Valid(data) {
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

// FuzzParseJSONFastPath checks the same on arbitrary bytes.
func FuzzParseJSONFastPath(f *testing.F) {
	for _, c := range parseCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkSameParse(t, data)
	})
}
