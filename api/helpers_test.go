package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"golang.org/x/time/rate"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/api/idemstore"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
)

// Test credentials: two lenders, a regulator, an admin and a reviewer at
// each lender.
const (
	keyLender        = "test-lender-key-acme-0001"
	keyOtherLender   = "test-lender-key-other-0002"
	keyRegulator     = "test-regulator-key-0003"
	keyAdmin         = "test-admin-key-00000004"
	keyReviewer      = "test-reviewer-key-acme-0005"
	keyOtherReviewer = "test-reviewer-key-other-0006"
	testKeys         = "lender/acme:" + keyLender + ",lender/other:" + keyOtherLender +
		",regulator:" + keyRegulator + ",admin:" + keyAdmin +
		",reviewer/acme/rita:" + keyReviewer + ",reviewer/other/oscar:" + keyOtherReviewer
)

// env is a running server on the real embedded ledger, real policy and
// real default model.
type env struct {
	t      testing.TB
	srv    *api.Server
	ledger *transparency.Ledger
	http   *httptest.Server
	tokens *api.Tokens
	dir    string
	oas    routers.Router
	model  *scoring.Model
	// closed is set by tests that close the ledger themselves.
	closed bool
}

type envOptions struct {
	dir       string
	rateLimit rate.Limit
	rateBurst int
	logger    *slog.Logger
	wait      time.Duration
	// tokenOptions configure the applicant tokens; config, when set,
	// adjusts the server configuration last.
	tokenOptions []api.TokenOption
	config       func(*api.Config)
	// ledger opens the ledger in dir; default openLedger.
	ledger func(t testing.TB, dir string) *transparency.Ledger
	// wrap, if set, is what the server gets instead of the ledger.
	wrap func(*transparency.Ledger) api.Ledger
	// idem is the server's Idempotency-Key store (none by default).
	idem *idemstore.Store
	// wrapLedger, when set, puts a fault-injection seam around the ledger.
	wrapLedger func(api.Ledger) api.Ledger
}

var (
	oasOnce   sync.Once
	oasRouter routers.Router
	oasErr    error
)

// openAPIRouter loads the embedded document once per test binary.
func openAPIRouter(t testing.TB) routers.Router {
	t.Helper()
	oasOnce.Do(func() {
		// Pages and notices are text; the filter must know how to read them.
		openapi3filter.RegisterBodyDecoder("text/html", openapi3filter.PlainBodyDecoder)
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromData(api.OpenAPI())
		if err != nil {
			oasErr = err
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			oasErr = err
			return
		}
		oasRouter, oasErr = legacy.NewRouter(doc)
	})
	if oasErr != nil {
		t.Fatalf("openapi.json: %v", oasErr)
	}
	return oasRouter
}

func openLedger(t testing.TB, dir string) *transparency.Ledger {
	t.Helper()
	return openLedgerOn(t, dir, nil)
}

// openLedgerOn opens the embedded ledger on the given storage (nil: the
// default).
func openLedgerOn(t testing.TB, dir string, st transparency.StorageOpener) *transparency.Ledger {
	t.Helper()
	l, err := transparency.OpenEmbedded(context.Background(), transparency.EmbeddedConfig{
		DataDir:             dir,
		IntegrationInterval: 20 * time.Millisecond,
		Logger:              slog.New(slog.DiscardHandler),
		Storage:             st,
		Records:             openRecords(t, dir),
	})
	if err != nil {
		t.Fatalf("opening ledger: %v", err)
	}
	return l
}

// openRecords opens the record store for the ledger in dir, as serve
// does: SQLite beside the ledger, its key created on first use. It stays
// open until the test ends (after the ledger, which was opened later).
func openRecords(t testing.TB, dir string) *recordstore.Store {
	t.Helper()
	kek, _, err := recordstore.LoadOrCreateKEK(filepath.Join(dir, "records.kek"))
	if err != nil {
		t.Fatal(err)
	}
	rs, err := recordstore.OpenSQLite(context.Background(), filepath.Join(dir, "records"), kek)
	if err != nil {
		t.Fatalf("opening record store: %v", err)
	}
	t.Cleanup(func() { rs.Close() })
	return rs
}

