package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// syncBuffer is a log sink safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestGovernanceRecordsOncePerChange: start-up logs the policy activation
// and the model admission; a restart on the same data re-appends the
// same bytes, which the log deduplicates.
func TestGovernanceRecordsOncePerChange(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, envOptions{dir: dir})
	size := e.settle()
	if size != 2 {
		t.Fatalf("fresh ledger holds %d entries after start-up, want 2", size)
	}
	r := e.do(req{method: "GET", path: "/v1/ledger/entries?start=0&count=10", key: keyRegulator})
	var out struct {
		Entries []struct {
			Index    uint64
			ID, Type string
			Data     string
		}
	}
	r.json(t, &out)
	types := map[string]string{}
	for _, en := range out.Entries {
		data, err := base64.StdEncoding.DecodeString(en.Data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := transparency.DecodeLeaf(data); err != nil {
			t.Errorf("entry %d: %v", en.Index, err)
		}
		types[en.Type] = string(data)
	}
	if !strings.Contains(types["model_admitted"], e.model.SHA256) || !strings.Contains(types["model_admitted"], e.model.Manifest.Provenance.TrainSHA256) {
		t.Errorf("model admission record %s lacks the model or training data hash", types["model_admitted"])
	}
	// The reference applicants reasons are measured against were admitted
	// with the model: the record names the hash of the shipped file.
	ref, err := os.ReadFile("../models/credit-risk-v1/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	refSum := sha256.Sum256(ref)
	if want := `"reference_sha256":"` + hex.EncodeToString(refSum[:]) + `"`; e.model.ReferenceSHA256 == "" || !strings.Contains(types["model_admitted"], want) {
		t.Errorf("model admission record %s lacks %s", types["model_admitted"], want)
	}
	// So was the validation evidence admission gated on.
	evb, err := os.ReadFile("../models/credit-risk-v1/evidence.json")
	if err != nil {
		t.Fatal(err)
	}
	evSum := sha256.Sum256(evb)
	if want := `"evidence_sha256":"` + hex.EncodeToString(evSum[:]) + `"`; !strings.Contains(types["model_admitted"], want) {
		t.Errorf("model admission record %s lacks %s", types["model_admitted"], want)
	}
	if !strings.Contains(types["policy_activated"], `"policy"`) {
		t.Errorf("policy activation record %s", types["policy_activated"])
	}
	e.http.Close()
	if err := e.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	e.closed = true

	again := newEnv(t, envOptions{dir: dir})
	if n := again.settle(); n != size {
		t.Errorf("after a restart the ledger holds %d entries, want %d", n, size)
	}
}

// TestLedgerUnavailable: without a ledger no decision is made (503) and
// readiness fails.
func TestLedgerUnavailable(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Readiness reads the last signed leaf back: wait for one to exist.
	e.settle()
	if err := e.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	e.closed = true
	r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: validApp("down-1")})
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("decision with the ledger down: %d %s", r.status, r.body)
	}
	r = e.do(req{method: "GET", path: "/readyz"})
	if r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with the ledger down: %d %s", r.status, r.body)
	}
	if r := e.do(req{method: "GET", path: "/livez"}); r.status != http.StatusOK {
		t.Errorf("livez: %d", r.status)
	}
}

// TestExplanation checks the applicant's view of a declined application.
func TestExplanation(t *testing.T) {
	e := newEnv(t, envOptions{})
	f := validFeatures()
	f["Amount"], f["Income"], f["Seniority"], f["Records"], f["Assets"] = 15000, 40, 0, "yes", 0
	r := e.do(req{method: "POST", path: "/v1/decisions", key: keyLender, body: map[string]any{"application_id": "risky-1", "features": f}})
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var d decisionOut
	r.json(t, &d)
	if d.Decision == "approve" || len(d.Reasons) == 0 {
		t.Fatalf("expected an adverse decision with reasons, got %s %v", d.Decision, d.Reasons)
	}
	r = e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/explanation", key: d.ApplicantToken})
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var ex struct {
		Decision string
		Summary  string
		Score    struct {
			Value, Min, Max float64
			HigherIsBetter  bool `json:"higher_is_better"`
		}
		Reasons       []reasonOut
		Contributions []struct {
			Feature      string
			Value        any
			Contribution float64
			Effect       string
		}
		ExpectedValue float64 `json:"expected_value"`
	}
	r.json(t, &ex)
	if ex.Decision != d.Decision || ex.Score.Value != d.Score || ex.Score.Min != 300 || ex.Score.Max != 850 || !ex.Score.HigherIsBetter {
		t.Errorf("explanation %+v does not match decision %s score %v", ex, d.Decision, d.Score)
	}
	for _, rs := range d.Reasons {
		if !strings.Contains(ex.Summary, rs.Text) {
			t.Errorf("summary %q lacks reason %q", ex.Summary, rs.Text)
		}
	}
	if len(ex.Reasons) != len(d.Reasons) || len(ex.Contributions) != len(d.Attributions) {
		t.Fatalf("explanation has %d reasons, %d contributions", len(ex.Reasons), len(ex.Contributions))
	}
	for i := 1; i < len(ex.Contributions); i++ {
		if math.Abs(ex.Contributions[i].Contribution) > math.Abs(ex.Contributions[i-1].Contribution) {
			t.Errorf("contributions not ordered by size: %+v", ex.Contributions)
		}
	}
	for _, c := range ex.Contributions {
		if c.Contribution != d.Attributions[c.Feature] {
			t.Errorf("%s: %v, decision says %v", c.Feature, c.Contribution, d.Attributions[c.Feature])
		}
	}
}

