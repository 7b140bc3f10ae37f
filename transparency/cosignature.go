package transparency

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signed-note key type of C2SP tlog-cosignature
// (witness) keys.
const algCosignatureV1 = 0x04

// cosignatureVerifier checks C2SP tlog-cosignature/v1 signatures: Ed25519
// over "cosignature/v1\ntime <unix seconds>\n" followed by the checkpoint
// body, encoded as the 8-byte big-endian timestamp and the signature.
type cosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

// NewCosignatureVerifier parses a witness verifier key
// ("<name>+<hash>+<base64(0x04 ‖ Ed25519 public key)>") into a
// note.Verifier for its cosignatures.
func NewCosignatureVerifier(vkey string) (note.Verifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 || parts[0] == "" || strings.IndexFunc(parts[0], unicode.IsSpace) >= 0 {
		return nil, fmt.Errorf("%w: witness key %q is not <name>+<hash>+<key>", ErrInvalidArgument, vkey)
	}
	hash, err := strconv.ParseUint(parts[1], 16, 32)
	if err != nil || len(parts[1]) != 8 {
		return nil, fmt.Errorf("%w: witness key %q: bad key hash", ErrInvalidArgument, vkey)
	}
	raw, err := base64.StdEncoding.DecodeString(parts[2])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != algCosignatureV1 {
		return nil, fmt.Errorf("%w: witness key %q is not a tlog-cosignature/v1 Ed25519 key", ErrInvalidArgument, vkey)
	}
	if keyHash(parts[0], raw) != uint32(hash) {
		return nil, fmt.Errorf("%w: witness key %q: key hash does not match the key", ErrInvalidArgument, vkey)
	}
	return &cosignatureVerifier{name: parts[0], hash: uint32(hash), key: ed25519.PublicKey(raw[1:])}, nil
}

// keyHash is signed-note's key id: the first four bytes of
// SHA-256(name ‖ "\n" ‖ type ‖ key).
func keyHash(name string, typedKey []byte) uint32 {
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(typedKey)
	return binary.BigEndian.Uint32(h.Sum(nil))
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	// Only checkpoints are cosigned: a cosignature over anything else is
	// not one.
	if _, err := parseCheckpointBody(string(msg)); err != nil {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	signed := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.key, signed, sig[8:])
}

// CosignedCheckpoint is a checkpoint verified with the log's key together
// with the witnesses whose cosignatures on it verified.
type CosignedCheckpoint struct {
	*Checkpoint
	// Witnesses are the names of the trusted witnesses that cosigned,
	// sorted, each once.
	Witnesses []string
}

// OpenCosignedCheckpoint verifies a checkpoint note with the log's key and
// counts the cosignatures of the given witness keys on it: at least quorum
// distinct witnesses must have cosigned. A signature line by a trusted key
// that does not verify fails the whole note (a tampered cosignature is not
// silently dropped); lines by unknown keys are ignored, as signed-note
// prescribes.
func OpenCosignedCheckpoint(signed []byte, logKey string, witnessKeys []string, quorum int) (*CosignedCheckpoint, error) {
	lv, err := note.NewVerifier(logKey)
	if err != nil {
		return nil, fmt.Errorf("%w: log key: %w", ErrInvalidArgument, err)
	}
	verifiers := []note.Verifier{lv}
	witness := map[uint32]string{}
	for _, k := range witnessKeys {
		v, err := NewCosignatureVerifier(k)
		if err != nil {
			return nil, err
		}
		verifiers = append(verifiers, v)
		witness[v.KeyHash()] = v.Name()
	}
	n, err := note.Open(signed, note.VerifierList(verifiers...))
	if err != nil {
		return nil, fmt.Errorf("%w: opening checkpoint note: %w", ErrInvalidArgument, err)
	}
	logSigned := false
	seen := map[string]bool{}
	var names []string
	for _, s := range n.Sigs {
		if s.Hash == lv.KeyHash() && s.Name == lv.Name() {
			logSigned = true
			continue
		}
		if name, ok := witness[s.Hash]; ok && name == s.Name && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	if !logSigned {
		return nil, fmt.Errorf("%w: checkpoint is not signed by the log key", ErrInvalidArgument)
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	cp.Note = bytes.Clone(signed)
	if len(names) < quorum {
		return nil, fmt.Errorf("%w: %d of the trusted witnesses cosigned, the quorum is %d", ErrInvalidArgument, len(names), quorum)
	}
	slices.Sort(names)
	return &CosignedCheckpoint{Checkpoint: cp, Witnesses: names}, nil
}

// appendSignatures adds signature lines to a signed note. Lines already
// present are not repeated.
func appendSignatures(signed []byte, lines [][]byte) []byte {
	out := bytes.Clone(signed)
	for _, l := range lines {
		if !bytes.Contains(out, l) {
			out = append(out, l...)
		}
	}
	return out
}

// errNoCosignature marks a witness answer that held no valid cosignature by
// the witness's key.
var errNoCosignature = errors.New("no cosignature by the witness key")

// cosignatureLines picks from a witness's add-checkpoint answer the
// signature lines that are valid cosignatures of cp by v. A line by v that
// does not verify is an error.
func cosignatureLines(cp *Checkpoint, answer []byte, v note.Verifier) ([][]byte, error) {
	var out [][]byte
	for _, line := range bytes.SplitAfter(answer, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if !bytes.HasPrefix(line, []byte("— ")) || line[len(line)-1] != '\n' {
			return nil, fmt.Errorf("witness answer has a line that is not a signature: %q", line)
		}
		candidate := append(bytes.Clone(cp.Note), line...)
		n, err := note.Open(candidate, note.VerifierList(v))
		var unknown *note.UnverifiedNoteError
		switch {
		case errors.As(err, &unknown):
			continue // another key's line: ignored
		case err != nil:
			return nil, fmt.Errorf("witness cosignature does not verify: %w", err)
		}
		for _, s := range n.Sigs {
			if s.Hash == v.KeyHash() && s.Name == v.Name() {
				out = append(out, line)
			}
		}
	}
	if len(out) == 0 {
		return nil, errNoCosignature
	}
	return out, nil
}
