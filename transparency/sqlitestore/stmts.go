package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SQL text of every statement the provider runs more than occasionally. Each
// is prepared once per connection and reused.
const (
	selectLatestRootSQL = `SELECT Revision, LogRoot FROM TreeHeads
		WHERE TreeId = ? ORDER BY Revision DESC LIMIT 1`
	hasRootSQL        = `SELECT 1 FROM TreeHeads WHERE TreeId = ? LIMIT 1`
	insertTreeHeadSQL = `INSERT INTO TreeHeads (TreeId, Revision, TreeSize, TimestampNanos, RootHash, LogRoot)
		VALUES (?, ?, ?, ?, ?, ?)`

	selectSubtreeSQL = `SELECT Nodes FROM Subtrees WHERE TreeId = ? AND SubtreeId = ?`
	upsertSubtreeSQL = `INSERT INTO Subtrees (TreeId, SubtreeId, Nodes) VALUES (?, ?, ?)
		ON CONFLICT (TreeId, SubtreeId) DO UPDATE SET Nodes = excluded.Nodes`

	// RowsAffected = 0 tells the caller the identity hash is already stored.
	insertLeafSQL = `INSERT INTO Leaves (TreeId, LeafIdentityHash, MerkleLeafHash, LeafValue, ExtraData, QueueTimestampNanos)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (TreeId, LeafIdentityHash) DO NOTHING`
	insertUnsequencedSQL = `INSERT INTO Unsequenced (TreeId, QueueTimestampNanos, LeafIdentityHash, MerkleLeafHash)
		VALUES (?, ?, ?, ?)`
	// The row-value comparison resumes after the last leaf handed out by an
	// earlier DequeueLeaves call in the same transaction.
	selectUnsequencedSQL = `SELECT QueueTimestampNanos, LeafIdentityHash, MerkleLeafHash FROM Unsequenced
		WHERE TreeId = ? AND QueueTimestampNanos <= ? AND (QueueTimestampNanos, LeafIdentityHash) > (?, ?)
		ORDER BY QueueTimestampNanos, LeafIdentityHash LIMIT ?`
	deleteUnsequencedSQL = `DELETE FROM Unsequenced
		WHERE TreeId = ? AND QueueTimestampNanos = ? AND LeafIdentityHash = ?`
	setIntakeConsumedSQL = `INSERT INTO IntakeState (Id, ConsumedSeq) VALUES (0, ?)
		ON CONFLICT (Id) DO UPDATE SET ConsumedSeq = max(ConsumedSeq, excluded.ConsumedSeq)`
	selectIntakeConsumedSQL = `SELECT ConsumedSeq FROM IntakeState WHERE Id = 0`
	insertSequencedSQL      = `INSERT INTO SequencedLeaves (TreeId, SequenceNumber, LeafIdentityHash, MerkleLeafHash, IntegrateTimestampNanos)
		VALUES (?, ?, ?, ?, ?)`

	// leafColumns is the column list scanned by scanLeaf.
	leafColumns = `s.SequenceNumber, s.MerkleLeafHash, l.LeafIdentityHash, l.LeafValue, l.ExtraData,
		l.QueueTimestampNanos, s.IntegrateTimestampNanos`
	sequencedJoin = ` FROM SequencedLeaves s JOIN Leaves l
		ON l.TreeId = s.TreeId AND l.LeafIdentityHash = s.LeafIdentityHash`

	selectLeavesByRangeSQL = `SELECT ` + leafColumns + sequencedJoin + `
		WHERE s.TreeId = ? AND s.SequenceNumber >= ? AND s.SequenceNumber < ?
		ORDER BY s.SequenceNumber`
	selectLeavesByMerkleHashSQL = `SELECT ` + leafColumns + sequencedJoin + `
		WHERE s.TreeId = ? AND s.MerkleLeafHash = ?`
	selectSequencedAtSQL = `SELECT ` + leafColumns + sequencedJoin + `
		WHERE s.TreeId = ? AND s.SequenceNumber = ?`
	// A queued leaf may not be sequenced yet, hence the outer join; the
	// Merkle hash lets SQLite use SequencedLeavesByMerkleHash.
	selectLeafByIdentitySQL = `SELECT s.SequenceNumber, l.MerkleLeafHash, l.LeafIdentityHash, l.LeafValue, l.ExtraData,
		l.QueueTimestampNanos, s.IntegrateTimestampNanos
		FROM Leaves l LEFT JOIN SequencedLeaves s
		ON s.TreeId = l.TreeId AND s.MerkleLeafHash = l.MerkleLeafHash AND s.LeafIdentityHash = l.LeafIdentityHash
		WHERE l.TreeId = ? AND l.LeafIdentityHash = ?`
)

// readQueries are prepared on both pools; writeQueries only on the writer.
func readQueries() []string {
	return []string{
		selectLatestRootSQL,
		selectSubtreeSQL,
		selectLeavesByRangeSQL,
		selectLeavesByMerkleHashSQL,
		// The intake's duplicate and tree checks.
		hasRootSQL,
		selectLeafByIdentitySQL,
	}
}

func writeQueries() []string {
	return append(readQueries(),
		insertTreeHeadSQL,
		upsertSubtreeSQL,
		insertLeafSQL,
		insertUnsequencedSQL,
		selectUnsequencedSQL,
		deleteUnsequencedSQL,
		insertSequencedSQL,
		selectSequencedAtSQL,
		setIntakeConsumedSQL,
	)
}

// stmts holds statements prepared on a *sql.DB, keyed by their SQL text.
// It is filled once before use and then only read.
type stmts map[string]*sql.Stmt

// prepareStmts prepares queries up front. For the writer this is required,
// not just an optimization: preparing on the single-connection pool while a
// transaction holds that connection would wait forever.
func prepareStmts(ctx context.Context, db *sql.DB, queries []string) (stmts, error) {
	s := make(stmts, len(queries))
	for _, q := range queries {
		ps, err := db.PrepareContext(ctx, q)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("sqlitestore: prepare %q: %w", q, err), s.close())
		}
		s[q] = ps
	}
	return s, nil
}

func prepareWriteStmts(ctx context.Context, db *sql.DB) (stmts, error) {
	return prepareStmts(ctx, db, writeQueries())
}

func prepareReadStmts(ctx context.Context, db *sql.DB) (stmts, error) {
	return prepareStmts(ctx, db, readQueries())
}

// in returns the statement bound to tx. Binding reuses the statement already
// prepared on tx's connection, or prepares it there once.
func (s stmts) in(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if ps, ok := s[query]; ok {
		return tx.StmtContext(ctx, ps), nil
	}
	ps, err := tx.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: prepare: %w", err)
	}
	return ps, nil
}

func (s stmts) close() error {
	var errs []error
	for _, ps := range s {
		if err := ps.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
