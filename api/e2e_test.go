package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/glassbox-ledger/glassbox/internal/testset"
	"github.com/glassbox-ledger/glassbox/scoring/scoringtest"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// Decoded response shapes, as a client would write them.
type (
	reasonOut struct {
		Code         string  `json:"code"`
		Feature      string  `json:"feature"`
		Value        any     `json:"value"`
		Text         string  `json:"text"`
		Contribution float64 `json:"contribution"`
	}
	proofOut struct {
		LeafIndex  uint64   `json:"leaf_index"`
		TreeSize   uint64   `json:"tree_size"`
		Hashes     []string `json:"hashes"`
		Checkpoint string   `json:"checkpoint"`
	}
	decisionOut struct {
		DecisionID           string             `json:"decision_id"`
		ApplicationID        string             `json:"application_id"`
		Lender               string             `json:"lender"`
		Decision             string             `json:"decision"`
		ProbabilityOfDefault float64            `json:"probability_of_default"`
		Score                float64            `json:"score"`
		Reasons              []reasonOut        `json:"reasons"`
		Attributions         map[string]float64 `json:"attributions"`
		ExpectedValue        float64            `json:"expected_value"`
		Model                struct{ ID, SHA256 string }
		Policy               struct{ Revision string }
		Ledger               struct {
			TreeID         int64     `json:"tree_id"`
			Status         string    `json:"status"`
			QueuedAt       string    `json:"queued_at"`
			LeafIndex      *uint64   `json:"leaf_index"`
			InclusionProof *proofOut `json:"inclusion_proof"`
			Checkpoint     string    `json:"checkpoint"`
		} `json:"ledger"`
		ApplicantToken string `json:"applicant_token"`
		Record         string `json:"record"`
		// CommittedRecord and Salt open a format 2 leaf.
		CommittedRecord string `json:"committed_record"`
		Salt            string `json:"salt"`
	}
)

// testApplications turns every row of testdata/credit_test.csv into an
// application: categorical codes become level names, nan is left out.
func testApplications(t *testing.T, m *scoring.Model) []map[string]any {
	t.Helper()
	rows := testset.Rows(t, m)
	apps := make([]map[string]any, len(rows))
	for i, row := range rows {
		feats := map[string]any{}
		for j, feat := range m.Manifest.Features {
			switch {
			case math.IsNaN(row[j]):
			case feat.Type == models.Categorical:
				feats[feat.Name] = feat.Levels[int(row[j])]
			default:
				feats[feat.Name] = row[j]
			}
		}
		apps[i] = map[string]any{"application_id": fmt.Sprintf("row-%04d", i), "features": feats}
	}
	return apps
}

// checkpointNote opens a signed checkpoint with the published key and
// returns its size and root.
func checkpointNote(t *testing.T, text string, verifier note.Verifier) (uint64, []byte) {
	t.Helper()
	n, err := note.Open([]byte(text), note.VerifierList(verifier))
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v\n%s", err, text)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 3 {
		t.Fatalf("checkpoint body %q", n.Text)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		t.Fatal(err)
	}
	return size, root
}

