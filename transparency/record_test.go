package transparency

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
)

func TestFormatNumber(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0"},
		{math.Copysign(0, -1), "0"},
		{1, "1"},
		{-1, "-1"},
		{0.1, "0.1"},
		{-0.5, "-0.5"},
		{100, "100"},
		{123456789, "123456789"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{1.5e21, "1.5e+21"},
		{1e-6, "0.000001"},
		{1.25e-6, "0.00000125"},
		{1e-7, "1e-7"},
		{1.5e-7, "1.5e-7"},
		{5e-324, "5e-324"},
		{math.MaxFloat64, "1.7976931348623157e+308"},
		{9007199254740992, "9007199254740992"},
		{333333333.33333329, "333333333.3333333"},
		{4.35, "4.35"},
		{0.000001, "0.000001"},
		{295147905179352830000, "295147905179352830000"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got, err := FormatNumber(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("FormatNumber(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		if _, err := FormatNumber(bad); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("FormatNumber(%v) error = %v, want ErrInvalidRecord", bad, err)
		}
	}
}

// Every finite double must survive FormatNumber and parsing bit for bit;
// otherwise a record's attributions could change between scoring and audit.
func TestFormatNumberRoundTripsBitExactly(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(f float64) {
		s, err := FormatNumber(f)
		if err != nil {
			t.Fatalf("FormatNumber(%v): %v", f, err)
		}
		back, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("ParseFloat(%q): %v", s, err)
		}
		if f == 0 {
			if back != 0 {
				t.Fatalf("zero came back as %v", back)
			}
			return
		}
		if math.Float64bits(back) != math.Float64bits(f) {
			t.Fatalf("%v (%#x) → %q → %v (%#x)", f, math.Float64bits(f), s, back, math.Float64bits(back))
		}
	}
	for range 200000 {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		check(f)
	}
	for range 50000 { // the ranges model outputs actually live in
		check(rng.NormFloat64())
		check(rng.Float64() * 1e-9)
	}
	check(math.SmallestNonzeroFloat64)
	check(math.Nextafter(1, 2))
	check(math.Nextafter(1e21, 0))
}

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"whitespace", " { \"b\" : 1 ,\n\"a\" : [ true , false , null ] } ", `{"a":[true,false,null],"b":1}`},
		{"nested sort", `{"z":{"y":1,"x":2},"a":{}}`, `{"a":{},"z":{"x":2,"y":1}}`},
		{"numbers", `[1.0,1e2,-0,0.000001,1E-7,1e21,12.50]`, `[1,100,0,0.000001,1e-7,1e+21,12.5]`},
		{"escapes", `"\u0041\/\u00e9\u001f\n\"\\<>&\u2028"`, "\"A/é\\u001f\\n\\\"\\\\<>&\u2028\""},
		// RFC 8785 §3.2.3: members sort by UTF-16 code units, so U+1F600
		// (surrogates D83D DE00) sorts before U+FB33.
		{"utf16 order", `{"\u20ac":1,"\r":2,"\ufb33":3,"1":4,"\ud83d\ude00":5,"\u0080":6,"\u00f6":7}`,
			"{\"\\r\":2,\"1\":4,\"\u0080\":6,\"\u00f6\":7,\"\u20ac\":1,\"\U0001F600\":5,\"\ufb33\":3}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Canonicalize(%s)\n got %s\nwant %s", tt.in, got, tt.want)
			}
			again, err := Canonicalize(got)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("canonical form is not a fixed point: %s → %s (%v)", got, again, err)
			}
		})
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"duplicate member", `{"a":1,"a":1}`},
		{"trailing data", `{"a":1} {}`},
		{"invalid utf8", "\"\xff\""},
		{"out of range number", `1e400`},
		{"truncated", `{"a":`},
		{"empty", ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := Canonicalize([]byte(tt.in)); !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("Canonicalize(%q) = %s, %v; want ErrInvalidRecord", tt.in, got, err)
			}
		})
	}
}

