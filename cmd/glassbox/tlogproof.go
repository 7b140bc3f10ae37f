package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// witnessPolicy is what verify-receipt trusts besides the log key: the
// witnesses' cosignature keys and how many of them must have cosigned.
type witnessPolicy struct {
	keys       repeated
	quorum     int
	record     string
	decisionID string
}

func (w *witnessPolicy) register(fs *flag.FlagSet) {
	fs.Var(&w.keys, "witness-key", "a trusted witness's tlog-cosignature verifier key (repeatable)")
	fs.IntVar(&w.quorum, "witness-quorum", 0, "how many of the --witness-key witnesses must have cosigned the checkpoint")
	fs.StringVar(&w.record, "record", "", "tlog-proof: FILE holding the exact leaf bytes (the receipt's record, decoded), whose hash is checked")
	fs.StringVar(&w.decisionID, "decision-id", "", "tlog-proof: the decision id (hex leaf hash) to check, when the record is not at hand")
}

func (w *witnessPolicy) check() error {
	if w.quorum < 0 || w.quorum > len(w.keys) {
		return fmt.Errorf("%w: --witness-quorum %d with %d --witness-key", errUsage, w.quorum, len(w.keys))
	}
	return nil
}

// checkJSONReceipt applies the witness policy to a JSON receipt's
// checkpoint (its inclusion proof is checked by verifyReceipt).
func (w *witnessPolicy) checkJSONReceipt(data []byte, key string) error {
	if err := w.check(); err != nil {
		return err
	}
	if w.record != "" || w.decisionID != "" {
		return fmt.Errorf("%w: --record and --decision-id are for tlog-proof files; a JSON receipt holds its record", errUsage)
	}
	if len(w.keys) == 0 {
		return nil
	}
	var r Receipt
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("receipt: %w", err)
	}
	if _, err := transparency.OpenCosignedCheckpoint([]byte(r.Checkpoint), key, w.keys, w.quorum); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

func isTLogProof(data []byte) bool {
	return bytes.HasPrefix(data, []byte(transparency.TLogProofHeader+"\n"))
}

// verifyTLogProofFile checks a c2sp.org/tlog-proof@v1 offline: the leaf
// (from --record or --decision-id) is at the proof's index in the tree the
// checkpoint states, the log signed the checkpoint and a quorum of the
// trusted witnesses cosigned it.
func verifyTLogProofFile(data []byte, key string, w *witnessPolicy, stdout io.Writer) error {
	if err := w.check(); err != nil {
		return err
	}
	var leaf []byte
	switch {
	case w.record != "" && w.decisionID != "":
		return fmt.Errorf("%w: give --record or --decision-id, not both", errUsage)
	case w.record != "":
		rec, err := os.ReadFile(w.record)
		if err != nil {
			return err
		}
		leaf = rfc6962.DefaultHasher.HashLeaf(rec)
	case w.decisionID != "":
		id, err := transparency.ParseID(w.decisionID)
		if err != nil {
			return fmt.Errorf("%w: --decision-id: %w", errUsage, err)
		}
		leaf = id[:]
	default:
		return fmt.Errorf("%w: a tlog-proof needs --record FILE or --decision-id ID: the proof does not carry the leaf", errUsage)
	}
	p, err := transparency.ParseTLogProof(data)
	if err != nil {
		return fmt.Errorf("proof does NOT verify: %w", err)
	}
	// The extra line is unauthenticated (tlog-proof): it is reserved for
	// the record commitment and not trusted here.
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
	return nil
}
