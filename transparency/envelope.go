package transparency

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// EnvelopeFormat is the leaf format of a commitment envelope. A format 1
// leaf is the record itself; a format 2 leaf commits to a record kept in
// the record store beside the log (see docs/ledger.md).
const EnvelopeFormat = 2

// SaltSize is the length of a commitment's salt: 256 random bits, more
// than the 128 the commitment needs to hide a guessable record.
const SaltSize = 32

// envelopeTimeLayout is the envelope's timestamp: RFC 3339 in UTC at
// second precision, so the leaf does not time a decision finely enough to
// single out one applicant's request.
const envelopeTimeLayout = "2006-01-02T15:04:05Z"

// authenticatorContext prefixes the message the authenticator signs. The
// ledger signs checkpoints with the same key; a checkpoint's signed text
// is "<origin>\n<decimal size>\n...", and this message's second line
// starts with "{", so no authenticator is ever a valid checkpoint
// signature, nor the other way round.
const authenticatorContext = "glassbox leaf authenticator v1\n"

// Envelope is a format 2 leaf: what the log holds of a decision or
// recourse record. It carries no personal data and nothing computed from
// one applicant's data: the record type, a second-precision time, the
// model and policy in force (shared by every decision they made), the
// commitment to the full record and the authenticator.
type Envelope struct {
	Type      RecordType
	Timestamp time.Time
	Model     ModelRef
	Policy    PolicyRef
	// Commitment is SHA-256(salt ‖ record bytes), see Commitment.
	Commitment [sha256.Size]byte
	// Authenticator is the ledger key's Ed25519 signature over the other
	// members (authenticatorMessage). A leaf whose authenticator fails
	// was not written by glassbox: it is foreign.
	Authenticator []byte
}

// Commitment returns SHA-256(salt ‖ record), the commitment a format 2
// leaf holds to its record. Without the salt, knowing (or guessing) the
// whole record does not let anyone confirm it against the leaf.
func Commitment(salt, record []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write(record)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// NewSalt returns SaltSize random bytes.
func NewSalt() ([]byte, error) {
	salt := make([]byte, SaltSize)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("reading random salt: %w", err)
	}
	return salt, nil
}

// committed reports whether records of type t are written as format 2
// leaves: those that hold an applicant's data. Governance records stay
// in clear.
func committed(t RecordType) bool {
	return t == TypeDecision || t == TypeRecourse || t == TypeContest
}

// envelopeRefs returns the model and policy an envelope names for r.
func envelopeRefs(r *Record) (ModelRef, PolicyRef) {
	switch {
	case r.Decision != nil:
		return r.Decision.Model, r.Decision.Policy
	case r.Recourse != nil:
		return r.Recourse.Model, r.Recourse.Policy
	}
	return ModelRef{}, PolicyRef{}
}

// SealCommitted seals a decision or recourse record as a format 2 leaf: a
// fresh salt, the commitment to the record's canonical bytes and the
// signer's authenticator. The Sealed carries the record and salt for the
// record store (Sealed.Committed).
func SealCommitted(r *Record, signer note.Signer) (Sealed, error) {
	if !committed(r.Type) {
		return Sealed{}, fmt.Errorf("%w: %s records are not written as commitments", ErrInvalidArgument, r.Type)
	}
	record, err := r.Encode()
	if err != nil {
		return Sealed{}, err
	}
	salt, err := NewSalt()
	if err != nil {
		return Sealed{}, err
	}
	model, policy := envelopeRefs(r)
	env := &Envelope{
		Type:       r.Type,
		Timestamp:  r.Timestamp.UTC().Truncate(time.Second),
		Model:      model,
		Policy:     policy,
		Commitment: Commitment(salt, record),
	}
	if env.Authenticator, err = signer.Sign(env.authenticatorMessage()); err != nil {
		return Sealed{}, fmt.Errorf("signing leaf authenticator: %w", err)
	}
	data, err := env.Encode()
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{data: data, id: RecordID(data), record: record, salt: salt}, nil
}

