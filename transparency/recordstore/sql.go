package recordstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// sqlBackend keeps ciphertexts and wrapped keys in two SQL tables: in two
// database files (SQLite) or in one database (MariaDB). records and keys
// are the same *sql.DB in the latter case.
type sqlBackend struct {
	records, keys *sql.DB
	q             dialect
	// scrubFn is run after an erasure; nil if the database offers nothing.
	scrubFn func(ctx context.Context) error
	closeFn func() error
}

// dialect holds the statements that differ between databases.
type dialect struct {
	name string
	// overwriteKey overwrites a wrapped key in place before it is deleted.
	overwriteKey string
	// replaceKey ends a multi-row insert into the keys table so that it
	// replaces a key already there: one left by a Put that a crash cut
	// off after its key and before its ciphertext, whose retry must not
	// fail (nor fail the others in its group).
	replaceKey string
}

// Table names; the same in both databases.
const (
	recordsTable = "recordstore_records"
	keysTable    = "recordstore_keys"
	metaTable    = "recordstore_meta"
)

func (b *sqlBackend) wrap(op string, err error) error {
	return fmt.Errorf("recordstore: %s: %s: %w", b.q.name, op, err)
}

func (b *sqlBackend) kekCheck(ctx context.Context) ([]byte, error) {
	var v []byte
	err := b.keys.QueryRowContext(ctx, `SELECT v FROM `+metaTable+` WHERE k = 'kek_check'`).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, b.wrap("read KEK check", err)
	}
	return v, nil
}

func (b *sqlBackend) setKEKCheck(ctx context.Context, v []byte) error {
	if _, err := b.keys.ExecContext(ctx, `INSERT INTO `+metaTable+` (k, v) VALUES ('kek_check', ?)`, v); err != nil {
		return b.wrap("write KEK check", err)
	}
	return nil
}

func (b *sqlBackend) record(ctx context.Context, id [32]byte) (row, bool, error) {
	r := row{id: id}
	err := b.records.QueryRowContext(ctx, `SELECT state, sealed, put_at FROM `+recordsTable+` WHERE id = ?`, id[:]).
		Scan(&r.state, &r.sealed, &r.putAt)
	if errors.Is(err, sql.ErrNoRows) {
		return row{}, false, nil
	}
	if err != nil {
		return row{}, false, b.wrap(fmt.Sprintf("read record %x", id), err)
	}
	return r, true, nil
}

func (b *sqlBackend) key(ctx context.Context, id [32]byte) ([]byte, error) {
	var w []byte
	err := b.keys.QueryRowContext(ctx, `SELECT wrapped FROM `+keysTable+` WHERE id = ?`, id[:]).Scan(&w)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, b.wrap(fmt.Sprintf("read key %x", id), err)
	}
	return w, nil
}

// inTx runs f in a transaction of db and commits it.
func (b *sqlBackend) inTx(ctx context.Context, db *sql.DB, op string, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return b.wrap(op, err)
	}
	if err := f(tx); err != nil {
		return errors.Join(b.wrap(op, err), tx.Rollback())
	}
	if err := tx.Commit(); err != nil {
		return b.wrap(op, err)
	}
	return nil
}

// A multi-row statement holds at most chunkRows rows (well inside both
// databases' limits on bound parameters) and, past the first row, at most
// chunkBytes of ciphertext (inside MariaDB's default max_allowed_packet).
const (
	chunkRows  = 256
	chunkBytes = 4 << 20
)

// chunks splits rows for multi-row statements.
func chunks(rows []row) [][]row {
	var out [][]row
	for len(rows) > 0 {
		n, size := 0, 0
		for n < len(rows) && n < chunkRows && (n == 0 || size+len(rows[n].sealed) <= chunkBytes) {
			size += len(rows[n].sealed)
			n++
		}
		out = append(out, rows[:n])
		rows = rows[n:]
	}
	return out
}

