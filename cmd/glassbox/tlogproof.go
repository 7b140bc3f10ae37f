package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// witnessPolicy is what verify-receipt trusts besides the log key (the
// witnesses' cosignature keys and how many of them must have cosigned),
// and what the caller holds besides the proof: the record and its salt,
// or the decision id.
type witnessPolicy struct {
	keys       repeated
	quorum     int
	record     string
	salt       string
	decisionID string
}

func (w *witnessPolicy) register(fs *flag.FlagSet) {
	fs.Var(&w.keys, "witness-key", "a trusted witness's tlog-cosignature verifier key (repeatable)")
	fs.IntVar(&w.quorum, "witness-quorum", 0, "how many of the --witness-key witnesses must have cosigned the checkpoint")
	fs.StringVar(&w.record, "record", "", "FILE holding the decision's record: a format 2 leaf's committed record (its exact bytes with --salt, or a saved JSON receipt or decision read, which carry committed_record and salt); for a format 1 tlog-proof, the leaf bytes (the record in clear)")
	fs.StringVar(&w.salt, "salt", "", "the commitment's salt (hex, the receipt's salt) when --record holds the bare record bytes")
	fs.StringVar(&w.decisionID, "decision-id", "", "tlog-proof: the decision id (hex leaf hash) the proof must be for")
}

func (w *witnessPolicy) check() error {
	if w.quorum < 0 || w.quorum > len(w.keys) {
		return fmt.Errorf("%w: --witness-quorum %d with %d --witness-key", errUsage, w.quorum, len(w.keys))
	}
	if w.salt != "" && w.record == "" {
		return fmt.Errorf("%w: --salt goes with --record", errUsage)
	}
	return nil
}

