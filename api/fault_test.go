package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/trillian/monitoring"
	"github.com/google/trillian/storage"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/transparency"
	"github.com/glassbox-ledger/glassbox/transparency/sqlitestore"
	"github.com/glassbox-ledger/glassbox/transparency/sqlitestore/faultfs"
)

func tail(s string, n int) string { return s[max(0, len(s)-n):] }

// faultLedger returns a ledger opener whose intake goes through fsys.
func faultLedger(fsys *faultfs.FS) func(testing.TB, string) *transparency.Ledger {
	return func(t testing.TB, dir string) *transparency.Ledger {
		t.Helper()
		return openLedgerOn(t, dir, func(ctx context.Context, dataDir string, mf monitoring.MetricFactory) (storage.Provider, error) {
			// Small segments, so rotations (and with them the creates a
			// read-only directory refuses) happen under load.
			return sqlitestore.OpenWith(ctx, filepath.Join(dataDir, "trillian.db"), mf, sqlitestore.Options{FS: fsys, SegmentBytes: 24 << 10})
		})
	}
}

// outcomes is what the API told the clients in one round.
type outcomes struct {
	mu sync.Mutex
	// acked maps the application id of every decision answered 201 (or
	// listed in a batch 503's recorded) to its decision id.
	acked map[string]string
	// refused holds application ids answered 503 as not recorded.
	refused                                  map[string]bool
	unknown                                  map[string]bool
	single, batch, failedSingle, failedBatch int
}

// send posts one decision or a batch and files what the answer says.
func (o *outcomes) send(e *env, ids []string) {
	apps := make([]any, len(ids))
	for i, id := range ids {
		apps[i] = validApp(id)
	}
	var r *response
	if len(ids) == 1 {
		r = e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: apps[0]})
	} else {
		r = e.do(req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: map[string]any{"applications": apps}})
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(ids) == 1 {
		o.single++
	} else {
		o.batch++
	}
	switch r.status {
	case http.StatusCreated:
		var got []struct {
			DecisionID    string `json:"decision_id"`
			ApplicationID string `json:"application_id"`
		}
		if len(ids) == 1 {
			got = append(got, struct {
				DecisionID    string `json:"decision_id"`
				ApplicationID string `json:"application_id"`
			}{})
			r.json(e.t, &got[0])
		} else {
			var b struct {
				Decisions []struct {
					DecisionID    string `json:"decision_id"`
					ApplicationID string `json:"application_id"`
				} `json:"decisions"`
			}
			r.json(e.t, &b)
			got = append(got, b.Decisions...)
		}
		for i, d := range got {
			if d.ApplicationID != ids[i] {
				e.t.Errorf("receipt %d is for %q, want %q", i, d.ApplicationID, ids[i])
			}
			o.acked[ids[i]] = d.DecisionID
		}
	case http.StatusServiceUnavailable:
		if r.header.Get("Retry-After") == "" {
			e.t.Errorf("503 without Retry-After: %s", r.body)
		}
		if len(ids) == 1 {
			o.failedSingle++
		} else {
			o.failedBatch++
		}
		var p api.Problem
		r.json(e.t, &p)
		done := map[int]bool{}
		for _, rd := range p.Recorded {
			o.acked[ids[rd.Index]] = rd.DecisionID
			done[rd.Index] = true
		}
		for _, u := range p.Unknown {
			o.unknown[ids[u.Index]] = true
			done[u.Index] = true
		}
		for i, id := range ids {
			if !done[i] {
				o.refused[id] = true
			}
		}
	default:
		e.t.Errorf("decision answered %d: %s", r.status, r.body)
	}
}

func (e *env) readyStatus() int {
	r := e.do(req{method: "GET", path: "/readyz"})
	return r.status
}

