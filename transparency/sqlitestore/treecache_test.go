package sqlitestore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
)

// TestTreeCacheFollowsWrites checks that admin snapshots, which answer
// GetTree from memory, never return a tree older than the last admin write
// that had finished when the snapshot read it, while writers and readers
// run concurrently. Each write bumps a counter in the tree's description;
// a reader notes the counter before it reads and must see at least that.
func TestTreeCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	tr := newLog(ctx, t, p)
	as := p.AdminStorage()

	var written atomic.Int64 // highest description counter committed
	read := func() (int64, error) {
		tx, err := as.Snapshot(ctx)
		if err != nil {
			return 0, err
		}
		defer func() { _ = tx.Close() }()
		got, err := tx.GetTree(ctx, tr.TreeId)
		if err != nil {
			return 0, err
		}
		var n int64
		// The tree starts with testonly.LogTree's description: version 0.
		if strings.HasPrefix(got.Description, "v") {
			if _, err := fmt.Sscanf(got.Description, "v%d", &n); err != nil {
				return 0, fmt.Errorf("description %q: %w", got.Description, err)
			}
		}
		// Callers own what they get: changing it must not change the cache.
		got.Description = "scribbled"
		return n, tx.Commit()
	}

	const writes = 200
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				floor := written.Load()
				n, err := read()
				if err != nil {
					errs <- err
					return
				}
				if n < floor {
					errs <- fmt.Errorf("snapshot read description v%d after v%d was committed", n, floor)
					return
				}
			}
		})
	}
	for i := int64(1); i <= writes; i++ {
		if _, err := storage.UpdateTree(ctx, as, tr.TreeId, func(tree *trillian.Tree) {
			tree.Description = fmt.Sprintf("v%d", i)
		}); err != nil {
			t.Fatal(err)
		}
		written.Store(i)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n, err := read(); err != nil || n != writes {
		t.Fatalf("final read: v%d, %v; want v%d", n, err, writes)
	}
}

// TestCachedSnapshotLifecycle: a snapshot that never touched SQLite still
// behaves like a transaction (commit once, close after commit is a no-op,
// use after close fails), and ListTrees reads through.
func TestCachedSnapshotLifecycle(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	tr := newLog(ctx, t, p)
	as := p.AdminStorage()

	tx, err := as.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit of an unused snapshot: %v", err)
	}
	if err := tx.Commit(); err == nil {
		t.Error("second commit succeeded")
	}
	if err := tx.Close(); err != nil {
		t.Errorf("close after commit: %v", err)
	}
	if _, err := tx.ListTrees(ctx, false); err == nil {
		t.Error("ListTrees after commit succeeded")
	}

	tx, err = as.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Close() }()
	trees, err := tx.ListTrees(ctx, false)
	if err != nil || len(trees) != 1 || trees[0].TreeId != tr.TreeId {
		t.Fatalf("ListTrees = %v, %v", trees, err)
	}
	if _, err := tx.GetTree(ctx, tr.TreeId+1); err == nil {
		t.Error("GetTree of an unknown tree succeeded")
	}
}
