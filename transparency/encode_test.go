package transparency

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// encodeReference is Record.Encode as it was before encode.go: json.Marshal
// of the wire form, then Canonicalize. It defines the bytes the direct
// encoder must reproduce, since records already in ledgers were written
// this way and their ids are hashes of these bytes.
func encodeReference(r *Record) ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	var body any
	switch r.Type {
	case TypeDecision:
		d := *r.Decision
		if d.Features == nil {
			d.Features = map[string]FeatureValue{}
		}
		if d.Reasons == nil {
			d.Reasons = []Reason{}
		}
		if d.Attributions == nil {
			d.Attributions = map[string]float64{}
		}
		body = &d
	case TypeModelAdmitted:
		body = r.ModelAdmitted
	case TypePolicyActivated:
		body = r.PolicyActivated
	case TypeRecourse:
		body = r.Recourse
	default:
		body = r.lifecycleBody()
	}
	bodyJSON, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("%w: encoding body: %w", ErrInvalidRecord, err)
	}
	if len(r.omitted) > 0 {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(bodyJSON, &m); err != nil {
			return nil, fmt.Errorf("minimising body: %w", err)
		}
		for _, name := range r.omitted {
			delete(m, name)
		}
		if bodyJSON, err = json.Marshal(m); err != nil {
			return nil, fmt.Errorf("minimising body: %w", err)
		}
	}
	env, err := json.Marshal(wireRecord{
		Format:    r.Format,
		Type:      r.Type,
		Timestamp: r.Timestamp.UTC().Format(timestampLayout),
		Body:      bodyJSON,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: encoding envelope: %w", ErrInvalidRecord, err)
	}
	return Canonicalize(env)
}

// formatNumberReference is FormatNumber as it was before it was rewritten
// to append into a caller's buffer (appendNumber); it is the oracle for
// that rewrite, which the reference path above shares and so cannot check.
func formatNumberReference(f float64) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("%w: number %v has no JSON representation", ErrInvalidRecord, f)
	}
	if f == 0 {
		return "0", nil // also for -0, as ECMAScript does
	}
	var sb strings.Builder
	if f < 0 {
		sb.WriteByte('-')
		f = -f
	}
	e := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	exp, err := strconv.Atoi(expStr)
	if err != nil {
		return "", fmt.Errorf("formatting %v: %w", f, err)
	}
	k := len(digits)
	n := exp + 1
	switch {
	case k <= n && n <= 21:
		sb.WriteString(digits)
		sb.WriteString(strings.Repeat("0", n-k))
	case 0 < n && n <= 21:
		sb.WriteString(digits[:n])
		sb.WriteByte('.')
		sb.WriteString(digits[n:])
	case -6 < n && n <= 0:
		sb.WriteString("0.")
		sb.WriteString(strings.Repeat("0", -n))
		sb.WriteString(digits)
	default:
		sb.WriteByte(digits[0])
		if k > 1 {
			sb.WriteByte('.')
			sb.WriteString(digits[1:])
		}
		sb.WriteByte('e')
		if n-1 >= 0 {
			sb.WriteByte('+')
		}
		sb.WriteString(strconv.Itoa(n - 1))
	}
	return sb.String(), nil
}

// writeStringReference is writeString as it was before it copied runs of
// unescaped bytes whole; the oracle for that change.
func writeStringReference(buf *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	buf.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			buf.WriteString(`\"`)
		case c == '\\':
			buf.WriteString(`\\`)
		case c == '\b':
			buf.WriteString(`\b`)
		case c == '\f':
			buf.WriteString(`\f`)
		case c == '\n':
			buf.WriteString(`\n`)
		case c == '\r':
			buf.WriteString(`\r`)
		case c == '\t':
			buf.WriteString(`\t`)
		case c < 0x20:
			buf.WriteString(`\u00`)
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&0xf])
		default:
			buf.WriteByte(c)
		}
	}
	buf.WriteByte('"')
}

func TestWriteStringMatchesReference(t *testing.T) {
	check := func(s string) {
		t.Helper()
		var got, want bytes.Buffer
		writeString(&got, s)
		writeStringReference(&want, s)
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("writeString(%q) = %s, want %s", s, got.Bytes(), want.Bytes())
		}
	}
	for c := range 256 {
		b := byte(c)
		check(string([]byte{b}))
		check(string([]byte{'a', b, 'b', b}))
	}
	for _, s := range stringPieces {
		check(s)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		g := recordGen{src: rng}
		s := g.string()
		if g.chance(3) {
			b := []byte(s)
			for range g.intn(4) {
				b = append(b, byte(g.intn(256)))
			}
			s = string(b)
		}
		check(s)
	}
}