func mustHex(t *testing.T, hs []string) [][]byte {
	t.Helper()
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

// TestDecisionsMatchLightGBM posts every test row (most through the batch
// endpoint, the rest one by one, concurrently), compares the answers with
// LightGBM's own outputs, and verifies every receipt's inclusion proof
// and the consistency of the checkpoints it was proved against.
func TestDecisionsMatchLightGBM(t *testing.T) {
	e := newEnv(t, envOptions{})
	apps := testApplications(t, e.model)
	prob := scoringtest.ReadTSV(t, "../testdata/reference/credit-risk-v1.prob.tsv")
	contrib := scoringtest.ReadTSV(t, "../testdata/reference/credit-risk-v1.contrib.tsv")
	if len(prob) != len(apps) || len(contrib) != len(apps) {
		t.Fatalf("%d rows, %d probabilities, %d contribution rows", len(apps), len(prob), len(contrib))
	}

	got := make([]decisionOut, len(apps))
	const batched = 800
	for start := 0; start < batched; start += 400 {
		r := e.do(req{method: "POST", path: "/v1/decisions/batch?wait=integrated", key: keyLender,
			body: map[string]any{"applications": apps[start : start+400]}})
		if r.status != http.StatusCreated {
			t.Fatalf("batch: %d %s", r.status, r.body)
		}
		var out struct{ Decisions []decisionOut }
		r.json(t, &out)
		if len(out.Decisions) != 400 {
			t.Fatalf("batch answered %d decisions", len(out.Decisions))
		}
		copy(got[start:], out.Decisions)
	}
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := e.do(req{method: "POST", path: "/v1/decisions?wait=integrated", key: keyLender, body: apps[i]})
				if r.status != http.StatusCreated {
					t.Errorf("row %d: %d %s", i, r.status, r.body)
					continue
				}
				r.json(t, &got[i])
			}
		}()
	}
	for i := batched; i < len(apps); i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	pub := e.do(req{method: "GET", path: "/v1/ledger/public-key"})
	verifier, err := note.NewVerifier(strings.TrimSpace(string(pub.body)))
	if err != nil {
		t.Fatalf("public key %q: %v", pub.body, err)
	}
	names := e.model.Ensemble.FeatureNames
	checkpoints := map[uint64][]byte{}
	ids := map[string]bool{}
	for i, d := range got {
		if d.ApplicationID != fmt.Sprintf("row-%04d", i) {
			t.Fatalf("row %d: answer for %q", i, d.ApplicationID)
		}
		if ids[d.DecisionID] {
			t.Fatalf("row %d: decision id %s repeats", i, d.DecisionID)
		}
		ids[d.DecisionID] = true
		if diff := math.Abs(d.ProbabilityOfDefault - prob[i][0]); diff > 1e-12 {
			t.Errorf("row %d: PD %.17g, LightGBM %.17g", i, d.ProbabilityOfDefault, prob[i][0])
		}
		sum := d.ExpectedValue
		for j, name := range names {
			c, ok := d.Attributions[name]
			if !ok {
				t.Fatalf("row %d: no attribution for %s", i, name)
			}
			if math.Abs(c-contrib[i][j]) > 1e-9 {
				t.Errorf("row %d %s: contribution %.17g, LightGBM %.17g", i, name, c, contrib[i][j])
			}
			sum += c
		}
		if math.Abs(d.ExpectedValue-contrib[i][len(names)]) > 1e-9 {
			t.Errorf("row %d: expected value %.17g, LightGBM %.17g", i, d.ExpectedValue, contrib[i][len(names)])
		}
		logit := math.Log(d.ProbabilityOfDefault / (1 - d.ProbabilityOfDefault))
		if math.Abs(sum-logit) > 1e-9 {
			t.Errorf("row %d: attributions + expected value = %.17g, logit(PD) = %.17g", i, sum, logit)
		}
		switch d.Decision {
		case "approve":
			if len(d.Reasons) != 0 {
				t.Errorf("row %d: approval with reasons %v", i, d.Reasons)
			}
		case "refer", "decline":
			if len(d.Reasons) == 0 || len(d.Reasons) > 4 {
				t.Errorf("row %d: %s with %d reasons", i, d.Decision, len(d.Reasons))
			}
		default:
			t.Errorf("row %d: decision %q", i, d.Decision)
		}

		// The receipt's proof, checked against the signed checkpoint.
		l := d.Ledger
		if l.Status != "integrated" || l.InclusionProof == nil || l.Checkpoint == "" {
			t.Fatalf("row %d: ledger %+v", i, l)
		}
		size, root := checkpointNote(t, l.Checkpoint, verifier)
		p := l.InclusionProof
		if p.TreeSize != size {
			t.Fatalf("row %d: proof for size %d, checkpoint size %d", i, p.TreeSize, size)
		}
		leaf, err := hex.DecodeString(d.DecisionID)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, p.TreeSize, leaf, mustHex(t, p.Hashes), root); err != nil {
			t.Errorf("row %d: inclusion proof: %v", i, err)
		}
		checkpoints[size] = root
	}

	// Successive checkpoints seen in receipts must be consistent.
	sizes := make([]uint64, 0, len(checkpoints))
	for s := range checkpoints {
		sizes = append(sizes, s)
	}
	sort.Slice(sizes, func(i, j int) bool { return sizes[i] < sizes[j] })
	latest := e.do(req{method: "GET", path: "/v1/ledger/checkpoint"})
	ls, lroot := checkpointNote(t, string(latest.body), verifier)
	if ls != sizes[len(sizes)-1] {
		sizes = append(sizes, ls)
	}
	checkpoints[ls] = lroot
	for k := 1; k < len(sizes); k++ {
		a, b := sizes[k-1], sizes[k]
		r := e.do(req{method: "GET", path: fmt.Sprintf("/v1/ledger/consistency?first=%d&second=%d", a, b), key: keyRegulator})
		if r.status != http.StatusOK {
			t.Fatalf("consistency %d→%d: %d %s", a, b, r.status, r.body)
		}
		var cp struct {
			First, Second uint64
			Hashes        []string
		}
		r.json(t, &cp)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a, b, mustHex(t, cp.Hashes), checkpoints[a], checkpoints[b]); err != nil {
			t.Errorf("consistency %d→%d: %v", a, b, err)
		}
	}
	t.Logf("%d decisions, %d checkpoints, tree size %d", len(got), len(sizes), ls)

	// Reading decisions back: the record is the leaf, and the decision
	// as read matches the one answered.
	pol, err := policy.New(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{"nonce": true}
	for _, f := range pol.LedgerFields() {
		allowed[f] = true
	}
	for i := 0; i < len(got); i += 97 {
		d := got[i]
		r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender})
		if r.status != http.StatusOK {
			t.Fatalf("read %s: %d %s", d.DecisionID, r.status, r.body)
		}
		var back decisionOut
		r.json(t, &back)
		rec, err := base64.StdEncoding.DecodeString(back.Record)
		if err != nil {
			t.Fatal(err)
		}
		if id := hex.EncodeToString(rfc6962.DefaultHasher.HashLeaf(rec)); id != d.DecisionID {
			t.Errorf("record hashes to %s, decision id %s", id, d.DecisionID)
		}
		// The leaf is a commitment envelope; the record beside it opens it.
		var leaf struct{ Commitment string }
		if err := json.Unmarshal(rec, &leaf); err != nil {
			t.Fatal(err)
		}
		full, err := base64.StdEncoding.DecodeString(back.CommittedRecord)
		if err != nil {
			t.Fatal(err)
		}
		salt, err := hex.DecodeString(back.Salt)
		if err != nil || len(salt) < 16 {
			t.Fatalf("salt %q: %v", back.Salt, err)
		}
		if c := sha256.Sum256(append(salt, full...)); hex.EncodeToString(c[:]) != leaf.Commitment {
			t.Errorf("%s: sha256(salt ‖ committed_record) %x is not the leaf's commitment %s", d.DecisionID, c, leaf.Commitment)
		}
		if bytes.Contains(rec, []byte("acme")) {
			t.Errorf("leaf %s names the lender", rec)
		}
		rec = full
		if back.Decision != d.Decision || back.ProbabilityOfDefault != d.ProbabilityOfDefault || back.Lender != "acme" {
			t.Errorf("read back %+v, answered %+v", back, d)
		}
		for name, c := range d.Attributions {
			if back.Attributions[name] != c {
				t.Errorf("%s: attribution %s read back %v, answered %v", d.DecisionID, name, back.Attributions[name], c)
			}
		}
		if !bytes.Contains(rec, []byte(`"lender":"acme"`)) {
			t.Errorf("record %s lacks the lender", rec)
		}
		// Only what policy lets into the ledger is there.
		var env struct{ Body map[string]json.RawMessage }
		if err := json.Unmarshal(rec, &env); err != nil {
			t.Fatal(err)
		}
		for member := range env.Body {
			if !allowed[member] {
				t.Errorf("record member %q is not among the policy's ledger fields %v", member, pol.LedgerFields())
			}
		}
	}
}
