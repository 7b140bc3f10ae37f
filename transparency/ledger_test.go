package transparency

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/sync/errgroup"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// openTestLedger opens an embedded ledger (default SQLite storage) in dir
// with short intervals so tests do not wait long for integration.
func openTestLedger(t testing.TB, dir string, mod ...func(*EmbeddedConfig)) *Ledger {
	t.Helper()
	cfg := EmbeddedConfig{DataDir: dir, IntegrationInterval: 50 * time.Millisecond, Logger: quietLogger()}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l, err := OpenEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("OpenEmbedded: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// newDecisionBytes returns a fresh canonical decision record.
func newDecisionBytes(t testing.TB, app string) []byte {
	t.Helper()
	d := testDecision()
	d.ApplicationID = app
	d.Nonce = ""
	r, err := NewRecord(time.Now(), d)
	if err != nil {
		t.Fatal(err)
	}
	return mustEncode(t, r)
}

// signedRoot opens a checkpoint note with only x/mod's note package and
// parses the C2SP body by hand, so the tests do not trust the package's own
// parser.
func signedRoot(t testing.TB, signed []byte, vkey string) (size uint64, root []byte) {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		t.Fatalf("note.Open: %v\n%s", err, signed)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		t.Fatalf("checkpoint body is not three lines: %q", n.Text)
	}
	size, err = strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("checkpoint size: %v", err)
	}
	root, err = base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != 32 {
		t.Fatalf("checkpoint root %q: %v", lines[2], err)
	}
	return size, root
}

func verifyInclusion(t testing.TB, l *Ledger, p *InclusionProof) {
	t.Helper()
	if p.Checkpoint == nil {
		t.Fatalf("proof for %s has no checkpoint", p.ID)
	}
	size, root := signedRoot(t, p.Checkpoint.Note, l.VerifierKey())
	if size != p.TreeSize {
		t.Fatalf("proof for size %d, checkpoint size %d", p.TreeSize, size)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.LeafIndex, size, p.ID[:], p.Hashes, root); err != nil {
		t.Fatalf("inclusion of %s at %d in %d: %v", p.ID, p.LeafIndex, size, err)
	}
}