// specialNumbers are the doubles where number formatting changes shape or
// precision runs out.
var specialNumbers = []float64{
	0, math.Copysign(0, -1), 1, -1, 0.1, -0.5, 4.35, 1.0 / 3,
	1e-7, 1.5e-7, 1e-6, 1.25e-6, 9.999999999999999e-7,
	1e20, 1e21, 1.5e21, 999999999999999900000, 295147905179352830000,
	5e-324, -5e-324, math.SmallestNonzeroFloat64 * 3, 2.2250738585072014e-308,
	math.MaxFloat64, -math.MaxFloat64,
	1 << 53, 1<<53 + 2, -(1 << 53), 1 << 63, 1 << 64, 123456789012345680000, 1e300, 1e-300,
	333333333.33333329, 612, 52000, -1.2345678901234567,
}

var nonFinite = []float64{math.NaN(), math.Inf(1), math.Inf(-1)}

func TestAppendNumberMatchesReference(t *testing.T) {
	check := func(f float64) {
		t.Helper()
		want, wantErr := formatNumberReference(f)
		got, err := appendNumber([]byte("x"), f)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("appendNumber(%v) error %v, reference error %v", f, err, wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("appendNumber(%v) error %v does not wrap ErrInvalidRecord", f, err)
			}
			return
		}
		if string(got) != "x"+want {
			t.Fatalf("appendNumber(%v) = %q, want %q", f, got[1:], want)
		}
		if s, _ := FormatNumber(f); s != want {
			t.Fatalf("FormatNumber(%v) = %q, want %q", f, s, want)
		}
	}
	for _, f := range append(slices.Clone(specialNumbers), nonFinite...) {
		check(f)
		check(math.Nextafter(f, math.Inf(1)))
		check(math.Nextafter(f, math.Inf(-1)))
	}
	for e := -330; e <= 310; e++ {
		f, _ := strconv.ParseFloat("1e"+strconv.Itoa(e), 64)
		check(f)
		check(-f * 1.2345)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200000 {
		check(math.Float64frombits(rng.Uint64()))
		check(rng.NormFloat64() * math.Pow(10, float64(rng.IntN(50)-25)))
	}
}

// assertSameEncoding encodes r both ways and fails unless the results are
// the same bytes, or both errors wrapping ErrInvalidRecord. On success it
// returns the bytes.
func assertSameEncoding(t testing.TB, r *Record) ([]byte, bool) {
	t.Helper()
	want, wantErr := encodeReference(r)
	got, err := r.Encode()
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("Encode error %v, reference error %v\nEncode    %q\nreference %q\nrecord %s", err, wantErr, got, want, describe(r))
	}
	if err != nil {
		if !errors.Is(err, ErrInvalidRecord) || !errors.Is(wantErr, ErrInvalidRecord) {
			t.Fatalf("errors do not both wrap ErrInvalidRecord: %v / reference %v", err, wantErr)
		}
		return nil, false
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Encode differs from reference\nEncode    %q\nreference %q\nrecord %s", got, want, describe(r))
	}
	return got, true
}

func describe(r *Record) string {
	return fmt.Sprintf("%+v decision=%+v model_admitted=%+v policy_activated=%+v omitted=%q",
		*r, r.Decision, r.ModelAdmitted, r.PolicyActivated, r.omitted)
}

// assertRoundTrip checks that DecodeRecord accepts b and gives back a
// record with the same encoding.
func assertRoundTrip(t testing.TB, b []byte) {
	t.Helper()
	dec, err := DecodeRecord(b)
	if err != nil {
		t.Fatalf("DecodeRecord(%q): %v", b, err)
	}
	again, err := dec.Encode()
	if err != nil || !bytes.Equal(again, b) {
		t.Fatalf("round trip: %q → %q (%v)", b, again, err)
	}
}

// roundTrips reports whether DecodeRecord can represent r: it restores
// Minimise's omissions only for decisions.
func roundTrips(r *Record) bool { return len(r.omitted) == 0 || r.Type == TypeDecision }