// testDecision returns a fully populated decision body.
func testDecision() *Decision {
	return &Decision{
		Lender:        "acme-bank",
		ApplicationID: "app-0001",
		Model:         ModelRef{ID: "credit-risk-v1", SHA256: strings.Repeat("ab", 32)},
		Policy:        PolicyRef{Revision: "7"},
		Features: map[string]FeatureValue{
			"income":         NumberValue(52000),
			"debt_ratio":     NumberValue(0.3127),
			"home_ownership": LevelValue("RENT"),
			"months_since":   MissingValue(),
		},
		RawScore:             -1.2345678901234567,
		ProbabilityOfDefault: 0.22541,
		Score:                612,
		Decision:             "decline",
		ReasonMethod:         "baseline_shapley/cutoff",
		Reasons: []Reason{
			{Code: "P01", Text: "Amount above the limit", Rule: "DEC-REFER-AMOUNT"},
			{Code: "R01", Feature: "debt_ratio", Value: NumberValue(0.3127), Text: "Debt ratio too high", Contribution: f64(0.41),
				Direction: "decrease", Reference: NumberValue(0.2)},
			{Code: "R07", Feature: "home_ownership", Value: LevelValue("RENT"), Text: "Housing <status> & \"tenure\"", Contribution: f64(1e-7),
				Direction: "other", Reference: LevelValue("OWN")},
			{Code: "R08", Feature: "months_since", Value: MissingValue(), Text: "Months not provided", Direction: "provide"},
		},
		Attributions:  map[string]float64{"income": -0.12, "debt_ratio": 0.41, "home_ownership": 0.05, "months_since": 0},
		ExpectedValue: -1.6,
		Nonce:         "00112233445566778899aabbccddeeff",
	}
}

var testTime = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

