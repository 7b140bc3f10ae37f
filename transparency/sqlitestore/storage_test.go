package sqlitestore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/log"
	"github.com/google/trillian/monitoring"
	"github.com/google/trillian/quota"
	"github.com/google/trillian/storage"
	"github.com/google/trillian/storage/testonly"
	"github.com/google/trillian/storage/tree"
	"github.com/google/trillian/types"
	"github.com/google/trillian/util/clock"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// newLeaf returns a leaf whose identity is derived from value, as a
// personality would.
func newLeaf(value string) *trillian.LogLeaf {
	id := sha256.Sum256([]byte(value))
	return &trillian.LogLeaf{
		LeafIdentityHash: id[:],
		MerkleLeafHash:   rfc6962.DefaultHasher.HashLeaf([]byte(value)),
		LeafValue:        []byte(value),
		ExtraData:        []byte("extra:" + value),
	}
}

func newLeaves(prefix string, n int) []*trillian.LogLeaf {
	out := make([]*trillian.LogLeaf, n)
	for i := range out {
		out[i] = newLeaf(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// newLog creates an initialised LOG tree with an empty root.
func newLog(ctx context.Context, tb testing.TB, p *Provider) *trillian.Tree {
	tb.Helper()
	tr, err := storage.CreateTree(ctx, p.AdminStorage(), testonly.LogTree)
	if err != nil {
		tb.Fatalf("CreateTree() = %v", err)
	}
	storeRoot(ctx, tb, p.LogStorage(), tr, &types.LogRootV1{
		RootHash:       rfc6962.DefaultHasher.EmptyRoot(),
		TimestampNanos: uint64(time.Now().UnixNano()),
	})
	return tr
}

func storeRoot(ctx context.Context, tb testing.TB, ls storage.LogStorage, tr *trillian.Tree, root *types.LogRootV1) {
	tb.Helper()
	raw, err := root.MarshalBinary()
	if err != nil {
		tb.Fatalf("MarshalBinary() = %v", err)
	}
	if err := ls.ReadWriteTransaction(ctx, tr, func(ctx context.Context, tx storage.LogTreeTX) error {
		return tx.StoreSignedLogRoot(ctx, &trillian.SignedLogRoot{LogRoot: raw})
	}); err != nil {
		tb.Fatalf("StoreSignedLogRoot() = %v", err)
	}
}

func latestRoot(ctx context.Context, tb testing.TB, ls storage.LogStorage, tr *trillian.Tree) types.LogRootV1 {
	tb.Helper()
	tx, err := ls.SnapshotForTree(ctx, tr)
	if err != nil {
		tb.Fatalf("SnapshotForTree() = %v", err)
	}
	defer func() { _ = tx.Close() }()
	slr, err := tx.LatestSignedLogRoot(ctx)
	if err != nil {
		tb.Fatalf("LatestSignedLogRoot() = %v", err)
	}
	var root types.LogRootV1
	if err := root.UnmarshalBinary(slr.LogRoot); err != nil {
		tb.Fatalf("UnmarshalBinary() = %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		tb.Fatalf("Commit() = %v", err)
	}
	return root
}

// integrate runs Trillian's own sequencer over the queue until it is empty.
func integrate(ctx context.Context, tb testing.TB, ls storage.LogStorage, tr *trillian.Tree, batch int) int {
	tb.Helper()
	log.InitMetrics(monitoring.InertMetricFactory{})
	total := 0
	for {
		n, err := log.IntegrateBatch(ctx, tr, batch, 0, time.Hour, clock.System, ls, quota.Noop())
		if err != nil {
			tb.Fatalf("IntegrateBatch() = %v", err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
}

// sequenced returns leaves in the order they were integrated. Leaves queued
// with the same timestamp are dequeued in identity-hash order, not in the
// order they were submitted.
func sequenced(ctx context.Context, tb testing.TB, ls storage.LogStorage, tr *trillian.Tree, n int64) []*trillian.LogLeaf {
	tb.Helper()
	tx, err := ls.SnapshotForTree(ctx, tr)
	if err != nil {
		tb.Fatalf("SnapshotForTree() = %v", err)
	}
	defer func() { _ = tx.Close() }()
	leaves, err := tx.GetLeavesByRange(ctx, 0, n)
	if err != nil {
		tb.Fatalf("GetLeavesByRange(0, %d) = %v", n, err)
	}
	if int64(len(leaves)) != n {
		tb.Fatalf("GetLeavesByRange(0, %d) returned %d leaves", n, len(leaves))
	}
	return leaves
}

// sameLeaves reports whether got and want hold the same identity hashes,
// ignoring order.
func sameLeaves(got, want []*trillian.LogLeaf) bool {
	key := func(ls []*trillian.LogLeaf) []string {
		out := make([]string, len(ls))
		for i, l := range ls {
			out[i] = string(l.LeafIdentityHash)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(got), key(want))
}

// rootOf computes the RFC 6962 root of leaves independently of storage.
func rootOf(tb testing.TB, leaves []*trillian.LogLeaf) []byte {
	tb.Helper()
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, l := range leaves {
		if err := r.Append(l.MerkleLeafHash, nil); err != nil {
			tb.Fatalf("Append() = %v", err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		tb.Fatalf("GetRootHash() = %v", err)
	}
	return root
}

func queue(ctx context.Context, tb testing.TB, ls storage.LogStorage, tr *trillian.Tree, leaves []*trillian.LogLeaf) []*trillian.QueuedLogLeaf {
	tb.Helper()
	res, err := ls.QueueLeaves(ctx, tr, leaves, time.Now())
	if err != nil {
		tb.Fatalf("QueueLeaves() = %v", err)
	}
	if len(res) != len(leaves) {
		tb.Fatalf("QueueLeaves() returned %d results, want %d", len(res), len(leaves))
	}
	return res
}

// TestReopenKeepsData checks that trees, roots, tiles, sequenced leaves and
// the unsequenced queue all survive Close and Open.
func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "reopen.db")

	p, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	tr := newLog(ctx, t, p)
	first := newLeaves("first", 300)
	queue(ctx, t, p.LogStorage(), tr, first)
	if got := integrate(ctx, t, p.LogStorage(), tr, 128); got != len(first) {
		t.Fatalf("integrated %d leaves, want %d", got, len(first))
	}
	pending := newLeaves("pending", 10)
	queue(ctx, t, p.LogStorage(), tr, pending)
	before := latestRoot(ctx, t, p.LogStorage(), tr)
	if err := p.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}

	p = openAt(t, path)
	ls := p.LogStorage()
	got, err := storage.GetTree(ctx, p.AdminStorage(), tr.TreeId)
	if err != nil {
		t.Fatalf("GetTree() after reopen = %v", err)
	}
	if got.DisplayName != tr.DisplayName || !got.CreateTime.AsTime().Equal(tr.CreateTime.AsTime()) {
		t.Errorf("tree after reopen = %v, want %v", got, tr)
	}
	after := latestRoot(ctx, t, ls, tr)
	if after.TreeSize != 300 || !bytes.Equal(after.RootHash, before.RootHash) {
		t.Errorf("root after reopen = %d/%x, want %d/%x", after.TreeSize, after.RootHash, before.TreeSize, before.RootHash)
	}
	stored := sequenced(ctx, t, ls, tr, 300)
	if !sameLeaves(stored, first) {
		t.Fatal("stored leaves differ from the queued ones")
	}
	if want := rootOf(t, stored); !bytes.Equal(after.RootHash, want) {
		t.Errorf("root hash = %x, want %x", after.RootHash, want)
	}

	// The queued leaves are still pending and the stored tiles extend
	// correctly: integrating them yields the root of all leaves.
	if got := integrate(ctx, t, ls, tr, 1000); got != len(pending) {
		t.Fatalf("integrated %d pending leaves after reopen, want %d", got, len(pending))
	}
	final := latestRoot(ctx, t, ls, tr)
	leaves := sequenced(ctx, t, ls, tr, 310)
	if !sameLeaves(leaves[300:], pending) {
		t.Error("leaves 300.. differ from the pending ones")
	}
	if want := rootOf(t, leaves); !bytes.Equal(final.RootHash, want) {
		t.Errorf("root after integrating pending leaves = %x, want %x", final.RootHash, want)
	}
	for i, l := range leaves {
		if l.LeafIndex != int64(i) || len(l.LeafValue) == 0 || l.IntegrateTimestamp == nil {
			t.Fatalf("leaf %d = %v", i, l)
		}
	}
}

// TestConcurrentQueueLeaves queues from many goroutines at once, with every
// leaf submitted twice by different goroutines, and checks that each leaf
// is stored once and every duplicate is reported as such.
func TestConcurrentQueueLeaves(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	ls := p.LogStorage()
	tr := newLog(ctx, t, p)

	const workers, calls, perCall = 64, 10, 4
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, dups int
	)
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range calls {
				// Worker w and worker w^1 submit the same leaves.
				leaves := newLeaves(fmt.Sprintf("w%d-c%d", w/2, c), perCall)
				res, err := ls.QueueLeaves(ctx, tr, leaves, time.Now())
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for i, r := range res {
					switch code := status.FromProto(r.Status).Code(); code {
					case codes.OK:
						ok++
					case codes.AlreadyExists:
						dups++
						if !bytes.Equal(r.Leaf.LeafValue, leaves[i].LeafValue) {
							errs <- fmt.Errorf("duplicate reported with value %q, want %q", r.Leaf.LeafValue, leaves[i].LeafValue)
						}
					default:
						errs <- fmt.Errorf("unexpected status %v", code)
					}
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	const distinct = workers / 2 * calls * perCall
	if ok != distinct || dups != distinct {
		t.Errorf("got %d OK and %d AlreadyExists, want %d of each", ok, dups, distinct)
	}
	if got := integrate(ctx, t, ls, tr, 1000); got != distinct {
		t.Errorf("integrated %d leaves, want %d", got, distinct)
	}
}

// TestTilesAndTreeHeadRoundTrip writes Merkle nodes and a root in one
// transaction and reads them back in a snapshot, then checks an inclusion
// proof built from nodes that Trillian's sequencer stored.
func TestTilesAndTreeHeadRoundTrip(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	ls := p.LogStorage()
	tr := newLog(ctx, t, p)

	// Direct round trip: every node of a 301-leaf tree, produced the way
	// the sequencer produces them, and a root carrying metadata.
	var all []tree.Node
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	cr := rf.NewEmptyRange(0)
	for i := range 301 {
		h := rfc6962.DefaultHasher.HashLeaf([]byte{byte(i), byte(i >> 8)})
		if err := cr.Append(h, func(id compact.NodeID, hash []byte) {
			all = append(all, tree.Node{ID: id, Hash: hash})
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Leaves at both ends, internal nodes inside the bottom tiles and a node
	// stored in the tile above them.
	var nodes []tree.Node
	for _, n := range all {
		switch n.ID {
		case compact.NewNodeID(0, 0), compact.NewNodeID(0, 300), compact.NewNodeID(3, 7),
			compact.NewNodeID(7, 1), compact.NewNodeID(8, 0):
			nodes = append(nodes, n)
		}
	}
	if len(nodes) != 5 {
		t.Fatalf("picked %d nodes, want 5", len(nodes))
	}
	root := types.LogRootV1{TreeSize: 301, RootHash: bytes.Repeat([]byte{5}, 32), TimestampNanos: 42, Metadata: []byte("meta")}
	rawRoot, err := root.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := ls.ReadWriteTransaction(ctx, tr, func(ctx context.Context, tx storage.LogTreeTX) error {
		if err := tx.SetMerkleNodes(ctx, all); err != nil {
			return err
		}
		return tx.StoreSignedLogRoot(ctx, &trillian.SignedLogRoot{LogRoot: rawRoot})
	}); err != nil {
		t.Fatalf("ReadWriteTransaction() = %v", err)
	}
	tx, err := ls.SnapshotForTree(ctx, tr)
	if err != nil {
		t.Fatalf("SnapshotForTree() = %v", err)
	}
	ids := make([]compact.NodeID, len(nodes))
	for i, n := range nodes {
		ids[i] = n.ID
	}
	got, err := tx.GetMerkleNodes(ctx, ids)
	if err != nil {
		t.Fatalf("GetMerkleNodes() = %v", err)
	}
	if len(got) != len(nodes) {
		t.Fatalf("GetMerkleNodes() returned %d nodes, want %d", len(got), len(nodes))
	}
	for i := range nodes {
		if got[i].ID != nodes[i].ID || !bytes.Equal(got[i].Hash, nodes[i].Hash) {
			t.Errorf("node %d = %+v, want %+v", i, got[i], nodes[i])
		}
	}
	slr, err := tx.LatestSignedLogRoot(ctx)
	if err != nil {
		t.Fatalf("LatestSignedLogRoot() = %v", err)
	}
	if !bytes.Equal(slr.LogRoot, rawRoot) {
		t.Errorf("LogRoot = %x, want %x (metadata must round-trip)", slr.LogRoot, rawRoot)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit() = %v", err)
	}

	// Sequencer round trip on a second tree, followed by an inclusion proof
	// computed from the stored nodes.
	tr2 := newLog(ctx, t, p)
	leaves := newLeaves("proof", 777)
	queue(ctx, t, ls, tr2, leaves)
	integrate(ctx, t, ls, tr2, 100)
	head := latestRoot(ctx, t, ls, tr2)
	leaves = sequenced(ctx, t, ls, tr2, 777)
	if want := rootOf(t, leaves); head.TreeSize != 777 || !bytes.Equal(head.RootHash, want) {
		t.Fatalf("root = %d/%x, want 777/%x", head.TreeSize, head.RootHash, want)
	}
	for _, index := range []uint64{0, 1, 255, 256, 500, 776} {
		nodes, err := proof.Inclusion(index, head.TreeSize)
		if err != nil {
			t.Fatal(err)
		}
		tx, err := ls.SnapshotForTree(ctx, tr2)
		if err != nil {
			t.Fatalf("SnapshotForTree() = %v", err)
		}
		byHash, err := tx.GetLeavesByHash(ctx, [][]byte{leaves[index].MerkleLeafHash}, true)
		if err != nil || len(byHash) != 1 || byHash[0].LeafIndex != int64(index) {
			t.Fatalf("GetLeavesByHash(leaf %d) = %v, %v", index, byHash, err)
		}
		stored, err := tx.GetMerkleNodes(ctx, nodes.IDs)
		if err != nil {
			t.Fatalf("GetMerkleNodes() = %v", err)
		}
		_ = tx.Close()
		hashes := make([][]byte, len(stored))
		for i, n := range stored {
			hashes[i] = n.Hash
		}
		rehashed, err := nodes.Rehash(hashes, rfc6962.DefaultHasher.HashChildren)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, head.TreeSize, leaves[index].MerkleLeafHash, rehashed, head.RootHash); err != nil {
			t.Errorf("inclusion proof for leaf %d: %v", index, err)
		}
	}
}

func TestQueueLeavesDuplicates(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	ls := p.LogStorage()
	tr := newLog(ctx, t, p)

	a, b := newLeaf("a"), newLeaf("b")
	queue(ctx, t, ls, tr, []*trillian.LogLeaf{a})
	integrate(ctx, t, ls, tr, 10)
	queue(ctx, t, ls, tr, []*trillian.LogLeaf{b})

	for _, tc := range []struct {
		desc      string
		leaves    []*trillian.LogLeaf
		wantCodes []codes.Code
		wantIndex []int64 // for AlreadyExists results
	}{
		{
			desc:      "sequenced duplicate",
			leaves:    []*trillian.LogLeaf{newLeaf("a")},
			wantCodes: []codes.Code{codes.AlreadyExists},
			wantIndex: []int64{0},
		},
		{
			desc:      "queued duplicate",
			leaves:    []*trillian.LogLeaf{newLeaf("b")},
			wantCodes: []codes.Code{codes.AlreadyExists},
			wantIndex: []int64{0},
		},
		{
			desc:      "duplicate within one call",
			leaves:    []*trillian.LogLeaf{newLeaf("c"), newLeaf("d"), newLeaf("c")},
			wantCodes: []codes.Code{codes.OK, codes.OK, codes.AlreadyExists},
			wantIndex: []int64{0, 0, 0},
		},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			res := queue(ctx, t, ls, tr, tc.leaves)
			for i, r := range res {
				code := status.FromProto(r.Status).Code()
				if code != tc.wantCodes[i] {
					t.Errorf("result %d: code %v, want %v", i, code, tc.wantCodes[i])
				}
				if !bytes.Equal(r.Leaf.LeafValue, tc.leaves[i].LeafValue) || !bytes.Equal(r.Leaf.ExtraData, tc.leaves[i].ExtraData) {
					t.Errorf("result %d: leaf %v, want value %q", i, r.Leaf, tc.leaves[i].LeafValue)
				}
				if code == codes.AlreadyExists && r.Leaf.LeafIndex != tc.wantIndex[i] {
					t.Errorf("result %d: LeafIndex %d, want %d", i, r.Leaf.LeafIndex, tc.wantIndex[i])
				}
			}
		})
	}
}

func TestQueueLeavesErrors(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	ls := p.LogStorage()
	uninit, err := storage.CreateTree(ctx, p.AdminStorage(), testonly.LogTree)
	if err != nil {
		t.Fatal(err)
	}
	short := newLeaf("short")
	short.LeafIdentityHash = short.LeafIdentityHash[:8]

	for _, tc := range []struct {
		desc    string
		tree    *trillian.Tree
		leaves  []*trillian.LogLeaf
		wantErr error // matched with errors.Is; nil means any error
	}{
		{desc: "uninitialised tree", tree: uninit, leaves: newLeaves("x", 2), wantErr: storage.ErrTreeNeedsInit},
		{desc: "unknown tree", tree: &trillian.Tree{TreeId: 12345, TreeType: trillian.TreeType_LOG}, leaves: newLeaves("y", 1), wantErr: storage.ErrTreeNeedsInit},
		{desc: "short identity hash", tree: uninit, leaves: []*trillian.LogLeaf{short}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := ls.QueueLeaves(ctx, tc.tree, tc.leaves, time.Now())
			if err == nil || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("QueueLeaves() = %v, want %v", err, tc.wantErr)
			}
		})
	}

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.QueueLeaves(ctx, uninit, newLeaves("z", 1), time.Now()); !errors.Is(err, errClosed) {
		t.Errorf("QueueLeaves() after Close = %v, want %v", err, errClosed)
	}
}

// TestHardDeleteRemovesEverything checks the cascade from Trees.
func TestHardDeleteRemovesEverything(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	ls := p.LogStorage()
	tr := newLog(ctx, t, p)
	queue(ctx, t, ls, tr, newLeaves("del", 20))
	integrate(ctx, t, ls, tr, 15)
	keep := newLog(ctx, t, p)
	queue(ctx, t, ls, keep, newLeaves("keep", 3))

	if _, err := storage.SoftDeleteTree(ctx, p.AdminStorage(), tr.TreeId); err != nil {
		t.Fatal(err)
	}
	if err := storage.HardDeleteTree(ctx, p.AdminStorage(), tr.TreeId); err != nil {
		t.Fatal(err)
	}
	for _, table := range []string{"Trees", "TreeHeads", "Subtrees", "Leaves", "SequencedLeaves", "Unsequenced"} {
		var n int
		if err := p.reader.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE TreeId = ?", tr.TreeId).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s has %d rows of the deleted tree", table, n)
		}
	}
	// The other tree's leaves, still in the intake, reach the database.
	if err := p.intake.drainOwn(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := p.reader.QueryRowContext(ctx, "SELECT count(*) FROM Leaves WHERE TreeId = ?", keep.TreeId).Scan(&n); err != nil || n != 3 {
		t.Errorf("other tree has %d leaves (%v), want 3", n, err)
	}
}

func TestGetActiveLogIDs(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	as := p.AdminStorage()
	active := newLog(ctx, t, p)
	frozen := newLog(ctx, t, p)
	if _, err := storage.UpdateTree(ctx, as, frozen.TreeId, func(t *trillian.Tree) { t.TreeState = trillian.TreeState_FROZEN }); err != nil {
		t.Fatal(err)
	}
	deleted := newLog(ctx, t, p)
	if _, err := storage.SoftDeleteTree(ctx, as, deleted.TreeId); err != nil {
		t.Fatal(err)
	}
	ids, err := p.LogStorage().GetActiveLogIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != active.TreeId {
		t.Errorf("GetActiveLogIDs() = %v, want [%d]", ids, active.TreeId)
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", "a?b.db", "a#b.db"} {
		if p, err := Open(context.Background(), path, nil); err == nil {
			_ = p.Close()
			t.Errorf("Open(%q) succeeded, want error", path)
		}
	}
}

func TestRegister(t *testing.T) {
	path := filepath.Join(t.TempDir(), "registered.db")
	if slices.Contains(storage.Providers(), ProviderName) {
		// Trillian's registry is process-wide; with -count > 1 an earlier
		// run already registered (a now-deleted) path.
		t.Skip("provider already registered in this process")
	}
	if err := Register(path); err != nil {
		t.Fatalf("Register() = %v", err)
	}
	sp, err := storage.NewProvider(ProviderName, nil)
	if err != nil {
		t.Fatalf("NewProvider() = %v", err)
	}
	defer func() { _ = sp.Close() }()
	if err := sp.LogStorage().CheckDatabaseAccessible(context.Background()); err != nil {
		t.Errorf("CheckDatabaseAccessible() = %v", err)
	}
	if err := Register(path); err == nil {
		t.Error("second Register() succeeded, want error")
	}
}
