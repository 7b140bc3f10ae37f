package recordstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"

	"github.com/go-sql-driver/mysql"
)

// MariaDB tables of the store, created if absent. Ciphertexts and wrapped
// keys are in separate tables so that a dump or backup of the records
// table never carries the keys.
var mariadbSchema = []string{
	`CREATE TABLE IF NOT EXISTS ` + recordsTable + ` (
	id BINARY(32) NOT NULL PRIMARY KEY,
	state TINYINT NOT NULL,
	sealed LONGBLOB NULL,
	put_at BIGINT NOT NULL,
	erased_at BIGINT NULL,
	INDEX recordstore_pending (state, put_at)
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS ` + keysTable + ` (
	id BINARY(32) NOT NULL PRIMARY KEY,
	wrapped VARBINARY(255) NOT NULL
) ENGINE=InnoDB`,
	`CREATE TABLE IF NOT EXISTS ` + metaTable + ` (
	k VARCHAR(64) NOT NULL PRIMARY KEY,
	v VARBINARY(255) NOT NULL
) ENGINE=InnoDB`,
}

// OpenMariaDB opens the record store in the MariaDB database named by dsn
// (the driver's form, e.g. "user@tcp(127.0.0.1:3306)/glassbox"), creating
// its tables if absent. A KEK of the wrong length, or not the one the
// store was created with (ErrWrongKEK), is refused.
func OpenMariaDB(ctx context.Context, dsn string, kek KEK, opts ...Option) (*Store, error) {
	if len(kek) != KEKSize {
		return nil, fmt.Errorf("recordstore: KEK of %d bytes, want %d", len(kek), KEKSize)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("recordstore: mariadb DSN: %w", err)
	}
	if cfg.DBName == "" {
		return nil, errors.New("recordstore: mariadb DSN names no database")
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("recordstore: mariadb DSN: %w", err)
	}
	db := sql.OpenDB(conn)
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("recordstore: mariadb %s: %w", cfg.Addr, err), db.Close())
	}
	for _, st := range mariadbSchema {
		if _, err := db.ExecContext(ctx, st); err != nil {
			return nil, errors.Join(fmt.Errorf("recordstore: mariadb schema: %w", err), db.Close())
		}
	}
	// Put is durable on return only if InnoDB flushes its log at every
	// commit (the default); say so when the server is set otherwise.
	var flush int
	if err := db.QueryRowContext(ctx, `SELECT @@innodb_flush_log_at_trx_commit`).Scan(&flush); err == nil && flush != 1 {
		slog.WarnContext(ctx, "recordstore: innodb_flush_log_at_trx_commit is not 1; acknowledged records may be lost in a crash", "value", flush)
	}
	b := &sqlBackend{
		records: db,
		keys:    db,
		q: dialect{
			name: "mariadb",
			// InnoDB has no secure_delete: overwrite the key in place so
			// the page no longer holds it once the change is flushed.
			overwriteKey: `UPDATE ` + keysTable + ` SET wrapped = REPEAT(X'00', LENGTH(wrapped)) WHERE id = ?`,
			replaceKey:   `ON DUPLICATE KEY UPDATE wrapped = VALUES(wrapped)`,
		},
		closeFn: db.Close,
	}
	return newStore(ctx, b, kek, opts)
}