func mustRecord(t testing.TB, body any) *Record {
	t.Helper()
	r, err := NewRecord(testTime, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustEncode(t testing.TB, r *Record) []byte {
	t.Helper()
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordEncodingIsCanonical(t *testing.T) {
	b := mustEncode(t, mustRecord(t, testDecision()))
	want := `{"body":{"application_id":"app-0001","attributions":{"debt_ratio":0.41,"home_ownership":0.05,"income":-0.12,"months_since":0},` +
		`"decision":"decline","expected_value":-1.6,"features":{"debt_ratio":0.3127,"home_ownership":"RENT","income":52000,"months_since":null},` +
		`"lender":"acme-bank","model":{"id":"credit-risk-v1","sha256":"` + strings.Repeat("ab", 32) + `"},"nonce":"00112233445566778899aabbccddeeff",` +
		`"policy":{"revision":"7"},"probability_of_default":0.22541,"raw_score":-1.2345678901234567,"reason_method":"baseline_shapley/cutoff",` +
		`"reasons":[{"code":"P01","contribution":null,"direction":null,"feature":null,"reference":null,"rule":"DEC-REFER-AMOUNT","text":"Amount above the limit","value":null},` +
		`{"code":"R01","contribution":0.41,"direction":"decrease","feature":"debt_ratio","reference":0.2,"rule":null,"text":"Debt ratio too high","value":0.3127},` +
		`{"code":"R07","contribution":1e-7,"direction":"other","feature":"home_ownership","reference":"OWN","rule":null,"text":"Housing <status> & \"tenure\"","value":"RENT"},` +
		`{"code":"R08","contribution":null,"direction":"provide","feature":"months_since","reference":null,"rule":null,"text":"Months not provided","value":null}],"score":612},` +
		`"format":1,"timestamp":"2026-03-14T15:09:26.535897000Z","type":"decision"}`
	if string(b) != want {
		t.Errorf("Encode()\n got %s\nwant %s", b, want)
	}
}

func f64(v float64) *float64 { return &v }

// legacyRecord is a decision record as written before reasons carried
// direction, reference and rule and before reason_method existed.
const legacyRecord = `{"body":{"application_id":"app-0001","attributions":{"debt_ratio":0.41,"home_ownership":0.05,"income":-0.12,"months_since":0},` +
	`"decision":"decline","expected_value":-1.6,"features":{"debt_ratio":0.3127,"home_ownership":"RENT","income":52000,"months_since":null},` +
	`"lender":"acme-bank","model":{"id":"credit-risk-v1","sha256":"abababababababababababababababababababababababababababababababab"},"nonce":"00112233445566778899aabbccddeeff",` +
	`"policy":{"revision":"7"},"probability_of_default":0.22541,"raw_score":-1.2345678901234567,` +
	`"reasons":[{"code":"R01","contribution":0.41,"feature":"debt_ratio","text":"Debt ratio too high","value":0.3127},` +
	`{"code":"R07","contribution":1e-7,"feature":"home_ownership","text":"Housing <status> & \"tenure\"","value":"RENT"}],"score":612},` +
	`"format":1,"timestamp":"2026-03-14T15:09:26.535897000Z","type":"decision"}`

// TestLegacyRecordStaysReadable decodes a record in the old form: it is
// accepted, its reasons are legacy, reason_method shows as omitted, and it
// encodes to the same bytes (so its id is unchanged).
func TestLegacyRecordStaysReadable(t *testing.T) {
	r, err := DecodeRecord([]byte(legacyRecord))
	if err != nil {
		t.Fatal(err)
	}
	d := r.Decision
	if len(d.Reasons) != 2 || !d.Reasons[0].Legacy || !d.Reasons[1].Legacy {
		t.Fatalf("reasons %+v", d.Reasons)
	}
	if c := d.Reasons[1].Contribution; c == nil || *c != 1e-7 || d.Reasons[1].Feature != "home_ownership" {
		t.Errorf("reason 2 %+v", d.Reasons[1])
	}
	if !slices.Contains(r.Omitted(), "reason_method") || d.ReasonMethod != "" {
		t.Errorf("omitted %v, reason_method %q", r.Omitted(), d.ReasonMethod)
	}
	if got := mustEncode(t, r); string(got) != legacyRecord {
		t.Errorf("re-encoded\n got %s\nwant %s", got, legacyRecord)
	}
	// A reason mixing the forms is neither, and is refused.
	mixed := strings.Replace(legacyRecord, `"feature":"debt_ratio",`, `"feature":"debt_ratio","rule":null,`, 1)
	if _, err := DecodeRecord([]byte(mixed)); err == nil {
		t.Error("a reason with only some of the new members decoded")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	minimised := mustRecord(t, testDecision())
	if err := minimised.Minimise([]string{"decision", "model", "policy", "score"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rec  *Record
	}{
		{"decision", mustRecord(t, testDecision())},
		{"empty decision", mustRecord(t, &Decision{Nonce: "ffeeddccbbaa99887766554433221100"})},
		{"minimised decision", minimised},
		{"model admitted", mustRecord(t, &ModelAdmitted{Model: ModelRef{ID: "m", SHA256: "00"}, Details: map[string]string{"report": "x"}})},
		{"policy activated", mustRecord(t, &PolicyActivated{Policy: PolicyRef{Revision: "cafe"}})},
		{"recourse", mustRecord(t, testRecourse())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustEncode(t, tt.rec)
			got, err := DecodeRecord(b)
			if err != nil {
				t.Fatalf("DecodeRecord(%s): %v", b, err)
			}
			again := mustEncode(t, got)
			if !bytes.Equal(again, b) {
				t.Errorf("round trip changed bytes\n got %s\nwant %s", again, b)
			}
			if !got.Timestamp.Equal(testTime) || got.Type != tt.rec.Type {
				t.Errorf("decoded envelope %v %v, want %v %v", got.Timestamp, got.Type, testTime, tt.rec.Type)
			}
		})
	}
}

func TestDecisionIDIsLeafHash(t *testing.T) {
	r := mustRecord(t, testDecision())
	b := mustEncode(t, r)
	id, err := r.ID()
	if err != nil {
		t.Fatal(err)
	}
	want := rfc6962.DefaultHasher.HashLeaf(b)
	if !bytes.Equal(id[:], want) || id != RecordID(b) {
		t.Fatalf("id %s, want leaf hash %x", id, want)
	}
	if s := id.String(); s != hex.EncodeToString(want) || strings.ToLower(s) != s {
		t.Errorf("id string %q is not lowercase hex of the leaf hash", s)
	}
	parsed, err := ParseID(strings.ToUpper(id.String()))
	if err != nil || parsed != id {
		t.Errorf("ParseID(upper) = %s, %v", parsed, err)
	}
}

func TestDecodeRecordRejectsNonCanonical(t *testing.T) {
	good := string(mustEncode(t, mustRecord(t, testDecision())))
	policy := string(mustEncode(t, mustRecord(t, &PolicyActivated{Policy: PolicyRef{Revision: "3"}})))
	tests := []struct {
		name string
		in   string
	}{
		{"trailing newline", good + "\n"},
		{"leading space", " " + good},
		{"space after colon", strings.Replace(good, `"format":1`, `"format": 1`, 1)},
		{"members out of order", strings.Replace(good, `"format":1,"timestamp":"2026-03-14T15:09:26.535897000Z"`, `"timestamp":"2026-03-14T15:09:26.535897000Z","format":1`, 1)},
		{"non-shortest number", strings.Replace(good, `"score":612`, `"score":612.0`, 1)},
		{"exponent number", strings.Replace(good, `"score":612`, `"score":6.12e2`, 1)},
		{"escaped letter", strings.Replace(good, `"lender":"acme-bank"`, `"lender":"\u0061cme-bank"`, 1)},
		{"html escaped", strings.Replace(good, `<status>`, `\u003cstatus>`, 1)},
		{"duplicate member", strings.Replace(good, `"format":1`, `"format":1,"format":1`, 1)},
		{"unknown envelope member", strings.Replace(good, `"format":1`, `"extra":1,"format":1`, 1)},
		{"unknown body member", strings.Replace(good, `"decision":"decline"`, `"decision":"decline","email":"a@b"`, 1)},
		{"future format", strings.Replace(good, `"format":1`, `"format":2`, 1)},
		{"unknown type", strings.Replace(policy, `"policy_activated"`, `"policy_retired"`, 1)},
		{"body of the wrong type", strings.Replace(good, `"type":"decision"`, `"type":"model_admitted"`, 1)},
		{"missing nonce", strings.Replace(good, `"nonce":"00112233445566778899aabbccddeeff",`, ``, 1)},
		{"uppercase nonce", strings.Replace(good, `aabbccddeeff`, `AABBCCDDEEFF`, 1)},
		{"short timestamp", strings.Replace(good, `26.535897000Z`, `26.535897Z`, 1)},
		{"zoned timestamp", strings.Replace(good, `26.535897000Z`, `26.535897000+00:00`, 1)},
		{"null body", `{"body":null,"format":1,"timestamp":"2026-03-14T15:09:26.535897000Z","type":"policy_activated"}`},
		{"null reasons", strings.Replace(good, `"reasons":[{`, `"reasons":null,"x":[{`, 1)},
		{"empty", ``},
		{"not json", `hello`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in == good {
				t.Fatal("mutation did not apply")
			}
			if r, err := DecodeRecord([]byte(tt.in)); !errors.Is(err, ErrInvalidRecord) {
				t.Errorf("DecodeRecord(%s) = %+v, %v; want ErrInvalidRecord", tt.in, r, err)
			}
		})
	}
}

func TestMinimise(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		wantErr bool
		present []string
		absent  []string
	}{
		{"all", DecisionFields(), false, DecisionFields(), nil},
		{"outcome only", []string{"decision", "model", "policy"}, false,
			[]string{`"decision":"decline"`, `"model":`, `"policy":`, `"nonce":`}, []string{`"features"`, `"score"`, `"lender"`, `"attributions"`}},
		{"nothing keeps the nonce", nil, false, []string{`"nonce":`}, []string{`"decision":`, `"score"`}},
		{"unknown field", []string{"decision", "ssn"}, true, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRecord(t, testDecision())
			err := r.Minimise(tt.allowed)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Minimise error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidArgument) {
					t.Errorf("error %v does not wrap ErrInvalidArgument", err)
				}
				return
			}
			b := mustEncode(t, r)
			for _, p := range tt.present {
				if !strings.Contains(string(b), p) {
					t.Errorf("encoding lacks %s: %s", p, b)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(string(b), a) {
					t.Errorf("encoding has %s: %s", a, b)
				}
			}
			got, err := DecodeRecord(b)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(mustEncode(t, got), b) {
				t.Error("minimised record does not round-trip")
			}
		})
	}
}

