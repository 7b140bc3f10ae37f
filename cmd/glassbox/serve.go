package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/google/trillian"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/klog/v2"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/recoursestore"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// runServe starts the API with everything embedded unless told otherwise:
// Trillian in-process, the default model and the built-in policy.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dataDir := fs.String("data-dir", "./data", "data directory: ledger, checkpoint key, API keys, applicant token key")
	modelsDir := fs.String("models", "", "model package folder, or folder of packages, served besides the embedded "+models.DefaultID)
	policyDir := fs.String("policy", "", "policy folder with *.rego and data.json (default: the embedded policy)")
	trillianAddr := fs.String("trillian", "", "host:port of a Trillian log server (default: embedded Trillian)")
	treeID := fs.Int64("tree-id", 0, "Trillian tree id (with --trillian)")
	rps := fs.Float64("rate-limit", api.DefaultRateLimit, "requests per second per API key or token (0: unlimited)")
	burst := fs.Int("rate-burst", api.DefaultRateBurst, "rate limit burst")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "how long shutdown waits for in-flight requests")
	interval := fs.Duration("integration-interval", transparency.DefaultIntegrationInterval, "embedded Trillian: time between sequencing passes")
	batch := fs.Int("batch-size", transparency.DefaultBatchSize, "embedded Trillian: leaves integrated per pass at most")
	debugAddr := fs.String("debug-addr", "", "serve Go's pprof profiles on this address (off by default; keep it on loopback)")
	creditor := notice.DefaultCreditor()
	fs.StringVar(&creditor.Name, "creditor-name", creditor.Name, "creditor's name on adverse-action notices")
	fs.StringVar(&creditor.Address, "creditor-address", creditor.Address, "creditor's address on notices")
	fs.StringVar(&creditor.Reconsideration, "creditor-reconsideration", creditor.Reconsideration, "how applicants ask for reconsideration, on notices")
	fs.StringVar(&creditor.Agency, "creditor-agency", creditor.Agency, "federal agency administering ECOA compliance for the creditor, on notices")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if (*trillianAddr == "") != (*treeID == 0) {
		return fmt.Errorf("%w: --trillian and --tree-id go together", errUsage)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, nil))
	tuneGC(logger)

	// Everything that can be refused is checked before the ledger opens.
	pol, err := policy.New(ctx, *policyDir)
	if err != nil {
		return err
	}
	served, err := loadModels(*modelsDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*dataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	keys, generated, err := api.LoadOrCreateKeys(os.Getenv("GLASSBOX_API_KEYS"), *dataDir)
	if err != nil {
		return err
	}
	tokenKey, err := api.LoadOrCreateTokenKey(*dataDir)
	if err != nil {
		return err
	}
	tokens, err := api.NewTokens(tokenKey)
	if err != nil {
		return err
	}

	if *interval <= 0 || *batch <= 0 {
		return fmt.Errorf("%w: --integration-interval and --batch-size must be positive", errUsage)
	}
	quietTrillian()
	ledger, closeLedger, err := openLedger(ctx, transparency.EmbeddedConfig{
		DataDir: filepath.Join(*dataDir, "ledger"), IntegrationInterval: *interval, BatchSize: *batch, Logger: logger,
	}, *trillianAddr, *treeID)
	if err != nil {
		return err
	}
	// Closed after the HTTP server has drained, so that no in-flight
	// decision loses its ledger.
	defer func() {
		if cerr := closeLedger(); cerr != nil {
			logger.Error("closing ledger", slog.Any("err", cerr))
		}
	}()

	recourse, err := recoursestore.Open(ctx, filepath.Join(*dataDir, "recourse.db"))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := recourse.Close(); cerr != nil {
			logger.Error("closing recourse store", slog.Any("err", cerr))
		}
	}()

	limit := rate.Limit(*rps)
	if *rps <= 0 {
		limit = rate.Inf
	}
	srv, err := api.New(ctx, api.Config{
		Ledger: ledger, Policy: pol, Models: served, Keys: keys, Tokens: tokens, Logger: logger,
		RateLimit: limit, RateBurst: *burst, Creditor: creditor, Recourse: recourse,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	fmt.Fprintf(stdout, "glassbox listening on http://%s\n", ln.Addr())
	fmt.Fprintf(stdout, "ledger tree %d, checkpoint verifier key: %s\n", ledger.TreeID(), ledger.VerifierKey())
	fmt.Fprintf(stdout, "policy revision %s\n", pol.Revision())
	if generated != "" {
		fmt.Fprintf(stdout, "generated API keys (stored in %s, shown only now):\n%s", filepath.Join(*dataDir, api.KeysFile), generated)
	} else if os.Getenv("GLASSBOX_API_KEYS") == "" {
		fmt.Fprintf(stdout, "API keys: %s\n", filepath.Join(*dataDir, api.KeysFile))
	}
	if *debugAddr != "" {
		stop, err := serveDebug(*debugAddr, logger)
		if err != nil {
			return err
		}
		defer stop()
		fmt.Fprintf(stdout, "pprof on http://%s/debug/pprof/\n", *debugAddr)
	}
	return srv.Serve(ctx, ln, *grace)
}

// loadModels reads the model packages to serve.
func loadModels(dir string) ([]*scoring.Model, error) {
	def, err := models.Default()
	if err != nil {
		return nil, err
	}
	pkgs := []*models.Package{def}
	if dir != "" {
		more, err := models.LoadAll(dir)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, more...)
	}
	out := make([]*scoring.Model, 0, len(pkgs))
	seen := map[string]string{}
	for _, p := range pkgs {
		id := p.Manifest.ID
		if sha, dup := seen[id]; dup {
			if sha == p.SHA256 {
				continue // the embedded package, also present in DIR
			}
			return nil, fmt.Errorf("model id %q is given twice with different model files (%s from %s)", id, p.SHA256, p.Source)
		}
		seen[id] = p.SHA256
		m, err := scoring.Load(p)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// openLedger opens the embedded ledger, or one on a remote Trillian, and
// returns what closes it (and its connection).
func openLedger(ctx context.Context, cfg transparency.EmbeddedConfig, trillianAddr string, treeID int64) (*transparency.Ledger, func() error, error) {
	if trillianAddr == "" {
		l, err := transparency.OpenEmbedded(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return l, l.Close, nil
	}
	conn, err := grpc.NewClient(trillianAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connecting to Trillian at %s: %w", trillianAddr, err)
	}
	l, err := transparency.OpenRemote(ctx, transparency.RemoteConfig{
		Client: trillian.NewTrillianLogClient(conn), TreeID: treeID, DataDir: cfg.DataDir, Logger: cfg.Logger,
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return l, func() error { return errors.Join(l.Close(), conn.Close()) }, nil
}

// quietTrillian stops the Trillian sequencer's per-pass glog lines (klog)
// from flooding the service's structured log; glassbox logs what matters
// about the ledger itself through slog.
func quietTrillian() {
	klog.LogToStderr(false)
	klog.SetOutput(io.Discard)
}

// serveDebug serves the runtime profiles on their own listener, never on
// the API's: they reveal internals and must not be reachable by clients.
// serveGCPercent is the collector's target when the operator has not set
// GOGC. The service's live heap is small (about 10 MB: models, policy,
// caches), so at Go's default of 100 the collector ran about 12 times a
// second at 1,000 decisions/s, and its mark phases showed in the latency
// tail. At 400 it runs about 2.5 times a second and the heap stays near
// 20 MB (docs/benchmarks.md, API, fourth pass).
const serveGCPercent = 400

// tuneGC applies serveGCPercent unless GOGC is set; GOMEMLIMIT, if set,
// still bounds the heap.
func tuneGC(logger *slog.Logger) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(serveGCPercent)
	logger.Info("garbage collector target set", slog.Int("gc_percent", serveGCPercent), slog.String("override", "GOGC"))
}

func serveDebug(addr string, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("debug listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("debug server stopped", slog.Any("err", err))
		}
	}()
	return func() { _ = srv.Close() }, nil
}