// waitReady polls /readyz until it answers want.
func (e *env) waitReady(want int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if e.readyStatus() == want {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// TestLedgerFaultsUnderLoad injects ENOSPC, EIO on write, EIO on fsync
// (alone and with a failing cut) and a read-only directory at random
// points while clients post single and batch decisions, then restarts the
// server on the same data directory. After every round: each decision
// answered 201 (or listed as recorded in a batch's 503) is in the log with
// an inclusion proof that verifies against the new checkpoint, no decision
// answered 503 is in the log (matched by application_id over all entries),
// and the new checkpoint is consistent with the last one signed before the
// faults. While a fault persists /readyz answers 503; once it is cleared
// the same process answers 200 again and decisions succeed.
func TestLedgerFaultsUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault rounds take a while")
	}
	const (
		rounds         = 5
		faultsPerRound = 24
		workers        = 6
	)
	rng := rand.New(rand.NewPCG(14, 14))
	dir := t.TempDir()
	kinds := []struct {
		name   string
		faults func(skip int, count int) []faultfs.Fault
	}{
		{"ENOSPC part-way", func(s, c int) []faultfs.Fault {
			return []faultfs.Fault{{Op: faultfs.Write, Err: syscall.ENOSPC, Partial: rng.Float64(), Skip: s, Count: c}}
		}},
		{"EIO on write", func(s, c int) []faultfs.Fault {
			return []faultfs.Fault{{Op: faultfs.Write, Err: syscall.EIO, Partial: rng.Float64() / 2, Skip: s, Count: c}}
		}},
		{"EIO on fsync", func(s, c int) []faultfs.Fault {
			return []faultfs.Fault{{Op: faultfs.Sync, Err: syscall.EIO, Skip: s, Count: c}}
		}},
		{"EIO on fsync, cut fails", func(s, c int) []faultfs.Fault {
			return []faultfs.Fault{{Op: faultfs.Sync, Err: syscall.EIO, Skip: s, Count: c}, {Op: faultfs.Truncate, Err: syscall.EIO, Count: 2}}
		}},
		{"read-only directory", func(s, c int) []faultfs.Fault {
			return []faultfs.Fault{{Op: faultfs.Create, Err: syscall.EROFS, Skip: s % 2, Count: c}}
		}},
	}
	allAcked := map[string]string{}
	allRefused := map[string]bool{}
	var injected, failedSingle, failedBatch, sawNotReady int
	for round := range rounds {
		fsys := faultfs.New()
		var logs syncBuffer
		e := newEnv(t, envOptions{dir: dir, ledger: faultLedger(fsys), logger: slog.New(slog.NewTextHandler(&logs, nil))})
		before, err := e.ledger.LatestCheckpoint(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		o := &outcomes{acked: map[string]string{}, refused: map[string]bool{}, unknown: map[string]bool{}}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					size := 1
					if n%2 == 1 {
						size = 2 + (n+w)%3
					}
					ids := make([]string, size)
					for i := range ids {
						ids[i] = fmt.Sprintf("r%d-w%d-n%d-%d", round, w, n, i)
					}
					o.send(e, ids)
				}
			})
		}
		for f := range faultsPerRound {
			k := kinds[rng.IntN(len(kinds))]
			persistent := f%6 == 0
			count := 1 + rng.IntN(4)
			if persistent {
				count = -1
			}
			// Armed whenever: under load, or while the intake is still
			// refusing after the previous fault, when the fault hits its
			// repair probes.
			target := fsys.Injected() + count
			for _, fl := range k.faults(rng.IntN(6), count) {
				fsys.Arm(fl)
			}
			if persistent {
				// A fault that lasts is reported, and cleared it is
				// recovered from, by this same process.
				if e.waitReady(http.StatusServiceUnavailable, 10*time.Second) {
					sawNotReady++
				} else {
					t.Errorf("round %d: /readyz never answered 503 during a lasting %s", round, k.name)
				}
				fsys.Clear()
				if !e.waitReady(http.StatusOK, 20*time.Second) {
					t.Fatalf("round %d: /readyz still not 200 20 s after the %s was cleared", round, k.name)
				}
			} else {
				for deadline := time.Now().Add(5 * time.Second); fsys.Injected() < target && time.Now().Before(deadline); {
					time.Sleep(5 * time.Millisecond)
				}
				fsys.Clear()
			}
		}
		// With no append in flight, nothing can fail after /readyz says 200.
		close(stop)
		wg.Wait()
		if !e.waitReady(http.StatusOK, 20*time.Second) {
			t.Fatalf("round %d: not ready after the faults were cleared", round)
		}
		// Decisions succeed again without a restart.
		if r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: validApp(fmt.Sprintf("r%d-after", round))}); r.status != http.StatusCreated {
			t.Fatalf("round %d: a decision after recovery was answered %d: %s\nlog tail: %s", round, r.status, r.body, tail(logs.String(), 12000))
		} else {
			var d struct {
				DecisionID string `json:"decision_id"`
			}
			r.json(t, &d)
			o.acked[fmt.Sprintf("r%d-after", round)] = d.DecisionID
		}
		injected += fsys.Injected()
		failedSingle += o.failedSingle
		failedBatch += o.failedBatch
		if len(o.unknown) > 0 {
			t.Errorf("round %d: %d decisions reported as of unknown outcome by the embedded ledger", round, len(o.unknown))
		}
		e.closed = true
		if err := e.ledger.Close(); err != nil {
			t.Fatalf("closing ledger: %v", err)
		}
		e.http.Close()

		// Restart on the same directory, with a file system that works.
		e = newEnv(t, envOptions{dir: dir})
		after := e.settle()
		cpAfter, _ := e.ledger.LatestCheckpoint(context.Background())
		if after < before.Size {
			t.Fatalf("round %d: checkpoint shrank from %d to %d", round, before.Size, after)
		}
		if before.Size > 0 {
			cp, err := e.ledger.ConsistencyProof(context.Background(), before.Size, after)
			if err != nil {
				t.Fatal(err)
			}
			if err := proof.VerifyConsistency(rfc6962.DefaultHasher, before.Size, after, cp.Hashes, before.Root, cpAfter.Root); err != nil {
				t.Fatalf("round %d: checkpoint %d is not consistent with %d from before the faults: %v", round, after, before.Size, err)
			}
		}
		inLog := logApplications(t, e.ledger, after)
		for app := range o.refused {
			if _, ok := inLog[app]; ok {
				t.Errorf("round %d: %s was answered 503 but is in the log", round, app)
			}
		}
		for app, id := range o.acked {
			if got, ok := inLog[app]; !ok || got != id {
				t.Errorf("round %d: %s was acknowledged as %s but the log has %q", round, app, id, got)
				continue
			}
			did, err := transparency.ParseID(id)
			if err != nil {
				t.Fatal(err)
			}
			p, err := e.ledger.InclusionProof(context.Background(), did, after)
			if err != nil {
				t.Fatalf("inclusion proof for %s: %v", app, err)
			}
			if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, after, did[:], p.Hashes, cpAfter.Root); err != nil {
				t.Errorf("round %d: inclusion proof for %s does not verify: %v", round, app, err)
			}
		}
		for app, id := range o.acked {
			allAcked[app] = id
		}
		for app := range o.refused {
			allRefused[app] = true
		}
		t.Logf("round %d: %d faults injected, %d single and %d batch requests (%d and %d answered 503), %d decisions acknowledged, %d refused",
			round, fsys.Injected(), o.single, o.batch, o.failedSingle, o.failedBatch, len(o.acked), len(o.refused))
		e.closed = true
		if err := e.ledger.Close(); err != nil {
			t.Fatal(err)
		}
		e.http.Close()
	}
	// Over the whole log once more: nothing refused in any round appeared
	// later, and every application is there once.
	e := newEnv(t, envOptions{dir: dir})
	inLog := logApplications(t, e.ledger, e.settle())
	for app := range allRefused {
		if _, ok := inLog[app]; ok {
			t.Errorf("%s was answered 503 but is in the log", app)
		}
	}
	if len(inLog) != len(allAcked) {
		t.Errorf("%d decisions in the log, %d acknowledged", len(inLog), len(allAcked))
	}
	if injected < 200 || failedSingle == 0 || failedBatch == 0 || sawNotReady == 0 {
		t.Errorf("%d faults injected, %d single and %d batch requests failed, /readyz 503 seen %d times; the test wants at least 200 faults and failures of both kinds", injected, failedSingle, failedBatch, sawNotReady)
	}
	t.Logf("%d faults injected in all; %d single and %d batch requests answered 503", injected, failedSingle, failedBatch)
}

