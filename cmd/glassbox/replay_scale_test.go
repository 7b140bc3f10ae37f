package main

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// buildLog fills the embedded ledger in dataDir/ledger with n filler
// records (policy activations numbered 0..n-1) through its ordinary
// append path, many appends at a time so the intake groups their fsyncs
// and the sequencer integrates big batches. It returns the bytes of the
// leaves written.
func buildLog(t *testing.T, dataDir string, n int) int64 {
	t.Helper()
	ctx := context.Background()
	l, err := transparency.OpenEmbedded(ctx, transparency.EmbeddedConfig{
		DataDir: filepath.Join(dataDir, "ledger"), IntegrationInterval: 20 * time.Millisecond, BatchSize: 20000,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var (
		next  atomic.Int64
		bytes atomic.Int64
		wg    sync.WaitGroup
		fail  atomic.Value
	)
	revision := strings.Repeat("ab", 32)
	for range 64 {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				rec, err := transparency.NewRecord(time.Unix(0, 0), &transparency.PolicyActivated{
					Policy:  transparency.PolicyRef{Revision: revision},
					Details: map[string]string{"filler": strconv.FormatInt(i, 10)},
				})
				if err == nil {
					var data []byte
					if data, err = rec.Encode(); err == nil {
						_, err = l.Append(ctx, data)
						bytes.Add(int64(len(data)))
					}
				}
				if err != nil {
					fail.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, _ := fail.Load().(error); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Minute); l.Pending() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d leaves not integrated", l.Pending())
		}
	}
	return bytes.Load()
}

// TestReplayRangeOfBigLog replays a 10-decision range at the end of a log
// of more than 100,000 leaves and checks what it fetched is under 1% of
// the log's leaf bytes (counting only the filler leaves, which makes the
// bound stricter), while the replay still verified the range against the
// signed checkpoint.
func TestReplayRangeOfBigLog(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a log of 100,000 leaves")
	}
	const filler = 100_000
	dataDir := t.TempDir()
	start := time.Now()
	logBytes := buildLog(t, dataDir, filler)
	t.Logf("built %d leaves (%d bytes) in %v", filler, logBytes, time.Since(start))

	p := startServe(t, dataDir)
	key := publicKey(t, p.url)
	// The decisions' own leaf indexes bound the range (the governance
	// records serve writes at start-up come before them).
	var from, to uint64
	for i := range 10 {
		idx := leafIndex(t, p.url, createIntegrated(t, p.url, i, time.Minute))
		if i == 0 {
			from = idx
		}
		to = idx + 1
	}
	if to-from != 10 || from < filler {
		t.Fatalf("decisions are leaves %d..%d", from, to)
	}
	// Format 2 decisions: their records come with the regulator's key,
	// for the range alone.
	code, out, errOut := runCmd("audit", "replay", "--server", p.url, "--key", key, "--api-key", regulatorKey,
		"--from", strconv.FormatUint(from, 10), "--to", strconv.FormatUint(to, 10))
	if code != 0 || !strings.Contains(out, "replayed 10 decisions") || !strings.Contains(out, ": 0 mismatches, 0 not replayable") {
		t.Fatalf("replay: exit %d\n%s\n%s", code, out, errOut)
	}
	m := regexp.MustCompile(`fetched (\d+) bytes in (\d+) requests`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("replay does not say what it fetched:\n%s", out)
	}
	fetched, _ := strconv.ParseInt(m[1], 10, 64)
	t.Logf("replay of %d..%d fetched %s bytes in %s requests; the log holds more than %d bytes of leaves", from, to, m[1], m[2], logBytes)
	if limit := logBytes / 100; fetched >= limit {
		t.Fatalf("replay fetched %d bytes, not under 1%% of the log (%d)", fetched, limit)
	}
}

func leafIndex(t *testing.T, url, id string) uint64 {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodGet, url+"/v1/decisions/"+id+"/proof", lenderKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("proof: %d %v", code, err)
	}
	var r Receipt
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	return r.LeafIndex
}
