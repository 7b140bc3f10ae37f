package transparency

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/trillian"
)

// DefaultCheckpointInterval is how often a remote ledger polls Trillian for
// a new root to sign.
const DefaultCheckpointInterval = 100 * time.Millisecond

// RemoteConfig configures a ledger on an existing Trillian log server.
type RemoteConfig struct {
	// Client talks to the Trillian log server; the caller owns its
	// connection.
	Client trillian.TrillianLogClient
	// TreeID is an initialised LOG tree.
	TreeID int64
	// DataDir holds the checkpoint key and history. Created if missing.
	DataDir string
	// Origin of checkpoints; default DefaultOrigin(TreeID).
	Origin string
	// CheckpointInterval; default DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	Logger             *slog.Logger
}

// OpenRemote returns a Ledger on a remote Trillian log. It fails if the log
// cannot be reached, so misconfiguration shows at start-up.
//
// A QueueLeaf that fails on the way back (a deadline, a dropped
// connection, an Unavailable or Internal status from a server that had
// already committed the leaf to MariaDB) may have queued it: Append then
// returns ErrOutcomeUnknown, not ErrNotRecorded, and the caller must look
// the record up by id (its RFC 6962 leaf hash) rather than report that
// nothing happened. Before giving that answer the ledger sends the same
// bytes again: Trillian deduplicates by leaf identity, so a resend that
// succeeds proves the record is queued either way. Only statuses Trillian returns before it writes
// (InvalidArgument, FailedPrecondition, NotFound, ResourceExhausted for a
// quota, PermissionDenied, Unauthenticated) count as not recorded.
func OpenRemote(ctx context.Context, cfg RemoteConfig) (*Ledger, error) {
	switch {
	case cfg.Client == nil:
		return nil, fmt.Errorf("%w: remote ledger needs a Trillian client", ErrInvalidArgument)
	case cfg.TreeID <= 0:
		return nil, fmt.Errorf("%w: remote ledger needs a tree id", ErrInvalidArgument)
	case cfg.DataDir == "":
		return nil, fmt.Errorf("%w: remote ledger needs a data directory for checkpoints", ErrInvalidArgument)
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	return newLedger(ctx, ledgerConfig{
		log:          cfg.Client,
		treeID:       cfg.TreeID,
		dataDir:      cfg.DataDir,
		origin:       cfg.Origin,
		pollInterval: cfg.CheckpointInterval,
		logger:       cfg.Logger,
	})
}