// logApplications reads every entry of the tree of the given size and
// returns the decision id of each decision record by application id,
// failing on an application id logged twice.
func logApplications(t *testing.T, l *transparency.Ledger, size uint64) map[string]string {
	t.Helper()
	out := map[string]string{}
	for start := uint64(0); start < size; {
		entries, err := l.Entries(context.Background(), start, transparency.MaxEntriesPerRequest)
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range entries {
			if en.Type != transparency.TypeDecision {
				continue
			}
			var rec struct {
				Body struct {
					ApplicationID string `json:"application_id"`
				} `json:"body"`
			}
			if err := json.Unmarshal(en.Record, &rec); err != nil {
				t.Fatal(err)
			}
			app := rec.Body.ApplicationID
			if _, dup := out[app]; dup {
				t.Errorf("application %s is in the log twice", app)
			}
			out[app] = en.ID.String()
		}
		start += uint64(len(entries))
	}
	return out
}

// lostAnswers is a ledger on which appends of applications named lost-*
// reach the log but report ErrOutcomeUnknown, as a remote Trillian whose
// answer was lost does, and appends of refused-* fail with ErrNotRecorded
// without reaching it.
type lostAnswers struct{ *transparency.Ledger }

func (l lostAnswers) AppendSealed(ctx context.Context, s transparency.Sealed) (transparency.Receipt, error) {
	// The application id is in the record, which for a format 2 leaf is
	// beside the leaf rather than in it.
	content := s.Bytes()
	if _, rec, ok := s.Committed(); ok {
		content = rec
	}
	switch {
	case strings.Contains(string(content), `"application_id":"refused-`):
		return transparency.Receipt{}, fmt.Errorf("queueing leaf: %w: quota", transparency.ErrNotRecorded)
	case strings.Contains(string(content), `"application_id":"lost-`):
		if _, err := l.Ledger.AppendSealed(ctx, s); err != nil {
			return transparency.Receipt{}, err
		}
		return transparency.Receipt{}, fmt.Errorf("queueing leaf: %w: deadline exceeded", transparency.ErrOutcomeUnknown)
	}
	return l.Ledger.AppendSealed(ctx, s)
}

