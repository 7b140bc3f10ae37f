package api_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// downWitness is the address of a witness that is down: nothing listens.
func downWitness(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// witnessKey is a tlog-cosignature/v1 verifier key for a fresh key.
func witnessKey(t *testing.T, name string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	typed := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), typed...))
	return fmt.Sprintf("%s+%s+%s", name, hex.EncodeToString(h[:4]), base64.StdEncoding.EncodeToString(typed))
}

// TestTLogProofWithWitnessDown: with the only witness down, decisions are
// made and proven, /readyz stays ready and says the quorum is not met, and
// the tlog-proof (against the newest signed checkpoint, uncosigned) checks
// out with merkle's verifier; its documented shape is checked by the
// OpenAPI validation of e.do.
func TestTLogProofWithWitnessDown(t *testing.T) {
	var ws *transparency.Witnessing
	e := newEnv(t, envOptions{config: func(c *api.Config) {
		var err error
		ws, err = transparency.NewWitnessing(c.Ledger.(*transparency.Ledger), transparency.WitnessOptions{
			Witnesses: []transparency.WitnessConfig{{URL: downWitness(t), VerifierKey: witnessKey(t, "down.example/w")}},
			Quorum:    1, Interval: 20 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Witnesses = ws
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ws.Run(ctx)

	start := time.Now()
	r := e.do(req{method: "POST", path: "/v1/decisions?wait=integrated", key: keyLender, body: validApp("witness-down")})
	if r.status != http.StatusCreated {
		t.Fatalf("decision with the witness down: %d %s", r.status, r.body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("decision took %v with the witness down", d)
	}
	var d decisionOut
	r.json(t, &d)
	e.settle()

	var ready struct {
		Status    string                     `json:"status"`
		Checks    map[string]string          `json:"checks"`
		Witnesses transparency.WitnessStatus `json:"witnesses"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rr := e.do(req{method: "GET", path: "/readyz"})
		if rr.status != http.StatusOK {
			t.Fatalf("readyz with the witness down: %d %s", rr.status, rr.body)
		}
		rr.json(t, &ready)
		if ready.Witnesses.Size > 0 && len(ready.Witnesses.Witnesses) == 1 && ready.Witnesses.Witnesses[0].LastError != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz never reported the witness failing: %+v", ready)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ready.Checks["witnesses"] != "quorum not met" || ready.Witnesses.QuorumMet || ready.Witnesses.Cosignatures != 0 || ready.Witnesses.Quorum != 1 {
		t.Fatalf("readyz: %+v", ready)
	}

	tp := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/proof?format=tlog-proof", key: keyLender})
	if tp.status != http.StatusOK || !strings.HasPrefix(tp.header.Get("Content-Type"), "text/plain") {
		t.Fatalf("tlog-proof: %d %q %s", tp.status, tp.header.Get("Content-Type"), tp.body)
	}
	// Parsed by hand, verified with merkle's verifier against the
	// checkpoint note opened with x/mod's note package.
	head, cpNote, ok := strings.Cut(string(tp.body), "\n\n")
	lines := strings.Split(head, "\n")
	if !ok || lines[0] != "c2sp.org/tlog-proof@v1" || !strings.HasPrefix(lines[1], "extra ") {
		t.Fatalf("not a tlog-proof with extra:\n%s", tp.body)
	}
	// extra is the decision's format 2 leaf: it hashes to the decision id
	// and holds the commitment, not the record.
	extra, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[1], "extra "))
	if err != nil || transparency.LeafFormat(extra) != transparency.EnvelopeFormat || transparency.RecordID(extra).String() != d.DecisionID ||
		!strings.Contains(string(extra), `"commitment":"`) || strings.Contains(string(extra), `"application_id"`) {
		t.Fatalf("extra is not the decision's envelope: %v %s", err, extra)
	}
	lines = append(lines[:1], lines[2:]...)
	if !strings.HasPrefix(lines[1], "index ") {
		t.Fatalf("no index line:\n%s", tp.body)
	}
	var index uint64
	fmt.Sscanf(lines[1], "index %d", &index)
	var hashes [][]byte
	for _, l := range lines[2:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil {
			t.Fatal(err)
		}
		hashes = append(hashes, h)
	}
	v, err := note.NewVerifier(e.ledger.VerifierKey())
	if err != nil {
		t.Fatal(err)
	}
	size, root := checkpointNote(t, cpNote, v)
	leaf, _ := hex.DecodeString(d.DecisionID)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, leaf, hashes, root); err != nil {
		t.Fatalf("tlog-proof does not verify: %v", err)
	}
	if strings.Contains(cpNote, "down.example/w") {
		t.Fatal("a cosignature from a witness that is down")
	}

	for _, q := range []string{"format=xml", "format=tlog-proof&tree_size=1", "format=json&format=tlog-proof"} {
		if r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/proof?" + q, key: keyLender}); r.status != http.StatusBadRequest {
			t.Errorf("?%s: %d", q, r.status)
		}
	}
}
