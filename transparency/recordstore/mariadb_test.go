package recordstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// mariadbAddr is where the tests, like the repo's other production-path
// tests, find MariaDB (root, no password); scripts/trillian-mariadb.sh
// ensure-mariadb starts one.
const mariadbAddr = "127.0.0.1:3306"

type mariadbHarness struct {
	dsn string
	db  *sql.DB // the test's own connection, beside the Store's
}

// newMariaDBHarness creates a database of its own (gb_rs_ and random hex)
// and drops it when the test ends. Without a reachable MariaDB the test
// is skipped, or fails under CI, which is responsible for starting it.
func newMariaDBHarness(t *testing.T) harness {
	t.Helper()
	root := mysql.NewConfig()
	root.User, root.Net, root.Addr = "root", "tcp", mariadbAddr
	root.Timeout = 2 * time.Second
	admin, err := sql.Open("mysql", root.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.PingContext(t.Context()); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("MariaDB is not reachable on %s (CI must start it): %v", mariadbAddr, err)
		}
		t.Skipf("MariaDB is not reachable on %s: %v (run scripts/trillian-mariadb.sh ensure-mariadb)", mariadbAddr, err)
	}
	suffix := make([]byte, 6)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	name := "gb_rs_" + hex.EncodeToString(suffix)
	if _, err := admin.ExecContext(t.Context(), "CREATE DATABASE `"+name+"`"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE `"+name+"`"); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	cfg := root.Clone()
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return &mariadbHarness{dsn: cfg.FormatDSN(), db: db}
}

func (h *mariadbHarness) open(ctx context.Context, kek KEK, opts ...Option) (*Store, error) {
	return OpenMariaDB(ctx, h.dsn, kek, opts...)
}

// backupRecords dumps the records table's rows, as a logical backup of the
// record store would.
func (h *mariadbHarness) backupRecords(t *testing.T) map[[32]byte][]byte {
	t.Helper()
	return readBlobs(t, h.db, `SELECT id, sealed FROM `+recordsTable)
}

func (h *mariadbHarness) keys(t *testing.T) map[[32]byte][]byte {
	t.Helper()
	return readBlobs(t, h.db, `SELECT id, wrapped FROM `+keysTable)
}

// rawFiles dumps every table of the store, every column of every row
// concatenated: what the server hands anyone who can query or dump it (its
// data files are the server's, not the test's to read).
func (h *mariadbHarness) rawFiles(t *testing.T) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	for _, table := range []string{recordsTable, keysTable, metaTable} {
		rows, err := h.db.QueryContext(t.Context(), `SELECT * FROM `+table)
		if err != nil {
			t.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			t.Fatal(err)
		}
		var dump []byte
		for rows.Next() {
			vals := make([]sql.RawBytes, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				dump = append(dump, v...)
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			t.Fatal(err)
		}
		m["table "+table] = dump
	}
	return m
}

func (h *mariadbHarness) execKeys(t *testing.T, query string, args ...any) {
	t.Helper()
	if _, err := h.db.ExecContext(t.Context(), query, args...); err != nil {
		t.Fatal(err)
	}
}

func (h *mariadbHarness) spec() string { return "mariadb:" + h.dsn }