func newEnv(t testing.TB, opts envOptions) *env {
	t.Helper()
	ctx := context.Background()
	if opts.dir == "" {
		opts.dir = t.TempDir()
	}
	if opts.ledger == nil {
		opts.ledger = openLedger
	}
	ledger := opts.ledger(t, opts.dir)
	pol, err := policy.New(ctx, "")
	if err != nil {
		t.Fatalf("policy: %v", err)
	}
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := api.ParseKeys(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	tokenKey := make([]byte, 32)
	rand.Read(tokenKey)
	tokens, err := api.NewTokens(tokenKey, opts.tokenOptions...)
	if err != nil {
		t.Fatal(err)
	}
	if opts.rateLimit == 0 {
		opts.rateLimit = rate.Inf
	}
	if opts.logger == nil {
		opts.logger = slog.New(slog.DiscardHandler)
	}
	var served api.Ledger = ledger
	if opts.wrap != nil {
		served = opts.wrap(ledger)
	}
	if opts.wrapLedger != nil {
		served = opts.wrapLedger(served)
	}
	cfg := api.Config{
		Ledger: served, Policy: pol, Idempotency: opts.idem, Models: []*scoring.Model{m}, Keys: keys, Tokens: tokens,
		Logger:    opts.logger,
		RateLimit: opts.rateLimit, RateBurst: opts.rateBurst,
		WaitTimeout: opts.wait,
	}
	if opts.config != nil {
		opts.config(&cfg)
	}
	srv, err := api.New(ctx, cfg)
	if err != nil {
		ledger.Close()
		t.Fatalf("api.New: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	e := &env{t: t, srv: srv, ledger: ledger, http: hs, tokens: tokens, dir: opts.dir, oas: openAPIRouter(t), model: m}
	t.Cleanup(func() {
		hs.Close()
		if e.closed {
			return
		}
		if err := ledger.Close(); err != nil {
			t.Errorf("closing ledger: %v", err)
		}
	})
	return e
}

// response is a completed exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r *response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// req describes a request; zero values mean "none".
type req struct {
	method, path string
	key          string // bearer credential
	body         any    // []byte or string sent raw; anything else JSON-encoded
	contentType  string // default application/json when there is a body
	headers      map[string]string
}

// do sends r and checks the response against the OpenAPI document.
func (e *env) do(r req) *response {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		body = bytes.NewReader(data)
	}
	hr, err := http.NewRequest(r.method, e.http.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != nil {
		ct := r.contentType
		if ct == "" {
			ct = "application/json"
		}
		if ct != "-" {
			hr.Header.Set("Content-Type", ct)
		}
	}
	if r.key != "" {
		hr.Header.Set("Authorization", "Bearer "+r.key)
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	// Redirects are responses to check, not to follow.
	client := *e.http.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := client.Do(hr)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := &response{status: resp.StatusCode, header: resp.Header, body: data}
	e.validate(hr, out)
	return out
}

// validate checks a response against /openapi.json, and that every error
// is a problem document.
func (e *env) validate(hr *http.Request, r *response) {
	e.t.Helper()
	if r.header.Get("X-Request-ID") == "" {
		e.t.Errorf("%s %s: no X-Request-ID", hr.Method, hr.URL.Path)
	}
	if r.status >= 400 {
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			e.t.Errorf("%s %s: status %d with content type %q, want application/problem+json", hr.Method, hr.URL.Path, r.status, ct)
		}
		var p api.Problem
		if err := json.Unmarshal(r.body, &p); err != nil || p.Type == "" || p.Title == "" || p.Status != r.status {
			e.t.Errorf("%s %s: bad problem document %s", hr.Method, hr.URL.Path, r.body)
		}
	}
	route, params, err := e.oas.FindRoute(hr)
	if err != nil {
		// Only requests to undocumented paths may miss; they must be 404/405.
		if r.status != http.StatusNotFound && r.status != http.StatusMethodNotAllowed {
			e.t.Errorf("%s %s: no OpenAPI route: %v", hr.Method, hr.URL.Path, err)
		}
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: hr, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status: r.status,
		Header: r.header,
		Body:   io.NopCloser(bytes.NewReader(r.body)),
		Options: &openapi3filter.Options{
			IncludeResponseStatus: true,
			MultiError:            true,
		},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		e.t.Errorf("%s %s: status %d: response does not match openapi.json: %v\nbody: %.600s", hr.Method, hr.URL.Path, r.status, err, r.body)
	}
}

// checkpointSize is the size of the latest signed checkpoint.
func (e *env) checkpointSize() uint64 {
	e.t.Helper()
	cp, err := e.ledger.LatestCheckpoint(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return cp.Size
}

// settle waits until every record this process appended is under a signed
// checkpoint and the tree has stopped growing, so that sizes compare. A
// stable size alone is not enough: under -race an integration pass can take
// longer than the stability window.
func (e *env) settle() uint64 {
	e.t.Helper()
	for deadline := time.Now().Add(time.Minute); e.ledger.Pending() > 0; {
		if time.Now().After(deadline) {
			e.t.Fatalf("%d appended records still not under a checkpoint after a minute", e.ledger.Pending())
		}
		time.Sleep(20 * time.Millisecond)
	}
	last := e.checkpointSize()
	for stable := 0; stable < 5; {
		time.Sleep(40 * time.Millisecond)
		if n := e.checkpointSize(); n == last {
			stable++
		} else {
			last, stable = n, 0
		}
	}
	return last
}