func TestEncodeMatchesReference(t *testing.T) {
	awkward := []string{"", "é", "e\u0301", "ü", "ö", "😀", "𝄞", "\U0010FFFF", "\u2028", "\u2029", "\ufb33", "\uffff", "\ue000",
		"\u20ac", "\u0080", "\ufffd", `"`, `\`, "/", "\x00", "\x01", "\x1f", "\x7f", "<>&", "\b\f\n\r\t", "a b", "A", "a", "1"}
	awkwardFeatures := map[string]FeatureValue{}
	awkwardAttr := map[string]float64{}
	awkwardDetails := map[string]string{}
	for i, k := range awkward {
		awkwardFeatures[k] = LevelValue(awkward[len(awkward)-1-i])
		awkwardAttr[k] = float64(i) - 3.5
		awkwardDetails[k] = awkward[(i+7)%len(awkward)]
	}
	// Distinct even after each bad byte becomes U+FFFD.
	invalid := []string{"\xff", "a\xffb", "x\xc3", "\xed\xa0\x80", "y\xf0\x9f\x98", "é\x80é", "\xc0\xaf"}

	type tc struct {
		name string
		rec  func() *Record
	}
	decision := func(edit func(d *Decision)) func() *Record {
		return func() *Record {
			d := testDecision()
			edit(d)
			return &Record{Format: RecordFormat, Type: TypeDecision, Timestamp: testTime, Decision: d}
		}
	}
	minimised := func(allowed []string, edit func(d *Decision)) func() *Record {
		return func() *Record {
			r := decision(edit)()
			if err := r.Minimise(allowed); err != nil {
				panic(err)
			}
			return r
		}
	}
	modelAdmitted := func(details map[string]string) func() *Record {
		return func() *Record {
			return &Record{Format: RecordFormat, Type: TypeModelAdmitted, Timestamp: testTime,
				ModelAdmitted: &ModelAdmitted{Model: ModelRef{ID: "m<1>", SHA256: strings.Repeat("0f", 32)}, Details: details}}
		}
	}
	policyActivated := func(details map[string]string) func() *Record {
		return func() *Record {
			return &Record{Format: RecordFormat, Type: TypePolicyActivated, Timestamp: testTime,
				PolicyActivated: &PolicyActivated{Policy: PolicyRef{Revision: "rev\u2028"}, Details: details}}
		}
	}
	// Cases named "refuses ..." must fail both ways; the others must
	// encode.
	tests := []tc{
		{"decision", decision(func(*Decision) {})},
		{"nil collections", decision(func(d *Decision) { d.Features, d.Reasons, d.Attributions = nil, nil, nil })},
		{"empty collections", decision(func(d *Decision) {
			d.Features, d.Reasons, d.Attributions = map[string]FeatureValue{}, []Reason{}, map[string]float64{}
		})},
		{"zero decision", func() *Record {
			return &Record{Format: RecordFormat, Type: TypeDecision, Timestamp: testTime, Decision: &Decision{Nonce: "ffeeddccbbaa99887766554433221100"}}
		}},
		{"awkward keys and strings", decision(func(d *Decision) {
			d.Features, d.Attributions = awkwardFeatures, awkwardAttr
			d.Lender, d.ApplicationID, d.Decision = strings.Join(awkward, ""), "\u2028<app>&\u2029", "dé\x00cline"
			d.Model = ModelRef{ID: "😀", SHA256: `"\`}
			d.Policy.Revision = "\x1f\x7f"
			for _, k := range awkward {
				d.Reasons = append(d.Reasons, Reason{Code: k, Feature: k + k, Value: LevelValue(k), Text: "«" + k + "»", Contribution: f64(-1e-7)})
			}
		})},
		{"invalid utf8 strings and keys", decision(func(d *Decision) {
			for i, s := range invalid {
				d.Features[s] = LevelValue(invalid[(i+1)%len(invalid)])
				d.Attributions["k"+s] = float64(i)
				d.Reasons = append(d.Reasons, Reason{Code: s, Feature: s, Value: LevelValue(s), Text: s})
			}
			d.Lender, d.ApplicationID, d.Decision = invalid[0], invalid[1], invalid[3]
			d.Model.ID, d.Policy.Revision = invalid[4], invalid[5]
		})},
		// "\xff" and "\xfe" both become U+FFFD, so the object would have
		// duplicate members: refused.
		{"refuses feature keys colliding after utf8 repair", decision(func(d *Decision) { d.Features["\xff"], d.Features["\xfe"] = NumberValue(1), NumberValue(2) })},
		{"refuses attribution keys colliding after utf8 repair", decision(func(d *Decision) { d.Attributions["\xff"], d.Attributions["\xfe"] = 1, 2 })},
		{"refuses detail keys colliding after utf8 repair", modelAdmitted(map[string]string{"a\xff": "1", "a\xc3": "2"})},
		{"refuses key equal to a repaired key", decision(func(d *Decision) { d.Features["\ufffd"], d.Features["\xfe"] = NumberValue(1), NumberValue(2) })},
		{"feature kinds", decision(func(d *Decision) {
			d.Features = map[string]FeatureValue{"n": NumberValue(math.Copysign(0, -1)), "l": LevelValue(""), "m": MissingValue(), "z": {}, "odd kind": {kind: 200, num: 1, level: "x"}}
			d.Reasons = []Reason{{Value: MissingValue()}, {Value: LevelValue("")}, {Value: NumberValue(math.Copysign(0, -1))}, {Value: FeatureValue{kind: 200}}}
		})},
		{"minimised to nothing", minimised(nil, func(*Decision) {})},
		{"minimised to everything", minimised(DecisionFields(), func(*Decision) {})},
		{"minimised outcome", minimised([]string{"decision", "model", "policy", "score"}, func(*Decision) {})},
		{"minimised numbers only", minimised([]string{"raw_score", "expected_value", "probability_of_default", "attributions"}, func(*Decision) {})},
		{"duplicate keys in omitted member", minimised([]string{"decision"}, func(d *Decision) { d.Features["\xff"], d.Features["\xfe"] = NumberValue(1), NumberValue(2) })},
		{"model admitted", modelAdmitted(map[string]string{"report": "sha256:00", "é": "ü"})},
		{"model admitted awkward details", modelAdmitted(awkwardDetails)},
		{"model admitted nil details", modelAdmitted(nil)},
		{"model admitted empty details", modelAdmitted(map[string]string{})},
		{"policy activated", policyActivated(map[string]string{"k": "v", "😀": "\ufb33"})},
		{"policy activated nil details", policyActivated(nil)},
		{"policy activated empty details", policyActivated(map[string]string{})},
		// Minimise applies only to decisions, but omitted survives a change
		// of type; the old path then deleted the same names from any body.
		{"model admitted with stale omissions", func() *Record {
			r := minimised([]string{"decision"}, func(*Decision) {})()
			r.Type, r.Decision = TypeModelAdmitted, nil
			r.ModelAdmitted = &ModelAdmitted{Model: ModelRef{ID: "m"}, Details: map[string]string{"a": "b"}}
			return r
		}},
		{"policy activated with stale omissions", func() *Record {
			r := minimised([]string{"policy"}, func(*Decision) {})()
			r.Type, r.Decision = TypePolicyActivated, nil
			r.PolicyActivated = &PolicyActivated{Policy: PolicyRef{Revision: "r"}}
			return r
		}},
		{"earliest timestamp", func() *Record {
			r := decision(func(*Decision) {})()
			r.Timestamp = time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC)
			return r
		}},
		{"latest timestamp", func() *Record {
			r := decision(func(*Decision) {})()
			r.Timestamp = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
			return r
		}},
		{"zoned timestamp", func() *Record {
			r := decision(func(*Decision) {})()
			r.Timestamp = time.Date(2026, 1, 1, 0, 30, 0, 0, time.FixedZone("x", 5*3600+1800))
			return r
		}},
		{"refuses zero timestamp", func() *Record { r := decision(func(*Decision) {})(); r.Timestamp = time.Time{}; return r }},
		{"refuses format 2", func() *Record { r := decision(func(*Decision) {})(); r.Format = 2; return r }},
		{"refuses uppercase nonce", decision(func(d *Decision) { d.Nonce = "00112233445566778899AABBCCDDEEFF" })},
		{"refuses unknown type", func() *Record { r := decision(func(*Decision) {})(); r.Type = "other"; return r }},
		{"refuses two bodies", func() *Record {
			r := decision(func(*Decision) {})()
			r.PolicyActivated = &PolicyActivated{}
			return r
		}},
	}
	for _, f := range specialNumbers {
		tests = append(tests, tc{fmt.Sprintf("number %v", f), decision(func(d *Decision) { setAllNumbers(d, f) })})
	}
	for _, f := range nonFinite {
		for _, pos := range numberPositions {
			tests = append(tests,
				tc{fmt.Sprintf("refuses %v in %s", f, pos), decision(func(d *Decision) { setNumber(d, pos, f) })},
				// json.Marshal saw the whole body before members were
				// deleted, so an omitted member's NaN still fails.
				tc{fmt.Sprintf("refuses %v in omitted %s", f, pos), minimised([]string{"decision"}, func(d *Decision) { setNumber(d, pos, f) })},
			)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec()
			b, ok := assertSameEncoding(t, r)
			wantErr := strings.HasPrefix(tt.name, "refuses ")
			if ok == wantErr {
				t.Fatalf("encoded = %v, want error = %v (%q)", ok, wantErr, b)
			}
			if ok && roundTrips(r) {
				assertRoundTrip(t, b)
			}
		})
	}
}

