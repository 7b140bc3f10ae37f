package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/transparency"
	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
)

// TestMonitorDriftAndMissingRecords, on a running glassbox serve:
//   - the monitor raises a DRIFT finding (exit 1) over a population
//     chosen to be high-risk, with the score PSI computed here from
//     distribution.json and the scores the server answered;
//   - over the credit test set as it is, the next check (state moved on)
//     finds no drift, with the PSI computed here again;
//   - a decision record deleted from the record store behind the
//     server's back is a MISSING RECORD finding for monitor and replay
//     (exit 1), an erased one is not.
func TestMonitorDriftAndMissingRecords(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dataDir := t.TempDir()
	p := startServe(t, dataDir)
	key := publicKey(t, p.url)
	m := defaultModel(t)
	ref := m.Distribution.Score
	apps := testRowApplications(t)
	// High risk: rows the model scores at or below the reference's
	// third score decile edge.
	var risky []map[string]any
	for _, a := range apps {
		x, err := m.Vectorize(a["features"].(map[string]any))
		if err != nil {
			t.Fatal(err)
		}
		if m.Predict(x).Score <= ref.Edges[2] {
			risky = append(risky, a)
		}
	}
	if len(risky) < 100 || len(risky) > len(apps)/2 {
		t.Fatalf("%d of %d rows chosen as high-risk", len(risky), len(apps))
	}
	state := filepath.Join(t.TempDir(), "monitor.json")
	monitor := []string{"audit", "monitor", "--server", p.url, "--key", key, "--state", state, "--api-key", regulatorKey}

	t.Run("shifted population drifts", func(t *testing.T) {
		want := psiOf(ref.Edges, ref.Counts, ref.Missing, batchScores(t, p.url, risky))
		if want <= 0.25 {
			t.Fatalf("the high-risk rows' PSI is %v: not a shift", want)
		}
		code, out, errOut := runCmd(monitor...)
		got := printedPSI(t, out, "DRIFT: model credit-risk-v1: score PSI ")
		t.Logf("PSI %v (computed here %v)", got, want)
		if code != 1 || math.Abs(got-want) > 5e-5 || !strings.Contains(out, fmt.Sprintf("over %d new decisions, above the threshold 0.25", len(risky))) ||
			!strings.Contains(errOut, "DRIFT") {
			t.Fatalf("monitor over the high-risk rows: exit %d, PSI %v, computed here %v\n%s%s", code, got, want, out, errOut)
		}
	})
	t.Run("test set as it is", func(t *testing.T) {
		want := psiOf(ref.Edges, ref.Counts, ref.Missing, batchScores(t, p.url, apps))
		code, out, errOut := runCmd(monitor...)
		got := printedPSI(t, out, "drift: model credit-risk-v1: score PSI ")
		t.Logf("PSI %v (computed here %v)", got, want)
		if code != 0 || want > 0.25 || math.Abs(got-want) > 5e-5 || !strings.Contains(out, fmt.Sprintf("over %d new decisions (threshold 0.25)", len(apps))) {
			t.Fatalf("monitor over the test set: exit %d, PSI %v, computed here %v\n%s%s", code, got, want, out, errOut)
		}
	})

	// Three decisions: one erased, one whose record is deleted from the
	// store behind the server's back, one intact.
	from := checkpointOf(t, p.url, key).Size
	ids := postSamples(t, p.url, 3)
	eraseDecision(t, p.url, ids[0])
	deleteRecord(t, filepath.Join(dataDir, "records", recordstore.RecordsFile), ids[1])
	to := checkpointOf(t, p.url, key).Size

	t.Run("monitor", func(t *testing.T) {
		code, out, errOut := runCmd(monitor...)
		if code != 1 || strings.Count(out, "MISSING RECORD") != 1 || !strings.Contains(grepLines([]byte(out), "MISSING RECORD"), ids[1]) ||
			!strings.Contains(out, "erasure: decision "+ids[0]) || !strings.Contains(errOut, "MISSING") {
			t.Fatalf("monitor after the deletion: exit %d\n%s%s", code, out, errOut)
		}
		t.Logf("monitor:\n%s%s", out, errOut)
		// The finding was reported; the next check starts after it.
		if code, out, errOut := runCmd(monitor...); code != 0 || strings.Contains(out, "MISSING") {
			t.Fatalf("monitor again: exit %d\n%s%s", code, out, errOut)
		}
	})
	t.Run("replay", func(t *testing.T) {
		code, out, errOut := runCmd("audit", "replay", "--server", p.url, "--key", key, "--api-key", regulatorKey,
			"--from", strconv.FormatUint(from, 10), "--to", strconv.FormatUint(to, 10))
		if code != 1 || !strings.Contains(out, ids[1]+": MISSING RECORD") || strings.Count(out, "MISSING RECORD") != 1 ||
			!strings.Contains(out, ids[0]+": erased") || !strings.Contains(out, "1 records missing from the store") || !strings.Contains(out, "replayed 1 decisions") {
			t.Fatalf("replay after the deletion: exit %d\n%s%s", code, out, errOut)
		}
	})
}

// batchScores posts the applications and returns the scores answered.
func batchScores(t *testing.T, url string, apps []map[string]any) []float64 {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodPost, url+"/v1/decisions/batch?wait=integrated", lenderKey, map[string]any{"applications": apps})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("batch: %d %v %.300s", code, err, body)
	}
	var out struct {
		Decisions []struct {
			Score *float64 `json:"score"`
		}
	}
	if err := json.Unmarshal(body, &out); err != nil || len(out.Decisions) != len(apps) {
		t.Fatalf("batch answer: %v, %d decisions", err, len(out.Decisions))
	}
	scores := make([]float64, len(apps))
	for i, d := range out.Decisions {
		if d.Score == nil {
			t.Fatal("a decision without a score")
		}
		scores[i] = *d.Score
	}
	return scores
}

// psiOf is the population stability index written out: bins right-closed
// at the edges plus a missing bin, proportions floored at 0.0001,
// Σ (a − e) ln(a / e).
func psiOf(edges []float64, counts []int, missing int, scores []float64) float64 {
	actual := make([]float64, len(counts)+1)
	for _, s := range scores {
		b := 0
		for b < len(edges) && s > edges[b] {
			b++
		}
		actual[b]++
	}
	ref := append(append([]int{}, counts...), missing)
	total := 0
	for _, c := range ref {
		total += c
	}
	psi := 0.0
	for i := range actual {
		e := math.Max(float64(ref[i])/float64(total), 0.0001)
		a := math.Max(actual[i]/float64(len(scores)), 0.0001)
		psi += (a - e) * math.Log(a/e)
	}
	return psi
}

var psiNumber = regexp.MustCompile(`^[0-9.]+`)

// printedPSI reads the PSI the monitor printed after prefix.
func printedPSI(t *testing.T, out, prefix string) float64 {
	t.Helper()
	_, after, ok := strings.Cut(out, prefix)
	if !ok {
		t.Fatalf("no %q in:\n%s", prefix, out)
	}
	v, err := strconv.ParseFloat(psiNumber.FindString(after), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// deleteRecord removes a decision's record from the SQLite record store
// while the server runs: a record lost behind its back.
func deleteRecord(t *testing.T, file, id string) {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rid, err := transparency.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec("DELETE FROM recordstore_records WHERE id = ?", rid[:])
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d rows for %s", n, id)
	}
}
