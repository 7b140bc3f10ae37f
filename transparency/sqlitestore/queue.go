package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
	"google.golang.org/protobuf/proto"
)

const (
	// maxBatchLeaves caps one group-commit transaction so a burst cannot hold
	// the write connection (and delay the sequencer) for too long.
	maxBatchLeaves = 8192
	// queueDepth is how many QueueLeaves calls may wait for the next batch
	// without blocking the send.
	queueDepth = 4096
)

var errClosed = errors.New("sqlitestore: provider closed")

// queueReq is one QueueLeaves call waiting for the group committer.
type queueReq struct {
	treeID  int64
	leaves  []*trillian.LogLeaf
	tsNanos int64
	res     chan queueRes // buffered: the committer never blocks on it
}

type queueRes struct {
	// existing[i] is the stored leaf when leaves[i] was a duplicate.
	existing []*trillian.LogLeaf
	err      error
}

// queuer owns the goroutine that writes queued leaves in batches.
type queuer struct {
	ctx     context.Context
	db      *sql.DB
	stmts   stmts
	metrics *metrics

	reqs     chan *queueReq
	quit     chan struct{} // closed by stop
	finished chan struct{} // closed when run has returned
	stopOnce sync.Once
}

func newQueuer(ctx context.Context, db *sql.DB, s stmts, m *metrics) *queuer {
	q := &queuer{
		ctx:      ctx,
		db:       db,
		stmts:    s,
		metrics:  m,
		reqs:     make(chan *queueReq, queueDepth),
		quit:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	go q.run()
	return q
}

// submit hands r to the committer and waits until its batch has committed.
// If ctx ends first the leaves may still be written later; QueueLeaves is
// idempotent for the caller thanks to duplicate detection.
func (q *queuer) submit(ctx context.Context, r *queueReq) ([]*trillian.LogLeaf, error) {
	select {
	case <-q.quit:
		return nil, errClosed
	default:
	}
	select {
	case q.reqs <- r:
	case <-q.quit:
		return nil, errClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case res := <-r.res:
		return res.existing, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-q.finished:
		// run answers every request it took before returning, so a result
		// may be waiting; otherwise the request arrived too late.
		select {
		case res := <-r.res:
			return res.existing, res.err
		default:
			return nil, errClosed
		}
	}
}

func (q *queuer) stop() {
	q.stopOnce.Do(func() { close(q.quit) })
	<-q.finished
}

func (q *queuer) run() {
	defer close(q.finished)
	for {
		select {
		case <-q.quit:
			q.drainClosed()
			return
		case r := <-q.reqs:
			batch := []*queueReq{r}
			n := len(r.leaves)
			// Take everything that queued up while the previous batch was
			// committing: that is the group commit.
		collect:
			for n < maxBatchLeaves {
				select {
				case r := <-q.reqs:
					batch = append(batch, r)
					n += len(r.leaves)
				default:
					break collect
				}
			}
			q.commit(batch, n)
		}
	}
}

// drainClosed fails requests that were enqueued but will never be written.
func (q *queuer) drainClosed() {
	for {
		select {
		case r := <-q.reqs:
			r.res <- queueRes{err: errClosed}
		default:
			return
		}
	}
}

func (q *queuer) commit(batch []*queueReq, leaves int) {
	start := time.Now()
	results, err := q.writeBatch(q.ctx, batch)
	for i, r := range batch {
		if err != nil {
			r.res <- queueRes{err: err}
			continue
		}
		r.res <- results[i]
	}
	q.metrics.queueCommit.Observe(seconds(start))
	q.metrics.queueBatchReqs.Observe(float64(len(batch)))
	q.metrics.queueBatchLeafs.Observe(float64(leaves))
}

// writeBatch writes all requests in one transaction and returns one result
// per request. An error returned here (begin or commit failed) applies to the
// whole batch.
//
// Requests are written optimistically, without a savepoint each: savepoints
// make SQLite journal and then free page images per request, which costs
// more than the inserts. The common failure, an uninitialised tree, is found
// before the request writes anything. Any other failure rolls back the
// transaction, and the batch is retried without the failing request.
func (q *queuer) writeBatch(ctx context.Context, batch []*queueReq) ([]queueRes, error) {
	results := make([]queueRes, len(batch))
	pending := make([]int, len(batch))
	for i := range pending {
		pending[i] = i
	}
	for len(pending) > 0 {
		failed, err := q.tryBatch(ctx, batch, pending, results)
		if err != nil {
			return nil, err
		}
		if failed < 0 {
			return results, nil
		}
		pending = slices.DeleteFunc(pending, func(i int) bool { return i == failed })
	}
	return results, nil
}

// tryBatch writes the pending requests in one transaction. If a request
// fails after it started writing, the transaction is rolled back, the
// failure is recorded in results and its index returned; otherwise it
// returns -1 after committing.
func (q *queuer) tryBatch(ctx context.Context, batch []*queueReq, pending []int, results []queueRes) (int, error) {
	tx, err := q.db.BeginTx(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("sqlitestore: begin queue transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	w, err := newLeafWriter(ctx, tx, q.stmts)
	if err != nil {
		return -1, err
	}
	type counts struct{ queued, dup int }
	perTree := make(map[int64]counts)
	for _, i := range pending {
		r := batch[i]
		if err := w.checkRoot(ctx, r.treeID); err != nil {
			results[i] = queueRes{err: err}
			continue
		}
		existing, dups, err := w.queue(ctx, r)
		if err != nil {
			results[i] = queueRes{err: err}
			return i, nil
		}
		results[i] = queueRes{existing: existing}
		c := perTree[r.treeID]
		c.queued += len(r.leaves)
		c.dup += dups
		perTree[r.treeID] = c
	}
	if err := tx.Commit(); err != nil {
		return -1, fmt.Errorf("sqlitestore: commit queued leaves: %w", err)
	}
	for id, c := range perTree {
		l := treeLabel(id)
		q.metrics.queued.Add(float64(c.queued), l)
		if c.dup > 0 {
			q.metrics.queuedDup.Add(float64(c.dup), l)
		}
	}
	return -1, nil
}

// leafWriter binds the leaf-writing statements to one transaction.
type leafWriter struct {
	hasRoot, insertLeaf, insertUnsequenced, leafByIdentity *sql.Stmt
}

func newLeafWriter(ctx context.Context, tx *sql.Tx, s stmts) (*leafWriter, error) {
	var w leafWriter
	for _, b := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&w.hasRoot, hasRootSQL},
		{&w.insertLeaf, insertLeafSQL},
		{&w.insertUnsequenced, insertUnsequencedSQL},
		{&w.leafByIdentity, selectLeafByIdentitySQL},
	} {
		st, err := s.in(ctx, tx, b.query)
		if err != nil {
			return nil, err
		}
		*b.dst = st
	}
	return &w, nil
}

// checkRoot returns storage.ErrTreeNeedsInit if the tree has no root yet
// (including when it does not exist). It writes nothing.
func (w *leafWriter) checkRoot(ctx context.Context, treeID int64) error {
	var one int
	switch err := w.hasRoot.QueryRowContext(ctx, treeID).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrTreeNeedsInit
	case err != nil:
		return fmt.Errorf("sqlitestore: check tree %d initialised: %w", treeID, err)
	}
	return nil
}

