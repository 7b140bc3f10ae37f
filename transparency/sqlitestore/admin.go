package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

const selectTreeColumns = `SELECT TreeId, TreeState, TreeType, DisplayName, Description,
	CreateTimeNanos, UpdateTimeNanos, MaxRootDurationNanos, StorageSettings, Deleted, DeleteTimeNanos
	FROM Trees`

type adminStorage struct {
	writer, reader *sql.DB
	cache          *treeCache
}

var _ storage.AdminStorage = (*adminStorage)(nil)

func (s *adminStorage) Snapshot(context.Context) (storage.ReadOnlyAdminTX, error) {
	return &cachedSnapshot{s: s}, nil
}

// ReadWriteTransaction runs f in a write transaction. It is never retried:
// writes are serialized, so there is no conflict to retry after.
func (s *adminStorage) ReadWriteTransaction(ctx context.Context, f storage.AdminTXFunc) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin admin transaction: %w", err)
	}
	atx := &adminTX{tx: tx}
	defer func() {
		_ = atx.Close()
		// After the commit or rollback, so that no reader can cache what
		// this transaction replaced.
		s.cache.invalidate()
	}()
	if err := f(ctx, atx); err != nil {
		return err
	}
	return atx.Commit()
}

func (s *adminStorage) CheckDatabaseAccessible(ctx context.Context) error {
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlitestore: ping: %w", err)
	}
	return nil
}

type adminTX struct {
	tx *sql.Tx

	mu     sync.Mutex // guards closed
	closed bool
}

var _ storage.AdminTX = (*adminTX)(nil)

func (t *adminTX) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return sql.ErrTxDone
	}
	t.closed = true
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit admin transaction: %w", err)
	}
	return nil
}

func (t *adminTX) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	t.closed = true
	if err := t.tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
		return fmt.Errorf("sqlitestore: rollback admin transaction: %w", err)
	}
	return nil
}

func (t *adminTX) GetTree(ctx context.Context, treeID int64) (*trillian.Tree, error) {
	tree, err := scanTree(t.tx.QueryRowContext(ctx, selectTreeColumns+` WHERE TreeId = ?`, treeID))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, status.Errorf(codes.NotFound, "tree %d not found", treeID)
	case err != nil:
		return nil, fmt.Errorf("sqlitestore: read tree %d: %w", treeID, err)
	}
	return tree, nil
}

func (t *adminTX) ListTrees(ctx context.Context, includeDeleted bool) ([]*trillian.Tree, error) {
	q := selectTreeColumns
	if !includeDeleted {
		q += ` WHERE Deleted = 0`
	}
	rows, err := t.tx.QueryContext(ctx, q+` ORDER BY TreeId`)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: list trees: %w", err)
	}
	defer func() { _ = rows.Close() }()
	trees := []*trillian.Tree{}
	for rows.Next() {
		tree, err := scanTree(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: list trees: %w", err)
		}
		trees = append(trees, tree)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlitestore: list trees: %w", err)
	}
	return trees, nil
}

func (t *adminTX) CreateTree(ctx context.Context, tree *trillian.Tree) (*trillian.Tree, error) {
	if err := storage.ValidateTreeForCreation(ctx, tree); err != nil {
		return nil, err
	}
	id, err := storage.NewTreeID()
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: generate tree ID: %w", err)
	}
	settings, err := marshalSettings(tree.StorageSettings)
	if err != nil {
		return nil, err
	}
	// Round through nanoseconds so the returned tree equals what a later
	// GetTree reads back.
	now := time.Now().UnixNano()
	created := proto.Clone(tree).(*trillian.Tree)
	created.TreeId = id
	created.CreateTime = timestamppb.New(time.Unix(0, now))
	created.UpdateTime = timestamppb.New(time.Unix(0, now))

	if _, err := t.tx.ExecContext(ctx, `INSERT INTO Trees (TreeId, TreeState, TreeType, DisplayName, Description,
		CreateTimeNanos, UpdateTimeNanos, MaxRootDurationNanos, StorageSettings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		id, created.TreeState.String(), created.TreeType.String(), created.DisplayName, created.Description,
		now, now, int64(created.MaxRootDuration.AsDuration()), settings); err != nil {
		return nil, fmt.Errorf("sqlitestore: insert tree: %w", err)
	}
	return created, nil
}

func (t *adminTX) UpdateTree(ctx context.Context, treeID int64, updateFunc func(*trillian.Tree)) (*trillian.Tree, error) {
	stored, err := t.GetTree(ctx, treeID)
	if err != nil {
		return nil, err
	}
	tree := proto.Clone(stored).(*trillian.Tree)
	updateFunc(tree)
	if err := storage.ValidateTreeForUpdate(ctx, stored, tree); err != nil {
		return nil, err
	}
	settings, err := marshalSettings(tree.StorageSettings)
	if err != nil {
		return nil, err
	}
	// Never move UpdateTime backwards, even if the wall clock does.
	now := max(time.Now().UnixNano(), stored.UpdateTime.AsTime().UnixNano())
	tree.UpdateTime = timestamppb.New(time.Unix(0, now))
	if _, err := t.tx.ExecContext(ctx, `UPDATE Trees SET TreeState = ?, TreeType = ?, DisplayName = ?, Description = ?,
		UpdateTimeNanos = ?, MaxRootDurationNanos = ?, StorageSettings = ? WHERE TreeId = ?`,
		tree.TreeState.String(), tree.TreeType.String(), tree.DisplayName, tree.Description,
		now, int64(tree.MaxRootDuration.AsDuration()), settings, treeID); err != nil {
		return nil, fmt.Errorf("sqlitestore: update tree %d: %w", treeID, err)
	}
	return tree, nil
}

func (t *adminTX) SoftDeleteTree(ctx context.Context, treeID int64) (*trillian.Tree, error) {
	if err := t.requireDeleted(ctx, treeID, false); err != nil {
		return nil, err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE Trees SET Deleted = 1, DeleteTimeNanos = ? WHERE TreeId = ?`,
		time.Now().UnixNano(), treeID); err != nil {
		return nil, fmt.Errorf("sqlitestore: soft-delete tree %d: %w", treeID, err)
	}
	return t.GetTree(ctx, treeID)
}

