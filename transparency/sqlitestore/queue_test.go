package sqlitestore

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
	"github.com/google/trillian/storage/testonly"
)

// TestWriteBatchIsolatesFailures drives the group committer directly with a
// batch in which one request fails after writing (a NULL identity hash,
// which QueueLeaves would have rejected) and one targets an uninitialised
// tree. The other requests must still be committed.
func TestWriteBatchIsolatesFailures(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	tr := newLog(ctx, t, p)
	uninit, err := storage.CreateTree(ctx, p.AdminStorage(), testonly.LogTree)
	if err != nil {
		t.Fatal(err)
	}
	bad := newLeaves("bad", 2)
	bad[1].LeafIdentityHash = nil

	req := func(treeID int64, leaves []*trillian.LogLeaf) *queueReq {
		return &queueReq{treeID: treeID, leaves: leaves, tsNanos: time.Now().UnixNano(), res: make(chan queueRes, 1)}
	}
	batch := []*queueReq{
		req(tr.TreeId, newLeaves("first", 3)),
		req(tr.TreeId, bad),
		req(uninit.TreeId, newLeaves("uninit", 1)),
		req(tr.TreeId, newLeaves("last", 2)),
	}
	results, err := p.queue.writeBatch(ctx, batch)
	if err != nil {
		t.Fatalf("writeBatch() = %v", err)
	}
	for i, want := range []struct {
		fail bool
		is   error
	}{{}, {fail: true}, {fail: true, is: storage.ErrTreeNeedsInit}, {}} {
		got := results[i].err
		if (got != nil) != want.fail || (want.is != nil && !errors.Is(got, want.is)) {
			t.Errorf("request %d: err = %v, want failure %v (%v)", i, got, want.fail, want.is)
		}
	}

	// Exactly the leaves of requests 0 and 3 are queued; nothing of the
	// failed request survived, not even its valid first leaf.
	var n int
	if err := p.reader.QueryRowContext(ctx, `SELECT count(*) FROM Unsequenced WHERE TreeId = ?`, tr.TreeId).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("%d leaves queued, want 5", n)
	}
	var found int
	if err := p.reader.QueryRowContext(ctx, `SELECT count(*) FROM Leaves WHERE LeafIdentityHash = ?`, bad[0].LeafIdentityHash).Scan(&found); err != nil {
		t.Fatal(err)
	}
	if found != 0 {
		t.Error("leaf of the failed request was committed")
	}
	if got := integrate(ctx, t, p.LogStorage(), tr, 100); got != 5 {
		t.Errorf("integrated %d leaves, want 5", got)
	}
	if !bytes.Equal(latestRoot(ctx, t, p.LogStorage(), tr).RootHash, rootOf(t, sequenced(ctx, t, p.LogStorage(), tr, 5))) {
		t.Error("root does not match the integrated leaves")
	}
}
