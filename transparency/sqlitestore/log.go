package sqlitestore

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
	"github.com/google/trillian/storage/cache"
	"github.com/google/trillian/storage/storagepb"
	"github.com/google/trillian/storage/tree"
	"github.com/google/trillian/types"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// maxRangeCount caps one GetLeavesByRange call; the interface allows
// returning fewer leaves than asked for.
const maxRangeCount = 10000

// hashSize is the size of leaf identity and Merkle hashes (RFC 6962, SHA-256).
const hashSize = sha256.Size

type logStorage struct {
	writer, reader *sql.DB
	ws, rs         stmts
	intake         *intake
	metrics        *metrics
}

var _ storage.LogStorage = (*logStorage)(nil)

func (s *logStorage) CheckDatabaseAccessible(ctx context.Context) error {
	// The reader pool is used so that a health check never waits behind a
	// long sequencing transaction on the single write connection.
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping: %w", err)
	}
	return nil
}

func (s *logStorage) GetActiveLogIDs(ctx context.Context) ([]int64, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT TreeId FROM Trees
		WHERE Deleted = 0 AND TreeType IN (?, ?) AND TreeState IN (?, ?)`,
		trillian.TreeType_LOG.String(), trillian.TreeType_PREORDERED_LOG.String(),
		// DRAINING logs still have queued leaves to integrate.
		trillian.TreeState_ACTIVE.String(), trillian.TreeState_DRAINING.String())
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list active logs: %w", err)
	}
	defer func() { _ = rows.Close() }()
	ids := []int64{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("sqlitestore: list active logs: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: list active logs: %w", err)
	}
	return ids, nil
}

// SnapshotForTree returns a read-only transaction. As with Trillian's other
// providers, an uninitialised tree yields both a usable transaction and
// storage.ErrTreeNeedsInit; the caller must Close it.
func (s *logStorage) SnapshotForTree(ctx context.Context, t *trillian.Tree) (storage.ReadOnlyLogTreeTX, error) {
	tx, err := s.begin(ctx, t, false)
	if err != nil && err != storage.ErrTreeNeedsInit {
		return nil, err
	}
	return tx, err
}

func (s *logStorage) ReadWriteTransaction(ctx context.Context, t *trillian.Tree, f storage.LogTXFunc) error {
	tx, err := s.begin(ctx, t, true)
	if err != nil && err != storage.ErrTreeNeedsInit {
		return err
	}
	defer func() { _ = tx.Close() }()
	if err := f(ctx, tx); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func (s *logStorage) QueueLeaves(ctx context.Context, t *trillian.Tree, leaves []*trillian.LogLeaf, queueTimestamp time.Time) ([]*trillian.QueuedLogLeaf, error) {
	// Reject the whole batch before touching storage if any leaf is invalid.
	qts := timestamppb.New(queueTimestamp)
	if err := qts.CheckValid(); err != nil {
		return nil, fmt.Errorf("sqlitestore: invalid queue timestamp: %w", err)
	}
	for i, leaf := range leaves {
		if len(leaf.LeafIdentityHash) != hashSize {
			return nil, fmt.Errorf("sqlitestore: leaf %d: identity hash is %d bytes, want %d", i, len(leaf.LeafIdentityHash), hashSize)
		}
		if len(leaf.MerkleLeafHash) != hashSize {
			return nil, fmt.Errorf("sqlitestore: leaf %d: Merkle leaf hash is %d bytes, want %d", i, len(leaf.MerkleLeafHash), hashSize)
		}
	}
	for _, leaf := range leaves {
		leaf.QueueTimestamp = qts
	}

	existing, err := s.intake.submit(ctx, &queueReq{
		treeID:  t.TreeId,
		leaves:  leaves,
		tsNanos: queueTimestamp.UnixNano(),
		res:     make(chan queueRes, 1),
	})
	if err != nil {
		return nil, err
	}
	out := make([]*trillian.QueuedLogLeaf, len(leaves))
	for i, leaf := range leaves {
		if e := existing[i]; e != nil {
			out[i] = &trillian.QueuedLogLeaf{
				Leaf:   e,
				Status: status.Newf(codes.AlreadyExists, "leaf already exists: %x", e.LeafIdentityHash).Proto(),
			}
			continue
		}
		out[i] = &trillian.QueuedLogLeaf{Leaf: leaf}
	}
	return out, nil
}

func (s *logStorage) AddSequencedLeaves(ctx context.Context, t *trillian.Tree, leaves []*trillian.LogLeaf, timestamp time.Time) ([]*trillian.QueuedLogLeaf, error) {
	for i, leaf := range leaves {
		if len(leaf.LeafIdentityHash) != hashSize {
			return nil, status.Errorf(codes.FailedPrecondition, "leaves[%d] has identity hash of %d bytes, want %d", i, len(leaf.LeafIdentityHash), hashSize)
		}
	}
	tx, err := s.begin(ctx, t, true)
	if tx != nil {
		defer func() { _ = tx.Close() }()
	}
	if err != nil {
		return nil, err
	}
	res, err := tx.addSequencedLeaves(ctx, leaves, timestamp)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	return res, nil
}

func (s *logStorage) begin(ctx context.Context, t *trillian.Tree, write bool) (*logTX, error) {
	db, st := s.reader, s.rs
	if write {
		db, st = s.writer, s.ws
	}
	sqlTx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: begin transaction: %w", err)
	}
	tx := &logTX{
		ls:       s,
		tx:       sqlTx,
		stmts:    st,
		write:    write,
		treeID:   t.TreeId,
		treeType: t.TreeType,
		tiles:    cache.NewLogSubtreeCache(rfc6962.DefaultHasher),
		revision: -1,
		dequeued: make(map[string]dequeuedLeaf),
		cursor:   dequeuedLeaf{tsNanos: math.MinInt64, idHash: []byte{}},
	}
	if err := tx.loadRoot(ctx); err != nil {
		if err == storage.ErrTreeNeedsInit {
			return tx, err
		}
		_ = tx.Close()
		return nil, err
	}
	return tx, nil
}

// dequeuedLeaf is the queue key of a leaf handed out by DequeueLeaves.
type dequeuedLeaf struct {
	tsNanos int64
	idHash  []byte
	// held: the leaf came from the intake in this transaction and has no
	// Unsequenced row (see DequeueLeaves); merkleHash is kept for writing
	// one if it is not sequenced after all.
	held       bool
	merkleHash []byte
}

// compare orders queue keys as the Unsequenced primary key does.
func (k dequeuedLeaf) compare(o dequeuedLeaf) int {
	if c := cmp.Compare(k.tsNanos, o.tsNanos); c != 0 {
		return c
	}
	return bytes.Compare(k.idHash, o.idHash)
}

// logTX implements storage.LogTreeTX. Read-only snapshots use the same type
// on a query-only connection.
type logTX struct {
	// mu serializes use of tx: callers may share a transaction between
	// goroutines, database/sql transactions must not run statements
	// concurrently, and the tile cache is not thread-safe.
	mu sync.Mutex

	ls       *logStorage
	tx       *sql.Tx
	stmts    stmts
	write    bool
	treeID   int64
	treeType trillian.TreeType

	slr      *trillian.SignedLogRoot // nil: the tree has no root yet
	root     types.LogRootV1
	revision int64 // revision of slr, -1 if none

	tiles    *cache.SubtreeCache
	dequeued map[string]dequeuedLeaf // by identity hash
	cursor   dequeuedLeaf            // last queue key handed out
	// drained: the intake's pending entries were moved in this
	// transaction, up to intake sequence number drainedThrough. held are
	// the moved leaves of this tree not yet handed out, in queue order.
	drained        bool
	drainedThrough uint64
	held           []dequeuedLeaf
	done           bool
}

var _ storage.LogTreeTX = (*logTX)(nil)

func (t *logTX) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.stmts.in(ctx, t.tx, query)
}

func (t *logTX) loadRoot(ctx context.Context) error {
	st, err := t.stmt(ctx, selectLatestRootSQL)
	if err != nil {
		return err
	}
	var raw []byte
	switch err := st.QueryRowContext(ctx, t.treeID).Scan(&t.revision, &raw); {
	case errors.Is(err, sql.ErrNoRows):
		t.revision = -1
		return storage.ErrTreeNeedsInit
	case err != nil:
		return fmt.Errorf("sqlitestore: read latest root of tree %d: %w", t.treeID, err)
	}
	if err := t.root.UnmarshalBinary(raw); err != nil {
		return fmt.Errorf("sqlitestore: decode latest root of tree %d: %w", t.treeID, err)
	}
	t.slr = &trillian.SignedLogRoot{LogRoot: raw}
	return nil
}

func (t *logTX) Commit(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return sql.ErrTxDone
	}
	t.done = true
	if t.write {
		if err := t.queueHeld(ctx); err != nil {
			_ = t.tx.Rollback()
			return err
		}
		if err := t.flushTiles(ctx); err != nil {
			_ = t.tx.Rollback()
			return err
		}
	}
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit: %w", err)
	}
	if t.drainedThrough > 0 {
		t.ls.intake.consumedThrough(t.drainedThrough)
	}
	return nil
}

func (t *logTX) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return nil
	}
	t.done = true
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("sqlitestore: rollback: %w", err)
	}
	return nil
}

func (t *logTX) LatestSignedLogRoot(ctx context.Context) (*trillian.SignedLogRoot, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.slr == nil {
		return nil, storage.ErrTreeNeedsInit
	}
	return t.slr, nil
}

func (t *logTX) StoreSignedLogRoot(ctx context.Context, root *trillian.SignedLogRoot) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var lr types.LogRootV1
	if err := lr.UnmarshalBinary(root.GetLogRoot()); err != nil {
		return fmt.Errorf("sqlitestore: decode log root: %w", err)
	}
	if lr.TreeSize > math.MaxInt64 || lr.TimestampNanos > math.MaxInt64 {
		return status.Errorf(codes.OutOfRange, "log root size %d or timestamp %d out of range", lr.TreeSize, lr.TimestampNanos)
	}
	st, err := t.stmt(ctx, insertTreeHeadSQL)
	if err != nil {
		return err
	}
	rootHash := lr.RootHash
	if rootHash == nil {
		rootHash = []byte{}
	}
	// Every stored root takes the next revision; the primary key rejects a
	// second root stored through the same transaction.
	if _, err := st.ExecContext(ctx, t.treeID, t.revision+1, int64(lr.TreeSize), int64(lr.TimestampNanos),
		rootHash, root.GetLogRoot()); err != nil {
		return fmt.Errorf("sqlitestore: store root of tree %d: %w", t.treeID, err)
	}
	return nil
}

// Merkle tiles ----------------------------------------------------------------

func (t *logTX) GetMerkleNodes(ctx context.Context, ids []compact.NodeID) ([]tree.Node, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tiles.GetNodes(ids, t.readTiles(ctx))
}

func (t *logTX) SetMerkleNodes(ctx context.Context, nodes []tree.Node) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.write {
		return errors.New("sqlitestore: SetMerkleNodes in a read-only transaction")
	}
	return t.tiles.SetNodes(nodes, t.readTiles(ctx))
}

// readTiles returns the tile loader used by the subtree cache. Missing tiles
// are simply absent from the result.
func (t *logTX) readTiles(ctx context.Context) cache.GetSubtreesFunc {
	return func(ids [][]byte) ([]*storagepb.SubtreeProto, error) {
		st, err := t.stmt(ctx, selectSubtreeSQL)
		if err != nil {
			return nil, err
		}
		out := make([]*storagepb.SubtreeProto, 0, len(ids))
		for _, id := range ids {
			var raw []byte
			switch err := st.QueryRowContext(ctx, t.treeID, id).Scan(&raw); {
			case errors.Is(err, sql.ErrNoRows):
				continue
			case err != nil:
				return nil, fmt.Errorf("sqlitestore: read tile %x: %w", id, err)
			}
			var tile storagepb.SubtreeProto
			if err := proto.Unmarshal(raw, &tile); err != nil {
				return nil, fmt.Errorf("sqlitestore: decode tile %x: %w", id, err)
			}
			if tile.Prefix == nil {
				tile.Prefix = []byte{}
			}
			out = append(out, &tile)
		}
		return out, nil
	}
}

// drainIntake moves the intake's pending leaves into the database on the
// transaction's first dequeue, so leaves acknowledged by the intake join
// the queue in the transaction that may sequence them. This tree's are
// held in memory, in key order, rather than written to Unsequenced only to
// be read back and deleted again; Commit writes rows for any not
// sequenced (queueHeld).
func (t *logTX) drainIntake(ctx context.Context) error {
	if t.drained {
		return nil
	}
	through, held, err := t.ls.intake.drainInto(ctx, t.tx, t.stmts, t.treeID)
	if err != nil {
		return err
	}
	t.drained, t.drainedThrough = true, through
	for _, e := range held {
		t.held = append(t.held, dequeuedLeaf{
			tsNanos:    e.leaf.QueueTimestamp.AsTime().UnixNano(),
			idHash:     e.leaf.LeafIdentityHash,
			held:       true,
			merkleHash: e.leaf.MerkleLeafHash,
		})
	}
	slices.SortFunc(t.held, dequeuedLeaf.compare)
	return nil
}

// queueHeld writes Unsequenced rows for leaves moved from the intake in
// this transaction that were not sequenced in it, so they stay queued.
func (t *logTX) queueHeld(ctx context.Context) error {
	left := slices.Clone(t.held)
	for _, k := range t.dequeued {
		if k.held {
			left = append(left, k)
		}
	}
	if len(left) == 0 {
		return nil
	}
	st, err := t.stmt(ctx, insertUnsequencedSQL)
	if err != nil {
		return err
	}
	for _, k := range left {
		if _, err := st.ExecContext(ctx, t.treeID, k.tsNanos, k.idHash, k.merkleHash); err != nil {
			return fmt.Errorf("sqlitestore: queue leaf %x: %w", k.idHash, err)
		}
	}
	t.held = nil
	return nil
}

func (t *logTX) flushTiles(ctx context.Context) error {
	tiles, err := t.tiles.UpdatedTiles()
	if err != nil {
		return fmt.Errorf("sqlitestore: collect updated tiles: %w", err)
	}
	if len(tiles) == 0 {
		return nil
	}
	st, err := t.stmt(ctx, upsertSubtreeSQL)
	if err != nil {
		return err
	}
	for _, tile := range tiles {
		raw, err := proto.Marshal(tile)
		if err != nil {
			return fmt.Errorf("sqlitestore: encode tile %x: %w", tile.Prefix, err)
		}
		if _, err := st.ExecContext(ctx, t.treeID, nonNil(tile.Prefix), raw); err != nil {
			return fmt.Errorf("sqlitestore: write tile %x: %w", tile.Prefix, err)
		}
	}
	return nil
}

// Sequencing ------------------------------------------------------------------

func (t *logTX) DequeueLeaves(ctx context.Context, limit int, cutoff time.Time) ([]*trillian.LogLeaf, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if limit <= 0 {
		return nil, nil
	}
	if t.treeType == trillian.TreeType_PREORDERED_LOG {
		return t.dequeuePreordered(ctx, limit, cutoff)
	}
	if !t.write {
		return nil, errors.New("sqlitestore: DequeueLeaves in a read-only transaction")
	}
	if err := t.drainIntake(ctx); err != nil {
		return nil, err
	}

	st, err := t.stmt(ctx, selectUnsequencedSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, t.treeID, cutoff.UnixNano(), t.cursor.tsNanos, t.cursor.idHash, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: dequeue: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var stored []dequeuedLeaf
	for rows.Next() {
		var k dequeuedLeaf
		if err := rows.Scan(&k.tsNanos, &k.idHash, &k.merkleHash); err != nil {
			return nil, fmt.Errorf("sqlitestore: dequeue: %w", err)
		}
		if len(k.idHash) != hashSize {
			return nil, fmt.Errorf("sqlitestore: dequeued leaf with %d-byte identity hash", len(k.idHash))
		}
		stored = append(stored, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: dequeue: %w", err)
	}

	// Merge the stored and held queues in key order, under the same
	// cutoff and after the same cursor as the query.
	cut := cutoff.UnixNano()
	leaves := make([]*trillian.LogLeaf, 0, limit)
	take := func(k dequeuedLeaf) {
		t.cursor = k
		t.dequeued[string(k.idHash)] = k
		leaves = append(leaves, &trillian.LogLeaf{
			LeafIdentityHash: k.idHash,
			MerkleLeafHash:   k.merkleHash,
			QueueTimestamp:   timestamppb.New(time.Unix(0, k.tsNanos)),
		})
	}
	// Held leaves are all after the cursor: they are handed out in key
	// order, and one under the cutoff is never passed over for a later key.
	h := 0
merge:
	for i := 0; len(leaves) < limit; {
		heldOK := h < len(t.held) && t.held[h].tsNanos <= cut
		switch {
		case i < len(stored) && (!heldOK || stored[i].compare(t.held[h]) < 0):
			take(stored[i])
			i++
		case heldOK:
			take(t.held[h])
			h++
		default:
			break merge
		}
	}
	t.held = t.held[h:]
	t.ls.metrics.dequeued.Add(float64(len(leaves)), treeLabel(t.treeID))
	return leaves, nil
}

// dequeuePreordered returns the stored leaves that directly follow the
// current tree size, stopping at the first gap or at the first leaf added
// after the cutoff. Nothing is removed: preordered leaves are already stored
// at their final position.
func (t *logTX) dequeuePreordered(ctx context.Context, limit int, cutoff time.Time) ([]*trillian.LogLeaf, error) {
	leaves, err := t.leavesByRange(ctx, int64(t.root.TreeSize), int64(limit))
	if err != nil {
		return nil, err
	}
	cut := cutoff.UnixNano()
	for i, l := range leaves {
		if l.GetQueueTimestamp().AsTime().UnixNano() > cut {
			return leaves[:i], nil
		}
	}
	return leaves, nil
}

func (t *logTX) UpdateSequencedLeaves(ctx context.Context, leaves []*trillian.LogLeaf) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	start := time.Now()
	if !t.write {
		return errors.New("sqlitestore: UpdateSequencedLeaves in a read-only transaction")
	}
	ins, err := t.stmt(ctx, insertSequencedSQL)
	if err != nil {
		return err
	}
	del, err := t.stmt(ctx, deleteUnsequencedSQL)
	if err != nil {
		return err
	}
	for _, leaf := range leaves {
		if len(leaf.LeafIdentityHash) != hashSize {
			return fmt.Errorf("sqlitestore: sequenced leaf has %d-byte identity hash", len(leaf.LeafIdentityHash))
		}
		if err := leaf.IntegrateTimestamp.CheckValid(); err != nil {
			return fmt.Errorf("sqlitestore: invalid integrate timestamp: %w", err)
		}
		dq, ok := t.dequeued[string(leaf.LeafIdentityHash)]
		if !ok {
			return fmt.Errorf("sqlitestore: leaf %x was not dequeued in this transaction", leaf.LeafIdentityHash)
		}
		if _, err := ins.ExecContext(ctx, t.treeID, leaf.LeafIndex, leaf.LeafIdentityHash, leaf.MerkleLeafHash,
			leaf.IntegrateTimestamp.AsTime().UnixNano()); err != nil {
			return fmt.Errorf("sqlitestore: sequence leaf %d: %w", leaf.LeafIndex, err)
		}
		delete(t.dequeued, string(leaf.LeafIdentityHash))
		if dq.held {
			continue // never written to Unsequenced
		}
		res, err := del.ExecContext(ctx, t.treeID, dq.tsNanos, dq.idHash)
		if err != nil {
			return fmt.Errorf("sqlitestore: remove leaf %d from queue: %w", leaf.LeafIndex, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlitestore: remove leaf %d from queue: %w", leaf.LeafIndex, err)
		} else if n != 1 {
			return fmt.Errorf("sqlitestore: remove leaf %x from queue: %d rows affected, want 1", leaf.LeafIdentityHash, n)
		}
	}
	t.ls.metrics.sequenceUpdate.Observe(seconds(start), treeLabel(t.treeID))
	return nil
}

func (t *logTX) addSequencedLeaves(ctx context.Context, leaves []*trillian.LogLeaf, timestamp time.Time) ([]*trillian.QueuedLogLeaf, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, err := newLeafWriter(ctx, t.tx, t.stmts)
	if err != nil {
		return nil, err
	}
	at, err := t.stmt(ctx, selectSequencedAtSQL)
	if err != nil {
		return nil, err
	}
	ins, err := t.stmt(ctx, insertSequencedSQL)
	if err != nil {
		return nil, err
	}
	qts := timestamp.UnixNano()
	res := make([]*trillian.QueuedLogLeaf, len(leaves))
	for i, leaf := range leaves {
		if leaf.LeafIndex < 0 {
			res[i] = &trillian.QueuedLogLeaf{Leaf: leaf, Status: status.Newf(codes.OutOfRange, "negative leaf index %d", leaf.LeafIndex).Proto()}
			continue
		}
		// Check the position first so that nothing needs undoing.
		switch stored, err := scanLeaf(at.QueryRowContext(ctx, t.treeID, leaf.LeafIndex)); {
		case err == nil && bytes.Equal(stored.LeafIdentityHash, leaf.LeafIdentityHash):
			res[i] = &trillian.QueuedLogLeaf{Leaf: stored, Status: status.New(codes.AlreadyExists, "leaf already stored at this index").Proto()}
			continue
		case err == nil:
			res[i] = &trillian.QueuedLogLeaf{Leaf: stored, Status: status.New(codes.FailedPrecondition, "conflicting LeafIndex").Proto()}
			continue
		case !errors.Is(err, sql.ErrNoRows):
			return nil, fmt.Errorf("sqlitestore: read leaf %d: %w", leaf.LeafIndex, err)
		}
		r, err := w.insertLeaf.ExecContext(ctx, t.treeID, leaf.LeafIdentityHash, leaf.MerkleLeafHash,
			nonNil(leaf.LeafValue), leaf.ExtraData, qts)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: insert leaf %d: %w", leaf.LeafIndex, err)
		}
		if n, err := r.RowsAffected(); err != nil {
			return nil, fmt.Errorf("sqlitestore: insert leaf %d: %w", leaf.LeafIndex, err)
		} else if n == 0 {
			// The identity hash is stored at another index.
			stored, err := scanLeaf(w.leafByIdentity.QueryRowContext(ctx, t.treeID, leaf.LeafIdentityHash))
			if err != nil {
				return nil, fmt.Errorf("sqlitestore: read conflicting leaf: %w", err)
			}
			res[i] = &trillian.QueuedLogLeaf{Leaf: stored, Status: status.New(codes.FailedPrecondition, "conflicting LeafIdentityHash").Proto()}
			continue
		}
		// Pre-ordered leaves are integrated by the signer later; zero marks
		// "not yet integrated", as in Trillian's SQL providers.
		if _, err := ins.ExecContext(ctx, t.treeID, leaf.LeafIndex, leaf.LeafIdentityHash, leaf.MerkleLeafHash, 0); err != nil {
			return nil, fmt.Errorf("sqlitestore: sequence leaf %d: %w", leaf.LeafIndex, err)
		}
		res[i] = &trillian.QueuedLogLeaf{Leaf: leaf, Status: status.New(codes.OK, "OK").Proto()}
	}
	return res, nil
}

// Leaf reads ------------------------------------------------------------------

func (t *logTX) GetLeavesByRange(ctx context.Context, start, count int64) ([]*trillian.LogLeaf, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.leavesByRange(ctx, start, count)
}

func (t *logTX) leavesByRange(ctx context.Context, start, count int64) ([]*trillian.LogLeaf, error) {
	if count <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "invalid count %d, want > 0", count)
	}
	if start < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "invalid start %d, want >= 0", start)
	}
	size := int64(t.root.TreeSize)
	if t.treeType == trillian.TreeType_LOG {
		// A LOG tree only exposes integrated leaves.
		if size <= 0 {
			return nil, status.Errorf(codes.OutOfRange, "empty tree")
		}
		if start >= size {
			return nil, status.Errorf(codes.OutOfRange, "invalid start %d, want < tree size %d", start, size)
		}
		count = min(count, size-start)
	}
	count = min(count, maxRangeCount)

	st, err := t.stmt(ctx, selectLeavesByRangeSQL)
	if err != nil {
		return nil, err
	}
	rows, err := st.QueryContext(ctx, t.treeID, start, start+count)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: read leaves [%d, %d): %w", start, start+count, err)
	}
	defer func() { _ = rows.Close() }()
	out := make([]*trillian.LogLeaf, 0, count)
	next := start
	for rows.Next() {
		leaf, err := scanLeaf(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: read leaves: %w", err)
		}
		if leaf.LeafIndex != next {
			break
		}
		out = append(out, leaf)
		next++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: read leaves: %w", err)
	}
	// Leaves below the tree size are part of the tree and must exist; beyond
	// it (pre-ordered logs only) the result is a contiguous prefix.
	if next < start+count && next < size {
		return nil, status.Errorf(codes.Internal, "leaf %d of tree %d is missing below tree size %d", next, t.treeID, size)
	}
	return out, nil
}

func (t *logTX) GetLeavesByHash(ctx context.Context, leafHashes [][]byte, orderBySequence bool) ([]*trillian.LogLeaf, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	st, err := t.stmt(ctx, selectLeavesByMerkleHashSQL)
	if err != nil {
		return nil, err
	}
	var out []*trillian.LogLeaf
	for _, h := range leafHashes {
		found, err := queryLeaves(ctx, st, t.treeID, h)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: read leaves by hash %x: %w", h, err)
		}
		out = append(out, found...)
	}
	if orderBySequence {
		slices.SortStableFunc(out, func(a, b *trillian.LogLeaf) int {
			switch {
			case a.LeafIndex < b.LeafIndex:
				return -1
			case a.LeafIndex > b.LeafIndex:
				return 1
			}
			return 0
		})
	}
	return out, nil
}

func queryLeaves(ctx context.Context, st *sql.Stmt, args ...any) ([]*trillian.LogLeaf, error) {
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	var out []*trillian.LogLeaf
	for rows.Next() {
		leaf, err := scanLeaf(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, leaf)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

// scanLeaf reads the columns listed in leafColumns. The sequence number and
// integrate time are NULL for a queued leaf that is not yet sequenced.
func scanLeaf(r scanner) (*trillian.LogLeaf, error) {
	var (
		leaf            trillian.LogLeaf
		seq, integrated sql.NullInt64
		queued          int64
	)
	if err := r.Scan(&seq, &leaf.MerkleLeafHash, &leaf.LeafIdentityHash, &leaf.LeafValue, &leaf.ExtraData, &queued, &integrated); err != nil {
		return nil, err
	}
	leaf.QueueTimestamp = timestamppb.New(time.Unix(0, queued))
	if seq.Valid {
		leaf.LeafIndex = seq.Int64
	}
	if integrated.Valid {
		leaf.IntegrateTimestamp = timestamppb.New(time.Unix(0, integrated.Int64))
	}
	return &leaf, nil
}