// goldenRecords are awkward records whose encodings are pinned in
// TestEncodeGolden.
func goldenRecords() map[string]*Record {
	ts := time.Date(2026, 3, 14, 15, 9, 26, 5, time.FixedZone("CET", 3600))
	d := &Decision{
		Lender:        "l\u2028<&>\x00\x1f\x7f\"\\/",
		ApplicationID: "app\xffid\xed\xa0\x80",
		Model:         ModelRef{ID: "m😀", SHA256: "e\u0301"},
		Policy:        PolicyRef{Revision: "\b\f\n\r\t"},
		Features: map[string]FeatureValue{
			"\ufb33": NumberValue(1e21), "😀": NumberValue(1e-7), "€": NumberValue(math.Copysign(0, -1)),
			"\r": LevelValue("\u2029"), "1": NumberValue(5e-324), "\u0080": NumberValue(math.MaxFloat64),
			"ö": MissingValue(), "\x7f": NumberValue(1 << 60), "z\xff": LevelValue("\xc3"),
		},
		RawScore:             -9007199254740993,
		ProbabilityOfDefault: 0.1 + 0.2,
		Score:                1e-6,
		Decision:             "",
		Reasons:              []Reason{{Code: "😀", Feature: "\ufb33", Value: NumberValue(-1.5e-7), Text: `"quoted"`, Contribution: f64(123456789012345680000), Legacy: true}},
		Attributions:         map[string]float64{"\U0001F600": -0.5, "\uffff": 2, "a": 1.0 / 3},
		ExpectedValue:        -1e300,
		Nonce:                "0123456789abcdef0123456789abcdef",
	}
	minimised := &Record{Format: RecordFormat, Type: TypeDecision, Timestamp: ts, Decision: d}
	if err := minimised.Minimise([]string{"features", "score", "model"}); err != nil {
		panic(err)
	}
	return map[string]*Record{
		// In the form written before reason_method and the new reason
		// members existed: those bytes must not change.
		"decision":  {Format: RecordFormat, Type: TypeDecision, Timestamp: ts, Decision: d, omitted: []string{"reason_method"}},
		"minimised": minimised,
		"model admitted": {Format: RecordFormat, Type: TypeModelAdmitted, Timestamp: ts,
			ModelAdmitted: &ModelAdmitted{Model: ModelRef{ID: "m"}, Details: map[string]string{"😀": "x", "\ufb33": "y", "<": "\u2028"}}},
		"policy activated": {Format: RecordFormat, Type: TypePolicyActivated, Timestamp: ts,
			PolicyActivated: &PolicyActivated{Policy: PolicyRef{Revision: "r"}, Details: map[string]string{}}},
	}
}

