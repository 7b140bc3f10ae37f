package sqlitestore

import (
	"context"
	"database/sql"
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"

	"github.com/google/trillian/monitoring"
	"github.com/google/trillian/storage"

	// Registers the "sqlite" database/sql driver.
	_ "modernc.org/sqlite"
)

// ProviderName is the name under which Register makes this provider known to
// storage.NewProvider.
const ProviderName = "sqlite"

const (
	driverName = "sqlite"

	// schemaVersion is recorded in PRAGMA user_version. Bump it together with
	// a migration when schema.sql changes incompatibly.
	schemaVersion = 1

	// busyTimeoutMillis only matters when another process holds the database
	// lock (a backup tool, an operator's sqlite3 shell); inside one Provider
	// writes are already serialized.
	busyTimeoutMillis = 10000
)

//go:embed schema.sql
var schemaSQL string

// Provider owns the SQLite database and implements storage.Provider.
type Provider struct {
	writer  *sql.DB // exactly one connection; all writes go through it
	reader  *sql.DB // query-only pool for snapshots
	metrics *metrics
	intake  *intake
	log     *logStorage
	admin   *adminStorage

	closeOnce sync.Once
	closeErr  error
}

var _ storage.Provider = (*Provider)(nil)

// Open opens (creating if needed) the SQLite database at path and applies the schema.
// mf may be nil, in which case metrics are discarded. Metric names are
// registered with mf once per Provider, so a factory that rejects duplicate
// names (such as Prometheus') must not be shared between two Providers.
func Open(ctx context.Context, path string, mf monitoring.MetricFactory) (*Provider, error) {
	return OpenWith(ctx, path, mf, Options{})
}

// Options are knobs for OpenWith; the zero value is what Open uses.
type Options struct {
	// FS carries the intake's file operations; default OSFS. A test
	// passes one that injects faults.
	FS FS
	// SegmentBytes is the intake segment size past which a new segment is
	// started; default 16 MiB.
	SegmentBytes int64
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, path string, mf monitoring.MetricFactory, opts Options) (*Provider, error) {
	if err := checkPath(path); err != nil {
		return nil, err
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = defaultSegmentBytes
	}
	if mf == nil {
		mf = monitoring.InertMetricFactory{}
	}

	writer, err := sql.Open(driverName, dsn(path, url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
			"journal_mode(WAL)",
			"synchronous(FULL)",
			"foreign_keys(1)",
			// The writer touches the hot end of every index on each batch;
			// a larger cache keeps those pages resident.
			"cache_size(-65536)",
			// Bounds the WAL file left behind after a checkpoint.
			"journal_size_limit(67108864)",
			// Statement journals and temporary b-trees stay in memory
			// rather than in temporary files.
			"temp_store(MEMORY)",
			// Checkpoint every ~16 MiB of WAL instead of 4 MiB: hot index
			// pages rewritten between checkpoints are copied back once.
			"wal_autocheckpoint(4000)",
		},
		"_txlock": {"immediate"},
	}))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open writer %q: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	// Keep the connection (and its prepared statements) for the life of the
	// Provider.
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	if err := applySchema(ctx, writer); err != nil {
		return nil, errors.Join(err, writer.Close())
	}

	readers := max(4, 2*runtime.GOMAXPROCS(0))
	reader, err := sql.Open(driverName, dsn(path, url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
			"cache_size(-16384)",
		},
		"_query_only": {"1"},
	}))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("sqlitestore: open reader %q: %w", path, err), writer.Close())
	}
	reader.SetMaxOpenConns(readers)
	reader.SetMaxIdleConns(readers)
	if err := reader.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("sqlitestore: ping reader: %w", err), reader.Close(), writer.Close())
	}

	p := &Provider{writer: writer, reader: reader, metrics: newMetrics(mf)}
	ws, err := prepareWriteStmts(ctx, writer)
	if err != nil {
		return nil, errors.Join(err, reader.Close(), writer.Close())
	}
	rs, err := prepareReadStmts(ctx, reader)
	if err != nil {
		return nil, errors.Join(err, ws.close(), reader.Close(), writer.Close())
	}
	var consumed int64
	if err := writer.QueryRowContext(ctx, selectIntakeConsumedSQL).Scan(&consumed); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, errors.Join(fmt.Errorf("sqlitestore: read intake progress: %w", err), rs.close(), ws.close(), reader.Close(), writer.Close())
	}
	// The intake's goroutines outlive Open's context; they stop on Close.
	p.intake, err = openIntake(context.WithoutCancel(ctx), opts.FS, path+intakeSuffix, uint64(consumed), p, ws, rs, opts.SegmentBytes)
	if err != nil {
		return nil, errors.Join(err, rs.close(), ws.close(), reader.Close(), writer.Close())
	}
	p.log = &logStorage{writer: writer, reader: reader, ws: ws, rs: rs, intake: p.intake, metrics: p.metrics}
	p.admin = &adminStorage{writer: writer, reader: reader, cache: newTreeCache()}
	return p, nil
}

