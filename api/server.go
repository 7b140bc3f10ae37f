package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"

	"github.com/glassbox-ledger/glassbox/api/idemstore"
	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/api/web"
	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/recoursestore"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// Ledger is what the API needs of the verifiable log
// (*transparency.Ledger satisfies it).
type Ledger interface {
	// Seal encodes a record for AppendSealed: as a format 2 commitment
	// envelope for decisions when the ledger keeps a record store.
	Seal(r *transparency.Record) (transparency.Sealed, error)
	// PutRecord stores a format 2 leaf's record before the leaf is kept
	// for a later append; Reseal rebuilds such a leaf's Sealed.
	PutRecord(ctx context.Context, s transparency.Sealed) error
	Reseal(ctx context.Context, leaf []byte) (transparency.Sealed, error)
	// Erase crypto-shreds a format 2 decision's record and logs an
	// erasure record.
	Erase(ctx context.Context, id transparency.ID, legalBasis string, at time.Time) (transparency.ErasureResult, error)
	// EraseRecord crypto-shreds a record that goes with an erased
	// decision (its recourse record).
	EraseRecord(ctx context.Context, id transparency.ID) (bool, error)
	// AppendSealed durably queues a sealed (encoded) record.
	AppendSealed(ctx context.Context, s transparency.Sealed) (transparency.Receipt, error)
	// WaitIntegrated blocks until the record is covered by a signed
	// checkpoint and returns its inclusion proof.
	WaitIntegrated(ctx context.Context, id transparency.ID) (*transparency.InclusionProof, error)
	GetEntry(ctx context.Context, id transparency.ID) (*transparency.Entry, error)
	// InclusionProof against the tree of treeSize leaves (0: latest).
	InclusionProof(ctx context.Context, id transparency.ID, treeSize uint64) (*transparency.InclusionProof, error)
	ConsistencyProof(ctx context.Context, first, second uint64) (*transparency.ConsistencyProof, error)
	Entries(ctx context.Context, start uint64, count int) ([]transparency.Entry, error)
	LatestCheckpoint(ctx context.Context) (*transparency.Checkpoint, error)
	VerifierKey() string
	TreeID() int64
	// Ready reports whether the log can be reached now.
	Ready(ctx context.Context) error
}

// Policy is what the API needs of the policy engine (*policy.Engine
// satisfies it).
type Policy interface {
	Authorize(ctx context.Context, req policy.AccessRequest) (policy.AccessDecision, error)
	AdmitPackage(ctx context.Context, m *models.Manifest, actualSHA256 string, ref *models.Reference) (policy.Admission, error)
	Decide(ctx context.Context, in policy.DecisionInput) (policy.Outcome, error)
	CheckLedgerFields(ctx context.Context, fields []string) error
	LedgerFields() []string
	Revision() string
	// CheckAction and Lifecycle are the final-action policy
	// (lifecycle.go).
	CheckAction(ctx context.Context, in policy.ActionInput) (policy.ActionVerdict, error)
	Lifecycle(ctx context.Context) (policy.LifecycleSettings, error)
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes  = 64 << 10
	DefaultMaxBatchBytes = 4 << 20
	DefaultMaxBatch      = 1000
	DefaultRateLimit     = 200 // requests per second per credential
	DefaultRateBurst     = 400
	DefaultWaitTimeout   = 30 * time.Second
	DefaultMaxReasons    = 4
)