// TestProofAtTreeSize asks for a proof against a later tree size.
func TestProofAtTreeSize(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createDecision("proof-1")
	e.createDecision("proof-2")
	size := e.settle()
	r := e.do(req{method: "GET", path: fmt.Sprintf("/v1/decisions/%s/proof?tree_size=%d", d.DecisionID, size), key: d.ApplicantToken})
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var p proofOut
	r.json(t, &p)
	if p.TreeSize != size || p.Checkpoint == "" {
		t.Errorf("proof %+v, want tree size %d with its checkpoint", p, size)
	}
}

// TestMetricsUseRouteTemplates: metric labels never carry raw paths.
func TestMetricsUseRouteTemplates(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createDecision("metrics-1")
	e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID, key: keyLender})
	e.do(req{method: "GET", path: "/no/such/path/" + d.DecisionID})
	r := e.do(req{method: "GET", path: "/metrics", key: keyAdmin})
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	body := string(r.body)
	for _, want := range []string{`route="/v1/decisions/:id"`, `route="unmatched"`, `glassbox_decisions_total{decision=`, `glassbox_ledger_operation_duration_seconds`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, d.DecisionID) {
		t.Error("metrics contain a decision id")
	}
}

// TestRateLimit: each credential has its own bucket.
func TestRateLimit(t *testing.T) {
	e := newEnv(t, envOptions{rateLimit: 0.5, rateBurst: 2})
	var last int
	for range 3 {
		last = e.do(req{method: "GET", path: "/v1/models", key: keyRegulator}).status
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("third request in a burst of 2: %d", last)
	}
	if r := e.do(req{method: "GET", path: "/v1/models", key: keyAdmin}); r.status != http.StatusOK {
		t.Errorf("another key: %d", r.status)
	}
}