// TestEncodeGolden pins the encodings of goldenRecords to bytes produced
// by the marshal+canonicalize implementation before encode.go existed
// (commit 7c056c5). The reference path shares appendNumber and writeString
// with the encoder, so comparing with it alone would not notice a change
// to those; these literals would.
func TestEncodeGolden(t *testing.T) {
	want := map[string]string{
		"decision":         "{\"body\":{\"application_id\":\"app\ufffdid\ufffd\ufffd\ufffd\",\"attributions\":{\"a\":0.3333333333333333,\"\U0001f600\":-0.5,\"\uffff\":2},\"decision\":\"\",\"expected_value\":-1e+300,\"features\":{\"\\r\":\"\u2029\",\"1\":5e-324,\"z\ufffd\":\"\ufffd\",\"\x7f\":1152921504606847000,\"\u0080\":1.7976931348623157e+308,\"\u00f6\":null,\"\u20ac\":0,\"\U0001f600\":1e-7,\"\ufb33\":1e+21},\"lender\":\"l\u2028<&>\\u0000\\u001f\x7f\\\"\\\\/\",\"model\":{\"id\":\"m\U0001f600\",\"sha256\":\"e\u0301\"},\"nonce\":\"0123456789abcdef0123456789abcdef\",\"policy\":{\"revision\":\"\\b\\f\\n\\r\\t\"},\"probability_of_default\":0.3,\"raw_score\":-9007199254740992,\"reasons\":[{\"code\":\"\U0001f600\",\"contribution\":123456789012345680000,\"feature\":\"\ufb33\",\"text\":\"\\\"quoted\\\"\",\"value\":-1.5e-7}],\"score\":0.000001},\"format\":1,\"timestamp\":\"2026-03-14T14:09:26.000000005Z\",\"type\":\"decision\"}",
		"minimised":        "{\"body\":{\"features\":{\"\\r\":\"\u2029\",\"1\":5e-324,\"z\ufffd\":\"\ufffd\",\"\x7f\":1152921504606847000,\"\u0080\":1.7976931348623157e+308,\"\u00f6\":null,\"\u20ac\":0,\"\U0001f600\":1e-7,\"\ufb33\":1e+21},\"model\":{\"id\":\"m\U0001f600\",\"sha256\":\"e\u0301\"},\"nonce\":\"0123456789abcdef0123456789abcdef\",\"score\":0.000001},\"format\":1,\"timestamp\":\"2026-03-14T14:09:26.000000005Z\",\"type\":\"decision\"}",
		"model admitted":   "{\"body\":{\"details\":{\"<\":\"\u2028\",\"\U0001f600\":\"x\",\"\ufb33\":\"y\"},\"model\":{\"id\":\"m\",\"sha256\":\"\"}},\"format\":1,\"timestamp\":\"2026-03-14T14:09:26.000000005Z\",\"type\":\"model_admitted\"}",
		"policy activated": "{\"body\":{\"policy\":{\"revision\":\"r\"}},\"format\":1,\"timestamp\":\"2026-03-14T14:09:26.000000005Z\",\"type\":\"policy_activated\"}",
	}
	recs := goldenRecords()
	if len(recs) != len(want) {
		t.Fatalf("%d golden records, %d encodings", len(recs), len(want))
	}
	for name, r := range recs {
		t.Run(name, func(t *testing.T) {
			got, err := r.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != want[name] {
				t.Errorf("Encode()\n got %q\nwant %q", got, want[name])
			}
			assertSameEncoding(t, r)
			assertRoundTrip(t, got)
		})
	}
}

