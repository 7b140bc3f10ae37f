// Package recoursestore keeps the recourse glassbox showed for each
// decision, in an SQLite file in the data directory, so that it is
// computed once, served the same on every later read, and recorded in
// the ledger once.
//
// A row is written before its ledger record is appended (Put, then
// MarkAppended): the record's bytes and id are fixed when the row is
// written, so a crash between the two is repaired by appending the very
// same bytes again, never by a second, different record.
package recoursestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// Entry is the recourse of one decision.
type Entry struct {
	// DecisionID is the decision's ledger id (hex).
	DecisionID string
	// Counterfactuals is the canonical JSON of what is served.
	Counterfactuals []byte
	// Record is the sealed "recourse" ledger record, RecordID its id.
	Record   []byte
	RecordID string
	// Appended says the record was accepted by the ledger.
	Appended bool
}

// Store is an open recourse store. It is safe for concurrent use.
type Store struct {
	db *sql.DB
}

const schema = `CREATE TABLE IF NOT EXISTS recourse (
	decision_id TEXT PRIMARY KEY,
	counterfactuals BLOB NOT NULL,
	record BLOB NOT NULL,
	record_id TEXT NOT NULL,
	appended INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID`

// Open opens (creating if needed) the store at path.
func Open(ctx context.Context, path string) (*Store, error) {
	// secure_delete: a deleted (erased) entry's bytes are overwritten in
	// the database pages, not left in free space.
	q := url.Values{"_pragma": {"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)", "secure_delete(ON)"}}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("recoursestore: open %q: %w", path, err)
	}
	// One connection: writes are rare (one per adverse decision viewed)
	// and SQLite serialises them anyway; reads of a WAL database are fast.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, errors.Join(fmt.Errorf("recoursestore: schema: %w", err), db.Close())
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Get returns the entry of a decision; ok is false when there is none.
func (s *Store) Get(ctx context.Context, decisionID string) (e Entry, ok bool, err error) {
	var appended int
	err = s.db.QueryRowContext(ctx, `SELECT decision_id, counterfactuals, record, record_id, appended FROM recourse WHERE decision_id = ?`, decisionID).
		Scan(&e.DecisionID, &e.Counterfactuals, &e.Record, &e.RecordID, &appended)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("recoursestore: get %s: %w", decisionID, err)
	}
	e.Appended = appended != 0
	return e, true, nil
}

// Put stores e unless the decision has an entry already, and returns the
// entry that is stored: e, or the earlier one (inserted false).
func (s *Store) Put(ctx context.Context, e Entry) (stored Entry, inserted bool, err error) {
	res, err := s.db.ExecContext(ctx, `INSERT INTO recourse (decision_id, counterfactuals, record, record_id, appended) VALUES (?, ?, ?, ?, 0) ON CONFLICT (decision_id) DO NOTHING`,
		e.DecisionID, e.Counterfactuals, e.Record, e.RecordID)
	if err != nil {
		return Entry{}, false, fmt.Errorf("recoursestore: put %s: %w", e.DecisionID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 1 {
		e.Appended = false
		return e, true, nil
	}
	stored, ok, err := s.Get(ctx, e.DecisionID)
	if err != nil {
		return Entry{}, false, err
	}
	if !ok {
		return Entry{}, false, fmt.Errorf("recoursestore: put %s: row neither inserted nor present", e.DecisionID)
	}
	return stored, false, nil
}

// MarkAppended records that the decision's recourse record is in the
// ledger.
func (s *Store) MarkAppended(ctx context.Context, decisionID string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE recourse SET appended = 1 WHERE decision_id = ?`, decisionID); err != nil {
		return fmt.Errorf("recoursestore: mark %s appended: %w", decisionID, err)
	}
	return nil
}

// Delete removes the entry of a decision (its record was erased), and
// truncates the write-ahead log so that no old page image of it stays
// there. It reports whether there was one.
func (s *Store) Delete(ctx context.Context, decisionID string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM recourse WHERE decision_id = ?`, decisionID)
	if err != nil {
		return false, fmt.Errorf("recoursestore: delete %s: %w", decisionID, err)
	}
	n, _ := res.RowsAffected()
	if _, err := s.db.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return n == 1, fmt.Errorf("recoursestore: delete %s: checkpoint: %w", decisionID, err)
	}
	return n == 1, nil
}
