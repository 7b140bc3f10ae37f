package transparency

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	_ "modernc.org/sqlite" // database/sql driver "sqlite" for the checkpoint history
)

// File names inside the data directory.
const (
	checkpointKeyFile = "checkpoint.key" // note signer key, mode 0600
	checkpointPubFile = "checkpoint.pub" // verifier key, for operators
	checkpointDBFile  = "checkpoints.db" // history of signed checkpoints
)

// Checkpoint is a signed statement of the log's state: a C2SP
// tlog-checkpoint carried in a signed note.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   []byte // RFC 6962 root hash, 32 bytes
	// Note is the complete signed note: the three-line body, a blank line
	// and the signature line(s). Serve these bytes verbatim.
	Note []byte
}

// checkpointBody renders the C2SP tlog-checkpoint body.
func checkpointBody(origin string, size uint64, root []byte) string {
	return fmt.Sprintf("%s\n%d\n%s\n", origin, size, base64.StdEncoding.EncodeToString(root))
}

// OpenCheckpoint verifies a signed checkpoint note against verifierKey (a
// note verifier key string as returned by Ledger.VerifierKey) and parses it.
// If origin is not empty the checkpoint must carry that origin.
func OpenCheckpoint(signed []byte, verifierKey, origin string) (*Checkpoint, error) {
	v, err := note.NewVerifier(verifierKey)
	if err != nil {
		return nil, fmt.Errorf("%w: verifier key: %w", ErrInvalidArgument, err)
	}
	n, err := note.Open(signed, note.VerifierList(v))
	if err != nil {
		return nil, fmt.Errorf("%w: opening checkpoint note: %w", ErrInvalidArgument, err)
	}
	cp, err := parseCheckpointBody(n.Text)
	if err != nil {
		return nil, err
	}
	if origin != "" && cp.Origin != origin {
		return nil, fmt.Errorf("%w: checkpoint origin %q, want %q", ErrInvalidArgument, cp.Origin, origin)
	}
	cp.Note = bytes.Clone(signed)
	return cp, nil
}

// parseCheckpointBody parses the body strictly. Extension lines after the
// root are permitted by C2SP, but this log never writes any, so none are
// accepted.
func parseCheckpointBody(text string) (*Checkpoint, error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 4 || lines[3] != "" {
		return nil, fmt.Errorf("%w: checkpoint body must have exactly three lines", ErrInvalidArgument)
	}
	if lines[0] == "" {
		return nil, fmt.Errorf("%w: empty checkpoint origin", ErrInvalidArgument)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil || strconv.FormatUint(size, 10) != lines[1] {
		return nil, fmt.Errorf("%w: checkpoint size %q", ErrInvalidArgument, lines[1])
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != rfc6962.DefaultHasher.Size() {
		return nil, fmt.Errorf("%w: checkpoint root %q", ErrInvalidArgument, lines[2])
	}
	return &Checkpoint{Origin: lines[0], Size: size, Root: root}, nil
}

// checkpointSigner owns the signing key and the persistent history of
// signed checkpoints. It is the single place that decides whether a root
// may be signed, so the two invariants (never shrink, never fork) hold no
// matter who calls it.
type checkpointSigner struct {
	origin      string
	signer      note.Signer
	verifierKey string
	db          *sql.DB

	mu     sync.Mutex
	latest *Checkpoint // nil until the first checkpoint is signed
	// store persists a signed checkpoint; a field (set to storeDB) so
	// tests can make it fail as a full disk would.
	store func(ctx context.Context, size uint64, root, note []byte) error
}

// errStoreCheckpoint marks a signed checkpoint that could not be stored.
var errStoreCheckpoint = errors.New("storing checkpoint")

func openCheckpointSigner(ctx context.Context, dataDir, origin string) (*checkpointSigner, error) {
	skey, err := loadOrCreateKey(dataDir, origin)
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("parsing checkpoint key: %w", err)
	}
	vkey, err := verifierKeyFor(skey)
	if err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(dataDir, checkpointPubFile), []byte(vkey+"\n"), 0o644); err != nil {
		return nil, err
	}

	dsn := "file:" + filepath.Join(dataDir, checkpointDBFile) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening checkpoint history: %w", err)
	}
	// One connection: writes are serialised by s.mu anyway, and SQLite
	// gains nothing from more.
	db.SetMaxOpenConns(1)
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS checkpoints (
		size      INTEGER PRIMARY KEY,
		root      BLOB NOT NULL,
		note      BLOB NOT NULL,
		signed_at TEXT NOT NULL
	)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating checkpoint history: %w", err)
	}
	s := &checkpointSigner{origin: origin, signer: signer, verifierKey: vkey, db: db}
	s.store = s.storeDB
	var n []byte
	err = db.QueryRowContext(ctx, `SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1`).Scan(&n)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		db.Close()
		return nil, fmt.Errorf("reading latest checkpoint: %w", err)
	default:
		cp, err := OpenCheckpoint(n, vkey, "")
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("latest stored checkpoint does not verify with this key: %w", err)
		}
		// Changing the origin would silently start a different log as far
		// as verifiers are concerned.
		if cp.Origin != origin {
			db.Close()
			return nil, fmt.Errorf("%w: configured origin %q but checkpoints were signed for %q", ErrInvalidArgument, origin, cp.Origin)
		}
		s.latest = cp
	}
	return s, nil
}