func (t *adminTX) UndeleteTree(ctx context.Context, treeID int64) (*trillian.Tree, error) {
	if err := t.requireDeleted(ctx, treeID, true); err != nil {
		return nil, err
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE Trees SET Deleted = 0, DeleteTimeNanos = NULL WHERE TreeId = ?`, treeID); err != nil {
		return nil, fmt.Errorf("sqlitestore: undelete tree %d: %w", treeID, err)
	}
	return t.GetTree(ctx, treeID)
}

// HardDeleteTree removes the tree; foreign keys cascade the delete to its
// leaves, queue, tiles and roots.
func (t *adminTX) HardDeleteTree(ctx context.Context, treeID int64) error {
	if err := t.requireDeleted(ctx, treeID, true); err != nil {
		return err
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM Trees WHERE TreeId = ?`, treeID); err != nil {
		return fmt.Errorf("sqlitestore: hard-delete tree %d: %w", treeID, err)
	}
	return nil
}

func (t *adminTX) requireDeleted(ctx context.Context, treeID int64, want bool) error {
	var deleted bool
	switch err := t.tx.QueryRowContext(ctx, `SELECT Deleted FROM Trees WHERE TreeId = ?`, treeID).Scan(&deleted); {
	case errors.Is(err, sql.ErrNoRows):
		return status.Errorf(codes.NotFound, "tree %d not found", treeID)
	case err != nil:
		return fmt.Errorf("sqlitestore: read tree %d: %w", treeID, err)
	case want && !deleted:
		return status.Errorf(codes.FailedPrecondition, "tree %d is not soft deleted", treeID)
	case !want && deleted:
		return status.Errorf(codes.FailedPrecondition, "tree %d already soft deleted", treeID)
	}
	return nil
}

func marshalSettings(a *anypb.Any) ([]byte, error) {
	if a == nil {
		return nil, nil
	}
	b, err := proto.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: encode storage settings: %w", err)
	}
	return b, nil
}

func scanTree(r scanner) (*trillian.Tree, error) {
	var (
		tree                  trillian.Tree
		state, typ            string
		created, updated, mrd int64
		settings              []byte
		deleted               bool
		deleteTime            sql.NullInt64
	)
	if err := r.Scan(&tree.TreeId, &state, &typ, &tree.DisplayName, &tree.Description,
		&created, &updated, &mrd, &settings, &deleted, &deleteTime); err != nil {
		return nil, err
	}
	s, ok := trillian.TreeState_value[state]
	if !ok {
		return nil, fmt.Errorf("unknown tree state %q", state)
	}
	tt, ok := trillian.TreeType_value[typ]
	if !ok {
		return nil, fmt.Errorf("unknown tree type %q", typ)
	}
	tree.TreeState = trillian.TreeState(s)
	tree.TreeType = trillian.TreeType(tt)
	tree.CreateTime = timestamppb.New(time.Unix(0, created))
	tree.UpdateTime = timestamppb.New(time.Unix(0, updated))
	tree.MaxRootDuration = durationpb.New(time.Duration(mrd))
	if settings != nil {
		var a anypb.Any
		if err := proto.Unmarshal(settings, &a); err != nil {
			return nil, fmt.Errorf("decode storage settings: %w", err)
		}
		tree.StorageSettings = &a
	}
	tree.Deleted = deleted
	if deleted && deleteTime.Valid {
		tree.DeleteTime = timestamppb.New(time.Unix(0, deleteTime.Int64))
	}
	return &tree, nil
}
