package transparency

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
)

// appendDecision seals, appends and waits for a format 2 decision.
func appendDecision(t *testing.T, l *Ledger, app string) ID {
	t.Helper()
	_, s := sealDecision(t, l, app)
	rc, err := l.AppendSealed(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitIntegrated(context.Background(), rc.ID); err != nil {
		t.Fatal(err)
	}
	return rc.ID
}

// erasureLeaves counts the erasure records of decision in the log, read
// leaf by leaf and decoded independently of the ledger.
func erasureLeaves(t *testing.T, l *Ledger, decision ID) (n int, last ID) {
	t.Helper()
	cp, _ := l.LatestCheckpoint(context.Background())
	for start := uint64(0); start < cp.Size; start += MaxEntriesPerRequest {
		es, err := l.Entries(context.Background(), start, MaxEntriesPerRequest)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if LeafFormat(e.Data) != RecordFormat {
				continue
			}
			r, err := DecodeRecord(e.Data)
			if err != nil {
				t.Fatal(err)
			}
			if r.Type == TypeErasure && r.Erasure.DecisionID == decision.String() {
				n++
				last = e.ID
			}
		}
	}
	return n, last
}

func TestErase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openTestRecords(t, dir)
	l := openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) { c.Records = store })
	id := appendDecision(t, l, "erase-me")
	other := appendDecision(t, l, "keep-me")
	before, _ := l.LatestCheckpoint(ctx)
	beforeProof, err := l.InclusionProof(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	leafBefore, err := l.GetEntry(ctx, id)
	if err != nil || leafBefore.Record == nil {
		t.Fatalf("before erasure: %v, record %v", err, leafBefore)
	}

	at := time.Date(2026, 12, 4, 20, 0, 0, 0, time.UTC)
	info, err := l.Erase(ctx, ErasureRequest{Decision: id, LegalBasis: "GDPR Art. 17(1)(a)", Requester: "Jane Applicant", Time: at})
	if err != nil {
		t.Fatal(err)
	}
	if info.Already || info.Record.Erasure.DecisionID != id.String() || info.Record.Erasure.LegalBasis != "GDPR Art. 17(1)(a)" || !info.Record.Timestamp.Equal(at) {
		t.Fatalf("erasure %+v %+v", info, info.Record.Erasure)
	}
	if bytes.Contains(info.Data, []byte("Jane")) {
		t.Fatalf("the erasure record names the requester: %s", info.Data)
	}
	if _, err := l.WaitIntegrated(ctx, info.ID); err != nil {
		t.Fatal(err)
	}

	// The record is gone, the leaf is not.
	e, err := l.GetEntry(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Erased || e.Record != nil || e.Salt != nil || !bytes.Equal(e.Data, leafBefore.Data) || e.Index != leafBefore.Index {
		t.Fatalf("after erasure: erased %v record %q, leaf changed %v", e.Erased, e.Record, !bytes.Equal(e.Data, leafBefore.Data))
	}
	if _, _, err := store.Get(ctx, id); !errors.Is(err, recordstore.ErrErased) {
		t.Fatalf("store: %v, want ErrErased", err)
	}
	if e, err := l.GetEntry(ctx, other); err != nil || e.Erased || e.Record == nil {
		t.Fatalf("another decision: %v %+v", err, e)
	}

	// Every proof still verifies, checked with the library against the
	// signed roots.
	after, _ := l.LatestCheckpoint(ctx)
	p, err := l.InclusionProof(ctx, id, after.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, after.Size, rfc6962.DefaultHasher.HashLeaf(e.Data), p.Hashes, after.Root); err != nil {
		t.Fatalf("inclusion after erasure: %v", err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, beforeProof.LeafIndex, before.Size, rfc6962.DefaultHasher.HashLeaf(e.Data), beforeProof.Hashes, before.Root); err != nil {
		t.Fatalf("inclusion before erasure: %v", err)
	}
	cons, err := l.ConsistencyProof(ctx, before.Size, after.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, before.Size, after.Size, cons.Hashes, before.Root, after.Root); err != nil {
		t.Fatalf("consistency across the erasure: %v", err)
	}
	if n, last := erasureLeaves(t, l, id); n != 1 || last != info.ID {
		t.Fatalf("%d erasure records in the log (last %s), want 1 (%s)", n, last, info.ID)
	}

	// Idempotent: the same erasure again, nothing appended.
	again, err := l.Erase(ctx, ErasureRequest{Decision: id, LegalBasis: "another basis", Requester: "someone else"})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Already || again.ID != info.ID {
		t.Fatalf("second erasure: already %v id %s, want the first %s", again.Already, again.ID, info.ID)
	}
	got, err := l.Erasure(ctx, id)
	if err != nil || got.ID != info.ID {
		t.Fatalf("Erasure: %v %v", got, err)
	}
	if _, err := l.Erasure(ctx, other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Erasure of a kept decision: %v, want ErrNotFound", err)
	}
	// Related records are shredded only for an erased decision.
	if err := l.EraseRelated(ctx, other, other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("EraseRelated of a kept decision: %v, want ErrNotFound", err)
	}
	if e, err := l.GetEntry(ctx, other); err != nil || e.Erased {
		t.Fatalf("a refused EraseRelated touched the record: %v %+v", err, e)
	}
	if err := l.EraseRelated(ctx, id, other, ID{9}); err != nil {
		t.Fatal(err)
	}
	if e, err := l.GetEntry(ctx, other); err != nil || !e.Erased {
		t.Fatalf("EraseRelated: %v %+v", err, e)
	}
	time.Sleep(200 * time.Millisecond) // a second erasure record would be integrated by now
	if n, _ := erasureLeaves(t, l, id); n != 1 {
		t.Fatalf("%d erasure records after the repeat, want 1", n)
	}
	if ids, _ := store.Pending(ctx, time.Now().Add(time.Hour)); len(ids) != 0 {
		t.Fatalf("%d records left pending (an unfinished journal?)", len(ids))
	}
}

func TestEraseRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	// A format 1 decision, written before the record store.
	l1 := openTestLedger(t, filepath.Join(dir, "ledger"))
	rc1, err := l1.Append(ctx, newDecisionBytes(t, "in-clear"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l1.WaitIntegrated(ctx, rc1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := l1.Erase(ctx, ErasureRequest{Decision: rc1.ID, LegalBasis: "b", Requester: "r"}); !errors.Is(err, ErrNotErasable) {
		t.Fatalf("erasure without a record store: %v, want ErrNotErasable", err)
	}
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}

	store := openTestRecords(t, dir)
	l := openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) { c.Records = store })
	gov, err := NewRecord(time.Now(), &ModelAdmitted{Model: ModelRef{ID: "m", SHA256: strings.Repeat("0f", 32)}})
	if err != nil {
		t.Fatal(err)
	}
	sg, err := l.Seal(gov)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendSealed(ctx, sg); err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitIntegrated(ctx, sg.ID()); err != nil {
		t.Fatal(err)
	}
	f2 := appendDecision(t, l, "format-2")
	size, _ := l.LatestCheckpoint(ctx)

	cases := []struct {
		name string
		req  ErasureRequest
		want error
	}{
		{"format 1 decision", ErasureRequest{Decision: rc1.ID, LegalBasis: "b", Requester: "r"}, ErrNotErasable},
		{"governance record", ErasureRequest{Decision: sg.ID(), LegalBasis: "b", Requester: "r"}, ErrNotErasable},
		{"unknown id", ErasureRequest{Decision: ID{1, 2, 3}, LegalBasis: "b", Requester: "r"}, ErrNotFound},
		{"no basis", ErasureRequest{Decision: f2, Requester: "r"}, ErrInvalidArgument},
		{"blank basis", ErasureRequest{Decision: f2, LegalBasis: "  ", Requester: "r"}, ErrInvalidArgument},
		{"no requester", ErasureRequest{Decision: f2, LegalBasis: "b"}, ErrInvalidArgument},
		{"basis too long", ErasureRequest{Decision: f2, LegalBasis: strings.Repeat("é", MaxLegalBasis+1), Requester: "r"}, ErrInvalidArgument},
		{"control character", ErasureRequest{Decision: f2, LegalBasis: "a\nb", Requester: "r"}, ErrInvalidArgument},
	}
	for _, tc := range cases {
		if _, err := l.Erase(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// Nothing was appended, nothing erased, nothing journalled.
	time.Sleep(200 * time.Millisecond)
	if now, _ := l.LatestCheckpoint(ctx); now.Size != size.Size || l.Pending() != 0 {
		t.Fatalf("refusals changed the log: size %d → %d, %d pending", size.Size, now.Size, l.Pending())
	}
	if e, err := l.GetEntry(ctx, f2); err != nil || e.Erased || e.Record == nil {
		t.Fatalf("refused erasure touched the record: %v %+v", err, e)
	}
	if ids, _ := store.Pending(ctx, time.Now().Add(time.Hour)); len(ids) != 0 {
		t.Fatalf("refusals left %d records in the store", len(ids))
	}
}

// TestEraseCrashBetweenSteps cuts an erasure short after each step (a
// seam: a real crash cannot be timed to fall between two of them) and
// checks that the state is consistent and that a retry, the next
// start-up or reconciliation completes it with the same erasure record.
//
// It runs on the SQLite record store and, for the production path, on
// MariaDB.
func TestEraseCrashBetweenSteps(t *testing.T) {
	errCrash := errors.New("simulated crash")
	backends := []struct {
		name string
		open func(t *testing.T, dir string) *recordstore.Store
	}{
		{"sqlite", func(t *testing.T, dir string) *recordstore.Store { return openTestRecords(t, dir) }},
		{"mariadb", openMariaDBRecords},
	}
	for _, b := range backends {
		for _, step := range []string{eraseStepAppended, eraseStepShredded} {
			for _, recovery := range []string{"retry", "restart", "reconcile"} {
				t.Run(b.name+"/"+step+"/"+recovery, func(t *testing.T) {
					testEraseCrash(t, b.open, step, recovery, errCrash)
				})
			}
		}
	}
}

func testEraseCrash(t *testing.T, openStore func(*testing.T, string) *recordstore.Store, step, recovery string, errCrash error) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openStore(t, dir)
	open := func() *Ledger {
		return openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) { c.Records, c.RecordGrace = store, time.Hour })
	}
	l := open()
	id := appendDecision(t, l, "crash")
	l.eraseSeam = func(s string) error {
		if s == step {
			return errCrash
		}
		return nil
	}
	if _, err := l.Erase(ctx, ErasureRequest{Decision: id, LegalBasis: "GDPR Art. 17", Requester: "r"}); !errors.Is(err, errCrash) {
		t.Fatalf("Erase: %v, want the crash", err)
	}
	l.eraseSeam = nil
	// The erasure record is in the log at once: it was
	// appended first.
	waitFor(t, "erasure record integrated", func() bool { n, _ := erasureLeaves(t, l, id); return n == 1 })
	_, first := erasureLeaves(t, l, id)
	_, _, err := store.Get(ctx, id)
	switch step {
	case eraseStepAppended:
		// Announced, not yet done: the record is still
		// there for the recovery to shred.
		if err != nil {
			t.Fatalf("record after a crash before shredding: %v", err)
		}
	case eraseStepShredded:
		if !errors.Is(err, recordstore.ErrErased) {
			t.Fatalf("record after shredding: %v", err)
		}
	}

	switch recovery {
	case "retry":
		info, err := l.Erase(ctx, ErasureRequest{Decision: id, LegalBasis: "other", Requester: "other"})
		if err != nil || info.ID != first || !info.Already {
			t.Fatalf("retry: %v %+v, want the first erasure %s", err, info, first)
		}
	case "restart":
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l = open()
	case "reconcile":
		l.recs.grace = 0
		if err := l.reconcile(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := store.Get(ctx, id); !errors.Is(err, recordstore.ErrErased) {
		t.Fatalf("after %s: record %v, want erased", recovery, err)
	}
	if e, err := l.GetEntry(ctx, id); err != nil || !e.Erased {
		t.Fatalf("after %s: entry %v %+v", recovery, err, e)
	}
	if ids, _ := store.Pending(ctx, time.Now().Add(time.Hour)); len(ids) != 0 {
		t.Fatalf("after %s: %d records pending, want the journal committed", recovery, len(ids))
	}
	info, err := l.Erasure(ctx, id)
	if err != nil || info.ID != first {
		t.Fatalf("after %s: erasure %v %v, want %s", recovery, info, err, first)
	}
	time.Sleep(200 * time.Millisecond)
	if n, _ := erasureLeaves(t, l, id); n != 1 {
		t.Fatalf("after %s: %d erasure records, want 1", recovery, n)
	}
}

// openMariaDBRecords opens a record store in a MariaDB database of its own
// (gb_er_ and random hex), dropped when the test ends; without a reachable
// MariaDB the test is skipped (outside CI).
func openMariaDBRecords(t *testing.T, dir string) *recordstore.Store {
	t.Helper()
	root := mysql.NewConfig()
	root.User, root.Net, root.Addr, root.Timeout = "root", "tcp", "127.0.0.1:3306", 2*time.Second
	admin, err := sql.Open("mysql", root.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	if err := admin.PingContext(t.Context()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("MariaDB is not reachable: %v", err)
		}
		t.Skipf("MariaDB is not reachable: %v", err)
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	name := "gb_er_" + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE `"+name+"`"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	kek, err := recordstore.CreateKEK(filepath.Join(dir, "records.kek"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := root.Clone()
	cfg.DBName = name
	s, err := recordstore.OpenMariaDB(t.Context(), cfg.FormatDSN(), kek)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestEraseConcurrently: simultaneous erasures of one decision agree on
// one erasure record, and the log gets it once.
func TestEraseConcurrently(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := openTestRecords(t, dir)
	l := openTestLedger(t, filepath.Join(dir, "ledger"), func(c *EmbeddedConfig) { c.Records = store })
	id := appendDecision(t, l, "raced")
	const n = 8
	ids := make([]ID, n)
	fresh := make([]bool, n)
	errs := make([]error, n)
	done := make(chan int)
	for i := range n {
		go func() {
			info, err := l.Erase(ctx, ErasureRequest{Decision: id, LegalBasis: fmt.Sprintf("basis %d", i), Requester: "r", Time: time.Now().Add(time.Duration(i) * time.Second)})
			if err == nil {
				ids[i], fresh[i] = info.ID, !info.Already
			}
			errs[i] = err
			done <- i
		}()
	}
	for range n {
		<-done
	}
	created := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("erasure %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Fatalf("erasure %d answered %s, erasure 0 %s", i, ids[i], ids[0])
		}
		if fresh[i] {
			created++
		}
	}
	if created != 1 {
		t.Fatalf("%d erasures say they created the record, want 1", created)
	}
	waitFor(t, "erasure record integrated", func() bool { n, _ := erasureLeaves(t, l, id); return n >= 1 })
	time.Sleep(200 * time.Millisecond)
	if got, last := erasureLeaves(t, l, id); got != 1 || last != ids[0] {
		t.Fatalf("%d erasure records in the log (last %s), want 1 (%s)", got, last, ids[0])
	}
}
