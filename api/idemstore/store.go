// Package idemstore keeps the responses the API gave to requests that
// carried an Idempotency-Key header, so that a retry of the same request
// gets the same answer instead of a second decision.
//
// Entries live in a small SQLite database (the pure-Go modernc.org/sqlite
// driver, as the ledger's storage uses) in the server's data directory, so
// keys are honoured across restarts. Each write is committed with a full
// sync before it returns: the API stores a response only once its decision
// is durably in the ledger, and a stored response that a crash could lose
// would let a retry make the decision twice. Entries expire after the
// retention window and are purged as the store is used.
package idemstore

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"sync"
	"time"

	_ "modernc.org/sqlite" // the SQLite driver
)

// FileName is the store's file inside the data directory.
const FileName = "idempotency.db"

// DefaultRetention is how long a key is honoured: the IETF draft leaves
// the window to the server; 24 hours covers a client's retries across a
// day's outage.
const DefaultRetention = 24 * time.Hour

// Response is a stored answer and what identifies the request it
// answered.
type Response struct {
	// Fingerprint is the digest of the request (method, path and body)
	// the response answered.
	Fingerprint [sha256.Size]byte
	Status      int
	ContentType string
	Body        []byte
	Created     time.Time
}

// Options are the store's knobs; zero values take the defaults.
type Options struct {
	Retention time.Duration    // DefaultRetention
	Now       func() time.Time // time.Now
}

// Store is the idempotency store. It is safe for concurrent use.
type Store struct {
	db        *sql.DB
	retention time.Duration
	now       func() time.Time

	mu        sync.Mutex
	nextPurge time.Time
}

const schema = `CREATE TABLE IF NOT EXISTS responses (
	scope        TEXT    NOT NULL,
	key          TEXT    NOT NULL,
	fingerprint  BLOB    NOT NULL,
	status       INTEGER NOT NULL,
	content_type TEXT    NOT NULL,
	body         BLOB    NOT NULL,
	created_ns   INTEGER NOT NULL,
	PRIMARY KEY (scope, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS responses_created ON responses (created_ns);`

// Open opens (creating if needed) the store at path and purges expired
// entries.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// Stored receipts hold applicant tokens and personal data: the file
	// is the owner's alone, whatever the umask.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("idemstore: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("idemstore: %w", err)
	}
	db, err := sql.Open("sqlite", path+"?"+url.Values{"_pragma": {
		"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(FULL)",
	}}.Encode())
	if err != nil {
		return nil, fmt.Errorf("idemstore: open %q: %w", path, err)
	}
	// One connection: writes are serialised by SQLite anyway, and keyed
	// requests are a small share of the traffic.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return nil, errors.Join(fmt.Errorf("idemstore: schema of %q: %w", path, err), db.Close())
	}
	s := &Store{db: db, retention: opts.Retention, now: opts.Now}
	if err := s.purge(ctx); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// Retention is how long an entry is honoured.
func (s *Store) Retention() time.Duration { return s.retention }

// Get returns the response stored under (scope, key), or nil if there is
// none or it has expired.
func (s *Store) Get(ctx context.Context, scope, key string) (*Response, error) {
	var (
		r       Response
		fp      []byte
		created int64
	)
	err := s.db.QueryRowContext(ctx,
		`SELECT fingerprint, status, content_type, body, created_ns FROM responses WHERE scope = ? AND key = ? AND created_ns >= ?`,
		scope, key, s.cutoff()).Scan(&fp, &r.Status, &r.ContentType, &r.Body, &created)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("idemstore: get: %w", err)
	case len(fp) != sha256.Size:
		return nil, fmt.Errorf("idemstore: get: stored fingerprint has %d bytes", len(fp))
	}
	copy(r.Fingerprint[:], fp)
	r.Created = time.Unix(0, created)
	return &r, nil
}

// Put stores r under (scope, key), replacing an expired entry, and
// returns once the entry is durable. r.Created is set to now.
func (s *Store) Put(ctx context.Context, scope, key string, r Response) error {
	if err := s.maybePurge(ctx); err != nil {
		return err
	}
	_, err := s.db.ExecContext(ctx,
		`INSERT INTO responses (scope, key, fingerprint, status, content_type, body, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?)
		 ON CONFLICT (scope, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
		   content_type = excluded.content_type, body = excluded.body, created_ns = excluded.created_ns`,
		scope, key, r.Fingerprint[:], r.Status, r.ContentType, r.Body, s.now().UnixNano())
	if err != nil {
		return fmt.Errorf("idemstore: put: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) cutoff() int64 { return s.now().Add(-s.retention).UnixNano() }

// maybePurge deletes expired entries at most every retention/24, so the
// file stays the size of a day's keys without a background goroutine.
func (s *Store) maybePurge(ctx context.Context) error {
	s.mu.Lock()
	due := !s.now().Before(s.nextPurge)
	s.mu.Unlock()
	if !due {
		return nil
	}
	return s.purge(ctx)
}

func (s *Store) purge(ctx context.Context) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM responses WHERE created_ns < ?`, s.cutoff()); err != nil {
		return fmt.Errorf("idemstore: purge: %w", err)
	}
	s.mu.Lock()
	s.nextPurge = s.now().Add(s.retention / 24)
	s.mu.Unlock()
	return nil
}

// count is the number of entries, expired ones included (for tests).
func (s *Store) count(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM responses`).Scan(&n)
	return n, err
}