// Config is everything a Server needs. Ledger, Policy, Models, Keys and
// Tokens are required.
type Config struct {
	Ledger Ledger
	Policy Policy
	// Models are the models to serve; each must be admitted by Policy.
	// DefaultModel (default models.DefaultID, else the first) serves
	// requests that name none.
	Models       []*scoring.Model
	DefaultModel string
	Keys         *Keys
	Tokens       *Tokens
	Logger       *slog.Logger

	// RateLimit is requests per second per credential (API key, applicant
	// token, or client address for anonymous callers); rate.Inf disables
	// it. RateBurst is the bucket size.
	RateLimit rate.Limit
	RateBurst int
	// Body limits; MaxBatch bounds applications per batch.
	MaxBodyBytes, MaxBatchBytes int64
	MaxBatch                    int
	// WaitTimeout bounds ?wait=integrated.
	WaitTimeout time.Duration
	// Now is the clock for record timestamps (default time.Now).
	Now func() time.Time
	// Creditor is printed on adverse-action notices.
	Creditor notice.Creditor

	// Hostile callers (docs/security.md).
	//
	// AuthFailRate and AuthFailBurst bound failed authentications per
	// client address (default DefaultAuthFailRate, DefaultAuthFailBurst;
	// rate.Inf disables the limit). TrustedProxies are the peers whose
	// X-Forwarded-For is believed for the client address (default none:
	// the client is the TCP peer). MaxConnections caps open connections
	// in Serve (0: DefaultMaxConnections, negative: no cap). ReadTimeout
	// bounds reading a whole request, body included (default
	// DefaultReadTimeout), so a trickling body is cut off.
	// MaxTrackedClients bounds the rate-limit buckets kept for applicant
	// tokens and for client addresses, each (default
	// DefaultMaxTrackedClients).
	AuthFailRate      rate.Limit
	AuthFailBurst     int
	TrustedProxies    []netip.Prefix
	MaxConnections    int
	ReadTimeout       time.Duration
	MaxTrackedClients int
	// Idempotency stores the answers to requests that carry an
	// Idempotency-Key (idempotency.go); without it such requests are
	// refused with 400.
	Idempotency *idemstore.Store
	// LedgerMetrics, if set, are served on /metrics besides the server's
	// own: the embedded ledger's (transparency.EmbeddedConfig.Metrics).
	LedgerMetrics prometheus.Gatherer
	// Recourse keeps each decision's recourse (default: in memory).
	Recourse RecourseStore
}

// Defaults for the connection limits in Config.
const (
	DefaultMaxConnections = 4096
	DefaultReadTimeout    = 30 * time.Second
	// DefaultMaxTrackedClients keeps a pool of buckets to a few tens of MB.
	DefaultMaxTrackedClients = 100_000
)

// Server is the glassbox HTTP API.
type Server struct {
	cfg          Config
	ledger       Ledger
	policy       Policy
	keys         *Keys
	tokens       *Tokens
	log          *slog.Logger
	now          func() time.Time
	models       map[string]*servedModel
	modelIDs     []string
	defaultModel string
	ledgerFields []string
	metrics      *metrics
	limits       *limiters
	engine       *gin.Engine
	pages        *web.Renderer
	notices      *notice.Renderer
	idem         *idempotency
	recourse     RecourseStore
	recourseOnce singleflight.Group
	life         *lifecycle
}

// servedModel is an admitted model with its explainer.
type servedModel struct {
	model     *scoring.Model
	explainer *decision.Explainers
	recourse  *explain.Recourser
	admission policy.Admission
}