// TestRequestIDAndAccessLog: ids are echoed or made, and the access log
// names route templates, never tokens, keys or application data.
func TestRequestIDAndAccessLog(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, envOptions{logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	d := e.createDecision("secret-application-77")
	r := e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/proof?token=" + d.ApplicantToken, headers: map[string]string{"X-Request-ID": "trace-42"}})
	if got := r.header.Get("X-Request-ID"); got != "trace-42" {
		t.Errorf("X-Request-ID %q, want trace-42", got)
	}
	r = e.do(req{method: "GET", path: "/livez", headers: map[string]string{"X-Request-ID": "bad id\u00e9"}})
	if got := r.header.Get("X-Request-ID"); len(got) != 32 {
		t.Errorf("X-Request-ID %q, want a generated one", got)
	}
	log := logs.String()
	for _, secret := range []string{d.ApplicantToken, keyLender, "secret-application-77", `"Income"`} {
		if strings.Contains(log, secret) {
			t.Errorf("access log contains %q", secret)
		}
	}
	for _, want := range []string{`"route":"/v1/decisions/:id/proof"`, `"request_id":"trace-42"`, `"status":201`} {
		if !strings.Contains(log, want) {
			t.Errorf("access log lacks %s", want)
		}
	}
}

// TestGracefulShutdown: a request in flight when shutdown starts is
// answered.
func TestGracefulShutdown(t *testing.T) {
	e := newEnv(t, envOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- e.srv.Serve(ctx, ln, 10*time.Second) }()

	type result struct {
		status int
		err    error
	}
	// The request's body arrives in two parts, so that it is certainly in
	// flight, its handler waiting for the rest, when shutdown begins.
	const app = `{"application_id":"drain-1","features":{"Seniority":3,"Home":"rent","Time":48,"Records":"no","Job":"fixed","Expenses":60,"Income":130,"Assets":2000,"Debt":0,"Amount":1000,"Price":1400}}`
	pr, pw := io.Pipe()
	done := make(chan result, 1)
	go func() {
		hr, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/v1/decisions?wait=integrated", pr)
		hr.Header.Set("Content-Type", "application/json")
		hr.Header.Set("Authorization", "Bearer "+keyLender)
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			done <- result{err: err}
			return
		}
		resp.Body.Close()
		done <- result{status: resp.StatusCode}
	}()
	if _, err := io.WriteString(pw, app[:40]); err != nil {
		t.Fatal(err)
	}
	// The in-flight gauge counts the request (and the metrics request).
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := e.do(req{method: "GET", path: "/metrics", key: keyAdmin})
		if strings.Contains(string(m.body), "\nglassbox_http_requests_in_flight 2\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request never became in flight")
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	// Shutdown has begun (the listener closes first); then the rest of
	// the body arrives and the decision must still be made and answered.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if c, err := net.DialTimeout("tcp", ln.Addr().String(), 50*time.Millisecond); err != nil {
			break
		} else {
			c.Close()
		}
	}
	if _, err := io.WriteString(pw, app[40:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	res := <-done
	if res.err != nil || res.status != http.StatusCreated {
		t.Errorf("in-flight request: %d %v", res.status, res.err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// TestNewRefusesUnadmittedModel: a model policy does not admit stops
// start-up with every violation, and nothing is logged.
func TestNewRefusesUnadmittedModel(t *testing.T) {
	ctx := context.Background()
	ledger := openLedger(t, t.TempDir())
	defer ledger.Close()
	pol, err := policy.New(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	pkg, err := models.LoadDir("../models/credit-risk-protected")
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := api.ParseKeys(testKeys)
	tokens, _ := api.NewTokens(make([]byte, 32))
	_, err = api.New(ctx, api.Config{Ledger: ledger, Policy: pol, Models: []*scoring.Model{m}, Keys: keys, Tokens: tokens, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("a model with prohibited features was admitted")
	}
	for _, want := range []string{"credit-risk-protected", "ADM-PROHIBITED-BASIS", "Marital"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	if cp, _ := ledger.LatestCheckpoint(ctx); cp.Size != 0 {
		t.Errorf("a refused start logged %d entries", cp.Size)
	}
}

// TestNewRequiresParts: the server refuses to start without its parts.
func TestNewRequiresParts(t *testing.T) {
	if _, err := api.New(context.Background(), api.Config{}); err == nil {
		t.Error("New accepted an empty configuration")
	}
}

// TestHTTPServerTimeouts: the listener is protected against slow clients.
func TestHTTPServerTimeouts(t *testing.T) {
	e := newEnv(t, envOptions{})
	hs := e.srv.HTTPServer("127.0.0.1:0")
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout <= 0 || hs.WriteTimeout <= 0 || hs.IdleTimeout <= 0 {
		t.Errorf("timeouts: header %v read %v write %v idle %v", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout)
	}
	if hs.WriteTimeout <= api.DefaultWaitTimeout {
		t.Errorf("write timeout %v would cut ?wait=integrated (%v) short", hs.WriteTimeout, api.DefaultWaitTimeout)
	}
}

// TestWaitTimeoutStillAnswers: when integration cannot be awaited in
// time the decision exists anyway, so the answer is its receipt with
// status "queued", never an error that would invite a second decision.
func TestWaitTimeoutStillAnswers(t *testing.T) {
	e := newEnv(t, envOptions{wait: time.Nanosecond})
	r := e.do(req{method: "POST", path: "/v1/decisions?wait=integrated", key: keyLender, body: validApp("slow-1")})
	if r.status != http.StatusCreated {
		t.Fatalf("%d %s", r.status, r.body)
	}
	var d decisionOut
	r.json(t, &d)
	if d.Ledger.Status != "queued" || d.Ledger.InclusionProof != nil {
		t.Errorf("ledger %+v, want queued without a proof", d.Ledger)
	}
	e.settle()
	r = e.do(req{method: "GET", path: "/v1/decisions/" + d.DecisionID + "/proof", key: d.ApplicantToken})
	if r.status != http.StatusOK {
		t.Errorf("proof later: %d %s", r.status, r.body)
	}
}
