package transparency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"

	"github.com/google/trillian"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/glassbox-ledger/glassbox/internal/tmpfs"
	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
)

// openTestRecords opens a SQLite record store with a fresh key in dir.
func openTestRecords(t testing.TB, dir string) *recordstore.Store {
	t.Helper()
	kek, err := recordstore.CreateKEK(filepath.Join(dir, "records.kek"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := recordstore.OpenSQLite(context.Background(), filepath.Join(dir, "records"), kek)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sealDecision(t testing.TB, l *Ledger, app string) (*Record, Sealed) {
	t.Helper()
	d := testDecision()
	d.ApplicationID, d.Nonce = app, ""
	r, err := NewRecord(time.Now(), d)
	if err != nil {
		t.Fatal(err)
	}
	s, err := l.Seal(r)
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// TestLedgerWritesFormat2AfterFormat1: a log continues with format 2
// leaves after format 1 ones; both read back, the format 2 one with its
// record from the store, checked against the commitment.
func TestLedgerWritesFormat2AfterFormat1(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A format 1 log, as written before record stores existed.
	l1 := openTestLedger(t, filepath.Join(dir, "ledger"))
	f1 := newDecisionBytes(t, "app-f1")
	rc1, err := l1.Append(ctx, f1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l1.WaitIntegrated(ctx, rc1.ID); err != nil {
		t.Fatal(err)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}

	store := openTestRecords(t, dir)
	reg := prometheus.NewRegistry()
	l := openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) { c.Records, c.Metrics = store, reg })
	r, sealed := sealDecision(t, l, "app-f2")
	if LeafFormat(sealed.Bytes()) != EnvelopeFormat {
		t.Fatalf("a ledger with a record store sealed a decision as %s", sealed.Bytes())
	}
	rc, err := l.AppendSealed(ctx, sealed)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := r.Encode()
	// Readable while queued, from this process.
	e, err := l.GetEntry(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Format != 2 || !bytes.Equal(e.Record, want) || e.Type != TypeDecision {
		t.Fatalf("queued entry: format %d type %s", e.Format, e.Type)
	}
	p, err := l.WaitIntegrated(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	verifyInclusion(t, l, p)

	// The store holds exactly the committed record; once the checkpoint
	// covered the leaf it is no longer pending.
	salt, rec, err := store.Get(ctx, rc.ID)
	if err != nil || !bytes.Equal(rec, want) {
		t.Fatalf("store.Get: %v", err)
	}
	if Commitment(salt, rec) != mustEnvelope(t, sealed.Bytes()).Commitment {
		t.Fatal("stored salt and record do not open the leaf's commitment")
	}
	waitFor(t, "record committed after integration", func() bool {
		ids, err := store.Pending(ctx, time.Now().Add(time.Hour))
		return err == nil && len(ids) == 0
	})

	entries, err := l.Entries(ctx, 0, int(p.TreeSize))
	if err != nil {
		t.Fatal(err)
	}
	formats := map[ID]int{}
	for _, e := range entries {
		formats[e.ID] = e.Format
		if e.Foreign {
			t.Errorf("entry %d is foreign", e.Index)
		}
	}
	if formats[rc1.ID] != 1 || formats[rc.ID] != 2 {
		t.Fatalf("formats by id: %v", formats)
	}
	got, err := l.GetEntry(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != StatusIntegrated || !bytes.Equal(got.Record, want) || !bytes.Equal(got.Salt, salt) {
		t.Fatalf("integrated entry: %+v", got)
	}
	if old, err := l.GetEntry(ctx, rc1.ID); err != nil || old.Format != 1 || !bytes.Equal(old.Record, f1) {
		t.Fatalf("format 1 entry after the switch: %v", err)
	}
	if n := counterValue(t, l.recs.foreign); n != 0 {
		t.Fatalf("%v foreign leaves counted in a genuine log", n)
	}
}

func mustEnvelope(t testing.TB, data []byte) *Envelope {
	t.Helper()
	e, err := DecodeEnvelope(data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestForeignLeaf: a leaf queued straight into Trillian, signed with
// another key, is never read back as a decision; it is counted once.
func TestForeignLeaf(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openTestRecords(t, dir)
	reg := prometheus.NewRegistry()
	l := openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) { c.Records, c.Metrics = store, reg })
	other, _ := testSigner(t, l.Origin())
	r, _ := sealDecision(t, l, "forged")
	forged, err := SealCommitted(r, other)
	if err != nil {
		t.Fatal(err)
	}
	// Also bytes of neither format.
	for _, leaf := range [][]byte{forged.Bytes(), []byte("not a record")} {
		if _, err := l.log.QueueLeaf(ctx, &trillian.QueueLeafRequest{LogId: l.treeID, Leaf: &trillian.LogLeaf{LeafValue: leaf}}); err != nil {
			t.Fatal(err)
		}
	}
	_, genuine := sealDecision(t, l, "genuine")
	rc, err := l.AppendSealed(ctx, genuine)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitIntegrated(ctx, rc.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three leaves under a checkpoint", func() bool {
		cp, _ := l.LatestCheckpoint(ctx)
		return cp.Size >= 3
	})
	for _, id := range []ID{forged.ID(), RecordID([]byte("not a record"))} {
		e, err := l.GetEntry(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !e.Foreign || e.Record != nil || e.Type != "" {
			t.Fatalf("foreign leaf read back as %+v", e)
		}
	}
	waitFor(t, "two foreign leaves counted", func() bool { return counterValue(t, l.recs.foreign) == 2 })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := false
	for _, mf := range mfs {
		if mf.GetName() == LedgerMetricsPrefix+"foreign_leaves_total" && mf.GetMetric()[0].GetCounter().GetValue() == 2 {
			exported = true
		}
	}
	if !exported {
		t.Fatal("foreign leaf counter not exported with value 2")
	}
	v, _ := NewLeafVerifier(l.VerifierKey())
	if _, err := OpenLeaf(forged.Bytes(), nil, nil, v); !errors.Is(err, ErrForeign) {
		t.Fatalf("OpenLeaf(forged) = %v", err)
	}
}

// TestReconcileDiscardsRecordsWithoutLeaf: a record put but whose leaf
// never made it is discarded after the grace period; one whose leaf is in
// the log but that was never marked is committed.
func TestReconcileDiscardsRecordsWithoutLeaf(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openTestRecords(t, dir)
	l := openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) {
		c.Records, c.RecordGrace = store, time.Hour // reconcile is called by hand below
	})
	_, orphan := sealDecision(t, l, "orphan")
	salt, rec, _ := orphan.Committed()
	if err := store.Put(ctx, orphan.ID(), salt, rec); err != nil {
		t.Fatal(err)
	}
	// A leaf in the log whose record was put but not committed (as after
	// a crash between the append and the checkpoint).
	_, kept := sealDecision(t, l, "kept")
	ks, kr, _ := kept.Committed()
	if err := store.Put(ctx, kept.ID(), ks, kr); err != nil {
		t.Fatal(err)
	}
	if _, err := l.log.QueueLeaf(ctx, &trillian.QueueLeafRequest{LogId: l.treeID, Leaf: &trillian.LogLeaf{LeafValue: kept.Bytes()}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "leaf integrated", func() bool { cp, _ := l.LatestCheckpoint(ctx); return cp.Size >= 1 })

	// Within the grace period nothing is touched.
	if err := l.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if ids, _ := store.Pending(ctx, time.Now().Add(time.Hour)); len(ids) != 2 {
		t.Fatalf("%d pending within the grace period, want 2", len(ids))
	}
	l.recs.grace = 0
	if err := l.reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Get(ctx, orphan.ID()); !errors.Is(err, recordstore.ErrNotFound) {
		t.Fatalf("orphan record: %v, want discarded", err)
	}
	if _, _, err := store.Get(ctx, kept.ID()); err != nil {
		t.Fatalf("record of a logged leaf: %v", err)
	}
	if ids, _ := store.Pending(ctx, time.Now().Add(time.Hour)); len(ids) != 0 {
		t.Fatalf("%d still pending after reconciliation", len(ids))
	}
}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestEraseEntries: the record is gone, the leaf and its proof remain, the
// erasure record is in the log and names the decision, and the erased
// entry names it; erasing again logs no second erasure record. (Crashes
// between the steps: TestEraseCrashBetweenSteps.)
func TestEraseEntries(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openTestRecords(t, dir)
	l := openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) { c.Records = store })
	var ids []ID
	for _, app := range []string{"erase-me", "crash-me", "keep-me"} {
		_, s := sealDecision(t, l, app)
		rc, err := l.AppendSealed(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.WaitIntegrated(ctx, rc.ID); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rc.ID)
	}
	f1 := newDecisionBytes(t, "clear")
	rc1, err := l.Append(ctx, f1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitIntegrated(ctx, rc1.ID); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	res, err := l.Erase(ctx, ErasureRequest{Decision: ids[0], LegalBasis: "GDPR Art. 17(1)(a)", Requester: "r", Time: at})
	if err != nil || res.Already {
		t.Fatalf("Erase: %+v %v", res, err)
	}
	p, err := l.WaitIntegrated(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	verifyInclusion(t, l, p)
	er, err := l.GetEntry(ctx, res.ID)
	if err != nil {
		t.Fatal(err)
	}
	rec, err := DecodeRecord(er.Data)
	if err != nil || rec.Type != TypeErasure || rec.Erasure.DecisionID != ids[0].String() || rec.Erasure.LegalBasis != "GDPR Art. 17(1)(a)" || !rec.Timestamp.Equal(at) {
		t.Fatalf("erasure record %s: %v", er.Data, err)
	}
	e, err := l.GetEntry(ctx, ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if !e.Erased || e.Record != nil || e.ErasureRecord != res.ID || e.Format != 2 {
		t.Fatalf("erased entry: %+v", e)
	}
	if _, _, err := store.Get(ctx, ids[0]); !errors.Is(err, recordstore.ErrErased) {
		t.Fatalf("store.Get after erasure: %v", err)
	}
	// The leaf and its proof against the latest checkpoint are intact.
	ip, err := l.InclusionProof(ctx, ids[0], 0)
	if err != nil {
		t.Fatal(err)
	}
	verifyInclusion(t, l, ip)
	again, err := l.Erase(ctx, ErasureRequest{Decision: ids[0], LegalBasis: "GDPR Art. 17(1)(a)", Requester: "r", Time: at.Add(time.Hour)})
	if err != nil || !again.Already || again.ID != res.ID {
		t.Fatalf("second Erase: %+v %v, want the first erasure record", again, err)
	}
	done, err := l.Erase(ctx, ErasureRequest{Decision: ids[1], LegalBasis: "GDPR Art. 17(1)(b)", Requester: "r", Time: at.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := l.GetEntry(ctx, ids[1]); !e.Erased || e.ErasureRecord != done.ID {
		t.Fatalf("second decision erased: %+v", e)
	}

	// The third decision is untouched; a format 1 decision cannot be
	// erased.
	if e, err := l.GetEntry(ctx, ids[2]); err != nil || e.Erased || e.Record == nil {
		t.Fatalf("untouched decision: %+v %v", e, err)
	}
	if _, err := l.Erase(ctx, ErasureRequest{Decision: rc1.ID, LegalBasis: "GDPR Art. 17", Requester: "r", Time: at}); !errors.Is(err, ErrNotErasable) {
		t.Fatalf("Erase(format 1) = %v, want ErrNotErasable", err)
	}
	// Only two erasure records were logged.
	waitFor(t, "erasure records integrated", func() bool { return l.Pending() == 0 })
	cp, _ := l.LatestCheckpoint(ctx)
	entries, err := l.Entries(ctx, 0, int(cp.Size))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Type == TypeErasure {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d erasure records in the log, want 2", n)
	}
}

func TestErasureRecordEncoding(t *testing.T) {
	r, err := NewRecord(testTime, &Erasure{DecisionID: strings.Repeat("ab", 32), LegalBasis: "Art. 17 <\"x\">"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(r.Erasure)
	plain, _ := json.Marshal(wireRecord{Format: 1, Type: TypeErasure, Timestamp: testTime.Format(timestampLayout), Body: body})
	want, err := jcs.Transform(plain)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("erasure encoding\n got %s\nwant %s", got, want)
	}
	if back, err := DecodeRecord(got); err != nil || *back.Erasure != *r.Erasure {
		t.Fatalf("round trip: %v", err)
	}
	for _, bad := range []*Erasure{{DecisionID: "ab", LegalBasis: "x"}, {DecisionID: strings.Repeat("AB", 32), LegalBasis: "x"}, {DecisionID: strings.Repeat("ab", 32)}, {DecisionID: strings.Repeat("ab", 32), LegalBasis: strings.Repeat("x", MaxLegalBasis+1)}} {
		if _, err := NewRecord(testTime, bad); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("NewRecord(%+v) = %v", bad, err)
		}
	}
}

// TestRecordStoreFullDisk: with the record store's disk full (a real
// tmpfs, the log on another disk), appends are refused as not recorded,
// nothing reaches the log, and the ledger is not ready; once space is
// freed it is ready again without traffic, and appends succeed.
func TestRecordStoreFullDisk(t *testing.T) {
	ctx := context.Background()
	disk := tmpfs.Mount(t, "4m")
	store := openTestRecords(t, disk)
	l := openTestLedger(t, filepath.Join(t.TempDir(), "ledger"), func(c *EmbeddedConfig) { c.Records = store })
	if err := l.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(disk, "filler")
	tmpfs.Fill(t, filler)
	var refused []ID
	for i := 0; len(refused) == 0 && i < 2000; i++ {
		_, s := sealDecision(t, l, fmt.Sprintf("full-%d", i))
		if _, err := l.AppendSealed(ctx, s); err != nil {
			if !errors.Is(err, ErrNotRecorded) {
				t.Fatalf("append on a full record store: %v, want ErrNotRecorded", err)
			}
			refused = append(refused, s.ID())
		}
	}
	if len(refused) == 0 {
		t.Fatal("no append refused with the record store's disk full")
	}
	if err := l.Ready(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ready with the record store's disk full: %v", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "ready after space was freed", func() bool { return l.Ready(ctx) == nil })
	_, s := sealDecision(t, l, "after")
	rc, err := l.AppendSealed(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitIntegrated(ctx, rc.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "log settled", func() bool { return l.Pending() == 0 })
	cp, _ := l.LatestCheckpoint(ctx)
	for _, id := range refused {
		if _, err := l.InclusionProof(ctx, id, cp.Size); !errors.Is(err, ErrNotFound) {
			t.Errorf("refused decision %s: %v, want not in the log", id, err)
		}
	}
}
