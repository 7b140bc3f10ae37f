package transparency

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/transparency-dev/merkle/rfc6962"
)

// RecordFormat is the envelope version written by this package. Decoders
// reject other versions rather than guess at their meaning.
const RecordFormat = 1

// timestampLayout is RFC 3339 in UTC with exactly nine fractional digits.
// A fixed width (unlike time.RFC3339Nano, which trims zeros) keeps the
// encoding of a given instant unique.
const timestampLayout = "2006-01-02T15:04:05.000000000Z"

// RecordType says which body a record carries.
type RecordType string

// Record types.
const (
	TypeDecision        RecordType = "decision"
	TypeModelAdmitted   RecordType = "model_admitted"
	TypePolicyActivated RecordType = "policy_activated"
	TypeRecourse        RecordType = "recourse"
	TypeErasure         RecordType = "erasure"
)

// Record is the envelope written as one leaf of the ledger. Exactly one of
// the body pointers is set, matching Type.
//
// Its byte form (Encode) is canonical JSON: the same record always gives the
// same bytes, so the decision id (the RFC 6962 leaf hash of those bytes) can
// be recomputed by anyone holding the record.
type Record struct {
	Format    int
	Type      RecordType
	Timestamp time.Time

	Decision        *Decision
	ModelAdmitted   *ModelAdmitted
	PolicyActivated *PolicyActivated
	Recourse        *Recourse
	Erasure         *Erasure
	// Lifecycle bodies (lifecycle.go).
	FinalAction *FinalAction
	NoticeSent  *NoticeSent
	Outcome     *Outcome
	Contest     *Contest
	Rescore     *Rescore

	// omitted lists decision body fields left out by Minimise. It is kept
	// outside Decision so that zero values (a score of 0) stay
	// distinguishable from fields that policy withheld.
	omitted []string
}

// ModelRef identifies a scoring model by id and the SHA-256 of its artefact.
type ModelRef struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256"`
}

// PolicyRef identifies the policy revision in force.
type PolicyRef struct {
	// Revision is the policy package's revision: the lowercase hex SHA-256
	// over its policy files and data (policy.Engine.Revision).
	Revision string `json:"revision"`
}

// Decision is the body of a "decision" record. It holds only derived and
// pseudonymous data: the application id is the lender's reference, never a
// name or national identifier.
type Decision struct {
	Lender               string                  `json:"lender"`
	ApplicationID        string                  `json:"application_id"`
	Model                ModelRef                `json:"model"`
	Policy               PolicyRef               `json:"policy"`
	Features             map[string]FeatureValue `json:"features"`
	RawScore             float64                 `json:"raw_score"`
	ProbabilityOfDefault float64                 `json:"probability_of_default"`
	Score                float64                 `json:"score"`
	Decision             string                  `json:"decision"`
	// ReasonMethod says how the reasons were chosen, e.g.
	// "baseline_shapley/cutoff"; records written before it existed lack
	// it (it then shows as omitted).
	ReasonMethod  string             `json:"reason_method"`
	Reasons       []Reason           `json:"reasons"`
	Attributions  map[string]float64 `json:"attributions"`
	ExpectedValue float64            `json:"expected_value"`
	// Nonce is 16 random bytes in lowercase hex. It makes the record (and
	// so its id) unguessable even when every other field could be guessed,
	// which stops anyone confirming a suspected decision by hashing it.
	Nonce string `json:"nonce"`
}

// Inputs returns the logged feature values as an application's feature
// map (numbers, level names; missing values left out), ready to be
// validated and scored again.
func (d *Decision) Inputs() map[string]any {
	out := make(map[string]any, len(d.Features))
	for k, v := range d.Features {
		if x, ok := v.Number(); ok {
			out[k] = x
		} else if l, ok := v.Level(); ok {
			out[k] = l
		}
	}
	return out
}