// queue stores r's leaves and their queue entries, skipping leaves whose
// identity hash is already stored. It returns, per position, the stored leaf
// for duplicates (nil otherwise) and the number of duplicates.
func (w *leafWriter) queue(ctx context.Context, r *queueReq) ([]*trillian.LogLeaf, int, error) {
	existing := make([]*trillian.LogLeaf, len(r.leaves))
	var dupAt []int
	for i, leaf := range r.leaves {
		res, err := w.insertLeaf.ExecContext(ctx, r.treeID, leaf.LeafIdentityHash, leaf.MerkleLeafHash,
			nonNil(leaf.LeafValue), leaf.ExtraData, r.tsNanos)
		if err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: insert leaf %d: %w", i, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: insert leaf %d: %w", i, err)
		}
		if n == 0 {
			dupAt = append(dupAt, i)
			continue
		}
		if _, err := w.insertUnsequenced.ExecContext(ctx, r.treeID, r.tsNanos, leaf.LeafIdentityHash, leaf.MerkleLeafHash); err != nil {
			return nil, 0, fmt.Errorf("sqlitestore: enqueue leaf %d: %w", i, err)
		}
	}

	// Duplicates are resolved after all inserts so that a leaf repeated
	// within this very request reports the copy stored moments earlier.
	found := make(map[string]*trillian.LogLeaf, len(dupAt))
	for _, i := range dupAt {
		id := r.leaves[i].LeafIdentityHash
		stored, ok := found[string(id)]
		if !ok {
			leaf, err := scanLeaf(w.leafByIdentity.QueryRowContext(ctx, r.treeID, id))
			if err != nil {
				return nil, 0, fmt.Errorf("sqlitestore: read existing leaf %x: %w", id, err)
			}
			stored = leaf
			found[string(id)] = stored
		}
		existing[i] = proto.Clone(stored).(*trillian.LogLeaf)
	}
	return existing, len(dupAt), nil
}

// nonNil maps a nil slice to an empty one: proto3 does not distinguish the
// two, but the NOT NULL column does.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
