package transparency

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/trillian"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
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
	// StartTimeout bounds opening: reaching Trillian and reading the
	// log's root; default DefaultStartTimeout.
	StartTimeout time.Duration
	Logger       *slog.Logger
	// Records and RecordGrace: see EmbeddedConfig.
	Records     RecordStore
	RecordGrace time.Duration
	// Metrics, if set, receives the ledger's own metrics (foreign leaves).
	Metrics prometheus.Registerer
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
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	startCtx, cancel := context.WithTimeout(ctx, cfg.StartTimeout)
	defer cancel()
	if err := awaitTrillian(startCtx, cfg.Client, cfg.TreeID); err != nil {
		if ctx.Err() == nil && startCtx.Err() != nil {
			// Most often a wrong address or a TLS mismatch: a server that
			// accepts the connection but never completes a handshake.
			return nil, fmt.Errorf("%w: Trillian log server did not answer within %s (is the address right, and do both sides agree on TLS?): %w", ErrUnavailable, cfg.StartTimeout, err)
		}
		return nil, err
	}
	return newLedger(startCtx, ledgerConfig{
		log:          cfg.Client,
		treeID:       cfg.TreeID,
		dataDir:      cfg.DataDir,
		origin:       cfg.Origin,
		pollInterval: cfg.CheckpointInterval,
		logger:       cfg.Logger,
		records:      cfg.Records,
		recordGrace:  cfg.RecordGrace,
		metrics:      cfg.Metrics,
	})
}

// awaitTrillian asks for the log's root until Trillian answers or ctx
// ends, so that glassbox may start before Trillian does (as in a compose
// file) while a wrong address still fails at start-up. Each attempt is
// bounded by the connection's own RPC deadline; an answer that is an error
// (no such tree) ends the wait at once.
func awaitTrillian(ctx context.Context, client trillian.TrillianLogClient, treeID int64) error {
	const retry = 250 * time.Millisecond
	for {
		_, err := client.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: treeID})
		switch status.Code(err) {
		case codes.OK:
			return nil
		case codes.Unavailable, codes.DeadlineExceeded:
		default:
			return grpcErr(fmt.Sprintf("reading the root of tree %d", treeID), err)
		}
		select {
		case <-ctx.Done():
			return grpcErr("reaching Trillian", err)
		case <-time.After(retry):
		}
	}
}
