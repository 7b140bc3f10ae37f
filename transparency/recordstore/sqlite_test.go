package recordstore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

type sqliteHarness struct{ dir string }

func newSQLiteHarness(t *testing.T) harness { return &sqliteHarness{dir: t.TempDir()} }

func (h *sqliteHarness) open(ctx context.Context, kek KEK, opts ...Option) (*Store, error) {
	return OpenSQLite(ctx, h.dir, kek, opts...)
}

// rawDB opens a store file with a connection of the test's own, beside the
// Store's.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func readBlobs(t *testing.T, db *sql.DB, query string) map[[32]byte][]byte {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	m := map[[32]byte][]byte{}
	for rows.Next() {
		var id, v []byte
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		if len(id) != 32 {
			t.Fatalf("id of %d bytes", len(id))
		}
		m[[32]byte(id)] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// backupRecords checkpoints the records file, copies it alone (the keys
// file stays behind, as in a backup of the record store) and reads the
// copy.
func (h *sqliteHarness) backupRecords(t *testing.T) map[[32]byte][]byte {
	t.Helper()
	src := filepath.Join(h.dir, RecordsFile)
	if _, err := rawDB(t, src).ExecContext(t.Context(), `PRAGMA wal_checkpoint(FULL)`); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "backup-"+RecordsFile)
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return readBlobs(t, rawDB(t, dst), `SELECT id, sealed FROM `+recordsTable)
}

func (h *sqliteHarness) keys(t *testing.T) map[[32]byte][]byte {
	t.Helper()
	return readBlobs(t, rawDB(t, filepath.Join(h.dir, KeysFile)), `SELECT id, wrapped FROM `+keysTable)
}

func (h *sqliteHarness) rawFiles(t *testing.T) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(h.dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func (h *sqliteHarness) execKeys(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := rawDB(t, filepath.Join(h.dir, KeysFile)).ExecContext(t.Context(), query, args...); err != nil {
		t.Fatal(err)
	}
}

func (h *sqliteHarness) spec() string { return "sqlite:" + h.dir }
