package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestIdempotencyKeySurvivesCrash: a keyed decision answered 201 is
// remembered by the next process on the same data directory even when the
// first was killed (SIGKILL) right after answering: the retry gets the
// same receipt and the log gets no new leaf.
func TestIdempotencyKeySurvivesCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	p := startServe(t, t.TempDir())
	body, err := json.Marshal(sampleApplication(7))
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, key string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest("POST", p.url+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+lenderKey)
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, data
	}
	const key = `"crash-test-0001"`
	resp, first := post("/v1/decisions?wait=integrated", key)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("first: %d %s\n%s", resp.StatusCode, first, p.logs)
	}
	var d struct {
		DecisionID string `json:"decision_id"`
		Ledger     struct {
			LeafIndex *uint64 `json:"leaf_index"`
		} `json:"ledger"`
	}
	if err := json.Unmarshal(first, &d); err != nil || d.Ledger.LeafIndex == nil {
		t.Fatalf("first receipt %s: %v", first, err)
	}
	p.kill(syscall.SIGKILL)
	p.restart()

	resp, again := post("/v1/decisions?wait=integrated", key)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again, first) {
		t.Fatalf("after the crash: %d %v\n%s\nwant\n%s", resp.StatusCode, resp.Header, again, first)
	}
	// The next decision takes the very next leaf: the replay added none
	// (and the restart's governance records were the same bytes, which the
	// log does not append twice).
	resp, fresh := post("/v1/decisions?wait=integrated", "")
	var f struct {
		DecisionID string `json:"decision_id"`
		Ledger     struct {
			LeafIndex *uint64 `json:"leaf_index"`
		} `json:"ledger"`
	}
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(fresh, &f) != nil || f.Ledger.LeafIndex == nil {
		t.Fatalf("fresh decision: %d %s", resp.StatusCode, fresh)
	}
	if f.DecisionID == d.DecisionID || *f.Ledger.LeafIndex != *d.Ledger.LeafIndex+1 {
		t.Errorf("fresh decision %s at leaf %d; the keyed one %s was at leaf %d", f.DecisionID, *f.Ledger.LeafIndex, d.DecisionID, *d.Ledger.LeafIndex)
	}
	// Reusing the key for the new body is refused.
	body = fresh // any other bytes
	if resp, out := post("/v1/decisions", key); resp.StatusCode != http.StatusConflict || !strings.Contains(string(out), "idempotency-key-reused") {
		t.Errorf("key reused: %d %s", resp.StatusCode, out)
	}
}