// Reason is one principal reason: a feature reason, a policy rule's
// reason or the fallback. Its JSON form is
// {"code", "contribution", "direction", "feature", "reference", "rule",
// "text", "value"}, with null for an empty Feature, Direction or Rule, a
// nil Contribution and a missing Reference or Value.
//
// Records written before direction, reference and rule existed carry
// only code, contribution, feature, text and value; such a reason decodes
// with Legacy true and encodes in that form again, so that old records
// keep their bytes and ids.
type Reason struct {
	Code string
	// Feature is "" for a rule or fallback reason.
	Feature string
	Value   FeatureValue
	Text    string
	// Contribution is the feature's contribution in log-odds of default
	// (a baseline Shapley value, or TreeSHAP in legacy records); nil for a
	// rule, fallback or "provide" reason of an incomplete application.
	Contribution *float64
	// Direction is the change of the feature that lowers the risk:
	// "increase", "decrease", "other" or "provide".
	Direction string
	// Reference is the reference value the feature was measured against.
	Reference FeatureValue
	// Rule is the id of the policy rule behind a rule reason.
	Rule string
	// Legacy marks a reason decoded from the five-member form.
	Legacy bool
}

// legacyReason and fullReason are Reason's two JSON forms, members in
// canonical order.
type (
	legacyReason struct {
		Code         string       `json:"code"`
		Contribution float64      `json:"contribution"`
		Feature      string       `json:"feature"`
		Text         string       `json:"text"`
		Value        FeatureValue `json:"value"`
	}
	fullReason struct {
		Code         string       `json:"code"`
		Contribution *float64     `json:"contribution"`
		Direction    *string      `json:"direction"`
		Feature      *string      `json:"feature"`
		Reference    FeatureValue `json:"reference"`
		Rule         *string      `json:"rule"`
		Text         string       `json:"text"`
		Value        FeatureValue `json:"value"`
	}
)

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// MarshalJSON writes the reason's form (see Reason).
func (r Reason) MarshalJSON() ([]byte, error) {
	if r.Legacy {
		var c float64
		if r.Contribution != nil {
			c = *r.Contribution
		}
		return json.Marshal(legacyReason{Code: r.Code, Contribution: c, Feature: r.Feature, Text: r.Text, Value: r.Value})
	}
	return json.Marshal(fullReason{
		Code: r.Code, Contribution: r.Contribution, Direction: optional(r.Direction), Feature: optional(r.Feature),
		Reference: r.Reference, Rule: optional(r.Rule), Text: r.Text, Value: r.Value,
	})
}

// UnmarshalJSON reads either form; members of neither are refused.
func (r *Reason) UnmarshalJSON(data []byte) error {
	var present map[string]json.RawMessage
	if err := json.Unmarshal(data, &present); err != nil {
		return err
	}
	_, hasDirection := present["direction"]
	_, hasReference := present["reference"]
	_, hasRule := present["rule"]
	if !hasDirection && !hasReference && !hasRule {
		var l legacyReason
		if err := strictUnmarshal(data, &l); err != nil {
			return err
		}
		c := l.Contribution
		*r = Reason{Code: l.Code, Feature: l.Feature, Value: l.Value, Text: l.Text, Contribution: &c, Legacy: true}
		return nil
	}
	var f fullReason
	if err := strictUnmarshal(data, &f); err != nil {
		return err
	}
	*r = Reason{
		Code: f.Code, Feature: deref(f.Feature), Value: f.Value, Text: f.Text, Contribution: f.Contribution,
		Direction: deref(f.Direction), Reference: f.Reference, Rule: deref(f.Rule),
	}
	return nil
}

// ModelAdmitted is the body of a "model_admitted" record: a model became
// eligible for scoring.
type ModelAdmitted struct {
	Model ModelRef `json:"model"`
	// Details carries free-form, non-personal attestations (e.g. the hash of
	// a validation report).
	Details map[string]string `json:"details,omitempty"`
}