// numberPositions names every place a decision holds a number.
var numberPositions = []string{"raw_score", "probability_of_default", "score", "expected_value", "features", "attributions", "reason value", "reason contribution"}

func setNumber(d *Decision, pos string, f float64) {
	switch pos {
	case "raw_score":
		d.RawScore = f
	case "probability_of_default":
		d.ProbabilityOfDefault = f
	case "score":
		d.Score = f
	case "expected_value":
		d.ExpectedValue = f
	case "features":
		d.Features["income"] = NumberValue(f)
	case "attributions":
		d.Attributions["income"] = f
	case "reason value":
		d.Reasons[0].Value = NumberValue(f)
	case "reason contribution":
		d.Reasons[1].Contribution = &f
	default:
		panic(pos)
	}
}

func setAllNumbers(d *Decision, f float64) {
	for _, pos := range numberPositions {
		setNumber(d, pos, f)
	}
}

// Each FeatureValue must be written as its MarshalJSON output after
// canonicalisation.
func TestFeatureValueMatchesMarshalJSON(t *testing.T) {
	values := []FeatureValue{MissingValue(), {}, {kind: 99, num: 3, level: "x"}, LevelValue(""), LevelValue("<é>\u2028\x00\"\\"), LevelValue("\xff\xc3")}
	for _, f := range specialNumbers {
		values = append(values, NumberValue(f))
	}
	for _, v := range values {
		raw, err := v.MarshalJSON()
		if err != nil {
			t.Fatalf("%+v: MarshalJSON: %v", v, err)
		}
		want, err := Canonicalize(raw)
		if err != nil {
			t.Fatalf("%+v: Canonicalize(%s): %v", v, raw, err)
		}
		var e recordEncoder
		if err := e.featureValue(v); err != nil {
			t.Fatalf("%+v: %v", v, err)
		}
		if got := e.buf.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("%+v: wrote %s, MarshalJSON+Canonicalize gives %s", v, got, want)
		}
	}
	for _, f := range nonFinite {
		var e recordEncoder
		if _, err := NumberValue(f).MarshalJSON(); err == nil {
			t.Fatalf("MarshalJSON(%v) succeeded", f)
		}
		if err := e.featureValue(NumberValue(f)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("featureValue(%v) error = %v, want ErrInvalidRecord", f, err)
		}
	}
}

func TestEncodeMatchesReferenceRandom(t *testing.T) {
	n := 4000
	if testing.Short() {
		n = 400
	}
	rng := rand.New(rand.NewPCG(20260314, 1))
	encoded := 0
	for i := range n {
		g := recordGen{src: rng}
		r := g.record()
		b, ok := assertSameEncoding(t, r)
		if !ok {
			continue
		}
		encoded++
		if roundTrips(r) {
			assertRoundTrip(t, b)
		}
		if i%10 == 0 { // one record encoded twice must give the same bytes
			again, err := r.Encode()
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("second Encode differs: %q vs %q (%v)", again, b, err)
			}
		}
	}
	// The generator must mostly make encodable records, or the comparison
	// would be of errors only.
	if encoded < n/2 {
		t.Errorf("only %d of %d random records encoded", encoded, n)
	}
}

// FuzzEncodeMatchesReference builds a record from the fuzzer's input
// (choices drives a record generator; key, text and x are planted in it so
// that the fuzzer's string and number mutations reach the encoder
// directly) and compares Encode with the reference path.
func FuzzEncodeMatchesReference(f *testing.F) {
	f.Add([]byte{}, "income", "RENT", 52000.0)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, "é", "\u2028", 1e21)
	f.Add([]byte("decision record with many choices"), "😀", `"\`, 5e-324)
	f.Add(bytes.Repeat([]byte{0xff, 0x10, 0x80}, 40), "\ufb33", "\x00\x1f", 1.7976931348623157e308)
	f.Add(bytes.Repeat([]byte{1}, 64), "\xff", "<>&", math.Copysign(0, -1))
	f.Add(bytes.Repeat([]byte{2}, 64), "a\xfe", "\xed\xa0\x80", 9007199254740993.0)
	f.Add(bytes.Repeat([]byte{7, 3}, 100), "", "", 1e-7)
	f.Add([]byte{9, 9, 9, 200, 17, 4, 250, 33}, "z", "ü", math.Inf(1))
	f.Fuzz(func(t *testing.T, choices []byte, key, text string, x float64) {
		g := recordGen{src: &byteSource{data: choices}, key: key, text: text, x: x, planted: true}
		r := g.record()
		if b, ok := assertSameEncoding(t, r); ok && roundTrips(r) {
			assertRoundTrip(t, b)
		}
	})
}

// byteSource feeds the generator from fuzz input; once the input is used
// up it returns zeros, which the generator maps to small, plain records.
type byteSource struct{ data []byte }

func (s *byteSource) Uint64() uint64 {
	var b [8]byte
	n := copy(b[:], s.data)
	s.data = s.data[n:]
	return binary.LittleEndian.Uint64(b[:])
}

// recordGen makes random records of every type, weighted towards the
// awkward cases for canonical encoding.
type recordGen struct {
	src interface{ Uint64() uint64 }
	// planted values from the fuzzer, used when planted is set.
	key, text string
	x         float64
	planted   bool
}

func (g *recordGen) intn(n int) int { return int(g.src.Uint64() % uint64(n)) }

// chance is true with probability 1/n. It is false for a zero draw, so
// that exhausted fuzz input gives plain, valid records.
func (g *recordGen) chance(n int) bool { return g.intn(n) == n-1 }

// pieces of strings: ASCII, Latin, BMP characters on both sides of the
// surrogate range, non-BMP characters (which sort differently in UTF-16
// than in UTF-8), characters that need escaping or that encoding/json
// escapes but RFC 8785 does not, and invalid UTF-8.
var stringPieces = []string{
	"a", "b", "z", "A", "Z", "0", "9", "_", "-", " ", "income", "debt_ratio",
	"é", "e\u0301", "ü", "ö", "ß", "\u0080", "\u00ff", "\u0100", "€", "中", "\ud7ff", "\ue000", "\ufb33", "\ufeff", "\ufffd", "\uffff",
	"😀", "𝄞", "\U00010000", "\U0010FFFF",
	"\u2028", "\u2029", "<", ">", "&", "/", `"`, `\`, "\x00", "\x01", "\b", "\t", "\n", "\f", "\r", "\x1f", "\x7f",
	"\xff", "\xfe", "\xc3", "\x80", "\xed\xa0\x80", "\xf0\x9f\x98", "\xc0\xaf",
}

