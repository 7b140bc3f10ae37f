package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/audit/report"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// TestAuditReport runs the report and fairness commands against a real
// server holding the whole credit test set: the figures are the counts of
// what was decided, --verify accepts the untouched report and refuses an
// altered report, a changed range and an altered log, and the protected
// attributes never reach the ledger.
func TestAuditReport(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	tl := newTestLedger(t)
	url := tl.p.url
	out := t.TempDir()
	common := []string{"--server", url, "--key", tl.key, "--api-key", regulatorKey}

	code, stdout, stderr := runCmd(append([]string{"audit", "report", "--out", out}, common...)...)
	if code != 0 {
		t.Fatalf("report: exit %d\n%s\n%s", code, stdout, stderr)
	}
	path := filepath.Join(out, "report.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Segments) != 1 || rep.Segments[0].Decisions != len(tl.ids) || rep.Segments[0].ByDecision["approve"] != 535 {
		t.Fatalf("segments %+v, want one of %d decisions, 535 approved", rep.Segments, len(tl.ids))
	}
	if rep.Log.Size != checkpointOf(t, url, tl.key).Size {
		t.Errorf("report covers %d entries, the log holds %d", rep.Log.Size, checkpointOf(t, url, tl.key).Size)
	}
	if page, err := os.ReadFile(filepath.Join(out, "report.html")); err != nil || !bytes.Contains(page, []byte("<svg")) {
		t.Errorf("report.html: %v", err)
	}

	verify := func(file string) (int, string) {
		code, stdout, _ := runCmd(append([]string{"audit", "report", "--verify", file}, common...)...)
		return code, stdout
	}
	// The shipped model is not calibrated on the test set (and these
	// decisions have no outcomes yet): no finding, so --fail-on-findings
	// passes; a PSI threshold of 0.0001 makes the score's PSI a finding.
	if code, out2, errOut := runCmd(append([]string{"audit", "report", "--out", t.TempDir(), "--fail-on-findings"}, common...)...); code != 0 {
		t.Errorf("--fail-on-findings without findings: exit %d\n%s%s", code, out2, errOut)
	}
	if code, out2, _ := runCmd(append([]string{"audit", "report", "--out", t.TempDir(), "--fail-on-findings", "--psi-threshold", "0.0001"}, common...)...); code != 1 || !strings.Contains(out2, "FINDING psi credit-risk-v1") {
		t.Errorf("--fail-on-findings with a drift finding: exit %d\n%s", code, out2)
	}
	// These decisions have no outcomes and the test set has not drifted
	// from the training data: no finding, so --fail-on-findings passes; a
	// PSI threshold of 0.0001 makes the score's PSI a finding.
	if code, out2, errOut := runCmd(append([]string{"audit", "report", "--out", t.TempDir(), "--fail-on-findings"}, common...)...); code != 0 {
		t.Errorf("--fail-on-findings without findings: exit %d\n%s%s", code, out2, errOut)
	}
	if code, out2, _ := runCmd(append([]string{"audit", "report", "--out", t.TempDir(), "--fail-on-findings", "--psi-threshold", "0.0001"}, common...)...); code != 1 || !strings.Contains(out2, "FINDING psi credit-risk-v1") {
		t.Errorf("--fail-on-findings with a drift finding: exit %d\n%s", code, out2)
	}
	// The report record went into the ledger with the report's digest.
	if !strings.Contains(stdout, "report record ") {
		t.Errorf("no report record appended:\n%s", stdout)
	}
	// It is queued when appended; wait until a checkpoint covers it.
	for start := time.Now(); checkpointOf(t, url, tl.key).Size <= rep.Log.Size; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatal("report record not integrated")
		}
	}
	if code, stdout := verify(path); code != 0 || !strings.Contains(stdout, "verified") || !strings.Contains(stdout, "the ledger records this report at entry") {
		t.Fatalf("verify untouched: exit %d\n%s", code, stdout)
	}
	// More decisions after the report do not change its prefix.
	code, body, err := call(context.Background(), http.MethodPost, url+"/v1/decisions?wait=integrated", lenderKey,
		map[string]any{"application_id": "late", "features": map[string]any{"Seniority": 3, "Home": "rent", "Time": 36, "Records": "no", "Job": "fixed", "Expenses": 50, "Income": 120, "Assets": 0, "Debt": 0, "Amount": 800, "Price": 1000}})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("late decision: %d %v %.200s", code, err, body)
	}
	if code, stdout := verify(path); code != 0 {
		t.Fatalf("verify after the log grew: exit %d\n%s", code, stdout)
	}
	alter := func(name string, from, to string) string {
		t.Helper()
		b := bytes.Replace(raw, []byte(from), []byte(to), 1)
		if bytes.Equal(b, raw) {
			t.Fatalf("%s: %q not in the report", name, from)
		}
		p := filepath.Join(t.TempDir(), "report.json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for name, p := range map[string]string{
		"altered figure": alter("figure", `"approve": 535`, `"approve": 536`),
		"changed range":  alter("range", `"size": `+strconv.FormatUint(rep.Log.Size, 10), `"size": `+strconv.FormatUint(rep.Log.Size-1, 10)),
		"changed window": alter("window", `"psi_threshold": 0.25`, `"from_time": "2000-01-01T00:00:00Z", "psi_threshold": 0.25`),
	} {
		if code, stdout := verify(p); code != 1 || !strings.Contains(stdout, "MISMATCH") {
			t.Errorf("%s: exit %d\n%s", name, code, stdout)
		}
	}
	// An altered record in the log: a proxy serves one entry with a byte
	// changed. The entries then do not hash to the signed root.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), r.Method, url+r.URL.RequestURI(), nil)
		req.Header = r.Header.Clone()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if r.URL.Path == "/v1/ledger/entries" {
			var page map[string]any
			if json.Unmarshal(b, &page) == nil {
				es := page["entries"].([]any)
				e := es[len(es)/2].(map[string]any)
				data, _ := base64.StdEncoding.DecodeString(e["data"].(string))
				data[len(data)/2] ^= 1
				e["data"] = base64.StdEncoding.EncodeToString(data)
				b, _ = json.Marshal(page)
			}
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(b)
	}))
	defer proxy.Close()
	code, stdout, stderr = runCmd("audit", "report", "--verify", path, "--server", proxy.URL, "--key", tl.key, "--api-key", regulatorKey)
	if code != 1 || !strings.Contains(stderr, "do not hash to the signed checkpoint") {
		t.Errorf("altered log: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// Fair lending: the shipped group file, rekeyed to the application ids
	// newTestLedger used (row-0, row-1, …).
	recs := readCSVFile(t, "../../testdata/credit_protected_groups.csv")
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for i, r := range recs {
		if i > 0 {
			r[0] = "row-" + strconv.Itoa(i-1)
		}
		_ = w.Write(r)
	}
	w.Flush()
	groups := filepath.Join(t.TempDir(), "groups.csv")
	if err := os.WriteFile(groups, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCmd(append([]string{"audit", "fairness", "--groups", groups, "--out", out}, common...)...)
	if code != 0 {
		t.Fatalf("fairness: exit %d\n%s\n%s", code, stdout, stderr)
	}
	var fr report.Fairness
	fb, err := os.ReadFile(filepath.Join(out, "fairness.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(fb, &fr); err != nil {
		t.Fatal(err)
	}
	// Approval counts per group, from the decisions the server returned.
	approved := map[string]bool{}
	for _, id := range tl.ids {
		code, body, err := call(context.Background(), http.MethodGet, url+"/v1/decisions/"+id, regulatorKey, nil)
		if err != nil || code != http.StatusOK {
			t.Fatalf("decision %s: %d %v", id, code, err)
		}
		var d struct {
			ApplicationID string `json:"application_id"`
			Decision      string `json:"decision"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		approved[d.ApplicationID] = d.Decision == "approve"
	}
	for a, attr := range fr.Models[0].Attributes {
		n, k := map[string]int{}, map[string]int{}
		for _, r := range recs[1:] {
			if l := r[a+1]; l != "" {
				n[l]++
				if approved[r[0]] { // rekeyed above
					k[l]++
				}
			}
		}
		var fav string
		for _, g := range attr.Groups {
			if g.Favoured {
				fav = g.Group
			}
		}
		for _, g := range attr.Groups {
			want := (float64(k[g.Group]) / float64(n[g.Group])) / (float64(k[fav]) / float64(n[fav]))
			if g.N != n[g.Group] || g.Approved != k[g.Group] || math.Abs(g.Ratio-want) > 1e-12 {
				t.Errorf("%s=%s: %d/%d ratio %v, counted %d/%d ratio %v", attr.Attribute, g.Group, g.Approved, g.N, g.Ratio, k[g.Group], n[g.Group], want)
			}
		}
	}
	code, stdout, _ = runCmd(append([]string{"audit", "fairness", "--groups", groups, "--verify", filepath.Join(out, "fairness.json")}, common...)...)
	if code != 0 || !strings.Contains(stdout, "verified") {
		t.Errorf("fairness verify: exit %d\n%s", code, stdout)
	}

	// The protected attributes are in no ledger entry.
	cp := checkpointOf(t, url, tl.key)
	// nor in any record a format 2 leaf commits to.
	entries, committed, err := fetchLeaves(context.Background(), &apiClient{base: url, key: regulatorKey, http: httpClient}, 0, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if transparency.LeafFormat(e) == transparency.EnvelopeFormat {
			if bytes.Contains(e, []byte(`"Age"`)) || bytes.Contains(e, []byte(`"Marital"`)) {
				t.Errorf("leaf %d names a protected attribute", i)
			}
			e = committed[transparency.RecordID(e)].record
		}
		rec, err := transparency.DecodeRecord(e)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if rec.Decision != nil {
			for _, f := range []string{"Age", "Marital"} {
				if _, ok := rec.Decision.Features[f]; ok {
					t.Errorf("entry %d holds feature %s", i, f)
				}
			}
		}
		for _, s := range []string{`"Age"`, `"Marital"`, "18-24", "married", "single"} {
			if bytes.Contains(e, []byte(s)) {
				t.Errorf("entry %d holds %s", i, s)
			}
		}
	}
	for _, args := range [][]string{{"audit", "report"}, {"audit", "report", "--server", url, "--key", tl.key, "--api-key", "x"}, {"audit", "fairness", "--out", out}} {
		if code, _, _ := runCmd(args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}
