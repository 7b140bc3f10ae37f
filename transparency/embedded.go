package transparency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/extension"
	tlog "github.com/google/trillian/log"
	"github.com/google/trillian/monitoring"
	"github.com/google/trillian/quota"
	"github.com/google/trillian/server"
	"github.com/google/trillian/server/admin"
	"github.com/google/trillian/storage"
	"github.com/google/trillian/util/clock"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Defaults for EmbeddedConfig.
const (
	DefaultIntegrationInterval = 100 * time.Millisecond
	DefaultBatchSize           = 1000
)

const (
	treeIDFile     = "tree-id"
	trillianDBFile = "trillian.db"
)

// StorageOpener opens the Trillian storage for an embedded log in dataDir.
type StorageOpener func(ctx context.Context, dataDir string, mf monitoring.MetricFactory) (storage.Provider, error)

// EmbeddedConfig configures a ledger running Trillian in-process.
type EmbeddedConfig struct {
	// DataDir holds Trillian's database, the tree id, the checkpoint key
	// and the checkpoint history. Created if missing.
	DataDir string
	// Origin of checkpoints; default DefaultOrigin(treeID).
	Origin string
	// IntegrationInterval is how often the sequencer integrates queued
	// leaves; default DefaultIntegrationInterval.
	IntegrationInterval time.Duration
	// BatchSize caps the leaves integrated per sequencer pass; default
	// DefaultBatchSize. Throughput is at most BatchSize per interval.
	BatchSize int
	// CheckpointInterval is how often a new checkpoint is considered;
	// default half the integration interval, so a batch waits at most
	// that long for its checkpoint.
	CheckpointInterval time.Duration
	// Storage opens Trillian's storage; default SQLite in
	// DataDir/trillian.db.
	Storage StorageOpener
	// Metrics, if set, receives the ledger's metrics (names start with
	// LedgerMetricsPrefix): Trillian's log server and sequencer, and the
	// storage's. Trillian creates its sequencer metrics once per process,
	// so only the first embedded ledger opened in a process exports them.
	Metrics prometheus.Registerer
	Logger  *slog.Logger
	// Records, if set, keeps the full records of decision and recourse
	// records, which are then logged as format 2 commitment envelopes
	// (Ledger.Seal); RecordGrace is how long a record may stay pending
	// before reconciliation settles it (default DefaultRecordGrace).
	Records     RecordStore
	RecordGrace time.Duration
}

// OpenEmbedded starts Trillian's admin server, log server and sequencer
// in-process, creating the tree on first start, and returns a Ledger that
// calls the servers directly (see inprocess.go) through the same client
// interface it uses for a remote Trillian.
func OpenEmbedded(ctx context.Context, cfg EmbeddedConfig) (_ *Ledger, err error) {
	if cfg.DataDir == "" {
		return nil, fmt.Errorf("%w: embedded ledger needs a data directory", ErrInvalidArgument)
	}
	if cfg.IntegrationInterval <= 0 {
		cfg.IntegrationInterval = DefaultIntegrationInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = max(cfg.IntegrationInterval/2, 10*time.Millisecond)
	}
	if cfg.Storage == nil {
		cfg.Storage = defaultStorage
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}

	// Everything started below is undone in reverse order on failure, or
	// by Ledger.Close on success.
	var cleanups []func() error
	teardown := func() error {
		var errs []error
		for i := len(cleanups) - 1; i >= 0; i-- {
			errs = append(errs, cleanups[i]())
		}
		return errors.Join(errs...)
	}
	defer func() {
		if err != nil {
			teardown()
		}
	}()

	mf := newPromFactory(cfg.Metrics, cfg.Logger)
	provider, err := cfg.Storage(ctx, cfg.DataDir, mf)
	if err != nil {
		return nil, fmt.Errorf("opening trillian storage: %w", err)
	}
	cleanups = append(cleanups, provider.Close)
	registry := extension.Registry{
		AdminStorage:  provider.AdminStorage(),
		LogStorage:    provider.LogStorage(),
		QuotaManager:  quota.Noop(),
		MetricFactory: mf,
	}

	logClient := logServerClient{server.NewTrillianLogRPCServer(registry, clock.System)}
	adminClient := adminServerClient{admin.New(registry, []trillian.TreeType{trillian.TreeType_LOG})}

	treeID, err := ensureTree(ctx, cfg.DataDir, adminClient, logClient, cfg.Logger)
	if err != nil {
		return nil, err
	}

	// The sequencer gets its own context: it must outlive ctx (which only
	// bounds opening) and stop before the server and storage it uses.
	seqCtx, seqCancel := context.WithCancel(context.WithoutCancel(ctx))
	om := tlog.NewOperationManager(tlog.OperationInfo{
		Registry:    registry,
		BatchSize:   cfg.BatchSize,
		NumWorkers:  1,
		RunInterval: cfg.IntegrationInterval,
		TimeSource:  clock.System,
	}, tlog.NewSequencerManager(registry, 0))
	var sequencing sync.WaitGroup
	sequencing.Go(func() { om.OperationLoop(seqCtx) })
	cleanups = append(cleanups, func() error {
		seqCancel()
		sequencing.Wait()
		return nil
	})

	var storageFault func() error
	if w, ok := provider.(interface{ Writable() error }); ok {
		storageFault = w.Writable
	}
	return newLedger(ctx, ledgerConfig{
		storageFault: storageFault,
		log:          logClient,
		treeID:       treeID,
		dataDir:      cfg.DataDir,
		origin:       cfg.Origin,
		pollInterval: cfg.CheckpointInterval,
		logger:       cfg.Logger,
		teardown:     teardown,
		records:      cfg.Records,
		recordGrace:  cfg.RecordGrace,
		metrics:      cfg.Metrics,
	})
}

