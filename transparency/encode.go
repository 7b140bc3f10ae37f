package transparency

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// This file writes a record's canonical bytes (RFC 8785, as Canonicalize
// produces them) straight from the Go values. Encode used to json.Marshal
// the record and then re-parse and re-emit it through Canonicalize; that
// round trip was a measurable share of the scoring API's CPU. The output
// must stay byte-identical to that path, since a record's id is the hash of
// its bytes: encode_test.go keeps the old path as the reference and compares
// the two on random records, so every rule below mirrors something
// json.Marshal or Canonicalize does, not a free choice.

// recordEncoder accumulates one record's encoding.
type recordEncoder struct {
	buf bytes.Buffer
	// omitted are body members left out by Minimise. json.Marshal produced
	// them and the old path deleted them afterwards, so a member being
	// omitted drops it from the output but not from the checks on its
	// values (see checkOmitted).
	omitted []string
	// keys is scratch space for sorting map keys, reused across the maps of
	// one record (they are never nested inside each other).
	keys []mapKey
}

// mapKey is a map key as it will be written (name) and as it is looked up
// (key). They differ only for keys that are not valid UTF-8.
type mapKey struct {
	name string
	key  string
}

// encodeRecord writes the canonical form of r, which must have passed
// Validate.
func encodeRecord(r *Record) ([]byte, error) {
	e := recordEncoder{omitted: r.omitted}
	e.buf.Grow(sizeHint(r))

	// Envelope members in canonical order: body, format, timestamp, type.
	e.buf.WriteString(`{"body":`)
	var err error
	switch r.Type {
	case TypeDecision:
		err = e.decision(r.Decision)
	case TypeModelAdmitted:
		err = e.modelAdmitted(r.ModelAdmitted)
	case TypePolicyActivated:
		err = e.policyActivated(r.PolicyActivated)
	case TypeRecourse:
		err = e.recourse(r.Recourse)
	case TypeErasure:
		e.erasure(r.Erasure)
	case TypeFinalAction, TypeNoticeSent, TypeOutcome, TypeContest, TypeRescore:
		err = e.lifecycle(r.lifecycleBody())
	default:
		// Validate has already refused other types.
		err = fmt.Errorf("%w: unknown record type %q", ErrInvalidRecord, r.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("encoding body: %w", err)
	}
	e.buf.WriteString(`,"format":`)
	// json.Marshal writes the int exactly and Canonicalize then parses it
	// as a double; the conversion rounds the same way (to nearest even).
	if err := e.number(float64(r.Format)); err != nil {
		return nil, fmt.Errorf("encoding envelope: %w", err)
	}
	e.buf.WriteString(`,"timestamp":"`)
	// The layout yields only digits and "-:.TZ", which need no escaping,
	// and Validate keeps the year within four digits.
	e.buf.Write(r.Timestamp.UTC().AppendFormat(e.buf.AvailableBuffer(), timestampLayout))
	e.buf.WriteString(`","type":`)
	e.str(string(r.Type))
	e.buf.WriteByte('}')
	return e.buf.Bytes(), nil
}

// sizeHint estimates the encoded size so that the buffer is allocated
// once; it need not be exact.
func sizeHint(r *Record) int {
	n := 128 // envelope
	switch {
	case r.Decision != nil:
		d := r.Decision
		n += 416 + len(d.ReasonMethod) + len(d.Lender) + len(d.ApplicationID) + len(d.Model.ID) + len(d.Model.SHA256) +
			len(d.Policy.Revision) + len(d.Decision) + len(d.Nonce)
		for k, v := range d.Features {
			n += len(k) + len(v.level) + 28
		}
		for k := range d.Attributions {
			n += len(k) + 28
		}
		for _, rs := range d.Reasons {
			n += 160 + len(rs.Code) + len(rs.Feature) + len(rs.Text) + len(rs.Value.level) + len(rs.Reference.level) + len(rs.Rule)
		}
	case r.ModelAdmitted != nil:
		n += 64 + len(r.ModelAdmitted.Model.ID) + len(r.ModelAdmitted.Model.SHA256) + detailsSize(r.ModelAdmitted.Details)
	case r.PolicyActivated != nil:
		n += 64 + len(r.PolicyActivated.Policy.Revision) + detailsSize(r.PolicyActivated.Details)
	case r.Recourse != nil:
		n += 256 + len(r.Recourse.Model.ID) + len(r.Recourse.Model.SHA256) + len(r.Recourse.Policy.Revision)
	case r.Erasure != nil:
		n += 128 + len(r.Erasure.LegalBasis)
	}
	return n
}

func detailsSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len(k) + len(v) + 6
	}
	return n
}