// validate checks what Encode relies on.
func (e *Envelope) validate() error {
	if !committed(e.Type) {
		return fmt.Errorf("%w: %q records are not written as commitment envelopes", ErrInvalidRecord, e.Type)
	}
	if y := e.Timestamp.UTC().Year(); e.Timestamp.IsZero() || y < 1 || y > 9999 {
		return fmt.Errorf("%w: timestamp %v out of range", ErrInvalidRecord, e.Timestamp)
	}
	if e.Timestamp.Nanosecond() != 0 {
		return fmt.Errorf("%w: envelope timestamp must be whole seconds", ErrInvalidRecord)
	}
	if len(e.Authenticator) == 0 {
		return fmt.Errorf("%w: envelope without authenticator", ErrInvalidRecord)
	}
	return nil
}

// encode writes the canonical envelope; without the authenticator member
// when withAuth is false (the message the authenticator signs).
func (e *Envelope) encode(withAuth bool) []byte {
	enc := recordEncoder{}
	enc.buf.Grow(256 + len(e.Model.ID) + len(e.Model.SHA256) + len(e.Policy.Revision))
	// Members in canonical order: authenticator, commitment, format,
	// model, policy, timestamp, type.
	enc.buf.WriteByte('{')
	if withAuth {
		enc.buf.WriteString(`"authenticator":`)
		enc.str(base64.StdEncoding.EncodeToString(e.Authenticator))
		enc.buf.WriteByte(',')
	}
	enc.buf.WriteString(`"commitment":`)
	enc.str(hex.EncodeToString(e.Commitment[:]))
	enc.buf.WriteString(`,"format":2,"model":`)
	enc.modelRef(e.Model)
	enc.buf.WriteString(`,"policy":`)
	enc.policyRef(e.Policy)
	enc.buf.WriteString(`,"timestamp":"`)
	enc.buf.Write(e.Timestamp.UTC().AppendFormat(enc.buf.AvailableBuffer(), envelopeTimeLayout))
	enc.buf.WriteString(`","type":`)
	enc.str(string(e.Type))
	enc.buf.WriteByte('}')
	return enc.buf.Bytes()
}

// Encode returns the canonical leaf bytes of the envelope.
func (e *Envelope) Encode() ([]byte, error) {
	if err := e.validate(); err != nil {
		return nil, err
	}
	return e.encode(true), nil
}

// authenticatorMessage is what the authenticator signs: a context string
// and the canonical envelope without its authenticator member.
func (e *Envelope) authenticatorMessage() []byte {
	body := e.encode(false)
	msg := make([]byte, 0, len(authenticatorContext)+len(body))
	return append(append(msg, authenticatorContext...), body...)
}

// Verify reports whether the authenticator is the ledger key's signature
// over the envelope. v is the ledger's note verifier (NewLeafVerifier).
func (e *Envelope) Verify(v note.Verifier) bool {
	return v.Verify(e.authenticatorMessage(), e.Authenticator)
}

// NewLeafVerifier parses the ledger's published verifier key (the one
// checkpoints are checked with) for Envelope.Verify.
func NewLeafVerifier(verifierKey string) (note.Verifier, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key: %w", ErrInvalidArgument, err)
	}
	return v, nil
}

// Open checks that record, with salt, is what the envelope commits to,
// and that the record agrees with the envelope's clear members (type,
// time to the second, model, policy). It returns the decoded record.
func (e *Envelope) Open(salt, record []byte) (*Record, error) {
	if Commitment(salt, record) != e.Commitment {
		return nil, fmt.Errorf("%w: the record and salt do not match the leaf's commitment", ErrInconsistent)
	}
	r, err := DecodeRecord(record)
	if err != nil {
		return nil, fmt.Errorf("committed record: %w", err)
	}
	model, policy := envelopeRefs(r)
	switch {
	case r.Type != e.Type:
		return nil, fmt.Errorf("%w: committed record is a %s, the leaf says %s", ErrInconsistent, r.Type, e.Type)
	case !r.Timestamp.Truncate(time.Second).Equal(e.Timestamp):
		return nil, fmt.Errorf("%w: committed record's time %s is not the leaf's %s", ErrInconsistent, r.Timestamp, e.Timestamp)
	case model != e.Model || policy != e.Policy:
		return nil, fmt.Errorf("%w: committed record's model or policy differs from the leaf's", ErrInconsistent)
	}
	return r, nil
}

// wireEnvelope is the JSON shape of a format 2 leaf.
type wireEnvelope struct {
	Authenticator string     `json:"authenticator"`
	Commitment    string     `json:"commitment"`
	Format        int        `json:"format"`
	Model         ModelRef   `json:"model"`
	Policy        PolicyRef  `json:"policy"`
	Timestamp     string     `json:"timestamp"`
	Type          RecordType `json:"type"`
}