func (g *recordGen) string() string {
	if g.planted && g.chance(4) {
		return g.text
	}
	if g.chance(8) {
		return ""
	}
	var sb strings.Builder
	for range 1 + g.intn(6) {
		sb.WriteString(stringPieces[g.intn(len(stringPieces))])
	}
	return sb.String()
}

func (g *recordGen) mapKey() string {
	if g.planted && g.chance(3) {
		return g.key
	}
	return g.string()
}

func (g *recordGen) number() float64 {
	if g.planted && g.chance(4) {
		return g.x
	}
	switch g.intn(10) {
	case 0, 1, 2:
		return specialNumbers[g.intn(len(specialNumbers))]
	case 3:
		if g.chance(60) {
			return nonFinite[g.intn(len(nonFinite))]
		}
		return float64(int64(g.src.Uint64())) // integers beyond 2^53
	case 4:
		f := math.Float64frombits(g.src.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0
		}
		return f
	default:
		// Model outputs: modest magnitudes with full precision.
		f := float64(int64(g.src.Uint64())) / (1 << 63)
		return f * math.Pow(10, float64(g.intn(13)-6))
	}
}

func (g *recordGen) featureValue() FeatureValue {
	switch g.intn(4) {
	case 0:
		return LevelValue(g.string())
	case 1:
		return MissingValue()
	default:
		return NumberValue(g.number())
	}
}

func (g *recordGen) details() map[string]string {
	switch g.intn(4) {
	case 0:
		return nil
	case 1:
		return map[string]string{}
	}
	m := map[string]string{}
	for range g.intn(8) {
		m[g.mapKey()] = g.string()
	}
	return m
}

func (g *recordGen) decision() *Decision {
	d := &Decision{
		Lender:               g.string(),
		ApplicationID:        g.string(),
		Model:                ModelRef{ID: g.string(), SHA256: g.string()},
		Policy:               PolicyRef{Revision: g.string()},
		RawScore:             g.number(),
		ProbabilityOfDefault: g.number(),
		Score:                g.number(),
		Decision:             g.string(),
		ExpectedValue:        g.number(),
		Nonce:                fmt.Sprintf("%016x%016x", g.src.Uint64(), g.src.Uint64()),
	}
	if g.chance(50) {
		d.Nonce = strings.ToUpper(d.Nonce) + "x"
	}
	if !g.chance(6) { // else nil
		d.Features = map[string]FeatureValue{}
		for range g.intn(14) {
			d.Features[g.mapKey()] = g.featureValue()
		}
	}
	if !g.chance(6) {
		d.Attributions = map[string]float64{}
		for range g.intn(14) {
			d.Attributions[g.mapKey()] = g.number()
		}
	}
	if !g.chance(4) {
		d.ReasonMethod = g.string()
	}
	if !g.chance(6) {
		d.Reasons = []Reason{}
		for range g.intn(6) {
			r := Reason{Code: g.string(), Feature: g.mapKey(), Value: g.featureValue(), Text: g.string(), Contribution: f64(g.number())}
			// Both forms (see Reason): the legacy one, or the full one with
			// nullable members sometimes null.
			if r.Legacy = g.chance(3); !r.Legacy {
				r.Direction, r.Reference, r.Rule = g.string(), g.featureValue(), g.string()
				if g.chance(3) {
					r.Contribution, r.Feature = nil, ""
				}
			}
			d.Reasons = append(d.Reasons, r)
		}
	}
	return d
}