func TestParseIDRejectsGarbage(t *testing.T) {
	for _, s := range []string{"", "zz", strings.Repeat("g", 64), strings.Repeat("a", 63), strings.Repeat("a", 66), strings.Repeat("a", 62) + "-1"} {
		if _, err := ParseID(s); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("ParseID(%q) error = %v, want ErrInvalidArgument", s, err)
		}
	}
}

// FuzzRecordRoundTrip checks that whatever DecodeRecord accepts re-encodes
// to the identical bytes (so one record has one id), and that
// canonicalisation is idempotent.
func FuzzRecordRoundTrip(f *testing.F) {
	for _, body := range []any{
		testDecision(),
		&Decision{Nonce: "ffeeddccbbaa99887766554433221100"},
		&ModelAdmitted{Model: ModelRef{ID: "m", SHA256: "00"}},
		&PolicyActivated{Policy: PolicyRef{Revision: "1"}, Details: map[string]string{"k": "v"}},
		testRecourse(),
	} {
		r, err := NewRecord(testTime, body)
		if err != nil {
			f.Fatal(err)
		}
		b, err := r.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"a":[1,2.5,1e-7,"\u0000"]}`))
	f.Add([]byte(`{"body":{},"format":1,"timestamp":"2026-01-01T00:00:00.000000000Z","type":"model_admitted"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := Canonicalize(data); err == nil {
			c2, err := Canonicalize(c)
			if err != nil || !bytes.Equal(c, c2) {
				t.Fatalf("Canonicalize not idempotent: %q → %q → %q (%v)", data, c, c2, err)
			}
		}
		r, err := DecodeRecord(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("DecodeRecord error %v does not wrap ErrInvalidRecord", err)
			}
			return
		}
		b, err := r.Encode()
		if err != nil {
			t.Fatalf("decoded record does not encode: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("round trip changed bytes:\n in %q\nout %q", data, b)
		}
		if id, _ := r.ID(); id != RecordID(data) {
			t.Fatal("ID differs from leaf hash of the bytes")
		}
	})
}