// isOmitted reports whether Minimise left the body member name out.
func (e *recordEncoder) isOmitted(name string) bool {
	return slices.Contains(e.omitted, name)
}

// member writes the separator and name of the next object member; first
// tracks whether the object has had one yet.
func (e *recordEncoder) member(first *bool, name string) {
	if !*first {
		e.buf.WriteByte(',')
	}
	*first = false
	e.str(name)
	e.buf.WriteByte(':')
}

// bodyMember is member for the top level of a body, where Minimise may
// have removed the member; it reports whether the value is to be written.
func (e *recordEncoder) bodyMember(first *bool, name string) bool {
	if e.isOmitted(name) {
		return false
	}
	e.member(first, name)
	return true
}

// decision writes a decision body. Members are in canonical order; every
// one of them is written (the struct has no omitempty tags) unless
// Minimise removed it.
func (e *recordEncoder) decision(d *Decision) error {
	first := true
	e.buf.WriteByte('{')
	if e.bodyMember(&first, "application_id") {
		e.str(d.ApplicationID)
	}
	if e.bodyMember(&first, "attributions") {
		if err := object(e, d.Attributions, e.number); err != nil {
			return fmt.Errorf("attributions: %w", err)
		}
	}
	if e.bodyMember(&first, "decision") {
		e.str(d.Decision)
	}
	if err := e.bodyNumber(&first, "expected_value", d.ExpectedValue); err != nil {
		return err
	}
	if e.bodyMember(&first, "features") {
		if err := object(e, d.Features, e.featureValue); err != nil {
			return fmt.Errorf("features: %w", err)
		}
	}
	if e.bodyMember(&first, "lender") {
		e.str(d.Lender)
	}
	if e.bodyMember(&first, "model") {
		e.modelRef(d.Model)
	}
	if e.bodyMember(&first, "nonce") {
		e.str(d.Nonce)
	}
	if e.bodyMember(&first, "policy") {
		e.policyRef(d.Policy)
	}
	if err := e.bodyNumber(&first, "probability_of_default", d.ProbabilityOfDefault); err != nil {
		return err
	}
	if err := e.bodyNumber(&first, "raw_score", d.RawScore); err != nil {
		return err
	}
	if e.bodyMember(&first, "reason_method") {
		e.str(d.ReasonMethod)
	}
	if e.bodyMember(&first, "reasons") {
		if err := e.reasons(d.Reasons); err != nil {
			return fmt.Errorf("reasons: %w", err)
		}
	}
	if err := e.bodyNumber(&first, "score", d.Score); err != nil {
		return err
	}
	e.buf.WriteByte('}')
	return checkOmitted(d, e.omitted)
}

