package transparency

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gowebpki/jcs"

	"github.com/glassbox-ledger/glassbox/internal/ijson"
)

// loneEscapes are unpaired surrogates as a JSON text can write them, and
// pairedEscapes well-formed pairs, for tests that place them everywhere a
// string can be.
var (
	loneEscapes = []string{
		`\ud800`, `\uDBFF`, `\udc00`, `\uDFFF`, // either half alone
		`\ud800\ud800`, `\ude00\ud83d`, // high twice, a pair reversed
		`\ud800\u0041`, `\ud800\n`, // high followed by something else
		`\ud83d\ude00\udc00`, // a good pair, then a lone low half
	}
	pairedEscapes = []string{`\ud83d\ude00`, `\uD800\uDC00`, `\udbff\udfff`}
)

// surrogateDocs places s at the start, middle and end of a string, as a
// member name, as a top-level string and deep inside arrays and objects.
func surrogateDocs(s string) map[string]string {
	return map[string]string{
		"whole value":  `{"a":"` + s + `"}`,
		"value start":  `{"a":"` + s + `xy"}`,
		"value middle": `{"a":"x` + s + `y"}`,
		"value end":    `{"a":"xy` + s + `"}`,
		"member name":  `{"` + s + `":1}`,
		"top level":    `"` + s + `"`,
		"array":        `[1,"ok","` + s + `"]`,
		"nested":       `{"b":[{"c":{"d":["` + s + `"]}}]}`,
	}
}

func TestCanonicalizeRefusesLoneSurrogates(t *testing.T) {
	for _, esc := range loneEscapes {
		for where, doc := range surrogateDocs(esc) {
			t.Run(esc+"/"+where, func(t *testing.T) {
				got, err := Canonicalize([]byte(doc))
				if !errors.Is(err, ErrInvalidRecord) || !errors.Is(err, ijson.ErrLoneSurrogate) {
					t.Fatalf("Canonicalize(%s) = %q, %v; want a lone-surrogate ErrInvalidRecord", doc, got, err)
				}
				if _, err := DecodeRecord([]byte(doc)); !errors.Is(err, ijson.ErrLoneSurrogate) {
					t.Errorf("DecodeRecord(%s): %v", doc, err)
				}
			})
		}
	}
	// Complete pairs are the same character written another way: accepted,
	// and written out as the character itself.
	for _, esc := range pairedEscapes {
		for where, doc := range surrogateDocs(esc) {
			got, err := Canonicalize([]byte(doc))
			if err != nil {
				t.Errorf("%s: Canonicalize(%s): %v", where, doc, err)
				continue
			}
			if bytes.Contains(got, []byte(`\u`)) || !utf8.Valid(got) || bytes.ContainsRune(got, utf8.RuneError) {
				t.Errorf("%s: Canonicalize(%s) = %s, want the pair as one UTF-8 character", where, doc, got)
			}
		}
	}
}

// FuzzCanonicalizeMatchesJCS compares Canonicalize with an independent
// RFC 8785 implementation, github.com/gowebpki/jcs, on arbitrary input.
// Where glassbox accepts, jcs must accept and produce the same bytes.
// Where glassbox refuses, the input must be one glassbox is right to
// refuse: not UTF-8, not JSON (by encoding/json's validator), holding a
// lone surrogate, a number beyond the double range, or a duplicate member
// name (which jcs, too, refuses). jcs is laxer in places (it takes "[1 2]"
// as [12] and reads invalid UTF-8 through), so its accepting an input
// glassbox refuses is no failure as long as the refusal is one of those.
func FuzzCanonicalizeMatchesJCS(f *testing.F) {
	for _, s := range []string{
		`{"b":1,"a":[true,false,null],"c":{"z":"","y":{}}}`,
		`[1.0,1e2,-0,-0.0,0.000001,1E-7,1e21,1e20,12.50,5e-324,1.7976931348623157e308,123456789012345678901,0.1,-1.5e-7,4.35,2e-3]`,
		`[9007199254740993,1e-400,1e400,-1e400,1e309,0.30000000000000004,100000000000000000000]`,
		`"\u0041\/\u00e9\u001f\u007f\n\"\\<>&\u2028\u2029"`,
		`{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}`,
		`{"a":1,"a":2}`, `{"a":1,"\u0061":2}`, `{"x":{"k":[{"d":1,"d":1}]}}`,
		`"\ud800"`, `{"\udc00":1}`, `["\ud83d\ude00\ude00"]`, `"\ude00\ud83d"`,
		" \t\n{ \"a\" : [ 1 , 2 ] }\r\n", ` 12 `, `true`, `null`, `"s"`,
		`[1 2]`, `[tru e]`, `{"a":1}x`, `{"a":1} {"b":2}`, `[01]`, `[.5]`, `[+1]`, `[0x10]`, `[Infinity]`, `[NaN]`,
		"\"\xff\"", "\"a\x01b\"", `{"a":`, ``, `[]`, `{}`, `[[[[[]]]]]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Canonicalize(data)
		// Wrapped in an array, a top-level scalar with whitespace around
		// it is one jcs parses (alone, it parses the whole text as the
		// literal); for anything glassbox accepts, the wrapping changes
		// nothing else.
		want, jerr := jcs.Transform(append(append([]byte("["), data...), ']'))
		why := refusalReason(data, jerr)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Canonicalize(%q): %v does not wrap ErrInvalidRecord", data, err)
			}
			if why == "" {
				t.Fatalf("Canonicalize refused %q (%v), which is I-JSON without duplicate members; jcs gives %q, %v", data, err, want, jerr)
			}
			return
		}
		if why != "" {
			t.Fatalf("Canonicalize(%q) = %q, but the input should be refused: %s", data, got, why)
		}
		if jerr != nil {
			t.Fatalf("jcs refuses %q (%v); glassbox gives %q", data, jerr, got)
		}
		if wrapped := "[" + string(got) + "]"; wrapped != string(want) {
			t.Fatalf("Canonicalize(%q)\n  glassbox %s\n       jcs %s", data, wrapped, want)
		}
	})
}

// refusalReason says why data is not a JSON text Canonicalize may accept,
// or "" if it is one. jerr is jcs's verdict on it, which detects
// duplicate member names.
func refusalReason(data []byte, jerr error) string {
	switch {
	case !utf8.Valid(data):
		return "invalid UTF-8"
	case !json.Valid(data):
		return "not a JSON text"
	case ijson.LoneSurrogate(data) >= 0:
		return "a lone surrogate"
	case numberOutOfRange(data):
		return "a number beyond the double range"
	case jerr != nil && strings.Contains(jerr.Error(), "Duplicate key"):
		return "a duplicate member name"
	}
	return ""
}

// numberOutOfRange reports whether a valid JSON text holds a number that
// does not fit a double.
func numberOutOfRange(data []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return false // not reached for a valid text; the caller checked
		}
		if n, ok := tok.(json.Number); ok {
			if _, err := strconv.ParseFloat(string(n), 64); err != nil {
				return true
			}
		}
	}
}
