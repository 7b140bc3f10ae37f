package api_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// TestReports appends report records for a prefix of the log and refuses,
// with a problem and no new entry, every report that names a prefix the
// log does not have or is not well formed.
func TestReports(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, id := range []string{"r-1", "r-2", "r-3"} {
		e.createDecision(id)
	}
	size := e.settle()
	entries, err := e.ledger.Entries(context.Background(), 0, int(size))
	if err != nil {
		t.Fatal(err)
	}
	// The root of the first size-1 entries, computed here from the leaves.
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, en := range entries[:size-1] {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(en.Data), nil); err != nil {
			t.Fatal(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		t.Fatal(err)
	}
	sha := strings.Repeat("ab", 32)
	good := map[string]any{"kind": "monitoring", "sha256": sha, "log_size": size - 1, "log_root": hex.EncodeToString(root)}

	bad := []struct {
		name   string
		key    string
		body   any
		ct     string
		status int
	}{
		{"no key", "", good, "", http.StatusUnauthorized},
		{"lender", keyLender, good, "", http.StatusForbidden},
		{"admin", keyAdmin, good, "", http.StatusForbidden},
		{"not json", keyRegulator, "kind=monitoring", "text/plain", http.StatusUnsupportedMediaType},
		{"malformed", keyRegulator, `{"kind":`, "", http.StatusBadRequest},
		{"wrong root", keyRegulator, withMember(good, "log_root", strings.Repeat("00", 32)), "", http.StatusUnprocessableEntity},
		{"other prefix's root", keyRegulator, withMember(good, "log_size", size-2), "", http.StatusUnprocessableEntity},
		{"beyond the log", keyRegulator, withMember(good, "log_size", size+5), "", http.StatusUnprocessableEntity},
		{"empty prefix", keyRegulator, withMember(good, "log_size", 0), "", http.StatusUnprocessableEntity},
		{"kind", keyRegulator, withMember(good, "kind", "weekly"), "", http.StatusUnprocessableEntity},
		{"sha", keyRegulator, withMember(good, "sha256", "abc"), "", http.StatusUnprocessableEntity},
		{"extra member", keyRegulator, withMember(good, "groups", "Age"), "", http.StatusUnprocessableEntity},
		{"negative size", keyRegulator, withMember(good, "log_size", -1), "", http.StatusUnprocessableEntity},
	}
	for _, c := range bad {
		resp := e.do(req{method: "POST", path: "/v1/reports", key: c.key, body: c.body, contentType: c.ct})
		if resp.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, resp.status, c.status, resp.body)
		}
	}
	if n := e.settle(); n != size {
		t.Fatalf("refused reports changed the log: %d entries, want %d", n, size)
	}

	for _, body := range []map[string]any{good, withMember(withMember(good, "log_size", size), "log_root", hex.EncodeToString(rootOf(t, e)))} {
		resp := e.do(req{method: "POST", path: "/v1/reports", key: keyRegulator, body: body})
		if resp.status != http.StatusCreated {
			t.Fatalf("report: %d %s", resp.status, resp.body)
		}
		var out struct {
			ReportRecord string `json:"report_record"`
		}
		resp.json(t, &out)
		e.settle()
		id, err := transparency.ParseID(out.ReportRecord)
		if err != nil {
			t.Fatal(err)
		}
		en, err := e.ledger.GetEntry(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := transparency.DecodeRecord(en.Data)
		if err != nil || rec.Report == nil || rec.Report.SHA256 != sha || rec.Report.LogSize != uint64(body["log_size"].(uint64)) {
			t.Fatalf("logged %+v, %v", rec, err)
		}
	}
}

func rootOf(t *testing.T, e *env) []byte {
	t.Helper()
	cp, err := e.ledger.LatestCheckpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return cp.Root
}

func withMember(m map[string]any, k string, v any) map[string]any {
	out := map[string]any{}
	for kk, vv := range m {
		out[kk] = vv
	}
	out[k] = v
	return out
}