func (s *checkpointSigner) close() error { return s.db.Close() }

func (s *checkpointSigner) latestCheckpoint() *Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.latest
}

// sign signs (size, root) if it extends the last signed checkpoint, as
// shown by the consistency proof (ignored when there is no earlier
// checkpoint or it is empty). Re-offering the current root returns the
// existing checkpoint. Anything else is refused with ErrInconsistent.
func (s *checkpointSigner) sign(ctx context.Context, size uint64, root []byte, consistency [][]byte) (*Checkpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev := s.latest; prev != nil {
		switch {
		case size < prev.Size:
			return nil, fmt.Errorf("%w: log size %d is smaller than signed checkpoint size %d", ErrInconsistent, size, prev.Size)
		case size == prev.Size:
			if !bytes.Equal(root, prev.Root) {
				return nil, fmt.Errorf("%w: different root for signed size %d", ErrInconsistent, size)
			}
			return prev, nil
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, prev.Size, size, consistency, prev.Root, root); err != nil {
			return nil, fmt.Errorf("%w: consistency %d→%d: %w", ErrInconsistent, prev.Size, size, err)
		}
	}
	signed, err := note.Sign(&note.Note{Text: checkpointBody(s.origin, size, root)}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("signing checkpoint: %w", err)
	}
	// Persist before publishing: a checkpoint anyone has seen must survive a
	// crash, or a later one could contradict it unnoticed.
	if err := s.store(ctx, size, root, signed); err != nil {
		return nil, fmt.Errorf("%w %d: %w", errStoreCheckpoint, size, err)
	}
	cp := &Checkpoint{Origin: s.origin, Size: size, Root: bytes.Clone(root), Note: signed}
	s.latest = cp
	return cp, nil
}

func (s *checkpointSigner) storeDB(ctx context.Context, size uint64, root, note []byte) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO checkpoints (size, root, note, signed_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (size) DO NOTHING`,
		int64(size), root, note, time.Now().UTC().Format(time.RFC3339Nano))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	// Stored by an earlier attempt that reported failure (its commit's
	// fsync failed, say): the retry must not fail on the row forever, but
	// the row must be for the same root.
	var stored []byte
	if err := s.db.QueryRowContext(ctx, `SELECT root FROM checkpoints WHERE size = ?`, int64(size)).Scan(&stored); err != nil {
		return err
	}
	if !bytes.Equal(stored, root) {
		return fmt.Errorf("%w: a different root is stored for size %d", ErrInconsistent, size)
	}
	return nil
}

// at returns the checkpoint signed at exactly size.
func (s *checkpointSigner) at(ctx context.Context, size uint64) (*Checkpoint, error) {
	var n []byte
	err := s.db.QueryRowContext(ctx, `SELECT note FROM checkpoints WHERE size = ?`, int64(size)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no checkpoint signed at size %d", ErrNotFound, size)
	}
	if err != nil {
		return nil, fmt.Errorf("reading checkpoint %d: %w", size, err)
	}
	return OpenCheckpoint(n, s.verifierKey, "")
}

// sizes returns the sizes of signed checkpoints in [from, to], ascending,
// at most limit of them.
func (s *checkpointSigner) sizes(ctx context.Context, from, to uint64, limit int) ([]uint64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT size FROM checkpoints WHERE size >= ? AND size <= ? ORDER BY size LIMIT ?`,
		int64(from), int64(min(to, 1<<63-1)), limit)
	if err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	defer rows.Close()
	var out []uint64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("listing checkpoints: %w", err)
		}
		out = append(out, uint64(v))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing checkpoints: %w", err)
	}
	return out, nil
}

// loadOrCreateKey returns the note signer key stored in the data directory,
// creating it on first start.
func loadOrCreateKey(dataDir, name string) (string, error) {
	path := filepath.Join(dataDir, checkpointKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("reading checkpoint key: %w", err)
	}
	skey, _, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		return "", fmt.Errorf("generating checkpoint key: %w", err)
	}
	if err := writeFileAtomic(path, []byte(skey+"\n"), 0o600); err != nil {
		return "", err
	}
	return skey, nil
}

// verifierKeyFor derives the verifier key string from a signer key string
// (PRIVATE+KEY+<name>+<hash>+<base64(alg ‖ seed)>).
func verifierKeyFor(skey string) (string, error) {
	// Base64 may itself contain '+', so only the first four separate.
	parts := strings.SplitN(skey, "+", 5)
	if len(parts) != 5 || parts[0] != "PRIVATE" || parts[1] != "KEY" {
		return "", errors.New("malformed checkpoint key")
	}
	raw, err := base64.StdEncoding.DecodeString(parts[4])
	if err != nil || len(raw) != 33 || raw[0] != 1 {
		return "", errors.New("checkpoint key is not an Ed25519 note key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(parts[2], pub)
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content, never a torn file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
