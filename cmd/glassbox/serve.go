package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/google/trillian"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"k8s.io/klog/v2"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/api/idemstore"
	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/recoursestore"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
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
	recordsDSN := fs.String("records-dsn", "", "MariaDB DSN of the record store, which keeps the full decision records beside the log (default: SQLite in the data directory)")
	recordsKEK := fs.String("records-kek", "", "file holding the record store's key-encryption key, created on first start (default: records.kek in the data directory)")
	var remote remoteFlags
	remote.register(fs)
	var witnesses witnessFlags
	witnesses.register(fs)
	rps := fs.Float64("rate-limit", api.DefaultRateLimit, "requests per second per API key or token (0: unlimited)")
	burst := fs.Int("rate-burst", api.DefaultRateBurst, "rate limit burst")
	grace := fs.Duration("shutdown-grace", 30*time.Second, "how long shutdown waits for in-flight requests")
	interval := fs.Duration("integration-interval", transparency.DefaultIntegrationInterval, "embedded Trillian: time between sequencing passes")
	batch := fs.Int("batch-size", transparency.DefaultBatchSize, "embedded Trillian: leaves integrated per pass at most")
	debugAddr := fs.String("debug-addr", "", "serve Go's pprof profiles on this address (off by default; keep it on loopback)")
	// Hostile callers and credentials (docs/deploy.md, "Limits" and
	// "Credentials").
	trustedProxies := fs.String("trusted-proxies", "", "comma-separated CIDRs (or addresses) of reverse proxies whose X-Forwarded-For gives the client address (default: none, the client is the TCP peer)")
	maxConns := fs.Int("max-connections", api.DefaultMaxConnections, "open connections at most; more wait to be accepted (negative: no cap)")
	readTimeout := fs.Duration("read-timeout", api.DefaultReadTimeout, "time to read a whole request, body included; a slower body is cut off")
	authFailRate := fs.Float64("auth-fail-limit", api.DefaultAuthFailRate, "failed authentications per second per client address, refilled (0: unlimited)")
	authFailBurst := fs.Int("auth-fail-burst", api.DefaultAuthFailBurst, "failed authentications per client address before the limit applies")
	tokenTTL := fs.Duration("token-ttl", api.DefaultTokenTTL, "how long an applicant token opens its decision (default 25 months, the Regulation B retention period)")
	debugRemote := fs.Bool("debug-allow-remote", false, "allow --debug-addr on an address other than loopback")
	// Creditor and consumer reporting agency printed on notices (README,
	// "Creditor configuration"). Unset, every notice is marked SPECIMEN.
	var creditor notice.Creditor
	fs.StringVar(&creditor.Name, "creditor-name", "", "creditor's name on notices of action taken")
	fs.StringVar(&creditor.Address, "creditor-address", "", "creditor's postal address on notices; separate lines with ';'")
	fs.StringVar(&creditor.Reconsideration, "creditor-reconsideration", "", "how applicants ask for reconsideration (default: the notice's own wording, in its language)")
	fs.StringVar(&creditor.AgencyID, "creditor-agency", "", "federal agency for the ECOA statement, from Regulation B Appendix A: "+strings.Join(notice.AgencyIDs(), ", "))
	fs.StringVar(&creditor.CRA.Name, "cra-name", "", "consumer reporting agency's name, for models with consumer-report features (FCRA 615(a))")
	fs.StringVar(&creditor.CRA.Address, "cra-address", "", "consumer reporting agency's address")
	fs.StringVar(&creditor.CRA.Phone, "cra-phone", "", "consumer reporting agency's toll-free telephone number")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if creditor.AgencyID != "" {
		if _, err := notice.LookupAgency(creditor.AgencyID); err != nil {
			return fmt.Errorf("%w: --creditor-agency: %w", errUsage, err)
		}
	}
	if (*trillianAddr == "") != (*treeID == 0) {
		return fmt.Errorf("%w: --trillian and --tree-id go together", errUsage)
	}
	if err := witnesses.check(); err != nil {
		return err
	}
	proxies, err := parseProxies(*trustedProxies)
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %w", errUsage, err)
	}
	if *debugAddr != "" && !*debugRemote {
		if err := checkLoopback(*debugAddr); err != nil {
			return fmt.Errorf("%w: --debug-addr: %w (pprof reveals the process's internals; give --debug-allow-remote to serve it there anyway)", errUsage, err)
		}
	}
	if *tokenTTL <= 0 || *readTimeout <= 0 {
		return fmt.Errorf("%w: --token-ttl and --read-timeout must be positive", errUsage)
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
	keys, generated, err := api.LoadOrCreateKeys(os.Getenv("GLASSBOX_API_KEYS"), *dataDir, logger)
	if err != nil {
		return err
	}
	tokenKey, err := api.LoadOrCreateTokenKey(*dataDir)
	if err != nil {
		return err
	}
	tokens, err := api.NewTokens(tokenKey, api.WithTokenTTL(*tokenTTL))
	if err != nil {
		return err
	}

	if *interval <= 0 || *batch <= 0 {
		return fmt.Errorf("%w: --integration-interval and --batch-size must be positive", errUsage)
	}
	quietTrillian()
	remote.addr, remote.treeID = *trillianAddr, *treeID
	records, err := openRecords(ctx, *dataDir, *recordsDSN, *recordsKEK)
	if err != nil {
		return err
	}
	// Closed after the ledger, which uses it until it stops.
	defer func() {
		if cerr := records.Close(); cerr != nil {
			logger.Error("closing record store", slog.Any("err", cerr))
		}
	}()
	ledgerMetrics := prometheus.NewRegistry()
	ledger, closeLedger, err := openLedger(ctx, transparency.EmbeddedConfig{
		DataDir: filepath.Join(*dataDir, "ledger"), IntegrationInterval: *interval, BatchSize: *batch, Logger: logger,
		Metrics: ledgerMetrics, Records: records,
	}, remote)
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

	// Idempotency-Key answers, kept in the data directory for a day
	// (per replica: see docs/idempotency.md); closed after the HTTP drain.
	idem, err := idemstore.Open(ctx, filepath.Join(*dataDir, idemstore.FileName), idemstore.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if cerr := idem.Close(); cerr != nil {
			logger.Error("closing idempotency store", slog.Any("err", cerr))
		}
	}()

	// Each decision's recourse, computed once and shown as recorded.
	recourse, err := recoursestore.Open(ctx, filepath.Join(*dataDir, "recourse.db"))
	if err != nil {
		return err
	}
	defer func() {
		if cerr := recourse.Close(); cerr != nil {
			logger.Error("closing recourse store", slog.Any("err", cerr))
		}
	}()

	witnessing, err := witnesses.start(ctx, ledger, ledgerMetrics, logger) // nil without --witness
	if err != nil {
		return err
	}
	limit := rate.Limit(*rps)
	if *rps <= 0 {
		limit = rate.Inf
	}
	failLimit := rate.Limit(*authFailRate)
	if *authFailRate <= 0 {
		failLimit = rate.Inf
	}
	srv, err := api.New(ctx, api.Config{
		Ledger: ledger, Policy: pol, Models: served, Keys: keys, Tokens: tokens, Logger: logger,
		RateLimit: limit, RateBurst: *burst, Creditor: creditor,
		AuthFailRate: failLimit, AuthFailBurst: *authFailBurst, TrustedProxies: proxies,
		MaxConnections: *maxConns, ReadTimeout: *readTimeout, Idempotency: idem, Recourse: recourse,
		LedgerMetrics: ledgerMetrics, Witnesses: witnessing,
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
	for _, w := range creditorWarnings(creditor, served) {
		logger.Warn("notices are specimens", slog.String("reason", w))
		fmt.Fprintf(stdout, "WARNING: %s\n", w)
	}
	// Each model's score range takes about a second to search; do it now
	// rather than in the first notice request.
	go func() {
		for _, m := range served {
			m.ScoreRange()
		}
	}()
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

// parseProxies reads --trusted-proxies: CIDRs or single addresses.
func parseProxies(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR nor an address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// checkLoopback refuses a listen address that is not on loopback: an
// empty host means every interface. Host names other than localhost are
// refused too, since what they resolve to can change.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || !a.Unmap().IsLoopback() {
		return fmt.Errorf("%q is not a loopback address", addr)
	}
	return nil
}

// creditorWarnings says what is missing from the notice configuration;
// while anything is, every notice is marked SPECIMEN.
func creditorWarnings(c notice.Creditor, served []*scoring.Model) []string {
	var out []string
	if missing := c.Missing(false); len(missing) > 0 {
		out = append(out, "creditor not configured: notices are marked "+notice.SpecimenMark+"; set "+strings.Join(missing, ", "))
	}
	for _, m := range served {
		if m.Manifest == nil || !m.Manifest.UsesConsumerReport() {
			continue
		}
		if cra := c.CRA.Missing(); len(cra) > 0 {
			out = append(out, "model "+m.ID()+" uses consumer-report data: its notices are marked SPECIMEN until "+strings.Join(cra, ", ")+" are set")
		}
	}
	return out
}

// packages is the embedded default model package and those in dir, if any.
func packages(dir string) ([]*models.Package, error) {
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
	return pkgs, nil
}

// loadModels reads the model packages to serve.
func loadModels(dir string) ([]*scoring.Model, error) {
	pkgs, err := packages(dir)
	if err != nil {
		return nil, err
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

// remoteFlags are the flags of the connection to a remote Trillian.
type remoteFlags struct {
	addr         string // --trillian
	treeID       int64  // --tree-id
	tls          transparency.TLSFiles
	useTLS       bool
	insecure     bool
	rpcTimeout   time.Duration
	startTimeout time.Duration
}

func (r *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.tls.CA, "trillian-tls-ca", "", "PEM CA bundle that verifies the Trillian log server's certificate (implies TLS)")
	fs.StringVar(&r.tls.Cert, "trillian-tls-cert", "", "PEM client certificate presented to Trillian for mutual TLS (with --trillian-tls-key)")
	fs.StringVar(&r.tls.Key, "trillian-tls-key", "", "PEM key of --trillian-tls-cert")
	fs.BoolVar(&r.useTLS, "trillian-tls", false, "TLS to Trillian, verified with the system's roots (implied by the --trillian-tls-* flags)")
	fs.BoolVar(&r.insecure, "trillian-insecure", false, "allow plaintext to a Trillian that is not on a loopback address")
	fs.DurationVar(&r.rpcTimeout, "trillian-timeout", transparency.DefaultRPCTimeout, "deadline of each call to Trillian and of each connection attempt")
	fs.DurationVar(&r.startTimeout, "trillian-start-timeout", transparency.DefaultStartTimeout, "how long start-up waits for Trillian to answer")
}

// dial connects to the remote Trillian as the flags say; metrics, if not
// nil, receives the latency of each call.
func (r remoteFlags) dial(metrics prometheus.Registerer) (*grpc.ClientConn, error) {
	var tlsCfg *tls.Config
	if r.useTLS || r.tls != (transparency.TLSFiles{}) {
		if r.insecure {
			return nil, fmt.Errorf("%w: --trillian-insecure contradicts the --trillian-tls flags", errUsage)
		}
		var err error
		if tlsCfg, err = transparency.ClientTLS(r.tls); err != nil {
			return nil, err
		}
	}
	conn, err := transparency.Dial(transparency.DialConfig{
		Addr: r.addr, TLS: tlsCfg, Insecure: r.insecure, RPCTimeout: r.rpcTimeout, Metrics: metrics,
	})
	if errors.Is(err, transparency.ErrPlaintext) {
		return nil, fmt.Errorf("%w (--trillian-tls-ca for TLS, --trillian-insecure to allow plaintext)", err)
	}
	return conn, err
}

// openLedger opens the embedded ledger, or one on a remote Trillian, and
// returns what closes it (and its connection). cfg.Metrics receives the
// ledger's metrics in both cases: the embedded Trillian's, or those of the
// connection to the remote one.
func openLedger(ctx context.Context, cfg transparency.EmbeddedConfig, remote remoteFlags) (*transparency.Ledger, func() error, error) {
	if remote.addr == "" {
		if remote.useTLS || remote.insecure || remote.tls != (transparency.TLSFiles{}) {
			return nil, nil, fmt.Errorf("%w: the --trillian-tls* and --trillian-insecure flags need --trillian", errUsage)
		}
		l, err := transparency.OpenEmbedded(ctx, cfg)
		if err != nil {
			return nil, nil, err
		}
		return l, l.Close, nil
	}
	conn, err := remote.dial(cfg.Metrics)
	if err != nil {
		return nil, nil, err
	}
	l, err := transparency.OpenRemote(ctx, transparency.RemoteConfig{
		Client: trillian.NewTrillianLogClient(conn), TreeID: remote.treeID, DataDir: cfg.DataDir, Logger: cfg.Logger,
		StartTimeout: remote.startTimeout, Records: cfg.Records, RecordGrace: cfg.RecordGrace, Metrics: cfg.Metrics,
	})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	return l, func() error { return errors.Join(l.Close(), conn.Close()) }, nil
}

// recordsKEKFile is the record store's key-encryption key in the data
// directory, unless --records-kek names another file.
const recordsKEKFile = "records.kek"

// openRecords opens the record store: MariaDB if dsn is given, else
// SQLite in dataDir/records. The key-encryption key is read from kekPath
// (default dataDir/records.kek) and created there on first start, like
// the checkpoint and token keys. Replicas sharing a MariaDB record store
// must share the key file.
func openRecords(ctx context.Context, dataDir, dsn, kekPath string) (*recordstore.Store, error) {
	if kekPath == "" {
		kekPath = filepath.Join(dataDir, recordsKEKFile)
	}
	kek, _, err := recordstore.LoadOrCreateKEK(kekPath)
	if err != nil {
		return nil, fmt.Errorf("record store key: %w", err)
	}
	if dsn != "" {
		return recordstore.OpenMariaDB(ctx, dsn, kek)
	}
	return recordstore.OpenSQLite(ctx, filepath.Join(dataDir, "records"), kek)
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