// Writable reports why the intake refuses appends, or nil when it accepts
// them. The intake retries on its own, so this turns nil again once the
// cause is gone.
func (p *Provider) Writable() error {
	p.intake.mu.Lock()
	defer p.intake.mu.Unlock()
	if p.intake.fault != nil {
		return fmt.Errorf("sqlitestore: the intake refuses appends: %w", p.intake.fault)
	}
	return nil
}

// LogStorage returns the log storage backed by this Provider.
func (p *Provider) LogStorage() storage.LogStorage { return p.log }

// AdminStorage returns the admin storage backed by this Provider.
func (p *Provider) AdminStorage() storage.AdminStorage { return p.admin }

// Close stops the intake, waits for any in-flight append, moves pending
// leaves into the database and closes it. Calls after the first return the
// first result.
func (p *Provider) Close() error {
	p.closeOnce.Do(func() {
		p.closeErr = errors.Join(
			p.intake.stop(),
			p.log.ws.close(),
			p.log.rs.close(),
			p.reader.Close(),
			// Closing the last connection checkpoints the WAL into the
			// main file and removes it.
			p.writer.Close(),
		)
	})
	return p.closeErr
}

// Register makes Trillian's storage.NewProvider(ProviderName, mf) open the
// database at path. It is meant to be called once, by a binary's main;
// Trillian's registry rejects a second registration of the same name.
func Register(path string) error {
	if err := checkPath(path); err != nil {
		return err
	}
	return storage.RegisterProvider(ProviderName, func(mf monitoring.MetricFactory) (storage.Provider, error) {
		// NewProviderFunc carries no context; opening is local file work.
		return Open(context.Background(), path, mf)
	})
}

func checkPath(path string) error {
	switch {
	case path == "":
		return errors.New("sqlitestore: empty database path")
	case path == ":memory:" || strings.HasPrefix(path, "file:"):
		// The reader and writer pools must see the same database, which
		// rules out in-memory databases; URIs would bypass our parameters.
		return fmt.Errorf("sqlitestore: %q: a plain file path is required", path)
	case strings.ContainsAny(path, "?#"):
		// The driver splits the DSN at '?'.
		return fmt.Errorf("sqlitestore: %q: path must not contain '?' or '#'", path)
	}
	return nil
}

func dsn(path string, params url.Values) string {
	return path + "?" + params.Encode()
}

func applySchema(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: begin schema transaction: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("sqlitestore: read schema version: %w", err)
	}
	if version > schemaVersion {
		return fmt.Errorf("sqlitestore: database schema version %d is newer than supported version %d", version, schemaVersion)
	}
	if _, err := tx.ExecContext(ctx, schemaSQL); err != nil {
		return fmt.Errorf("sqlitestore: apply schema: %w", err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion)); err != nil {
		return fmt.Errorf("sqlitestore: record schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: commit schema: %w", err)
	}
	return nil
}