func testRecourse() *Recourse {
	return &Recourse{
		DecisionID:  strings.Repeat("ab", 32),
		Digest:      strings.Repeat("0f", 32),
		Suggestions: 3,
		Model:       ModelRef{ID: "credit-risk-v1", SHA256: strings.Repeat("1", 64)},
		Policy:      PolicyRef{Revision: "r1"},
	}
}

func TestRecourseRecordValidation(t *testing.T) {
	for name, mutate := range map[string]func(*Recourse){
		"short decision id":      func(r *Recourse) { r.DecisionID = "ab" },
		"upper-case digest":      func(r *Recourse) { r.Digest = strings.Repeat("0F", 32) },
		"digest not hex":         func(r *Recourse) { r.Digest = strings.Repeat("zz", 32) },
		"negative suggestions":   func(r *Recourse) { r.Suggestions = -1 },
		"upper-case decision id": func(r *Recourse) { r.DecisionID = strings.Repeat("AB", 32) },
	} {
		b := testRecourse()
		mutate(b)
		if _, err := NewRecord(testTime, b); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: NewRecord = %v, want ErrInvalidRecord", name, err)
		}
	}
	r := mustRecord(t, testRecourse())
	b := mustEncode(t, r)
	want := `{"body":{"decision_id":"` + strings.Repeat("ab", 32) + `","digest":"` + strings.Repeat("0f", 32) + `","model":{"id":"credit-risk-v1","sha256":"` + strings.Repeat("1", 64) + `"},"policy":{"revision":"r1"},"suggestions":3},"format":`
	if !strings.HasPrefix(string(b), want) || !strings.HasSuffix(string(b), `"type":"recourse"}`) {
		t.Errorf("encoding %s", b)
	}
}