// TestAppendOutcomeInProblem: a 503 says "no decision was made" only when
// the ledger knows the record was not written; a decision of unknown
// outcome is listed in unknown with its id, which then finds it.
func TestAppendOutcomeInProblem(t *testing.T) {
	e := newEnv(t, envOptions{wrap: func(l *transparency.Ledger) api.Ledger { return lostAnswers{l} }})
	problem := func(r *response) api.Problem {
		t.Helper()
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q: %s", r.status, r.header.Get("Retry-After"), r.body)
		}
		var p api.Problem
		r.json(t, &p)
		return p
	}

	p := problem(e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: validApp("refused-1")}))
	if !strings.Contains(p.Detail, "no decision was made") || len(p.Unknown) != 0 {
		t.Errorf("not recorded: %+v", p)
	}

	p = problem(e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: validApp("lost-1")}))
	if strings.Contains(p.Detail, "no decision was made") || len(p.Unknown) != 1 || p.Unknown[0].Index != 0 {
		t.Fatalf("unknown outcome: %+v", p)
	}
	lost := p.Unknown[0].DecisionID

	p = problem(e.do(req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: map[string]any{
		"applications": []any{validApp("ok-2"), validApp("lost-2"), validApp("refused-2")},
	}}))
	if len(p.Recorded) != 1 || p.Recorded[0].Index != 0 || len(p.Unknown) != 1 || p.Unknown[0].Index != 1 {
		t.Fatalf("batch: %+v", p)
	}
	for _, want := range []string{"could not record 1 (indexes 2)", "cannot tell whether 1 (indexes 1", "recorded were made"} {
		if !strings.Contains(p.Detail, want) {
			t.Errorf("batch detail %q lacks %q", p.Detail, want)
		}
	}

	// The lost decisions were recorded after all, and their ids find them;
	// the refused ones are nowhere.
	inLog := logApplications(t, e.ledger, e.settle())
	for app, id := range map[string]string{"lost-1": lost, "lost-2": p.Unknown[0].DecisionID, "ok-2": p.Recorded[0].DecisionID} {
		if inLog[app] != id {
			t.Errorf("%s: log has %q, the problem said %s", app, inLog[app], id)
		}
		if r := e.do(req{method: "GET", path: "/v1/decisions/" + id, key: keyLender}); r.status != http.StatusOK {
			t.Errorf("looking up %s by id: %d %s", app, r.status, r.body)
		}
	}
	for _, app := range []string{"refused-1", "refused-2"} {
		if _, ok := inLog[app]; ok {
			t.Errorf("%s is in the log", app)
		}
	}
}