// DecodeEnvelope parses a format 2 leaf, accepting only bytes that are
// exactly the canonical encoding of a well-formed envelope. It does not
// check the authenticator (Envelope.Verify does).
func DecodeEnvelope(data []byte) (*Envelope, error) {
	canon, err := Canonicalize(data)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, data) {
		return nil, fmt.Errorf("%w: bytes are not in canonical form", ErrInvalidRecord)
	}
	var w wireEnvelope
	if err := strictUnmarshal(data, &w); err != nil {
		return nil, fmt.Errorf("%w: envelope: %w", ErrInvalidRecord, err)
	}
	if w.Format != EnvelopeFormat {
		return nil, fmt.Errorf("%w: envelope format %d", ErrInvalidRecord, w.Format)
	}
	ts, err := time.Parse(envelopeTimeLayout, w.Timestamp)
	if err != nil {
		return nil, fmt.Errorf("%w: timestamp: %w", ErrInvalidRecord, err)
	}
	e := &Envelope{Type: w.Type, Timestamp: ts, Model: w.Model, Policy: w.Policy}
	c, err := hex.DecodeString(w.Commitment)
	if err != nil || len(c) != len(e.Commitment) {
		return nil, fmt.Errorf("%w: commitment must be %d hex digits", ErrInvalidRecord, 2*len(e.Commitment))
	}
	copy(e.Commitment[:], c)
	if e.Authenticator, err = base64.StdEncoding.Strict().DecodeString(w.Authenticator); err != nil {
		return nil, fmt.Errorf("%w: authenticator is not base64: %w", ErrInvalidRecord, err)
	}
	again, err := e.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, data) {
		return nil, fmt.Errorf("%w: envelope does not re-encode to the same bytes", ErrInvalidRecord)
	}
	return e, nil
}

// Leaf is a decoded leaf of either format: a format 1 record in clear
// (Record set) or a format 2 envelope (Envelope set).
type Leaf struct {
	Record   *Record
	Envelope *Envelope
}

// Format is the leaf's format, 1 or 2.
func (l *Leaf) Format() int {
	if l.Envelope != nil {
		return EnvelopeFormat
	}
	return RecordFormat
}

// Type is the leaf's record type.
func (l *Leaf) Type() RecordType {
	if l.Envelope != nil {
		return l.Envelope.Type
	}
	return l.Record.Type
}

// DecodeLeaf decodes a leaf of either format.
func DecodeLeaf(data []byte) (*Leaf, error) {
	if LeafFormat(data) == EnvelopeFormat {
		e, err := DecodeEnvelope(data)
		if err != nil {
			return nil, err
		}
		return &Leaf{Envelope: e}, nil
	}
	r, err := DecodeRecord(data)
	if err != nil {
		return nil, err
	}
	return &Leaf{Record: r}, nil
}

// LeafFormat says which format a leaf is in, from its first member
// alone (0 if neither): canonical JSON sorts "authenticator" first in an
// envelope and "body" first in a record, so the prefix routes every leaf
// read back without parsing it, and the decoder then checks everything.
func LeafFormat(data []byte) int {
	switch {
	case bytes.HasPrefix(data, []byte(`{"authenticator":`)):
		return EnvelopeFormat
	case bytes.HasPrefix(data, []byte(`{"body":`)):
		return RecordFormat
	}
	return 0
}

// OpenLeaf is what a verifier outside glassbox does with a leaf: a format
// 1 leaf is decoded as the record it is; a format 2 leaf must carry the
// ledger's authenticator (v, from the published verifier key) or it is
// ErrForeign, and then must open with salt and record (Envelope.Open). A
// format 2 leaf given without its record (nil) returns a nil record and
// no error: the leaf is genuine, its content unchecked.
func OpenLeaf(data, salt, record []byte, v note.Verifier) (*Record, error) {
	switch LeafFormat(data) {
	case RecordFormat:
		return DecodeRecord(data)
	case EnvelopeFormat:
		e, err := DecodeEnvelope(data)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrForeign, err)
		}
		if !e.Verify(v) {
			return nil, fmt.Errorf("%w: the authenticator does not verify with the ledger's key", ErrForeign)
		}
		if record == nil {
			return nil, nil
		}
		return e.Open(salt, record)
	}
	return nil, fmt.Errorf("%w: the leaf is neither a record nor an envelope", ErrForeign)
}