// PolicyActivated is the body of a "policy_activated" record: a policy
// revision took effect.
type PolicyActivated struct {
	Policy  PolicyRef         `json:"policy"`
	Details map[string]string `json:"details,omitempty"`
}

// Recourse is the body of a "recourse" record: what an applicant was
// shown as recourse for a decision, by digest. The suggestions themselves
// (which carry the applicant's values) stay in the recourse store; the
// record makes them provable without putting them in the log.
type Recourse struct {
	// DecisionID is the id of the decision record the suggestions are for.
	DecisionID string `json:"decision_id"`
	// Digest is the SHA-256 (hex) of the canonical JSON of the
	// counterfactuals array exactly as served.
	Digest string `json:"digest"`
	// Suggestions is the number of counterfactuals (0: none exists).
	Suggestions int       `json:"suggestions"`
	Model       ModelRef  `json:"model"`
	Policy      PolicyRef `json:"policy"`
}

// Erasure is the body of an "erasure" record: the record a decision's
// format 2 leaf commits to was erased (crypto-shredded) from the record
// store. It holds no personal data: the decision id (a leaf hash) and the
// legal basis; the envelope's timestamp is the time of the erasure. Who
// asked is not logged.
type Erasure struct {
	DecisionID string `json:"decision_id"`
	LegalBasis string `json:"legal_basis"`
}

// MaxLegalBasis bounds an erasure's legal basis, in bytes.
const MaxLegalBasis = 200

// DecisionFields returns the names of the decision body members in
// encoding order: the vocabulary Minimise accepts.
func DecisionFields() []string {
	return []string{
		"application_id", "attributions", "decision", "expected_value", "features",
		"lender", "model", "nonce", "policy", "probability_of_default", "raw_score",
		"reason_method", "reasons", "score",
	}
}

// requiredDecisionFields cannot be minimised away: without the nonce the
// record's id could be confirmed by guessing its contents.
func isRequiredDecisionField(name string) bool { return name == "nonce" }

