package transparency

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
	"golang.org/x/mod/sumdb/note"
)

// testSigner returns a fresh note signer and its verifier.
func testSigner(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewLeafVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func sealTestDecision(t testing.TB, s note.Signer) (*Record, Sealed) {
	t.Helper()
	r, err := NewRecord(testTime, testDecision())
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := SealCommitted(r, s)
	if err != nil {
		t.Fatal(err)
	}
	return r, sealed
}

func TestEnvelopeRoundTripAndOpen(t *testing.T) {
	s, v := testSigner(t, "glassbox.test/ledger")
	for _, body := range []any{testDecision(), testRecourse()} {
		r, err := NewRecord(testTime, body)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := SealCommitted(r, s)
		if err != nil {
			t.Fatal(err)
		}
		salt, record, ok := sealed.Committed()
		if !ok || len(salt) != SaltSize {
			t.Fatalf("Committed() = %d-byte salt, ok %v", len(salt), ok)
		}
		want, _ := r.Encode()
		if !bytes.Equal(record, want) {
			t.Fatalf("committed record is not the record's canonical encoding")
		}
		// The id is the leaf hash of the envelope, as for format 1.
		if sealed.ID() != RecordID(sealed.Bytes()) {
			t.Fatal("id is not the leaf hash of the envelope")
		}
		leaf, err := DecodeLeaf(sealed.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		e := leaf.Envelope
		if leaf.Format() != 2 || e == nil || leaf.Type() != r.Type {
			t.Fatalf("DecodeLeaf = format %d, type %s", leaf.Format(), leaf.Type())
		}
		// The commitment, computed independently.
		h := sha256.Sum256(append(append([]byte{}, salt...), record...))
		if e.Commitment != h {
			t.Fatalf("commitment %x, sha256(salt‖record) %x", e.Commitment, h)
		}
		if !e.Timestamp.Equal(testTime.Truncate(time.Second)) || e.Timestamp.Nanosecond() != 0 {
			t.Fatalf("envelope time %v", e.Timestamp)
		}
		if !e.Verify(v) {
			t.Fatal("authenticator does not verify with the ledger key")
		}
		got, err := e.Open(salt, record)
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := got.Encode(); !bytes.Equal(b, record) {
			t.Fatal("opened record differs")
		}
		// A second seal of the same record gets a fresh salt, so another
		// leaf and id.
		again, err := SealCommitted(r, s)
		if err != nil {
			t.Fatal(err)
		}
		if again.ID() == sealed.ID() {
			t.Fatal("two seals of one record share an id: the salt is not random")
		}
	}
}

// TestEnvelopeMatchesJCS checks the envelope encoder against an
// independent RFC 8785 implementation fed encoding/json's output.
func TestEnvelopeMatchesJCS(t *testing.T) {
	s, _ := testSigner(t, "glassbox.test/ledger")
	_, sealed := sealTestDecision(t, s)
	e, err := DecodeEnvelope(sealed.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, mod := range []ModelRef{e.Model, {ID: "m<&>\u2028\"é", SHA256: "\x01"}} {
		e.Model = mod
		plain, err := json.Marshal(wireEnvelope{
			Authenticator: base64.StdEncoding.EncodeToString(e.Authenticator),
			Commitment:    hex.EncodeToString(e.Commitment[:]),
			Format:        2, Model: e.Model, Policy: e.Policy,
			Timestamp: e.Timestamp.Format(time.RFC3339), Type: e.Type,
		})
		if err != nil {
			t.Fatal(err)
		}
		want, err := jcs.Transform(plain)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("envelope encoding\n got %s\nwant %s", got, want)
		}
	}
}

// TestEnvelopeHoldsNoRecordData: nothing of the decision body but the
// model and policy appears in the leaf.
func TestEnvelopeHoldsNoRecordData(t *testing.T) {
	s, _ := testSigner(t, "glassbox.test/ledger")
	_, sealed := sealTestDecision(t, s)
	leaf := string(sealed.Bytes())
	d := testDecision()
	secrets := []string{d.Lender, d.ApplicationID, d.Decision, d.Nonce, d.ReasonMethod, "52000", "0.3127", "RENT", "612", "0.22541", "-1.2345678901234567"}
	for name := range d.Features {
		secrets = append(secrets, name)
	}
	for _, r := range d.Reasons {
		secrets = append(secrets, r.Code, r.Text)
	}
	for _, sec := range secrets {
		if strings.Contains(leaf, sec) {
			t.Errorf("leaf contains %q: %s", sec, leaf)
		}
	}
	if strings.Contains(leaf, "15:09:26.") {
		t.Errorf("leaf time is finer than a second: %s", leaf)
	}
}

// TestSaltPreventsConfirmingAGuess: someone who guesses the whole record
// right cannot confirm the guess against the leaf without the salt; with
// the salt the commitment opens.
func TestSaltPreventsConfirmingAGuess(t *testing.T) {
	s, _ := testSigner(t, "glassbox.test/ledger")
	r, sealed := sealTestDecision(t, s)
	e, err := DecodeEnvelope(sealed.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	guess, err := r.Encode() // the exact record: the best guess there is
	if err != nil {
		t.Fatal(err)
	}
	salt, _, _ := sealed.Committed()
	for name, c := range map[string][32]byte{
		"sha256(record)":            sha256.Sum256(guess),
		"sha256(zero salt‖record)":  Commitment(make([]byte, SaltSize), guess),
		"sha256(other salt‖record)": Commitment(bytes.Repeat([]byte{1}, SaltSize), guess),
		"leaf hash of record":       RecordID(guess),
	} {
		if c == e.Commitment {
			t.Errorf("%s confirms the guessed record", name)
		}
	}
	if _, err := e.Open(nil, guess); !errors.Is(err, ErrInconsistent) {
		t.Errorf("Open without the salt: %v, want ErrInconsistent", err)
	}
	if Commitment(salt, guess) != e.Commitment {
		t.Fatal("with the salt the guessed record does not open the commitment")
	}
	if _, err := e.Open(salt, guess); err != nil {
		t.Fatal(err)
	}
}

func TestEnvelopeAuthenticatorRejectsForgeries(t *testing.T) {
	s, v := testSigner(t, "glassbox.test/ledger")
	other, _ := testSigner(t, "glassbox.test/ledger")
	_, sealed := sealTestDecision(t, s)
	_, foreign := sealTestDecision(t, other)
	e, _ := DecodeEnvelope(sealed.Bytes())
	f, _ := DecodeEnvelope(foreign.Bytes())
	if !e.Verify(v) {
		t.Fatal("genuine leaf does not verify")
	}
	if f.Verify(v) {
		t.Fatal("leaf signed by another key verifies")
	}
	// Any change to a signed member breaks the authenticator.
	for name, change := range map[string]func(*Envelope){
		"commitment": func(e *Envelope) { e.Commitment[0] ^= 1 },
		"model":      func(e *Envelope) { e.Model.ID += "x" },
		"policy":     func(e *Envelope) { e.Policy.Revision = "8" },
		"timestamp":  func(e *Envelope) { e.Timestamp = e.Timestamp.Add(time.Second) },
		"type":       func(e *Envelope) { e.Type = TypeRecourse },
	} {
		c := *e
		c.Authenticator = bytes.Clone(e.Authenticator)
		change(&c)
		if c.Verify(v) {
			t.Errorf("changing %s keeps the authenticator valid", name)
		}
	}
	// A checkpoint signature is no authenticator, and the other way round.
	cp, err := note.Sign(&note.Note{Text: "glassbox.test/ledger\n1\n" + base64.StdEncoding.EncodeToString(e.Commitment[:]) + "\n"}, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(cp, note.VerifierList(v)); err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(string(e.authenticatorMessage()), "glassbox.test/ledger\n") {
		t.Fatal("authenticator message could be read as a checkpoint")
	}
}

func TestEnvelopeOpenRejectsMismatch(t *testing.T) {
	s, _ := testSigner(t, "glassbox.test/ledger")
	r, sealed := sealTestDecision(t, s)
	e, _ := DecodeEnvelope(sealed.Bytes())
	salt, record, _ := sealed.Committed()
	bad := bytes.Clone(record)
	bad[len(bad)-3] ^= 1
	if _, err := e.Open(salt, bad); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Open(changed record) = %v", err)
	}
	// A record that matches the commitment but not the clear members
	// (the envelope's time, here) is refused too.
	r2 := *r
	r2.Timestamp = r.Timestamp.Add(time.Hour)
	rec2, err := r2.Encode()
	if err != nil {
		t.Fatal(err)
	}
	e2 := *e
	e2.Commitment = Commitment(salt, rec2)
	if _, err := e2.Open(salt, rec2); !errors.Is(err, ErrInconsistent) {
		t.Fatalf("Open(record of another time) = %v", err)
	}
}

func TestDecodeLeafReadsBothFormats(t *testing.T) {
	s, _ := testSigner(t, "glassbox.test/ledger")
	r, sealed := sealTestDecision(t, s)
	f1, _ := r.Encode()
	for _, c := range []struct {
		data   []byte
		format int
	}{{f1, 1}, {sealed.Bytes(), 2}} {
		l, err := DecodeLeaf(c.data)
		if err != nil {
			t.Fatal(err)
		}
		if l.Format() != c.format || l.Type() != TypeDecision || LeafFormat(c.data) != c.format {
			t.Fatalf("format %d leaf decoded as format %d", c.format, l.Format())
		}
	}
	for name, data := range map[string]string{
		"format 3":           strings.Replace(string(sealed.Bytes()), `"format":2`, `"format":3`, 1),
		"governance":         strings.Replace(string(sealed.Bytes()), `"type":"decision"`, `"type":"model_admitted"`, 1),
		"short commitment":   strings.Replace(string(sealed.Bytes()), `"commitment":"`, `"commitment":"ab`, 1),
		"sub-second time":    strings.Replace(string(sealed.Bytes()), `26Z"`, `26.5Z"`, 1),
		"whitespace":         strings.Replace(string(sealed.Bytes()), `,"format"`, `, "format"`, 1),
		"extra member":       strings.Replace(string(sealed.Bytes()), `,"format":2`, `,"extra":1,"format":2`, 1),
		"empty":              `{"authenticator":""}`,
		"authenticator junk": strings.Replace(string(sealed.Bytes()), `"authenticator":"`, `"authenticator":"!`, 1),
	} {
		if _, err := DecodeLeaf([]byte(data)); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: DecodeLeaf = %v, want ErrInvalidRecord", name, err)
		}
	}
	gov, err := NewRecord(time.Unix(0, 0), &ModelAdmitted{Model: ModelRef{ID: "m", SHA256: "00"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SealCommitted(gov, s); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("SealCommitted(governance) = %v; governance records stay in clear", err)
	}
}

// FuzzEnvelopeRoundTrip: whatever DecodeEnvelope accepts re-encodes to the
// same bytes, so one envelope has one id.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	s, _ := testSigner(f, "glassbox.test/ledger")
	_, sealed := sealTestDecision(f, s)
	f.Add(sealed.Bytes())
	r, _ := NewRecord(testTime, testRecourse())
	rs, _ := SealCommitted(r, s)
	f.Add(rs.Bytes())
	f.Add([]byte(`{"authenticator":"AA==","commitment":"00","format":2,"model":{"id":"","sha256":""},"policy":{"revision":""},"timestamp":"2026-01-01T00:00:00Z","type":"decision"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := DecodeLeaf(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("DecodeLeaf error %v does not wrap ErrInvalidRecord", err)
			}
			return
		}
		var b []byte
		if l.Envelope != nil {
			b, err = l.Envelope.Encode()
		} else {
			b, err = l.Record.Encode()
		}
		if err != nil {
			t.Fatalf("decoded leaf does not encode: %v", err)
		}
		if !bytes.Equal(b, data) {
			t.Fatalf("round trip changed bytes:\n in %q\nout %q", data, b)
		}
	})
}

// BenchmarkSeal compares the CPU cost of sealing a decision in clear
// (format 1) with sealing it as a commitment envelope (format 2: the
// same encoding, a salt, SHA-256 and an Ed25519 signature), the extra
// work format 2 adds to each decision before its store write.
func BenchmarkSeal(b *testing.B) {
	s, _ := testSigner(b, "glassbox.test/ledger")
	r, err := NewRecord(testTime, testDecision())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("format1", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Seal(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("format2", func(b *testing.B) {
		for b.Loop() {
			if _, err := SealCommitted(r, s); err != nil {
				b.Fatal(err)
			}
		}
	})
}
