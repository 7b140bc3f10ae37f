package recordstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"
)

// The SQLite store's two files in its directory: the ciphertexts and the
// wrapped data keys. They are separate files so that a copy of the first
// never carries the second.
const (
	RecordsFile = "records.db"
	KeysFile    = "record-keys.db"
)

// The records table is a rowid table, unlike the keys table: its rows
// are kilobytes, and appending them in rowid order while only the small
// id index takes random inserts is cheaper than keeping kilobyte rows in a
// b-tree ordered by random ids.
const sqliteRecordsSchema = `CREATE TABLE IF NOT EXISTS ` + recordsTable + ` (
	id BLOB NOT NULL UNIQUE,
	state INTEGER NOT NULL,
	sealed BLOB,
	put_at INTEGER NOT NULL,
	erased_at INTEGER
);
CREATE INDEX IF NOT EXISTS recordstore_pending ON ` + recordsTable + ` (state, put_at)`

const sqliteKeysSchema = `CREATE TABLE IF NOT EXISTS ` + keysTable + ` (
	id BLOB PRIMARY KEY,
	wrapped BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ` + metaTable + ` (
	k TEXT PRIMARY KEY,
	v BLOB NOT NULL
) WITHOUT ROWID`

// OpenSQLite opens (creating if needed) the record store in directory dir:
// RecordsFile holds the ciphertexts, KeysFile the data keys wrapped by
// kek. A KEK of the wrong length, or not the one the store was created
// with (ErrWrongKEK), is refused.
func OpenSQLite(ctx context.Context, dir string, kek KEK, opts ...Option) (*Store, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("recordstore: KEK of %d bytes, want %d", len(kek), KEKSize)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("recordstore: %w", err)
	}
	records, err := openSQLiteFile(ctx, filepath.Join(dir, RecordsFile), sqliteRecordsSchema)
	if err != nil {
		return nil, err
	}
	keys, err := openSQLiteFile(ctx, filepath.Join(dir, KeysFile), sqliteKeysSchema)
	if err != nil {
		return nil, errors.Join(err, records.Close())
	}
	b := &sqlBackend{
		records: records,
		keys:    keys,
		q: dialect{
			name:       "sqlite",
			replaceKey: `ON CONFLICT (id) DO UPDATE SET wrapped = excluded.wrapped`,
		},
		scrubFn: func(ctx context.Context) error {
			// secure_delete has zeroed the key in the newest page image,
			// but older images stay in the WAL (and the main file) until a
			// checkpoint copies the new one over and truncates the WAL.
			for _, db := range []*sql.DB{keys, records} {
				var busy, logged, copied int
				if err := db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logged, &copied); err != nil {
					return fmt.Errorf("recordstore: sqlite: checkpoint after erasure or rotation: %w", err)
				}
				if busy != 0 {
					// The change itself is committed; only older page
					// images may linger until the next checkpoint.
					return fmt.Errorf("recordstore: sqlite: the checkpoint that drops old page images could not complete (another connection holds the WAL); repeat the operation")
				}
			}
			return nil
		},
		closeFn: func() error { return errors.Join(keys.Close(), records.Close()) },
	}
	return newStore(ctx, b, kek, opts)
}

func openSQLiteFile(ctx context.Context, path, schema string) (*sql.DB, error) {
	q := url.Values{
		"_pragma": {
			// Set before the file's first table: a record of a few kB
			// shares a page with others instead of filling one alone,
			// so a group of Puts writes fewer WAL frames.
			"page_size(16384)",
			"busy_timeout(5000)",
			"journal_mode(WAL)",
			// Put is durable on return: every commit fsyncs the WAL.
			"synchronous(FULL)",
			// Deleted content (an erased record's key) is overwritten with
			// zeros, not just unlinked from the b-tree.
			"secure_delete(ON)",
			// The id indexes take random inserts; keep their pages
			// resident (16 MiB) rather than re-reading them.
			"cache_size(-16384)",
			// The statement journal of a multi-row insert stays in
			// memory instead of a temporary file opened per group.
			"temp_store(MEMORY)",
		},
		"_txlock": {"immediate"},
	}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("recordstore: open %s: %w", path, err)
	}
	// One connection per file: Puts are written in groups by one
	// goroutine, and a single connection means no reader pins an old WAL
	// snapshot when an erasure checkpoints the file.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, errors.Join(fmt.Errorf("recordstore: schema of %s: %w", path, err), db.Close())
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, errors.Join(fmt.Errorf("recordstore: %w", err), db.Close())
	}
	return db, nil
}