// placeholders is "(?, ?), (?, ?)…": n groups of width parameters.
func placeholders(n, width int) string {
	group := "(" + strings.Repeat("?, ", width-1) + "?)"
	return strings.Repeat(group+", ", n-1) + group
}

// lookup returns the ciphertext rows of those ids that have one, in one
// query per chunk.
func (b *sqlBackend) lookup(ctx context.Context, ids [][32]byte) (map[[32]byte]row, error) {
	found := make(map[[32]byte]row, len(ids))
	for start := 0; start < len(ids); start += chunkRows {
		chunk := ids[start:min(start+chunkRows, len(ids))]
		args := make([]any, len(chunk))
		for i := range chunk {
			args[i] = chunk[i][:]
		}
		q := `SELECT id, state, sealed, put_at FROM ` + recordsTable + ` WHERE id IN (` + strings.Repeat("?, ", len(chunk)-1) + `?)`
		rows, err := b.records.QueryContext(ctx, q, args...)
		if err != nil {
			return nil, b.wrap("read records", err)
		}
		for rows.Next() {
			var raw []byte
			var r row
			if err := rows.Scan(&raw, &r.state, &r.sealed, &r.putAt); err != nil {
				return nil, errors.Join(b.wrap("read records", err), rows.Close())
			}
			if len(raw) != len(r.id) {
				return nil, errors.Join(b.wrap("read records", fmt.Errorf("id of %d bytes", len(raw))), rows.Close())
			}
			r.id = [32]byte(raw)
			found[r.id] = r
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return nil, b.wrap("read records", err)
		}
	}
	return found, nil
}