// New checks the configuration, asks policy to admit every model, records
// the model admissions and the policy activation in the ledger (once per
// change: the records are content-addressed) and builds the HTTP handler.
func New(ctx context.Context, cfg Config) (*Server, error) {
	switch {
	case cfg.Ledger == nil:
		return nil, errors.New("api: no ledger")
	case cfg.Policy == nil:
		return nil, errors.New("api: no policy")
	case len(cfg.Models) == 0:
		return nil, errors.New("api: no model")
	case cfg.Keys == nil:
		return nil, errors.New("api: no API keys")
	case cfg.Tokens == nil:
		return nil, errors.New("api: no applicant token key")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RateLimit == 0 {
		cfg.RateLimit = DefaultRateLimit
	}
	if cfg.RateBurst <= 0 {
		cfg.RateBurst = DefaultRateBurst
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.MaxBatchBytes <= 0 {
		cfg.MaxBatchBytes = DefaultMaxBatchBytes
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = DefaultMaxBatch
	}
	if cfg.WaitTimeout <= 0 {
		cfg.WaitTimeout = DefaultWaitTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AuthFailRate == 0 {
		cfg.AuthFailRate = DefaultAuthFailRate
	}
	if cfg.AuthFailBurst <= 0 {
		cfg.AuthFailBurst = DefaultAuthFailBurst
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.ReadTimeout <= 0 {
		cfg.ReadTimeout = DefaultReadTimeout
	}
	if cfg.MaxTrackedClients <= 0 {
		cfg.MaxTrackedClients = DefaultMaxTrackedClients
	}
	s := &Server{
		cfg:     cfg,
		ledger:  cfg.Ledger,
		policy:  cfg.Policy,
		keys:    cfg.Keys,
		tokens:  cfg.Tokens,
		log:     cfg.Logger,
		now:     cfg.Now,
		models:  map[string]*servedModel{},
		metrics: newMetrics(),
		limits:  newLimiters(cfg.RateLimit, cfg.RateBurst, cfg.AuthFailRate, cfg.AuthFailBurst, cfg.MaxTrackedClients),
		idem:    newIdempotency(cfg.Idempotency),
	}
	s.recourse = cfg.Recourse
	if s.recourse == nil {
		s.recourse = &memoryRecourse{m: map[string]recoursestore.Entry{}}
	}
	var err error
	if s.pages, err = web.New(); err != nil {
		return nil, err
	}
	if s.notices, err = notice.NewRenderer(); err != nil {
		return nil, err
	}
	if s.cfg.Creditor == (notice.Creditor{}) {
		s.cfg.Creditor = notice.DefaultCreditor()
	}
	fields, err := ledgerRecordFields(cfg.Policy.LedgerFields())
	if err != nil {
		return nil, err
	}
	if !slices.Contains(fields, "lender") {
		s.log.WarnContext(ctx, "policy keeps the lender out of the ledger: lenders will not be able to read their decisions back")
	}
	s.ledgerFields = fields
	if err := s.admitModels(ctx, cfg.Models); err != nil {
		return nil, err
	}
	s.defaultModel = cfg.DefaultModel
	if s.defaultModel == "" {
		s.defaultModel = s.modelIDs[0]
		if _, ok := s.models[models.DefaultID]; ok {
			s.defaultModel = models.DefaultID
		}
	}
	if _, ok := s.models[s.defaultModel]; !ok {
		return nil, fmt.Errorf("api: default model %q is not loaded", s.defaultModel)
	}
	if err := s.recordGovernance(ctx); err != nil {
		return nil, err
	}
	s.initLifecycle(ctx)
	s.engine = s.routes()
	return s, nil
}

// admitModels asks policy about every model and refuses to serve if any
// is not admitted, listing every violation of every model.
func (s *Server) admitModels(ctx context.Context, ms []*scoring.Model) error {
	var errs []error
	for _, m := range ms {
		if m.Manifest == nil {
			errs = append(errs, fmt.Errorf("model %s has no manifest", m.ID()))
			continue
		}
		id := m.Manifest.ID
		if _, dup := s.models[id]; dup {
			errs = append(errs, fmt.Errorf("model %q is loaded twice", id))
			continue
		}
		adm, err := s.policy.AdmitPackage(ctx, m.Manifest, m.SHA256, m.Reference)
		if err != nil {
			if _, ok := policy.AsViolation(err); ok {
				errs = append(errs, fmt.Errorf("model %q not admitted:\n%s", id, policy.FormatAdmission(adm)))
			} else {
				errs = append(errs, fmt.Errorf("admitting model %q: %w", id, err))
			}
			continue
		}
		// The features enter the ledger under their manifest names, so
		// the names themselves must pass the ledger's identifier check.
		if slices.Contains(s.ledgerFields, "features") {
			names := make([]string, len(m.Manifest.Features))
			for i, f := range m.Manifest.Features {
				names[i] = f.Name
			}
			if err := s.policy.CheckLedgerFields(ctx, names); err != nil {
				errs = append(errs, fmt.Errorf("model %q: feature names may not enter the ledger: %w", id, err))
				continue
			}
		}
		ex, err := decision.NewExplainers(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("model %q: building explainer: %w", id, err))
			continue
		}
		rc, err := s.newRecourser(ctx, m)
		if err != nil {
			errs = append(errs, fmt.Errorf("model %q: preparing recourse: %w", id, err))
			continue
		}
		s.models[id] = &servedModel{model: m, explainer: ex, recourse: rc, admission: adm}
		s.modelIDs = append(s.modelIDs, id)
	}
	if len(errs) > 0 {
		return fmt.Errorf("api: %w", errors.Join(errs...))
	}
	slices.Sort(s.modelIDs)
	return nil
}

// Handler is the HTTP handler of the API.
func (s *Server) Handler() http.Handler { return s.engine }

// HTTPServer wraps the handler with the timeouts a public listener needs:
// slow clients cannot hold connections open indefinitely.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.engine,
		ReadHeaderTimeout: 5 * time.Second,
		// The whole request, body included: a body that trickles in is
		// cut off.
		ReadTimeout: s.cfg.ReadTimeout,
		// Long enough for ?wait=integrated to finish.
		WriteTimeout:   s.cfg.WaitTimeout + 30*time.Second,
		IdleTimeout:    120 * time.Second,
		MaxHeaderBytes: 16 << 10,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Serve answers on ln until ctx ends, then stops accepting connections
// and waits up to grace for in-flight requests to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := s.HTTPServer(ln.Addr().String())
	srv.BaseContext = func(net.Listener) context.Context { return context.WithoutCancel(ctx) }
	if s.cfg.MaxConnections > 0 {
		// Connections beyond the cap wait in the kernel's accept queue
		// instead of each costing a goroutine and buffers here.
		ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", slog.Duration("grace", grace))
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), grace)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		srv.Close()
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	e.ContextWithFallback = true
	e.HandleMethodNotAllowed = true
	// Gin trusts every proxy unless told otherwise: only the configured
	// ones are (none by default, and then the client address is the
	// peer's), and only through X-Forwarded-For.
	proxies := make([]string, len(s.cfg.TrustedProxies))
	for i, p := range s.cfg.TrustedProxies {
		proxies[i] = p.String()
	}
	if len(proxies) == 0 {
		proxies = nil
	}
	_ = e.SetTrustedProxies(proxies) // prefixes are valid: they were parsed
	e.RemoteIPHeaders = []string{"X-Forwarded-For"}
	e.TrustedPlatform = ""
	e.Use(requestIDMiddleware, s.observe, s.recoverMiddleware, noStore, s.authenticate, s.rateLimit)
	e.NoRoute(func(c *gin.Context) { abortKind(c, "not-found", "no such resource") })
	e.NoMethod(func(c *gin.Context) { abortKind(c, "method-not-allowed", "the method is not allowed on this resource") })

	e.GET("/livez", s.allow(policy.ActionHealth), s.livez)
	e.GET("/healthz", s.allow(policy.ActionHealth), s.livez)
	e.GET("/readyz", s.allow(policy.ActionHealth), s.readyz)
	e.GET("/metrics", s.allow(policy.ActionMetrics), gin.WrapH(promhttp.HandlerFor(s.metrics.gatherer(s.cfg.LedgerMetrics), promhttp.HandlerOpts{})))
	e.GET("/openapi.json", s.allow(policy.ActionOpenAPI), s.openapi)

	v1 := e.Group("/v1")
	v1.POST("/decisions", s.allow(policy.ActionDecisionsCreate), s.createDecision)
	v1.POST("/decisions/batch", s.allow(policy.ActionDecisionsCreate), s.createBatch)
	v1.GET("/decisions/:id", s.getDecision)
	v1.GET("/decisions/:id/explanation", s.getExplanation)
	v1.GET("/decisions/:id/proof", s.getProof)
	v1.GET("/decisions/:id/notice", s.getNotice)
	v1.POST("/decisions/:id/erasure", s.allow(policy.ActionDecisionsErase), s.eraseDecision)
	e.GET("/ui/decisions/:id", s.uiDecision)
	e.GET("/ui/audit", s.uiAudit)
	v1.GET("/ledger/checkpoint", s.allow(policy.ActionLedgerCheckpoint), s.checkpoint)
	v1.GET("/ledger/public-key", s.allow(policy.ActionLedgerPublicKey), s.publicKey)
	v1.GET("/ledger/consistency", s.allow(policy.ActionLedgerConsistency), s.consistency)
	v1.GET("/ledger/entries", s.allow(policy.ActionLedgerEntries), s.entries)
	v1.GET("/models", s.allow(policy.ActionModelsList), s.listModels)
	v1.GET("/models/:id", s.allow(policy.ActionModelsList), s.getModel)
	// The life of a decision after the model (lifecycle.go).
	v1.POST("/decisions/:id/actions", s.createAction)
	v1.POST("/decisions/:id/notice/sent", s.createNoticeSent)
	v1.POST("/decisions/:id/outcome", s.createOutcome)
	v1.GET("/decisions/:id/history", s.getHistory)
	v1.POST("/decisions/:id/contest", s.createContest)
	v1.POST("/decisions/:id/rescore", s.createRescore)
	v1.GET("/reviews", s.allow(policy.ActionReviewsList), s.listReviews)
	e.GET("/ui/reviews", s.uiReviews)
	return e
}