// checkJSONReceipt applies the witness policy to a JSON receipt's
// checkpoint (its inclusion proof is checked by verifyReceipt) and, with
// --record, puts the record and salt given into the receipt in place of
// whatever it carries, so that the commitment is checked against them.
func (w *witnessPolicy) checkJSONReceipt(r *Receipt, key string) error {
	if err := w.check(); err != nil {
		return err
	}
	if w.decisionID != "" {
		return fmt.Errorf("%w: --decision-id is for tlog-proof files; a JSON receipt names its decision", errUsage)
	}
	if w.record != "" {
		record, salt, err := w.committedRecord()
		if err != nil {
			return err
		}
		if transparency.LeafFormat(mustBase64(r.Record)) != transparency.EnvelopeFormat {
			return fmt.Errorf("%w: --record: the receipt's leaf is a record in clear (format 1), it commits to nothing", errUsage)
		}
		r.CommittedRecord, r.Salt = base64.StdEncoding.EncodeToString(record), hex.EncodeToString(salt)
	}
	if len(w.keys) == 0 {
		return nil
	}
	if _, err := transparency.OpenCosignedCheckpoint([]byte(r.Checkpoint), key, w.keys, w.quorum); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// committedRecord reads --record (and --salt): the bare record bytes with
// the hex salt, or a JSON receipt or decision read as glassbox serves
// them, whose committed_record (base64) and salt (hex) are taken.
func (w *witnessPolicy) committedRecord() (record, salt []byte, err error) {
	data, err := os.ReadFile(w.record)
	if err != nil {
		return nil, nil, err
	}
	var saved struct {
		CommittedRecord *string `json:"committed_record"`
		Salt            string  `json:"salt"`
		Erased          bool    `json:"erased"`
	}
	if json.Unmarshal(data, &saved) == nil && (saved.CommittedRecord != nil || saved.Erased) {
		switch {
		case w.salt != "":
			return nil, nil, fmt.Errorf("%w: --record %s carries its salt; --salt is for a bare record", errUsage, w.record)
		case saved.CommittedRecord == nil:
			return nil, nil, fmt.Errorf("--record %s: the decision's record was erased; there is no record to check", w.record)
		}
		if record, err = base64.StdEncoding.DecodeString(*saved.CommittedRecord); err != nil {
			return nil, nil, fmt.Errorf("--record %s: committed_record is not base64: %w", w.record, err)
		}
		if salt, err = hex.DecodeString(saved.Salt); err != nil {
			return nil, nil, fmt.Errorf("--record %s: salt is not hex: %w", w.record, err)
		}
		return record, salt, nil
	}
	if w.salt == "" {
		return nil, nil, fmt.Errorf("%w: --record holds a bare record: give its --salt too (the receipt's salt)", errUsage)
	}
	if salt, err = hex.DecodeString(w.salt); err != nil {
		return nil, nil, fmt.Errorf("%w: --salt is not hex: %w", errUsage, err)
	}
	return data, salt, nil
}

func isTLogProof(data []byte) bool {
	return bytes.HasPrefix(data, []byte(transparency.TLogProofHeader+"\n"))
}

// verifyTLogProofFile checks a c2sp.org/tlog-proof@v1 offline: the leaf
// is at the proof's index in the tree the checkpoint states, the log
// signed the checkpoint and a quorum of the trusted witnesses cosigned it.
// For a format 2 leaf the proof's extra is the leaf (the commitment
// envelope): its authenticator must verify with the log key and, with
// --record, the commitment must open with the record and salt. A proof
// without extra is of a format 1 leaf, which --record (the leaf bytes) or
// --decision-id names.
func verifyTLogProofFile(data []byte, key string, w *witnessPolicy, stdout io.Writer) error {
	if err := w.check(); err != nil {
		return err
	}
	p, err := transparency.ParseTLogProof(data)
	if err != nil {
		return fmt.Errorf("proof does NOT verify: %w", err)
	}
	var leaf []byte
	opened := ""
	if len(p.Extra) > 0 {
		if leaf, opened, err = w.openExtra(p.Extra, key); errors.Is(err, errUsage) {
			return err
		} else if err != nil {
			return fmt.Errorf("proof does NOT verify: %w", err)
		}
	} else if leaf, err = w.formatOneLeaf(); err != nil {
		return err
	}
	cp, err := p.Verify(leaf, key, "", w.keys, w.quorum)
	if err != nil {
		return fmt.Errorf("proof does NOT verify: %w", err)
	}
	witnesses := "no witness required"
	if len(cp.Witnesses) > 0 {
		witnesses = "cosigned by " + strings.Join(cp.Witnesses, ", ")
	}
	fmt.Fprintf(stdout, "verified: leaf %s is entry %d of the log of size %d, checkpoint signed by %s, %s (quorum %d)\n",
		hex.EncodeToString(leaf), p.Index, cp.Size, keyName(key), witnesses, w.quorum)
	if opened != "" {
		fmt.Fprintln(stdout, opened)
	}
	return nil
}

// errWrongDecision: the proof is not for the decision --decision-id names.
var errWrongDecision = errors.New("the proof is not for this decision")

// openExtra checks a format 2 leaf carried in a tlog-proof's extra: its
// authenticator, the decision id given, and the commitment against the
// record given. It returns the leaf hash and what was verified of the
// record.
func (w *witnessPolicy) openExtra(extra []byte, key string) ([]byte, string, error) {
	if transparency.LeafFormat(extra) != transparency.EnvelopeFormat {
		return nil, "", errors.New("extra is not a format 2 leaf")
	}
	v, err := transparency.NewLeafVerifier(key)
	if err != nil {
		return nil, "", err
	}
	id := transparency.RecordID(extra)
	if w.decisionID != "" && w.decisionID != id.String() {
		return nil, "", fmt.Errorf("%w: it proves leaf %s, not %s", errWrongDecision, id, w.decisionID)
	}
	var record, salt []byte
	if w.record != "" {
		if record, salt, err = w.committedRecord(); err != nil {
			return nil, "", err
		}
	}
	if _, err := transparency.OpenLeaf(extra, salt, record, v); err != nil {
		return nil, "", err
	}
	msg := "the leaf is a commitment and no --record was given: only the leaf is verified"
	if record != nil {
		msg = "verified: the record is the one the leaf commits to"
	}
	return id[:], msg, nil
}

// formatOneLeaf is the leaf hash of a proof without extra: of the record
// in clear (--record), or the decision id.
func (w *witnessPolicy) formatOneLeaf() ([]byte, error) {
	switch {
	case w.record != "" && w.decisionID != "":
		return nil, fmt.Errorf("%w: give --record or --decision-id, not both", errUsage)
	case w.salt != "":
		return nil, fmt.Errorf("%w: the proof carries no commitment (a format 1 leaf): --salt does not apply", errUsage)
	case w.record != "":
		rec, err := os.ReadFile(w.record)
		if err != nil {
			return nil, err
		}
		return rfc6962.DefaultHasher.HashLeaf(rec), nil
	case w.decisionID != "":
		id, err := transparency.ParseID(w.decisionID)
		if err != nil {
			return nil, fmt.Errorf("%w: --decision-id: %w", errUsage, err)
		}
		return id[:], nil
	}
	return nil, fmt.Errorf("%w: a tlog-proof without extra (a format 1 leaf) needs --record FILE or --decision-id ID: the proof does not carry the leaf", errUsage)
}