// insert writes the keys in one transaction and then the ciphertexts in
// another, with multi-row statements: a batch of Puts costs two commits
// and a few statements, not a dozen statements per record.
func (b *sqlBackend) insert(ctx context.Context, rows []row) error {
	err := b.inTx(ctx, b.keys, "insert keys", func(tx *sql.Tx) error {
		for _, chunk := range chunks(rows) {
			args := make([]any, 0, 2*len(chunk))
			for _, r := range chunk {
				args = append(args, r.id[:], r.wrapped)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+keysTable+` (id, wrapped) VALUES `+placeholders(len(chunk), 2)+` `+b.q.replaceKey, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return b.inTx(ctx, b.records, "insert records", func(tx *sql.Tx) error {
		for _, chunk := range chunks(rows) {
			args := make([]any, 0, 4*len(chunk))
			for _, r := range chunk {
				args = append(args, r.id[:], int(r.state), r.sealed, r.putAt)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO `+recordsTable+` (id, state, sealed, put_at) VALUES `+placeholders(len(chunk), 4), args...); err != nil {
				return err
			}
		}
		return nil
	})
}

func (b *sqlBackend) commit(ctx context.Context, ids [][32]byte) (missing int, err error) {
	err = b.inTx(ctx, b.records, "commit", func(tx *sql.Tx) error {
		missing = 0
		for _, id := range ids {
			res, err := tx.ExecContext(ctx, `UPDATE `+recordsTable+` SET state = ? WHERE id = ? AND state = ?`, int(stateCommitted), id[:], int(statePending))
			if err != nil {
				return fmt.Errorf("record %x: %w", id, err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				continue
			}
			var one int
			err = tx.QueryRowContext(ctx, `SELECT 1 FROM `+recordsTable+` WHERE id = ?`, id[:]).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				missing++
			} else if err != nil {
				return fmt.Errorf("record %x: %w", id, err)
			}
		}
		return nil
	})
	return missing, err
}

func (b *sqlBackend) pending(ctx context.Context, before int64) ([][32]byte, error) {
	rows, err := b.records.QueryContext(ctx, `SELECT id FROM `+recordsTable+` WHERE state = ? AND put_at < ? ORDER BY put_at, id`, int(statePending), before)
	if err != nil {
		return nil, b.wrap("pending", err)
	}
	defer rows.Close()
	var ids [][32]byte
	for rows.Next() {
		var raw []byte
		if err := rows.Scan(&raw); err != nil {
			return nil, b.wrap("pending", err)
		}
		var id [32]byte
		if copy(id[:], raw) != len(id) || len(raw) != len(id) {
			return nil, b.wrap("pending", fmt.Errorf("id of %d bytes", len(raw)))
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, b.wrap("pending", err)
	}
	return ids, nil
}

func (b *sqlBackend) deleteKey(ctx context.Context, id [32]byte) error {
	return b.inTx(ctx, b.keys, fmt.Sprintf("destroy key %x", id), func(tx *sql.Tx) error {
		if b.q.overwriteKey != "" {
			if _, err := tx.ExecContext(ctx, b.q.overwriteKey, id[:]); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM `+keysTable+` WHERE id = ?`, id[:])
		return err
	})
}

func (b *sqlBackend) deleteRecord(ctx context.Context, id [32]byte) error {
	if _, err := b.records.ExecContext(ctx, `DELETE FROM `+recordsTable+` WHERE id = ? AND state = ?`, id[:], int(statePending)); err != nil {
		return b.wrap(fmt.Sprintf("delete record %x", id), err)
	}
	return nil
}

func (b *sqlBackend) tombstone(ctx context.Context, id [32]byte, at int64) error {
	if _, err := b.records.ExecContext(ctx, `UPDATE `+recordsTable+` SET state = ?, sealed = NULL, erased_at = ? WHERE id = ?`, int(stateErased), at, id[:]); err != nil {
		return b.wrap(fmt.Sprintf("tombstone record %x", id), err)
	}
	return nil
}

// rewrapPage is how many keys rewrapKeys reads at a time.
const rewrapPage = 1000

func (b *sqlBackend) rewrapKeys(ctx context.Context, f func(id [32]byte, wrapped []byte) ([]byte, error), check []byte) (n int, err error) {
	err = b.inTx(ctx, b.keys, "rewrap keys", func(tx *sql.Tx) error {
		n = 0
		after := []byte{}
		for {
			page, err := readKeyPage(ctx, tx, after)
			if err != nil {
				return err
			}
			for _, k := range page {
				w, err := f(k.id, k.wrapped)
				if err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, `UPDATE `+keysTable+` SET wrapped = ? WHERE id = ?`, w, k.id[:]); err != nil {
					return err
				}
				n++
			}
			if len(page) < rewrapPage {
				break
			}
			last := page[len(page)-1].id
			after = last[:]
		}
		res, err := tx.ExecContext(ctx, `UPDATE `+metaTable+` SET v = ? WHERE k = 'kek_check'`, check)
		if err != nil {
			return err
		}
		if m, err := res.RowsAffected(); err != nil || m != 1 {
			return errors.Join(fmt.Errorf("KEK check value: %d rows updated", m), err)
		}
		return nil
	})
	return n, err
}

// readKeyPage reads the next rewrapPage keys with ids above after.
func readKeyPage(ctx context.Context, tx *sql.Tx, after []byte) ([]row, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, wrapped FROM `+keysTable+` WHERE id > ? ORDER BY id LIMIT ?`, after, rewrapPage)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var page []row
	for rows.Next() {
		var raw []byte
		var r row
		if err := rows.Scan(&raw, &r.wrapped); err != nil {
			return nil, err
		}
		if len(raw) != len(r.id) {
			return nil, fmt.Errorf("key id of %d bytes", len(raw))
		}
		r.id = [32]byte(raw)
		page = append(page, r)
	}
	return page, rows.Err()
}

func (b *sqlBackend) scrub(ctx context.Context) error {
	if b.scrubFn == nil {
		return nil
	}
	return b.scrubFn(ctx)
}

func (b *sqlBackend) close() error { return b.closeFn() }