func (g *recordGen) timestamp() time.Time {
	if g.chance(100) {
		return time.Time{}
	}
	sec := int64(g.src.Uint64()%uint64(9999*365*24*3600)) - 62135596800 + 1 // from year 1
	ts := time.Unix(sec, int64(g.intn(1e9)))
	if g.chance(4) {
		ts = ts.In(time.FixedZone("z", (g.intn(28)-14)*3600))
	}
	return ts
}

func (g *recordGen) record() *Record {
	r := &Record{Format: RecordFormat, Timestamp: g.timestamp()}
	if g.chance(100) {
		r.Format = g.intn(3)
	}
	switch g.intn(6) {
	case 5:
		r.Type, r.Recourse = TypeRecourse, &Recourse{DecisionID: strings.Repeat("ab", 32), Digest: strings.Repeat("cd", 32),
			Suggestions: g.intn(4), Model: ModelRef{ID: g.string(), SHA256: g.string()}, Policy: PolicyRef{Revision: g.string()}}
	case 0:
		r.Type, r.ModelAdmitted = TypeModelAdmitted, &ModelAdmitted{Model: ModelRef{ID: g.string(), SHA256: g.string()}, Details: g.details()}
	case 1:
		r.Type, r.PolicyActivated = TypePolicyActivated, &PolicyActivated{Policy: PolicyRef{Revision: g.string()}, Details: g.details()}
	default:
		r.Type, r.Decision = TypeDecision, g.decision()
		if g.chance(3) {
			var allowed []string
			for _, name := range DecisionFields() {
				if g.chance(2) {
					allowed = append(allowed, name)
				}
			}
			if err := r.Minimise(allowed); err != nil {
				panic(err)
			}
		}
	}
	return r
}

// benchmarkDecision is a decision as the scoring API records it: eleven
// features (two categorical), their attributions and four reasons.
func benchmarkDecision() *Record {
	features := map[string]FeatureValue{
		"annual_income":            NumberValue(58250),
		"debt_to_income":           NumberValue(0.3127),
		"credit_utilisation":       NumberValue(0.6411),
		"months_since_delinquency": MissingValue(),
		"open_accounts":            NumberValue(7),
		"credit_history_months":    NumberValue(143),
		"recent_inquiries":         NumberValue(3),
		"loan_amount":              NumberValue(12500),
		"employment_years":         NumberValue(4.5),
		"home_ownership":           LevelValue("RENT"),
		"loan_purpose":             LevelValue("debt_consolidation"),
	}
	attributions := map[string]float64{}
	for i, k := range slices.Sorted(maps.Keys(features)) {
		attributions[k] = 0.0731*float64(i) - 0.2911
	}
	return &Record{
		Format: RecordFormat, Type: TypeDecision, Timestamp: testTime,
		Decision: &Decision{
			Lender:               "acme-bank",
			ApplicationID:        "app-2026-03-14-000123",
			Model:                ModelRef{ID: "credit-risk-gbm-v7", SHA256: strings.Repeat("9c", 32)},
			Policy:               PolicyRef{Revision: strings.Repeat("4e", 32)},
			Features:             features,
			RawScore:             -1.2345678901234567,
			ProbabilityOfDefault: 0.2254103851764912,
			Score:                612,
			Decision:             "decline",
			Reasons: []Reason{
				{Code: "R01", Feature: "debt_to_income", Value: NumberValue(0.3127), Text: "Debt-to-income ratio too high", Contribution: f64(0.4119286377)},
				{Code: "R04", Feature: "credit_utilisation", Value: NumberValue(0.6411), Text: "Revolving credit utilisation too high", Contribution: f64(0.2876115324)},
				{Code: "R09", Feature: "recent_inquiries", Value: NumberValue(3), Text: "Too many recent credit inquiries", Contribution: f64(0.1023477611)},
				{Code: "R12", Feature: "home_ownership", Value: LevelValue("RENT"), Text: "Housing status", Contribution: f64(0.0531962201)},
			},
			Attributions:  attributions,
			ExpectedValue: -1.6094379124341003,
			Nonce:         "00112233445566778899aabbccddeeff",
		},
	}
}

func BenchmarkEncodeDecision(b *testing.B) {
	r := benchmarkDecision()
	want, err := encodeReference(r)
	if err != nil {
		b.Fatal(err)
	}
	for _, bm := range []struct {
		name   string
		encode func(*Record) ([]byte, error)
	}{
		{"direct", (*Record).Encode},
		{"reference", encodeReference},
	} {
		b.Run(bm.name, func(b *testing.B) {
			if got, err := bm.encode(r); err != nil || !bytes.Equal(got, want) {
				b.Fatalf("encoding differs from reference: %q (%v)", got, err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.encode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