// NewNonce returns 16 random bytes as lowercase hex.
func NewNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("reading random nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// NewRecord wraps body (a *Decision, *ModelAdmitted, *PolicyActivated,
// *Recourse or a lifecycle body: *FinalAction, *NoticeSent, *Outcome,
// *Contest, *Rescore) in
// an envelope stamped with ts. A decision, final action or contest without a nonce
// gets a fresh one.
func NewRecord(ts time.Time, body any) (*Record, error) {
	r := &Record{Format: RecordFormat, Timestamp: ts.UTC()}
	switch b := body.(type) {
	case *Decision:
		if b.Nonce == "" {
			n, err := NewNonce()
			if err != nil {
				return nil, err
			}
			b.Nonce = n
		}
		r.Type, r.Decision = TypeDecision, b
	case *ModelAdmitted:
		r.Type, r.ModelAdmitted = TypeModelAdmitted, b
	case *PolicyActivated:
		r.Type, r.PolicyActivated = TypePolicyActivated, b
	case *Recourse:
		r.Type, r.Recourse = TypeRecourse, b
	case *Erasure:
		r.Type, r.Erasure = TypeErasure, b
	default:
		if ok, err := r.setLifecycleBody(body); err != nil {
			return nil, err
		} else if !ok {
			return nil, fmt.Errorf("%w: unsupported record body %T", ErrInvalidArgument, body)
		}
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// Minimise restricts a decision record to the allowed body fields (names
// from DecisionFields); the others are left out of the encoding. The nonce
// is always kept. Unknown names are an error so that a typo in a policy
// cannot silently record more, or less, than intended. It is a no-op for
// other record types.
func (r *Record) Minimise(allowed []string) error {
	if r.Type != TypeDecision {
		return nil
	}
	fields := DecisionFields()
	keep := map[string]bool{}
	for _, name := range allowed {
		if !slices.Contains(fields, name) {
			return fmt.Errorf("%w: unknown decision field %q", ErrInvalidArgument, name)
		}
		keep[name] = true
	}
	var omitted []string
	for _, name := range fields {
		if !keep[name] && !isRequiredDecisionField(name) {
			omitted = append(omitted, name)
		}
	}
	r.omitted = omitted
	return nil
}

// Omitted returns the decision body fields absent from the encoding.
func (r *Record) Omitted() []string { return slices.Clone(r.omitted) }

// Validate checks the envelope invariants that Encode relies on.
func (r *Record) Validate() error {
	if r.Format != RecordFormat {
		return fmt.Errorf("%w: unsupported format %d", ErrInvalidRecord, r.Format)
	}
	if y := r.Timestamp.UTC().Year(); r.Timestamp.IsZero() || y < 1 || y > 9999 {
		return fmt.Errorf("%w: timestamp %v out of range", ErrInvalidRecord, r.Timestamp)
	}
	bodies := 0
	for _, set := range []bool{r.Decision != nil, r.ModelAdmitted != nil, r.PolicyActivated != nil, r.Recourse != nil, r.Erasure != nil,
		r.FinalAction != nil, r.NoticeSent != nil, r.Outcome != nil, r.Contest != nil, r.Rescore != nil} {
		if set {
			bodies++
		}
	}
	if bodies != 1 {
		return fmt.Errorf("%w: record must carry exactly one body, has %d", ErrInvalidRecord, bodies)
	}
	switch r.Type {
	case TypeDecision:
		if r.Decision == nil {
			return fmt.Errorf("%w: decision record without decision body", ErrInvalidRecord)
		}
		if b, err := hex.DecodeString(r.Decision.Nonce); err != nil || len(b) != 16 || strings.ToLower(r.Decision.Nonce) != r.Decision.Nonce {
			return fmt.Errorf("%w: nonce must be 32 lowercase hex digits", ErrInvalidRecord)
		}
	case TypeModelAdmitted:
		if r.ModelAdmitted == nil {
			return fmt.Errorf("%w: model_admitted record without body", ErrInvalidRecord)
		}
	case TypePolicyActivated:
		if r.PolicyActivated == nil {
			return fmt.Errorf("%w: policy_activated record without body", ErrInvalidRecord)
		}
	case TypeRecourse:
		if r.Recourse == nil {
			return fmt.Errorf("%w: recourse record without body", ErrInvalidRecord)
		}
		if _, err := ParseID(r.Recourse.DecisionID); err != nil || strings.ToLower(r.Recourse.DecisionID) != r.Recourse.DecisionID {
			return fmt.Errorf("%w: recourse decision_id must be 64 lowercase hex digits", ErrInvalidRecord)
		}
		if b, err := hex.DecodeString(r.Recourse.Digest); err != nil || len(b) != 32 || strings.ToLower(r.Recourse.Digest) != r.Recourse.Digest {
			return fmt.Errorf("%w: recourse digest must be 64 lowercase hex digits", ErrInvalidRecord)
		}
		if r.Recourse.Suggestions < 0 {
			return fmt.Errorf("%w: recourse suggestions may not be negative", ErrInvalidRecord)
		}
	case TypeErasure:
		if r.Erasure == nil {
			return fmt.Errorf("%w: erasure record without body", ErrInvalidRecord)
		}
		if _, err := ParseID(r.Erasure.DecisionID); err != nil || strings.ToLower(r.Erasure.DecisionID) != r.Erasure.DecisionID {
			return fmt.Errorf("%w: erasure decision_id must be 64 lowercase hex digits", ErrInvalidRecord)
		}
		if b := r.Erasure.LegalBasis; b == "" || len(b) > MaxLegalBasis || !utf8.ValidString(b) {
			return fmt.Errorf("%w: erasure legal_basis must be 1 to %d bytes of UTF-8", ErrInvalidRecord, MaxLegalBasis)
		}
	case TypeFinalAction, TypeNoticeSent, TypeOutcome, TypeContest, TypeRescore:
		return r.validateLifecycle()
	default:
		return fmt.Errorf("%w: unknown record type %q", ErrInvalidRecord, r.Type)
	}
	return nil
}

// wireRecord is the JSON shape of the envelope.
type wireRecord struct {
	Format    int             `json:"format"`
	Type      RecordType      `json:"type"`
	Timestamp string          `json:"timestamp"`
	Body      json.RawMessage `json:"body"`
}

// Encode returns the canonical bytes of the record: the exact leaf value
// stored in the log.
//
// The bytes are those of json.Marshal of the wire form (wireRecord around
// the body, with the members Minimise removed deleted from the body)
// followed by Canonicalize, but are written directly (encode.go) rather
// than marshalled and re-parsed. A decision's nil Features, Reasons and
// Attributions are written as {}, [] and {}, like empty ones: otherwise
// they would encode differently (null) from empty collections.
func (r *Record) Encode() ([]byte, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return encodeRecord(r)
}

// Sealed is a record's canonical encoding, made only by Record.Seal: a
// value of this type is known to be exactly the bytes Encode produced.
type Sealed struct {
	data []byte
	id   ID
	// record and salt are set for a format 2 leaf (SealCommitted): the
	// full record and the salt of its commitment, bound for the record
	// store.
	record, salt []byte
}

// Seal encodes the record; the result can be appended without being
// checked again (Ledger.AppendSealed).
func (r *Record) Seal() (Sealed, error) {
	data, err := r.Encode()
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{data: data, id: RecordID(data)}, nil
}

// Bytes returns the leaf bytes; the caller must not modify them.
func (s Sealed) Bytes() []byte { return s.data }

// ID returns the record's id, the RFC 6962 leaf hash of its bytes.
func (s Sealed) ID() ID { return s.id }

// Committed returns the salt and full record bytes a format 2 leaf
// commits to, and false for a format 1 leaf (the leaf is the record).
// The caller must not modify them.
func (s Sealed) Committed() (salt, record []byte, ok bool) {
	return s.salt, s.record, s.record != nil
}

// DecodeRecord parses record bytes and rejects anything that is not exactly
// the canonical encoding of a valid record, so that one record can never be
// logged under two ids.
func DecodeRecord(data []byte) (*Record, error) {
	canon, err := Canonicalize(data)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, data) {
		return nil, fmt.Errorf("%w: bytes are not in canonical form", ErrInvalidRecord)
	}
	var w wireRecord
	if err := strictUnmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", ErrInvalidRecord, err)
	}
	ts, err := time.Parse(timestampLayout, w.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%w: timestamp: %w", ErrInvalidRecord, err)
	}
	r := &Record{Format: w.Format, Type: w.Type, Timestamp: ts}
	if len(w.Body) == 0 {
		return nil, fmt.Errorf("%w: missing body", ErrInvalidRecord)
	}
	switch w.Type {
	case TypeDecision:
		var present map[string]json.RawMessage
		if err := json.Unmarshal(w.Body, &present); err != nil {
			return nil, fmt.Errorf("%w: decision body: %w", ErrInvalidRecord, err)
		}
		for _, name := range DecisionFields() {
			if _, ok := present[name]; !ok {
				if isRequiredDecisionField(name) {
					return nil, fmt.Errorf("%w: decision body lacks %q", ErrInvalidRecord, name)
				}
				r.omitted = append(r.omitted, name)
			}
		}
		r.Decision = &Decision{}
		err = strictUnmarshal(w.Body, r.Decision)
	case TypeModelAdmitted:
		r.ModelAdmitted = &ModelAdmitted{}
		err = strictUnmarshal(w.Body, r.ModelAdmitted)
	case TypePolicyActivated:
		r.PolicyActivated = &PolicyActivated{}
		err = strictUnmarshal(w.Body, r.PolicyActivated)
	case TypeRecourse:
		r.Recourse = &Recourse{}
		err = strictUnmarshal(w.Body, r.Recourse)
	case TypeErasure:
		r.Erasure = &Erasure{}
		err = strictUnmarshal(w.Body, r.Erasure)
	default:
		var ok bool
		if ok, err = r.decodeLifecycle(w.Body); !ok {
			return nil, fmt.Errorf("%w: unknown record type %q", ErrInvalidRecord, w.Type)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s body: %w", ErrInvalidRecord, w.Type, err)
	}
	// Re-encoding catches what field-level parsing cannot: null where an
	// object is expected, members that decode to zero values, and so on.
	again, err := r.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, data) {
		return nil, fmt.Errorf("%w: record does not re-encode to the same bytes", ErrInvalidRecord)
	}
	return r, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ID is a decision (or any record) id: the RFC 6962 leaf hash
// SHA-256(0x00 ‖ record bytes), which is also the key Trillian indexes
// leaves by.
type ID [32]byte

// RecordID returns the id of the given record bytes.
func RecordID(recordBytes []byte) ID {
	var id ID
	copy(id[:], rfc6962.DefaultHasher.HashLeaf(recordBytes))
	return id
}

// ID encodes the record and returns its id.
func (r *Record) ID() (ID, error) {
	b, err := r.Encode()
	if err != nil {
		return ID{}, err
	}
	return RecordID(b), nil
}

// String returns the id as 64 lowercase hex digits.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// ParseID parses 64 hex digits. Upper case is accepted for convenience;
// String always produces lower case.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return id, fmt.Errorf("%w: id must be %d hex digits, got %d characters", ErrInvalidArgument, 2*len(id), len(s))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, fmt.Errorf("%w: id is not hex: %w", ErrInvalidArgument, err)
	}
	return id, nil
}