func verifyConsistency(t testing.TB, l *Ledger, older, newer []byte) {
	t.Helper()
	size1, root1 := signedRoot(t, older, l.VerifierKey())
	size2, root2 := signedRoot(t, newer, l.VerifierKey())
	cp, err := l.ConsistencyProof(context.Background(), size1, size2)
	if err != nil {
		t.Fatalf("ConsistencyProof(%d, %d): %v", size1, size2, err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, size2, cp.Hashes, root1, root2); err != nil {
		t.Fatalf("consistency %d→%d: %v", size1, size2, err)
	}
}

func TestAppendConcurrentlyAndVerifyEveryProof(t *testing.T) {
	n, workers := 3000, 64
	if testing.Short() {
		n = 300
	}
	l := openTestLedger(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	proofs := make([]*InclusionProof, n)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := range n {
		g.Go(func() error {
			rec := newDecisionBytes(t, fmt.Sprintf("app-%d", i))
			rc, err := l.Append(gctx, rec)
			if err != nil {
				return fmt.Errorf("append %d: %w", i, err)
			}
			if rc.ID != RecordID(rec) || rc.Duplicate {
				return fmt.Errorf("append %d: receipt %+v", i, rc)
			}
			p, err := l.WaitIntegrated(gctx, rc.ID)
			if err != nil {
				return fmt.Errorf("wait %d: %w", i, err)
			}
			proofs[i] = p
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	indexes := map[uint64]bool{}
	for _, p := range proofs {
		verifyInclusion(t, l, p)
		if indexes[p.LeafIndex] {
			t.Fatalf("leaf index %d proven twice", p.LeafIndex)
		}
		indexes[p.LeafIndex] = true
	}

	// Every checkpoint ever signed must extend the one before it.
	latest, _ := l.LatestCheckpoint(ctx)
	sizes, err := l.CheckpointSizes(ctx, 0, latest.Size, MaxEntriesPerRequest)
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) < 2 {
		t.Fatalf("only %d checkpoints signed", len(sizes))
	}
	var prev *Checkpoint
	for _, s := range sizes {
		cp, err := l.CheckpointAt(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			verifyConsistency(t, l, prev.Note, cp.Note)
		}
		prev = cp
	}
	if prev.Size != latest.Size || prev.Size < uint64(n) {
		t.Fatalf("last checkpoint size %d, latest %d, appended %d", prev.Size, latest.Size, n)
	}
	t.Logf("%d records, %d checkpoints, final size %d", n, len(sizes), latest.Size)
}

func TestAppendDuplicate(t *testing.T) {
	l := openTestLedger(t, t.TempDir())
	ctx := context.Background()
	rec := newDecisionBytes(t, "dup")

	// Concurrent duplicates while the first copy is still queued.
	receipts := make([]Receipt, 8)
	var wg sync.WaitGroup
	for i := range receipts {
		wg.Go(func() {
			rc, err := l.Append(ctx, rec)
			if err != nil {
				t.Errorf("append: %v", err)
			}
			receipts[i] = rc
		})
	}
	wg.Wait()
	fresh := 0
	for _, rc := range receipts {
		if rc.ID != RecordID(rec) {
			t.Fatalf("receipt id %s, want %s", rc.ID, RecordID(rec))
		}
		if !rc.Duplicate {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d appends were not marked duplicate, want exactly 1", fresh)
	}
	p, err := l.WaitIntegrated(ctx, RecordID(rec))
	if err != nil {
		t.Fatal(err)
	}
	// And once it is integrated.
	rc, err := l.Append(ctx, rec)
	if err != nil || !rc.Duplicate || rc.ID != p.ID {
		t.Fatalf("append after integration = %+v, %v", rc, err)
	}
	if got := len(l.pending); got != 0 {
		t.Errorf("%d pending entries leaked", got)
	}
	cp, _ := l.LatestCheckpoint(ctx)
	if cp.Size != 1 {
		t.Errorf("tree size %d after duplicates, want 1", cp.Size)
	}
}

func TestGetEntryQueuedThenIntegrated(t *testing.T) {
	// A slow sequencer keeps the record queued long enough to see it.
	l := openTestLedger(t, t.TempDir(), func(c *EmbeddedConfig) { c.IntegrationInterval = 700 * time.Millisecond })
	ctx := context.Background()
	rec := newDecisionBytes(t, "status")
	rc, err := l.Append(ctx, rec)
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.GetEntry(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != StatusQueued || !bytes.Equal(e.Data, rec) || e.Type != TypeDecision {
		t.Errorf("before integration: status %s, type %s, same bytes %v", e.Status, e.Type, bytes.Equal(e.Data, rec))
	}
	p, err := l.WaitIntegrated(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	verifyInclusion(t, l, p)
	e, err = l.GetEntry(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != StatusIntegrated || !bytes.Equal(e.Data, rec) || e.Index != p.LeafIndex || e.Type != TypeDecision {
		t.Errorf("after integration: %+v", e)
	}
	entries, err := l.Entries(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || !bytes.Equal(entries[0].Data, rec) || entries[0].ID != rc.ID || entries[0].Type != TypeDecision {
		t.Errorf("Entries(0, 10) = %+v", entries)
	}
	// Proof against the latest checkpoint, asked for explicitly.
	p2, err := l.InclusionProof(ctx, rc.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	verifyInclusion(t, l, p2)
}

func TestBadInput(t *testing.T) {
	l := openTestLedger(t, t.TempDir())
	ctx := context.Background()
	var last ID
	for i := range 5 {
		rc, err := l.Append(ctx, newDecisionBytes(t, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		last = rc.ID
	}
	if _, err := l.WaitIntegrated(ctx, last); err != nil {
		t.Fatal(err)
	}
	cp, _ := l.LatestCheckpoint(ctx)
	unknown := RecordID([]byte("never logged"))
	nonCanonical := append(newDecisionBytes(t, "x"), ' ')

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"garbage hex id", func() error { _, err := ParseID("not-a-hex-id"); return err }, ErrInvalidArgument},
		{"unknown id entry", func() error { _, err := l.GetEntry(ctx, unknown); return err }, ErrNotFound},
		{"unknown id proof", func() error { _, err := l.InclusionProof(ctx, unknown, 0); return err }, ErrNotFound},
		{"proof size beyond tree", func() error { _, err := l.InclusionProof(ctx, last, cp.Size+1); return err }, ErrInvalidArgument},
		{"proof size before leaf", func() error { _, err := l.InclusionProof(ctx, last, 1); return err }, ErrNotFound},
		{"consistency first > second", func() error { _, err := l.ConsistencyProof(ctx, 3, 2); return err }, ErrInvalidArgument},
		{"consistency beyond tree", func() error { _, err := l.ConsistencyProof(ctx, 1, cp.Size+10); return err }, ErrInvalidArgument},
		{"entries count zero", func() error { _, err := l.Entries(ctx, 0, 0); return err }, ErrInvalidArgument},
		{"entries count too large", func() error { _, err := l.Entries(ctx, 0, MaxEntriesPerRequest+1); return err }, ErrInvalidArgument},
		{"entries start beyond tree", func() error { _, err := l.Entries(ctx, cp.Size, 1); return err }, ErrInvalidArgument},
		{"checkpoint never signed", func() error { _, err := l.CheckpointAt(ctx, cp.Size+1); return err }, ErrNotFound},
		{"append non-canonical", func() error { _, err := l.Append(ctx, nonCanonical); return err }, ErrInvalidRecord},
		{"append garbage", func() error { _, err := l.Append(ctx, []byte("\x00\x01")); return err }, ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			t.Log(err)
		})
	}

	// The edges that are not errors.
	if p, err := l.ConsistencyProof(ctx, 0, cp.Size); err != nil || len(p.Hashes) != 0 {
		t.Errorf("ConsistencyProof(0, n) = %+v, %v", p, err)
	}
	if p, err := l.ConsistencyProof(ctx, cp.Size, cp.Size); err != nil || len(p.Hashes) != 0 {
		t.Errorf("ConsistencyProof(n, n) = %+v, %v", p, err)
	}
	if es, err := l.Entries(ctx, cp.Size-1, MaxEntriesPerRequest); err != nil || len(es) != 1 {
		t.Errorf("Entries at the end = %d entries, %v", len(es), err)
	}
}

func TestRestartKeepsTreeKeyAndHistory(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	cfg := EmbeddedConfig{DataDir: dir, IntegrationInterval: 50 * time.Millisecond, Logger: quietLogger()}

	l1, err := OpenEmbedded(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var ids []ID
	for i := range 20 {
		rc, err := l1.Append(ctx, newDecisionBytes(t, fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, rc.ID)
	}
	if _, err := l1.WaitIntegrated(ctx, ids[len(ids)-1]); err != nil {
		t.Fatal(err)
	}
	before, _ := l1.LatestCheckpoint(ctx)
	treeID, vkey := l1.TreeID(), l1.VerifierKey()
	if err := l1.Close(); err != nil {
		t.Fatal(err)
	}

	l2 := openTestLedger(t, dir)
	if l2.TreeID() != treeID || l2.VerifierKey() != vkey || l2.Origin() != DefaultOrigin(treeID) {
		t.Fatalf("after restart tree %d key %q origin %q; before tree %d key %q", l2.TreeID(), l2.VerifierKey(), l2.Origin(), treeID, vkey)
	}
	for _, id := range ids {
		p, err := l2.InclusionProof(ctx, id, 0)
		if err != nil {
			t.Fatal(err)
		}
		verifyInclusion(t, l2, p)
	}
	rc, err := l2.Append(ctx, newDecisionBytes(t, "after"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := l2.WaitIntegrated(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	verifyConsistency(t, l2, before.Note, p.Checkpoint.Note)
	if old, err := l2.CheckpointAt(ctx, before.Size); err != nil || !bytes.Equal(old.Note, before.Note) {
		t.Errorf("checkpoint %d not kept across restart: %v", before.Size, err)
	}
}

func TestOriginChangeRefused(t *testing.T) {
	dir := t.TempDir()
	l := openTestLedger(t, dir, func(c *EmbeddedConfig) { c.Origin = "example.test/a" })
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := OpenEmbedded(context.Background(), EmbeddedConfig{DataDir: dir, Origin: "example.test/b", Logger: quietLogger()})
	if !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("reopening with another origin: %v, want ErrInvalidArgument", err)
	}
}

// TestRemote drives an embedded Trillian through OpenRemote, as glassbox
// would a separately deployed one: same client interface, separate
// checkpoint key and history.
func TestRemote(t *testing.T) {
	embedded := openTestLedger(t, t.TempDir())
	ctx := context.Background()
	remote, err := OpenRemote(ctx, RemoteConfig{
		Client: embedded.log, TreeID: embedded.TreeID(), DataDir: t.TempDir(),
		Origin: "remote.example/log", CheckpointInterval: 20 * time.Millisecond, Logger: quietLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	if remote.VerifierKey() == embedded.VerifierKey() {
		t.Fatal("remote ledger reused the embedded ledger's key")
	}
	rc, err := remote.Append(ctx, newDecisionBytes(t, "remote"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := remote.WaitIntegrated(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	verifyInclusion(t, remote, p)
	cp, err := OpenCheckpoint(p.Checkpoint.Note, remote.VerifierKey(), "remote.example/log")
	if err != nil || cp.Size != p.TreeSize {
		t.Fatalf("OpenCheckpoint = %+v, %v", cp, err)
	}
	// The same leaf is provable through the embedded ledger's own checkpoints.
	p2, err := embedded.WaitIntegrated(ctx, rc.ID)
	if err != nil {
		t.Fatal(err)
	}
	verifyInclusion(t, embedded, p2)

	for _, cfg := range []RemoteConfig{{}, {Client: embedded.log}, {Client: embedded.log, TreeID: 1}} {
		if _, err := OpenRemote(ctx, cfg); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("OpenRemote(%+v) = %v, want ErrInvalidArgument", cfg, err)
		}
	}
}

func TestCheckpointSignerInvariants(t *testing.T) {
	ctx := context.Background()
	s, err := openCheckpointSigner(ctx, t.TempDir(), "example.test/log")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	leaf := func(i int) []byte { return rfc6962.DefaultHasher.HashLeaf([]byte{byte(i)}) }
	root1 := leaf(0)
	root2 := rfc6962.DefaultHasher.HashChildren(leaf(0), leaf(1))
	if _, err := s.sign(ctx, 1, root1, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		size  uint64
		root  []byte
		proof [][]byte
		want  error
	}{
		{"smaller tree", 0, rfc6962.DefaultHasher.EmptyRoot(), nil, ErrInconsistent},
		{"fork at same size", 1, leaf(9), nil, ErrInconsistent},
		{"bad consistency proof", 2, root2, [][]byte{leaf(7)}, ErrInconsistent},
		{"same root again", 1, root1, nil, nil},
		{"valid extension", 2, root2, [][]byte{leaf(1)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.sign(ctx, tt.size, tt.root, tt.proof)
			if !errors.Is(err, tt.want) {
				t.Fatalf("sign(%d) = %v, want %v", tt.size, err, tt.want)
			}
		})
	}
	sizes, err := s.sizes(ctx, 0, 10, 10)
	if err != nil || !slices.Equal(sizes, []uint64{1, 2}) {
		t.Fatalf("signed sizes %v, %v; want [1 2]", sizes, err)
	}
}

// TestAppendSealed: a sealed record is the exact bytes Encode makes, is
// logged under its leaf hash and proves like any other; a zero Sealed is
// refused.
func TestAppendSealed(t *testing.T) {
	l := openTestLedger(t, t.TempDir())
	ctx := context.Background()
	r := mustRecord(t, testDecision())
	sealed, err := r.Seal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sealed.Bytes(), mustEncode(t, r)) || sealed.ID() != RecordID(sealed.Bytes()) {
		t.Fatal("sealed bytes or id differ from Encode")
	}
	rc, err := l.AppendSealed(ctx, sealed)
	if err != nil || rc.ID != sealed.ID() || rc.Duplicate {
		t.Fatalf("AppendSealed = %+v, %v", rc, err)
	}
	// The same record through the checking path is a duplicate.
	if rc, err := l.Append(ctx, sealed.Bytes()); err != nil || !rc.Duplicate {
		t.Fatalf("Append of the sealed bytes = %+v, %v", rc, err)
	}
	p, err := l.WaitIntegrated(ctx, sealed.ID())
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.GetEntry(ctx, sealed.ID())
	if err != nil || !bytes.Equal(e.Data, sealed.Bytes()) || p.LeafIndex != e.Index {
		t.Fatalf("entry %+v, %v", e, err)
	}
	if _, err := l.AppendSealed(ctx, Sealed{}); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("zero Sealed: %v", err)
	}
}
