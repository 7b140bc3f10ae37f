package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// TestVerifyReceiptRecord: verify-receipt --record on a log of three
// leaves sealed and signed here — a format 2 leaf of the log's key, a
// format 2 leaf of the same record under another key, a format 1 record —
// checks the commitment against the record given, for the JSON receipt
// and for the tlog-proof (whose extra is the leaf), and still verifies
// format 1.
func TestVerifyReceiptRecord(t *testing.T) {
	const origin = "glassbox.test/records"
	signer, key := testNoteSigner(t, origin)
	other, _ := testNoteSigner(t, origin) // the log's name, another key
	d := &transparency.Decision{Lender: "acme", ApplicationID: "a-1", Decision: "approve", Score: 601.5,
		Model: transparency.ModelRef{ID: "m", SHA256: strings.Repeat("ab", 32)}, Policy: transparency.PolicyRef{Revision: "r1"}}
	rec, err := transparency.NewRecord(time.Now(), d)
	if err != nil {
		t.Fatal(err)
	}
	genuine, err := transparency.SealCommitted(rec, signer)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := transparency.SealCommitted(rec, other)
	if err != nil {
		t.Fatal(err)
	}
	clear, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	leaves := [][]byte{genuine.Bytes(), forged.Bytes(), clear}
	h := rfc6962.DefaultHasher
	l := [][]byte{h.HashLeaf(leaves[0]), h.HashLeaf(leaves[1]), h.HashLeaf(leaves[2])}
	left := h.HashChildren(l[0], l[1])
	root := h.HashChildren(left, l[2])
	proofs := [][][]byte{{l[1], l[2]}, {l[0], l[2]}, {left}}
	cp, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n3\n%s\n", origin, base64.StdEncoding.EncodeToString(root))}, signer)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	salt, record, _ := genuine.Committed()
	fsalt, _, _ := forged.Committed()
	receipt := func(i int, record, salt []byte) []byte {
		r := Receipt{DecisionID: hex.EncodeToString(l[i]), Record: base64.StdEncoding.EncodeToString(leaves[i]), LeafIndex: uint64(i), TreeSize: 3, Checkpoint: string(cp)}
		for _, p := range proofs[i] {
			r.Hashes = append(r.Hashes, hex.EncodeToString(p))
		}
		if record != nil {
			r.LeafFormat, r.CommittedRecord, r.Salt = 2, base64.StdEncoding.EncodeToString(record), hex.EncodeToString(salt)
		}
		b, _ := json.Marshal(r)
		return b
	}
	tlogProof := func(i int) string {
		p := &transparency.TLogProof{Index: uint64(i), Hashes: proofs[i], Checkpoint: cp}
		if transparency.LeafFormat(leaves[i]) == transparency.EnvelopeFormat {
			p.Extra = leaves[i]
		}
		return write(fmt.Sprintf("leaf%d.tlog-proof", i), p.Marshal())
	}
	changed := bytes.Replace(record, []byte(`"approve"`), []byte(`"decline"`), 1)
	if bytes.Equal(changed, record) {
		t.Fatal("the record holds no approve")
	}
	recordFile, changedFile := write("record.json", record), write("changed.json", changed)
	saltHex, wrongSalt := hex.EncodeToString(salt), hex.EncodeToString(bytes.Repeat([]byte{7}, len(salt)))
	// The receipt as served (committed record and salt inside), and one
	// stripped of them, to be opened with --record.
	served := write("receipt.json", receipt(0, record, salt))
	bare := write("bare.json", receipt(0, nil, nil))
	forgedReceipt := write("forged.json", receipt(1, record, fsalt))
	proof0, proof1, proof2 := tlogProof(0), tlogProof(1), tlogProof(2)

	cases := []struct {
		name  string
		args  []string
		ok    bool
		match string
	}{
		{"JSON receipt as served", []string{served}, true, "the record in the receipt is the one the leaf commits to"},
		{"JSON receipt, --record and --salt", []string{"--record", recordFile, "--salt", saltHex, bare}, true, "the record in " + recordFile + " is the one the leaf commits to"},
		{"JSON receipt, --record another receipt", []string{"--record", served, bare}, true, "is the one the leaf commits to"},
		{"JSON receipt, changed record", []string{"--record", changedFile, "--salt", saltHex, bare}, false, "do not match the leaf's commitment"},
		{"JSON receipt, wrong salt", []string{"--record", recordFile, "--salt", wrongSalt, bare}, false, "do not match the leaf's commitment"},
		{"JSON receipt, leaf signed with another key", []string{forgedReceipt}, false, "foreign leaf"},
		{"tlog-proof, --record and --salt", []string{"--record", recordFile, "--salt", saltHex, proof0}, true, "verified: the record is the one the leaf commits to"},
		{"tlog-proof, --record the JSON receipt", []string{"--record", served, proof0}, true, "verified: the record is the one the leaf commits to"},
		{"tlog-proof, the leaf alone", []string{proof0}, true, "only the leaf is verified"},
		{"tlog-proof, its decision id", []string{"--decision-id", hex.EncodeToString(l[0]), proof0}, true, "entry 0 of the log of size 3"},
		{"tlog-proof, another decision id", []string{"--decision-id", hex.EncodeToString(l[2]), proof0}, false, "not for this decision"},
		{"tlog-proof, changed record", []string{"--record", changedFile, "--salt", saltHex, proof0}, false, "do not match the leaf's commitment"},
		{"tlog-proof, wrong salt", []string{"--record", recordFile, "--salt", wrongSalt, proof0}, false, "do not match the leaf's commitment"},
		{"tlog-proof, bare record without salt", []string{"--record", recordFile, proof0}, false, "--salt"},
		{"tlog-proof, leaf signed with another key", []string{"--record", recordFile, "--salt", hex.EncodeToString(fsalt), proof1}, false, "foreign leaf"},
		{"tlog-proof, leaf signed with another key, alone", []string{proof1}, false, "foreign leaf"},
		{"tlog-proof, extra of another leaf", []string{write("swapped.tlog-proof", bytes.Replace(mustRead(t, proof0),
			[]byte(base64.StdEncoding.EncodeToString(leaves[0])), []byte(base64.StdEncoding.EncodeToString(leaves[1])), 1))}, false, "does NOT verify"},
		{"format 1 JSON receipt", []string{write("f1.json", receipt(2, nil, nil))}, true, "verified: decision " + hex.EncodeToString(l[2])},
		{"format 1 tlog-proof, --record the leaf", []string{"--record", write("clear.json", clear), proof2}, true, "entry 2 of the log of size 3"},
		{"format 1 tlog-proof, changed leaf", []string{"--record", write("clear2.json", bytes.Replace(clear, []byte(`"approve"`), []byte(`"decline"`), 1)), proof2}, false, "inclusion proof"},
		{"format 1 tlog-proof, --salt", []string{"--record", write("clear3.json", clear), "--salt", saltHex, proof2}, false, "--salt does not apply"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(append([]string{"audit", "verify-receipt", "--key", key}, tc.args...)...)
			if (code == 0) != tc.ok || !strings.Contains(stdout+stderr, tc.match) {
				t.Fatalf("exit %d, want ok=%v and %q:\n%s%s", code, tc.ok, tc.match, stdout, stderr)
			}
		})
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