// FeatureValue is a validated model input: a number, the level of a
// categorical feature, or missing. The zero value is missing.
type FeatureValue struct {
	kind  featureKind
	num   float64
	level string
}

type featureKind uint8

const (
	featureMissing featureKind = iota
	featureNumber
	featureLevel
)

// NumberValue is a numeric feature value. It must be finite to be encoded.
func NumberValue(v float64) FeatureValue { return FeatureValue{kind: featureNumber, num: v} }

// LevelValue is a categorical feature value.
func LevelValue(level string) FeatureValue { return FeatureValue{kind: featureLevel, level: level} }

// MissingValue is an absent feature value (encoded as null).
func MissingValue() FeatureValue { return FeatureValue{} }

// Number returns the numeric value, if the value is numeric.
func (v FeatureValue) Number() (float64, bool) { return v.num, v.kind == featureNumber }

// Level returns the categorical level, if the value is categorical.
func (v FeatureValue) Level() (string, bool) { return v.level, v.kind == featureLevel }

// IsMissing reports whether the value is missing.
func (v FeatureValue) IsMissing() bool { return v.kind == featureMissing }

// MarshalJSON encodes a number, a string or null.
func (v FeatureValue) MarshalJSON() ([]byte, error) {
	switch v.kind {
	case featureNumber:
		if math.IsNaN(v.num) || math.IsInf(v.num, 0) {
			return nil, fmt.Errorf("feature value %v is not finite", v.num)
		}
		s, err := FormatNumber(v.num)
		return []byte(s), err
	case featureLevel:
		return json.Marshal(v.level)
	default:
		return []byte("null"), nil
	}
}

// UnmarshalJSON accepts a number, a string or null.
func (v *FeatureValue) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	switch {
	case bytes.Equal(data, []byte("null")):
		*v = MissingValue()
	case len(data) > 0 && data[0] == '"':
		var s string
		if err := json.Unmarshal(data, &s); err != nil {
			return err
		}
		*v = LevelValue(s)
	default:
		var f float64
		if err := json.Unmarshal(data, &f); err != nil {
			return fmt.Errorf("feature value must be a number, string or null: %w", err)
		}
		*v = NumberValue(f)
	}
	return nil
}
