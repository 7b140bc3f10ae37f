package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditErasedDecision: on a running glassbox serve, an erased
// decision is reported as erased, with its erasure record, by replay,
// verify-receipt and monitor; none of them fails on it.
func TestAuditErasedDecision(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	ctx := context.Background()
	p := startServe(t, t.TempDir())
	key := publicKey(t, p.url)
	ids := postSamples(t, p.url, 3)
	state := filepath.Join(t.TempDir(), "monitor.json")
	monitor := []string{"audit", "monitor", "--server", p.url, "--key", key, "--state", state, "--api-key", regulatorKey}
	if code, out, errOut := runCmd(monitor...); code != 0 {
		t.Fatalf("monitor before: %d %s %s", code, out, errOut)
	}

	erasure := eraseDecision(t, p.url, ids[1])

	t.Run("monitor", func(t *testing.T) {
		code, out, errOut := runCmd(monitor...)
		if code != 0 || !strings.Contains(out, "erasure: decision "+ids[1]+" erased") || !strings.Contains(out, erasure) {
			t.Fatalf("monitor after the erasure: %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("replay", func(t *testing.T) {
		code, out, errOut := runCmd("audit", "replay", "--server", p.url, "--key", key, "--api-key", regulatorKey)
		if code != 0 || !strings.Contains(out, ids[1]+": erased (erasure record "+erasure) || !strings.Contains(out, "1 erased records") ||
			!strings.Contains(out, "replayed 2 decisions") {
			t.Fatalf("replay: %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("verify-receipt", func(t *testing.T) {
		code, body, err := call(ctx, http.MethodGet, p.url+"/v1/decisions/"+ids[1]+"/proof", regulatorKey, nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("proof: %d %v %s", code, err, body)
		}
		path := filepath.Join(t.TempDir(), "receipt.json")
		if err := os.WriteFile(path, body, 0o600); err != nil {
			t.Fatal(err)
		}
		code, out, errOut := runCmd("audit", "verify-receipt", "--key", key, path)
		if code != 0 || !strings.Contains(out, "verified: decision "+ids[1]) || !strings.Contains(out, "erased: ") || !strings.Contains(out, erasure) {
			t.Fatalf("verify-receipt: %d\n%s%s", code, out, errOut)
		}
		// An erasure record under another id does not pass.
		forged := strings.Replace(string(body), `"id":"`+erasure, `"id":"`+strings.Repeat("0", 64), 1)
		if forged == string(body) {
			t.Fatal("the receipt names no erasure record id")
		}
		if err := os.WriteFile(path, []byte(forged), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, out, _ := runCmd("audit", "verify-receipt", "--key", key, path); code == 0 {
			t.Fatalf("a receipt with the wrong decision id verified:\n%s", out)
		}
	})
	// Reads answer 410 in the running server too.
	if code, _, _ := call(ctx, http.MethodGet, p.url+"/v1/decisions/"+ids[1], lenderKey, nil); code != http.StatusGone {
		t.Fatalf("read of the erased decision: %d", code)
	}
}

// jsonField reads a string member of a JSON object.
func jsonField(t *testing.T, body []byte, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	s, _ := m[name].(string)
	if s == "" {
		t.Fatalf("no %s in %s", name, body)
	}
	return s
}

// postSamples scores n sample applications, each once integrated, and
// returns their decision ids.
func postSamples(t *testing.T, url string, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		code, body, err := call(context.Background(), http.MethodPost, url+"/v1/decisions?wait=integrated", lenderKey, sampleApplication(i))
		if err != nil || code != http.StatusCreated {
			t.Fatalf("decision: %d %v %s", code, err, body)
		}
		ids = append(ids, jsonField(t, body, "decision_id"))
	}
	return ids
}

// eraseDecision erases decision id (admin) and returns the erasure
// record's id once it is integrated.
func eraseDecision(t *testing.T, url, id string) string {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodPost, url+"/v1/decisions/"+id+"/erasure?wait=integrated", adminKey,
		map[string]string{"legal_basis": "GDPR Art. 17(1)(b)", "requester": "the applicant"})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("erasure: %d %v %s", code, err, body)
	}
	return jsonField(t, body, "id")
}
