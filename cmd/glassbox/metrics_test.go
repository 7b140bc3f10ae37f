package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// scrape reads /metrics and sums each metric's samples over their labels,
// keyed by the sample name (so a histogram gives name_count, name_sum and
// name_bucket, the last being meaningless as a sum). A sample whose labels
// include all of match's is also summed under name{match}, as written in
// match, e.g. `method="QueueLeaf",code="OK"`.
func scrape(t *testing.T, url string, match ...string) map[string]float64 {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodGet, url+"/metrics", adminKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		name := line[:sp]
		if i := strings.IndexByte(name, '{'); i >= 0 {
			name = name[:i]
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[name] += v
		for _, m := range match {
			if labelsHave(line[:sp], m) {
				out[name+"{"+m+"}"] += v
			}
		}
	}
	return out
}

// labelsHave reports whether a sample's labels include every
// comma-separated name="value" pair of m.
func labelsHave(sample, m string) bool {
	for _, pair := range strings.Split(m, ",") {
		if !strings.Contains(sample, pair) {
			return false
		}
	}
	return true
}

// settled waits until every leaf the storage queued has been sequenced and
// is under a signed checkpoint, and returns the metrics and tree size then.
func settled(t *testing.T, p *serveProc, key string) (map[string]float64, uint64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		m := scrape(t, p.url)
		size := checkpointOf(t, p.url, key).Size
		queued := m["glassbox_ledger_sqlite_queued_leaves"]
		if queued > 0 && m["glassbox_ledger_sequencer_sequenced"] == queued && float64(size) == queued {
			return m, size
		}
		if time.Now().After(deadline) {
			t.Fatalf("ledger did not settle: queued %v, sequenced %v, checkpoint %d", queued, m["glassbox_ledger_sequencer_sequenced"], size)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLedgerMetricsUnderLoad drives the real binary with its embedded
// ledger and checks that the ledger's own metrics (storage intake, Trillian's
// log server and sequencer) are on /metrics and agree with the decisions
// the test counted.
func TestLedgerMetricsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	p := startServe(t, t.TempDir())
	key := publicKey(t, p.url)
	// The records written at start-up (model admission, policy
	// activation) are the baseline.
	before, base := settled(t, p, key)

	// A fixed number of requests, each seen to its end, so that the test
	// knows exactly how many decisions were made.
	const requests, workers = 600, 16
	var (
		seq     int64Counter
		wg      sync.WaitGroup
		mu      sync.Mutex
		created int
		other   []string
	)
	for range workers {
		wg.Go(func() {
			for i := seq.next(); i <= requests; i = seq.next() {
				code, body, err := call(context.Background(), http.MethodPost, p.url+"/v1/decisions", lenderKey, sampleApplication(i))
				mu.Lock()
				if err == nil && code == http.StatusCreated {
					created++
				} else {
					other = append(other, fmt.Sprintf("%d %v %s", code, err, body))
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != requests {
		t.Fatalf("%d of %d decisions created; others: %v", created, requests, other)
	}
	n := float64(created)
	after, size := settled(t, p, key)
	want := float64(base) + n
	if float64(size) != want {
		t.Fatalf("checkpoint size %d, want %v records at start plus %v decisions", size, base, n)
	}

	for _, c := range []struct {
		metric string
		want   float64
	}{
		// Storage intake: every leaf is new, each QueueLeaf carries one.
		{"glassbox_ledger_sqlite_queued_leaves", want},
		{"glassbox_ledger_sqlite_queued_dup_leaves", 0},
		{"glassbox_ledger_sqlite_queue_batch_leaves_sum", want},
		{"glassbox_ledger_sqlite_queue_batch_requests_sum", want},
		{"glassbox_ledger_sqlite_dequeued_leaves", want},
		// Trillian's log server and sequencer.
		{"glassbox_ledger_added_leaves", want},
		{"glassbox_ledger_sequencer_sequenced", want},
		{"glassbox_ledger_sequencer_tree_size", want},
		{"glassbox_ledger_entries_added", want},
		// The API's own count of what the load made.
		{"glassbox_decisions_total", n},
	} {
		if got := after[c.metric]; got != c.want {
			t.Errorf("%s = %v, want %v", c.metric, got, c.want)
		}
	}
	// Latency histograms observed work during the load: at least one
	// intake append (each with its fsync) and one sequencing batch more
	// than before it, and no more appends than QueueLeaf calls.
	for _, h := range []string{
		"glassbox_ledger_sqlite_queue_batch_seconds_count",
		"glassbox_ledger_sqlite_intake_fsync_seconds_count",
		"glassbox_ledger_sequencer_latency_count",
		"glassbox_ledger_sqlite_update_sequenced_seconds_count",
	} {
		if after[h] <= before[h] {
			t.Errorf("%s did not grow under load: %v then %v", h, before[h], after[h])
		}
	}
	if appends := after["glassbox_ledger_sqlite_queue_batch_seconds_count"]; appends > want {
		t.Errorf("%v intake appends for %v leaves", appends, want)
	}
	if fsyncs, appends := after["glassbox_ledger_sqlite_intake_fsync_seconds_count"], after["glassbox_ledger_sqlite_queue_batch_seconds_count"]; fsyncs < appends {
		t.Errorf("%v fsyncs for %v intake appends: an append was acknowledged without one", fsyncs, appends)
	}
}