// bodyNumber writes a numeric body member unless it is omitted.
func (e *recordEncoder) bodyNumber(first *bool, name string, f float64) error {
	if !e.bodyMember(first, name) {
		return nil
	}
	if err := e.number(f); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// checkOmitted refuses non-finite numbers in members that Minimise left
// out. The old path marshalled the whole body before deleting members, so
// a NaN in an omitted member still failed the record; keeping that means
// Minimise never changes whether a record can be encoded. (Duplicate map
// keys in an omitted member, by contrast, were never seen by
// Canonicalize, and are not checked here either.)
func checkOmitted(d *Decision, omitted []string) error {
	for _, name := range omitted {
		var err error
		switch name {
		case "attributions":
			for _, v := range d.Attributions {
				if err = finiteNumber(v); err != nil {
					break
				}
			}
		case "expected_value":
			err = finiteNumber(d.ExpectedValue)
		case "features":
			for _, v := range d.Features {
				if err = checkFeatureValue(v); err != nil {
					break
				}
			}
		case "probability_of_default":
			err = finiteNumber(d.ProbabilityOfDefault)
		case "raw_score":
			err = finiteNumber(d.RawScore)
		case "reasons":
			for _, rs := range d.Reasons {
				if err = checkFeatureValue(rs.Value); err != nil {
					break
				}
				if err = checkFeatureValue(rs.Reference); err != nil {
					break
				}
				if rs.Contribution == nil {
					continue
				}
				if err = finiteNumber(*rs.Contribution); err != nil {
					break
				}
			}
		case "score":
			err = finiteNumber(d.Score)
		}
		if err != nil {
			return fmt.Errorf("%s (omitted): %w", name, err)
		}
	}
	return nil
}

func checkFeatureValue(v FeatureValue) error {
	if v.kind != featureNumber {
		return nil
	}
	return finiteNumber(v.num)
}

// modelAdmitted writes a model_admitted body. "details" is omitempty, so
// it is absent when the map is nil or empty; it sorts before "model".
func (e *recordEncoder) modelAdmitted(b *ModelAdmitted) error {
	first := true
	e.buf.WriteByte('{')
	if len(b.Details) > 0 && e.bodyMember(&first, "details") {
		if err := object(e, b.Details, e.stringValue); err != nil {
			return fmt.Errorf("details: %w", err)
		}
	}
	if e.bodyMember(&first, "model") {
		e.modelRef(b.Model)
	}
	e.buf.WriteByte('}')
	return nil
}

// policyActivated writes a policy_activated body; see modelAdmitted.
func (e *recordEncoder) policyActivated(b *PolicyActivated) error {
	first := true
	e.buf.WriteByte('{')
	if len(b.Details) > 0 && e.bodyMember(&first, "details") {
		if err := object(e, b.Details, e.stringValue); err != nil {
			return fmt.Errorf("details: %w", err)
		}
	}
	if e.bodyMember(&first, "policy") {
		e.policyRef(b.Policy)
	}
	e.buf.WriteByte('}')
	return nil
}

// recourse writes a recourse body; members in canonical (sorted) order.
func (e *recordEncoder) recourse(b *Recourse) error {
	e.buf.WriteString(`{"decision_id":`)
	e.str(b.DecisionID)
	e.buf.WriteString(`,"digest":`)
	e.str(b.Digest)
	e.buf.WriteString(`,"model":`)
	e.modelRef(b.Model)
	e.buf.WriteString(`,"policy":`)
	e.policyRef(b.Policy)
	e.buf.WriteString(`,"suggestions":`)
	if err := e.number(float64(b.Suggestions)); err != nil {
		return fmt.Errorf("suggestions: %w", err)
	}
	e.buf.WriteByte('}')
	return nil
}

// erasure writes an erasure body; members in canonical order.
func (e *recordEncoder) erasure(b *Erasure) {
	e.buf.WriteString(`{"decision_id":`)
	e.str(b.DecisionID)
	e.buf.WriteString(`,"legal_basis":`)
	e.str(b.LegalBasis)
	e.buf.WriteByte('}')
}

func (e *recordEncoder) modelRef(m ModelRef) {
	e.buf.WriteString(`{"id":`)
	e.str(m.ID)
	e.buf.WriteString(`,"sha256":`)
	e.str(m.SHA256)
	e.buf.WriteByte('}')
}

func (e *recordEncoder) policyRef(p PolicyRef) {
	e.buf.WriteString(`{"revision":`)
	e.str(p.Revision)
	e.buf.WriteByte('}')
}

// reasons writes the reasons array; nil is written as [] (see Encode).
// Each reason is in its form (see Reason), members in canonical order.
func (e *recordEncoder) reasons(rs []Reason) error {
	e.buf.WriteByte('[')
	for i, r := range rs {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		var err error
		if r.Legacy {
			err = e.legacyReason(r)
		} else {
			err = e.fullReason(r)
		}
		if err != nil {
			return fmt.Errorf("%d: %w", i, err)
		}
	}
	e.buf.WriteByte(']')
	return nil
}

func (e *recordEncoder) legacyReason(r Reason) error {
	e.buf.WriteString(`{"code":`)
	e.str(r.Code)
	e.buf.WriteString(`,"contribution":`)
	c := 0.0
	if r.Contribution != nil {
		c = *r.Contribution
	}
	if err := e.number(c); err != nil {
		return fmt.Errorf("contribution: %w", err)
	}
	e.buf.WriteString(`,"feature":`)
	e.str(r.Feature)
	e.buf.WriteString(`,"text":`)
	e.str(r.Text)
	e.buf.WriteString(`,"value":`)
	if err := e.featureValue(r.Value); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	e.buf.WriteByte('}')
	return nil
}

func (e *recordEncoder) fullReason(r Reason) error {
	e.buf.WriteString(`{"code":`)
	e.str(r.Code)
	e.buf.WriteString(`,"contribution":`)
	if r.Contribution == nil {
		e.buf.WriteString("null")
	} else if err := e.number(*r.Contribution); err != nil {
		return fmt.Errorf("contribution: %w", err)
	}
	e.buf.WriteString(`,"direction":`)
	e.optStr(r.Direction)
	e.buf.WriteString(`,"feature":`)
	e.optStr(r.Feature)
	e.buf.WriteString(`,"reference":`)
	if err := e.featureValue(r.Reference); err != nil {
		return fmt.Errorf("reference: %w", err)
	}
	e.buf.WriteString(`,"rule":`)
	e.optStr(r.Rule)
	e.buf.WriteString(`,"text":`)
	e.str(r.Text)
	e.buf.WriteString(`,"value":`)
	if err := e.featureValue(r.Value); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	e.buf.WriteByte('}')
	return nil
}

// optStr writes s, or null for "".
func (e *recordEncoder) optStr(s string) {
	if s == "" {
		e.buf.WriteString("null")
		return
	}
	e.str(s)
}

// object writes m as a JSON object in canonical member order, each value
// by value; a nil map is written as {} (see Encode).
func object[V any](e *recordEncoder, m map[string]V, value func(V) error) error {
	keys, err := e.sortedKeys(mapKeys(e.keys[:0], m))
	if err != nil {
		return err
	}
	e.buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			e.buf.WriteByte(',')
		}
		e.str(k.name)
		e.buf.WriteByte(':')
		if err := value(m[k.key]); err != nil {
			return fmt.Errorf("%q: %w", k.key, err)
		}
	}
	e.buf.WriteByte('}')
	return nil
}