// ensureTree returns the tree recorded in the data directory, creating and
// initialising it on first start.
func ensureTree(ctx context.Context, dataDir string, adminClient trillian.TrillianAdminClient, logClient trillian.TrillianLogClient, logger *slog.Logger) (int64, error) {
	path := filepath.Join(dataDir, treeIDFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || id <= 0 {
			return 0, fmt.Errorf("corrupt %s: %q", path, b)
		}
		if _, err := adminClient.GetTree(ctx, &trillian.GetTreeRequest{TreeId: id}); err != nil {
			return 0, grpcErr(fmt.Sprintf("tree %d recorded in %s", id, path), err)
		}
		// A crash between CreateTree and InitLog on an earlier start would
		// leave the tree uninitialised; InitLog is idempotent enough.
		if err := initLog(ctx, logClient, id); err != nil {
			return 0, err
		}
		return id, nil
	case !errors.Is(err, os.ErrNotExist):
		return 0, fmt.Errorf("reading tree id: %w", err)
	}

	tree, err := adminClient.CreateTree(ctx, &trillian.CreateTreeRequest{Tree: &trillian.Tree{
		TreeState:   trillian.TreeState_ACTIVE,
		TreeType:    trillian.TreeType_LOG, // RFC 6962 SHA-256 is Trillian's only hasher
		DisplayName: "glassbox",
		Description: "glassbox decision ledger",
		// Zero: no re-signing of an unchanged tree; this package signs its
		// own checkpoints and only when the tree grows.
		MaxRootDuration: durationpb.New(0),
	}})
	if err != nil {
		return 0, grpcErr("creating tree", err)
	}
	if err := initLog(ctx, logClient, tree.TreeId); err != nil {
		return 0, err
	}
	// Recorded last: a crash before this leaves an orphan empty tree, which
	// is harmless, rather than a recorded tree that was never initialised.
	if err := writeFileAtomic(path, []byte(strconv.FormatInt(tree.TreeId, 10)+"\n"), 0o600); err != nil {
		return 0, err
	}
	logger.InfoContext(ctx, "created ledger tree", "tree_id", tree.TreeId)
	return tree.TreeId, nil
}

func initLog(ctx context.Context, logClient trillian.TrillianLogClient, treeID int64) error {
	_, err := logClient.InitLog(ctx, &trillian.InitLogRequest{LogId: treeID})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return grpcErr("initialising log", err)
	}
	return nil
}