// stringValue adapts str to object's value callback.
func (e *recordEncoder) stringValue(s string) error {
	e.str(s)
	return nil
}

// mapKeys appends m's keys to dst, each with its written name, and
// reports whether all the names are ASCII.
func mapKeys[V any](dst []mapKey, m map[string]V) ([]mapKey, bool) {
	dst = slices.Grow(dst, len(m))
	ascii := true
	for k := range m {
		name := k
		if !isASCII(k) {
			ascii = false
			if !utf8.ValidString(k) {
				name = coerceUTF8(k)
			}
		}
		dst = append(dst, mapKey{name: name, key: k})
	}
	return dst, ascii
}

// sortedKeys sorts keys into canonical member order and keeps the slice
// for the next map. Distinct map keys can only collide once invalid UTF-8
// has been replaced; Canonicalize refused the resulting duplicate members,
// so this does too.
func (e *recordEncoder) sortedKeys(keys []mapKey, ascii bool) ([]mapKey, error) {
	e.keys = keys
	if ascii {
		// What compareUTF16 does for two ASCII strings, without checking
		// each pair again: feature names are normally ASCII.
		slices.SortFunc(keys, func(a, b mapKey) int { return strings.Compare(a.name, b.name) })
		return keys, nil
	}
	slices.SortFunc(keys, func(a, b mapKey) int { return compareUTF16(a.name, b.name) })
	for i := 1; i < len(keys); i++ {
		if keys[i].name == keys[i-1].name {
			return nil, fmt.Errorf("%w: duplicate object member %q", ErrInvalidRecord, keys[i].name)
		}
	}
	return keys, nil
}

// featureValue writes v as FeatureValue.MarshalJSON followed by
// Canonicalize would: a canonical number, a string or null.
func (e *recordEncoder) featureValue(v FeatureValue) error {
	switch v.kind {
	case featureNumber:
		return e.number(v.num)
	case featureLevel:
		e.str(v.level)
	default:
		e.buf.WriteString("null")
	}
	return nil
}

// number writes f in canonical form; NaN and infinities are refused with
// ErrInvalidRecord, as json.Marshal refused them before.
func (e *recordEncoder) number(f float64) error {
	b, err := appendNumber(e.buf.AvailableBuffer(), f)
	if err != nil {
		return err
	}
	e.buf.Write(b)
	return nil
}

// str writes s as json.Marshal followed by Canonicalize would: invalid
// UTF-8 becomes U+FFFD (which json.Marshal does byte by byte) and the
// result is escaped by Canonicalize's own writer.
func (e *recordEncoder) str(s string) {
	if !utf8.ValidString(s) {
		s = coerceUTF8(s)
	}
	writeString(&e.buf, s)
}

// coerceUTF8 replaces each byte that does not start a valid UTF-8 sequence
// with U+FFFD, as encoding/json does. (strings.ToValidUTF8 would replace a
// run of such bytes with a single U+FFFD, which is not the same.)
func coerceUTF8(s string) string {
	var b []byte
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}
