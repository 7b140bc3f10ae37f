package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/transparency"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
	"golang.org/x/mod/sumdb/note"
)

// chromiumPath is Debian's chromium; GLASSBOX_CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("GLASSBOX_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// newBrowser starts headless Chromium for the test. CI must run the
// browser tests, so a missing browser there is a failure; on a developer
// machine without it the tests are skipped.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("chromium not found at %s (CI=true, so browser tests must run): install it with apt-get install -y chromium", path)
		}
		t.Skipf("chromium not found at %s: skipping browser tests (apt-get install -y chromium to run them)", path)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1000, 900),
		// Keep the browser off the network: the tests only ever load
		// pages from the loopback test server.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-domain-reliability", true),
		chromedp.Flag("disable-client-side-phishing-detection", true),
		chromedp.Flag("no-pings", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,CertificateTransparencyComponentUpdater"),
		chromedp.Flag("disable-dev-shm-usage", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// The first Run starts the browser; it must not carry a timeout, or the
	// timeout would end the browser too.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// run runs browser steps with a deadline so a broken page fails the test
// instead of hanging it.
func run[T any](t *testing.T, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	run(t, ctx, chromedp.Steps(steps...))
}

// fixture is a real embedded ledger holding a model admission, a policy
// activation and a decision, each integrated under its own checkpoint.
type fixture struct {
	ledger     *transparency.Ledger
	rec        *transparency.Record
	recBytes   []byte
	id         transparency.ID
	proof      *transparency.InclusionProof
	manifest   *models.Manifest
	token      string
	regulator  string
	screenshot bool
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	l, err := transparency.OpenEmbedded(ctx, transparency.EmbeddedConfig{
		DataDir:             t.TempDir(),
		IntegrationInterval: 50 * time.Millisecond,
		Logger:              slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
	})
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	appendWait := func(rec *transparency.Record) ([]byte, transparency.ID) {
		b, err := rec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		r, err := l.Append(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.WaitIntegrated(ctx, r.ID); err != nil {
			t.Fatal(err)
		}
		return b, r.ID
	}
	ma, err := transparency.NewRecord(ts, &transparency.ModelAdmitted{
		Model:   transparency.ModelRef{ID: pkg.Manifest.ID, SHA256: pkg.Manifest.ModelSHA256},
		Details: map[string]string{"approver": pkg.Manifest.Approval.Approver, "test_auc": strconv.FormatFloat(pkg.Manifest.Provenance.TestAUC, 'f', 3, 64)},
	})
	if err != nil {
		t.Fatal(err)
	}
	appendWait(ma)
	pa, err := transparency.NewRecord(ts.Add(time.Minute), &transparency.PolicyActivated{
		Policy:  transparency.PolicyRef{Revision: strings.Repeat("c0", 32)},
		Details: map[string]string{"approved_by": "credit-risk-committee"},
	})
	if err != nil {
		t.Fatal(err)
	}
	appendWait(pa)
	rec := sampleRecord(t, pkg.Manifest)
	b, id := appendWait(rec)
	p, err := l.InclusionProof(ctx, id, 0)
	if err != nil {
		t.Fatal(err)
	}
	if p.Checkpoint == nil || p.TreeSize != 3 || len(p.Hashes) == 0 {
		t.Fatalf("unexpected proof: size %d, %d hashes, checkpoint %v", p.TreeSize, len(p.Hashes), p.Checkpoint != nil)
	}
	return &fixture{
		ledger: l, rec: rec, recBytes: b, id: id, proof: p, manifest: pkg.Manifest,
		token: "gbt_test-token", regulator: "regulator-secret",
		screenshot: os.Getenv("GLASSBOX_SCREENSHOTS") == "1",
	}
}

// tamper says how the test server corrupts what it serves.
type tamper string

const (
	tamperNone           tamper = ""
	tamperProofHash      tamper = "proof-hash"
	tamperCheckpointRoot tamper = "checkpoint-root"
	tamperCheckpointSig  tamper = "checkpoint-sig"
	tamperRecord         tamper = "record"
	tamperTreeSize       tamper = "tree-size"
	tamperConsistency    tamper = "consistency"
)

// server serves the pages and the few API endpoints they call, from the
// real ledger, corrupting the responses as the current tamper mode says.
type server struct {
	f  *fixture
	r  *Renderer
	mu sync.Mutex
	tm tamper
}

func (s *server) setTamper(tm tamper) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tm = tm
}

func (s *server) mode() tamper {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tm
}

func flipHex(h string) string {
	b, _ := hex.DecodeString(h)
	b[0] ^= 1
	return hex.EncodeToString(b)
}

// tamperNote changes the checkpoint: its root line, or a byte of its
// signature.
func tamperNote(n string, tm tamper) string {
	lines := strings.Split(n, "\n")
	switch tm {
	case tamperCheckpointRoot:
		root, _ := base64.StdEncoding.DecodeString(lines[2])
		root[5] ^= 0x80
		lines[2] = base64.StdEncoding.EncodeToString(root)
	case tamperCheckpointSig:
		prefix, sig, _ := strings.Cut(lines[4], " ")
		name, sig, _ := strings.Cut(sig, " ")
		raw, _ := base64.StdEncoding.DecodeString(sig)
		raw[len(raw)-1] ^= 1
		lines[4] = prefix + " " + name + " " + base64.StdEncoding.EncodeToString(raw)
	}
	return strings.Join(lines, "\n")
}

func (s *server) handler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	f := s.f
	mux.HandleFunc("GET /ui/decisions/{id}", func(w http.ResponseWriter, req *http.Request) {
		if req.PathValue("id") != f.id.String() || req.URL.Query().Get("token") != f.token {
			http.NotFound(w, req)
			return
		}
		p, err := DecisionPageFromRecord(f.id, f.token, f.rec, f.manifest)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		p.Counterfactuals = []string{
			"Based on our current model and policy, an application with the monthly income between 1,400 and 2,100 currency units per month would have been approved.",
			"Based on our current model and policy, an application with the amount of existing debt between 0 and 1,500 currency units and the term of the requested loan between 24 and 30 months would have been approved.",
		}
		s.r.SetHeaders(w.Header())
		if err := s.r.RenderDecision(w, p); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET /ui/audit", func(w http.ResponseWriter, req *http.Request) {
		cp, _ := f.ledger.LatestCheckpoint(req.Context())
		entries, err := f.ledger.Entries(req.Context(), 0, int(cp.Size))
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		list, gov := AuditFromEntries(entries)
		s.r.SetHeaders(w.Header())
		if err := s.r.RenderAudit(w, AuditPage{
			Checkpoint: string(cp.Note), TreeSize: cp.Size, VerifierKey: f.ledger.VerifierKey(),
			Entries: list, Governance: gov, GeneratedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		}); err != nil {
			t.Error(err)
		}
	})
	// A page with verify.js alone, to test the library by itself.
	mux.HandleFunc("GET /verify-only", func(w http.ResponseWriter, req *http.Request) {
		js := VerifyScript()
		w.Header().Set("Content-Security-Policy", buildCSP("", string(js)))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!DOCTYPE html><html lang=en><title>verify.js</title><script>%s</script>", js)
	})
	mux.HandleFunc("GET /v1/decisions/{id}/proof", func(w http.ResponseWriter, req *http.Request) {
		if req.PathValue("id") != f.id.String() || req.URL.Query().Get("token") != f.token {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		tm := s.mode()
		p := f.proof
		out := map[string]any{
			"decision_id": f.id.String(),
			"leaf_index":  p.LeafIndex,
			"tree_size":   p.TreeSize,
			"checkpoint":  tamperNote(string(p.Checkpoint.Note), tm),
		}
		hashes := make([]string, len(p.Hashes))
		for i, h := range p.Hashes {
			hashes[i] = hex.EncodeToString(h)
		}
		rec := f.recBytes
		switch tm {
		case tamperProofHash:
			hashes[0] = flipHex(hashes[0])
		case tamperRecord:
			// A different decision with otherwise identical bytes.
			rec = bytes.Replace(rec, []byte(`"decision":"decline"`), []byte(`"decision":"approve"`), 1)
		case tamperTreeSize:
			out["tree_size"] = p.TreeSize + 1
		}
		out["hashes"] = hashes
		out["record"] = base64.StdEncoding.EncodeToString(rec)
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /v1/ledger/public-key", func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, f.ledger.VerifierKey()+"\n")
	})
	mux.HandleFunc("GET /v1/ledger/checkpoint", func(w http.ResponseWriter, req *http.Request) {
		cp, _ := f.ledger.LatestCheckpoint(req.Context())
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write(cp.Note)
	})
	mux.HandleFunc("GET /v1/ledger/consistency", func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("Authorization") != "Bearer "+f.regulator {
			http.Error(w, "unauthenticated", http.StatusUnauthorized)
			return
		}
		first, err1 := strconv.ParseUint(req.URL.Query().Get("first"), 10, 64)
		second, err2 := strconv.ParseUint(req.URL.Query().Get("second"), 10, 64)
		if err := errors.Join(err1, err2); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p, err := f.ledger.ConsistencyProof(req.Context(), first, second)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		hashes := make([]string, len(p.Hashes))
		for i, h := range p.Hashes {
			hashes[i] = hex.EncodeToString(h)
		}
		if s.mode() == tamperConsistency && len(hashes) > 0 {
			hashes[len(hashes)-1] = flipHex(hashes[len(hashes)-1])
		}
		out := map[string]any{"first": p.First, "second": p.Second, "hashes": hashes}
		if p.FirstCheckpoint != nil {
			out["first_checkpoint"] = string(p.FirstCheckpoint.Note)
		}
		if p.SecondCheckpoint != nil {
			out["second_checkpoint"] = string(p.SecondCheckpoint.Note)
		}
		writeJSON(w, out)
	})
	return mux
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func TestBrowser(t *testing.T) {
	ctx := newBrowser(t)
	f := newFixture(t)
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	s := &server{f: f, r: r}
	ts := httptest.NewServer(s.handler(t)) // listens on 127.0.0.1 only
	t.Cleanup(ts.Close)

	t.Run("verify.js alone", func(t *testing.T) { testVerifyLibrary(t, ctx, ts.URL) })
	t.Run("applicant page", func(t *testing.T) { testApplicantPage(t, ctx, s, ts.URL) })
	t.Run("audit page", func(t *testing.T) { testAuditPage(t, ctx, s, ts.URL) })
}

// checkResult clicks the check button and waits for the outcome.
func checkResult(t *testing.T, ctx context.Context) (message, failed string) {
	t.Helper()
	do(t, ctx, chromedp.Click(chromedp.CSS("#check-button")))
	message = run(t, ctx, chromedp.Poll[string](`(() => { const t = document.getElementById("check-result").textContent; return t.startsWith("Verified") || t.startsWith("Verification failed") ? t : null; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	failed = run(t, ctx, chromedp.Evaluate[string](`(document.querySelector("#check-steps li.s-fail") || {dataset: {check: ""}}).dataset.check`))
	return message, failed
}

func testApplicantPage(t *testing.T, ctx context.Context, s *server, base string) {
	f := s.f
	url := fmt.Sprintf("%s/ui/decisions/%s?token=%s", base, f.id, f.token)
	s.setTamper(tamperNone)
	do(t, ctx, chromedp.EmulateViewport(1000, 900), chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#check-button")))

	type shown struct {
		Outcome, Reasons         string
		Bars, Titles, ChartTitle int
		ChartShown               string
		StyleApplied             bool
	}
	got := run(t, ctx, chromedp.Evaluate[shown](`({
		outcome: document.getElementById("outcome-h").textContent,
		reasons: document.querySelector("ol.reasons").textContent,
		bars: document.querySelectorAll("figure.chart svg.chart-wide g.bar rect").length,
		titles: document.querySelectorAll("figure.chart svg.chart-wide g.bar title").length,
		chartTitle: document.querySelectorAll("figure.chart svg.chart-wide > title, figure.chart svg.chart-wide > desc").length,
		chartShown: [...document.querySelectorAll("figure.chart svg")].filter(s => getComputedStyle(s).display !== "none").map(s => s.getAttribute("class")).join(","),
		styleApplied: getComputedStyle(document.querySelector("header.site")).backgroundColor === "rgb(17, 24, 39)",
	})`))
	if !strings.Contains(got.Outcome, "Declined") {
		t.Errorf("outcome %q", got.Outcome)
	}
	for _, want := range []string{"Income too low relative to the amount requested", "900 dollars a month"} {
		if !strings.Contains(got.Reasons, want) {
			t.Errorf("reasons %q lack %q", got.Reasons, want)
		}
	}
	// Internal reason codes are in the reference part only.
	for _, code := range []string{"R07", "R01"} {
		if strings.Contains(got.Reasons, code) {
			t.Errorf("reasons %q show the internal code %s", got.Reasons, code)
		}
	}
	if n := len(f.rec.Decision.Attributions); got.Bars != n || got.Titles != n || got.ChartTitle != 2 {
		t.Errorf("chart has %d bars, %d bar titles, %d title/desc; want %d, %d, 2", got.Bars, got.Titles, got.ChartTitle, n, n)
	}
	// Exactly one drawing of the chart is shown (and exposed to screen
	// readers) at a time.
	if got.ChartShown != "chart-wide" {
		t.Errorf("charts shown on a desktop viewport: %q", got.ChartShown)
	}
	// The CSP header is enforced by the browser: the stylesheet applying
	// (and the check below running) shows that the hashes are right.
	if !got.StyleApplied {
		t.Error("inline stylesheet was not applied (blocked by the CSP?)")
	}

	msg, failed := checkResult(t, ctx)
	if !strings.HasPrefix(msg, "Verified: this decision is entry 3 of 3") || failed != "" {
		t.Fatalf("real decision: %q (failed check %q)", msg, failed)
	}
	if f.screenshot {
		saveScreenshot(t, ctx, "applicant.png")
	}

	t.Run("phone", func(t *testing.T) {
		do(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile), chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#check-button")))
		defer do(t, ctx, chromedp.EmulateViewport(1000, 900))
		if msg, _ := checkResult(t, ctx); !strings.HasPrefix(msg, "Verified") {
			t.Errorf("on a phone: %q", msg)
		}
		type layout struct {
			ChartShown          string
			ScrollWidth, Client int
		}
		got := run(t, ctx, chromedp.Evaluate[layout](`({
			chartShown: [...document.querySelectorAll("figure.chart svg")].filter(s => getComputedStyle(s).display !== "none").map(s => s.getAttribute("class")).join(","),
			scrollWidth: document.documentElement.scrollWidth,
			client: document.documentElement.clientWidth,
		})`))
		if got.ChartShown != "chart-narrow" {
			t.Errorf("charts shown on a phone: %q", got.ChartShown)
		}
		// Long ids and keys must wrap rather than widen the page.
		if got.ScrollWidth > got.Client {
			t.Errorf("page scrolls sideways on a phone: %d > %d", got.ScrollWidth, got.Client)
		}
		if f.screenshot {
			saveScreenshot(t, ctx, "applicant-phone.png")
		}
	})

	for _, tc := range []struct {
		tm     tamper
		failed string
	}{
		{tamperProofHash, "inclusion"},
		{tamperCheckpointRoot, "signature"},
		{tamperCheckpointSig, "signature"},
		{tamperRecord, "record"},
		{tamperTreeSize, "size"},
	} {
		t.Run(string(tc.tm), func(t *testing.T) {
			s.setTamper(tc.tm)
			defer s.setTamper(tamperNone)
			do(t, ctx, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("#check-button")))
			msg, failed := checkResult(t, ctx)
			if !strings.HasPrefix(msg, "Verification failed: ") || failed != tc.failed {
				t.Errorf("got %q (failed check %q), want a failure of %q", msg, failed, tc.failed)
			}
		})
	}
}

func testAuditPage(t *testing.T, ctx context.Context, s *server, base string) {
	f := s.f
	s.setTamper(tamperNone)
	do(t, ctx, chromedp.Navigate(base+"/ui/audit"), chromedp.WaitVisible(chromedp.CSS("#consistency-form")))
	latest, _ := f.ledger.LatestCheckpoint(context.Background())
	gotNote := run(t, ctx, chromedp.Evaluate[string](`document.getElementById("checkpoint-note").textContent`))
	if gotNote != string(latest.Note) {
		t.Errorf("shown checkpoint %q, want %q", gotNote, latest.Note)
	}
	cpMsg := run(t, ctx, chromedp.Poll[string](`(() => { const t = document.getElementById("cp-result").textContent; return /^(Verified|Verification failed)/.test(t) ? t : null; })()`,
		chromedp.WithPollingTimeout(20*time.Second)))
	if !strings.HasPrefix(cpMsg, "Verified: the checkpoint for tree size 3") {
		t.Errorf("checkpoint check: %q", cpMsg)
	}
	counts := run(t, ctx, chromedp.Evaluate[map[string]int](`Object.fromEntries([...document.querySelectorAll("table.entries")].map(t => [t.dataset.type, t.tBodies[0].rows.length]))`))
	if counts["decision"] != 1 || counts["model_admitted"] != 1 || counts["policy_activated"] != 1 {
		t.Errorf("entries by type %v", counts)
	}

	consistency := func(t *testing.T, key, size, pasted string) (string, string) {
		t.Helper()
		do(t, ctx,
			// chromedp.SetValue treats an empty value as a failure, so the
			// fields are filled directly.
			chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => {
				document.getElementById("reg-key").value = %s;
				document.getElementById("first-size").value = %s;
				document.getElementById("earlier-note").value = %s;
				document.getElementById("consistency-result").textContent = "";
			})()`, jsString(key), jsString(size), jsString(pasted))),
			chromedp.Click(chromedp.CSS(`#consistency-form button[type=submit]`)),
		)
		msg := run(t, ctx, chromedp.Poll[string](`(() => { const t = document.getElementById("consistency-result").textContent; return /^(Verified|Verification failed)/.test(t) ? t : null; })()`,
			chromedp.WithPollingTimeout(20*time.Second)))
		failed := run(t, ctx, chromedp.Evaluate[string](`(document.querySelector("#consistency-steps li.s-fail") || {dataset: {check: ""}}).dataset.check`))
		return msg, failed
	}

	msg, failed := consistency(t, f.regulator, "2", "")
	if !strings.HasPrefix(msg, "Verified: the ledger at size 3 contains the ledger at size 2 unchanged") || failed != "" {
		t.Errorf("consistency 2→3: %q (failed %q)", msg, failed)
	}
	if f.screenshot {
		saveScreenshot(t, ctx, "audit.png")
	}
	// A checkpoint the regulator saved earlier, pasted in.
	cp1, err := f.ledger.CheckpointAt(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	msg, failed = consistency(t, f.regulator, "", string(cp1.Note))
	if !strings.HasPrefix(msg, "Verified: the ledger at size 3 contains the ledger at size 1 unchanged") || failed != "" {
		t.Errorf("consistency from pasted checkpoint 1→3: %q (failed %q)", msg, failed)
	}

	t.Run("tampered proof", func(t *testing.T) {
		s.setTamper(tamperConsistency)
		defer s.setTamper(tamperNone)
		msg, failed := consistency(t, f.regulator, "2", "")
		if !strings.HasPrefix(msg, "Verification failed: ") || failed != "consistency" {
			t.Errorf("got %q (failed %q)", msg, failed)
		}
	})
	t.Run("tampered pasted checkpoint", func(t *testing.T) {
		msg, failed := consistency(t, f.regulator, "", tamperNote(string(cp1.Note), tamperCheckpointRoot))
		if !strings.HasPrefix(msg, "Verification failed: ") || failed != "earlier-signature" {
			t.Errorf("got %q (failed %q)", msg, failed)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		msg, _ := consistency(t, "not-the-key", "2", "")
		if !strings.HasPrefix(msg, "Verification failed: could not fetch the proof") || !strings.Contains(msg, "401") {
			t.Errorf("got %q", msg)
		}
	})
}

func saveScreenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := run(t, ctx, chromedp.FullScreenshot(100))
	path := filepath.Join("..", "..", "docs", "screenshots", name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", path)
}

// Vectors for verify.js, made by the Go reference implementations.
type (
	inclusionVector struct {
		Index  uint64   `json:"index"`
		Size   uint64   `json:"size"`
		Leaf   string   `json:"leaf"`
		Proof  []string `json:"proof"`
		Root   string   `json:"root"`
		Expect bool     `json:"expect"`
		Name   string   `json:"name"`
	}
	consistencyVector struct {
		First  uint64   `json:"first"`
		Second uint64   `json:"second"`
		Proof  []string `json:"proof"`
		Root1  string   `json:"root1"`
		Root2  string   `json:"root2"`
		Expect bool     `json:"expect"`
		Name   string   `json:"name"`
	}
	noteVector struct {
		Note   string `json:"note"`
		Key    string `json:"key"`
		Expect bool   `json:"expect"`
		Name   string `json:"name"`
		Size   string `json:"size"`
	}
)

func hexes(hs [][]byte) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

func flipped(hs []string, i int) []string {
	out := append([]string(nil), hs...)
	out[i] = flipHex(out[i])
	return out
}

func merkleVectors(t *testing.T) ([]inclusionVector, []consistencyVector) {
	const maxSize = 17
	tree := testonly.New(rfc6962.DefaultHasher)
	for i := range maxSize {
		tree.AppendData([]byte(fmt.Sprintf("leaf %d", i)))
	}
	var inc []inclusionVector
	var cons []consistencyVector
	for size := uint64(1); size <= maxSize; size++ {
		root := hex.EncodeToString(tree.HashAt(size))
		for i := uint64(0); i < size; i++ {
			p, err := tree.InclusionProof(i, size)
			if err != nil {
				t.Fatal(err)
			}
			v := inclusionVector{Index: i, Size: size, Leaf: hex.EncodeToString(tree.LeafHash(i)), Proof: hexes(p), Root: root, Expect: true}
			inc = append(inc, v)
			for j := range v.Proof {
				bad := v
				bad.Proof, bad.Expect, bad.Name = flipped(v.Proof, j), false, fmt.Sprintf("hash %d flipped", j)
				inc = append(inc, bad)
			}
			if len(v.Proof) > 0 {
				bad := v
				bad.Proof, bad.Expect, bad.Name = v.Proof[:len(v.Proof)-1], false, "truncated"
				inc = append(inc, bad)
			}
			bad := v
			bad.Proof, bad.Expect, bad.Name = append(append([]string(nil), v.Proof...), v.Leaf), false, "extended"
			inc = append(inc, bad)
			if size > 1 {
				bad := v
				bad.Index, bad.Expect, bad.Name = (i+1)%size, false, "wrong index"
				inc = append(inc, bad)
			}
		}
		for first := uint64(1); first <= size; first++ {
			p, err := tree.ConsistencyProof(first, size)
			if err != nil {
				t.Fatal(err)
			}
			v := consistencyVector{First: first, Second: size, Proof: hexes(p), Root1: hex.EncodeToString(tree.HashAt(first)), Root2: root, Expect: true}
			cons = append(cons, v)
			for j := range v.Proof {
				bad := v
				bad.Proof, bad.Expect, bad.Name = flipped(v.Proof, j), false, fmt.Sprintf("hash %d flipped", j)
				cons = append(cons, bad)
			}
			if first < size {
				bad := v
				bad.Root1, bad.Expect, bad.Name = flipHex(v.Root1), false, "wrong first root"
				cons = append(cons, bad)
				bad = v
				bad.Proof, bad.Expect, bad.Name = v.Proof[:len(v.Proof)-1], false, "truncated"
				cons = append(cons, bad)
			}
		}
	}
	return inc, cons
}

func noteVectors(t *testing.T) []noteVector {
	skey, vkey, err := note.GenerateKey(rand.Reader, "example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	otherSkey, otherVkey, err := note.GenerateKey(rand.Reader, "example.org/log")
	if err != nil {
		t.Fatal(err)
	}
	witnessSkey, _, err := note.GenerateKey(rand.Reader, "witness.example")
	if err != nil {
		t.Fatal(err)
	}
	sign := func(text string, skeys ...string) string {
		var signers []note.Signer
		for _, k := range skeys {
			s, err := note.NewSigner(k)
			if err != nil {
				t.Fatal(err)
			}
			signers = append(signers, s)
		}
		n, err := note.Sign(&note.Note{Text: text}, signers...)
		if err != nil {
			t.Fatal(err)
		}
		return string(n)
	}
	body := "example.org/log\n42\n" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 32)) + "\n"
	good := sign(body, skey)
	parts := strings.Split(vkey, "+")
	badHashKey := parts[0] + "+" + flipHex(parts[1]) + "+" + parts[2]
	return []noteVector{
		{Name: "valid", Note: good, Key: vkey, Expect: true, Size: "42"},
		{Name: "cosigned by a witness", Note: sign(body, witnessSkey, skey), Key: vkey, Expect: true, Size: "42"},
		{Name: "other key, same name", Note: sign(body, otherSkey), Key: vkey},
		{Name: "verified with other key", Note: good, Key: otherVkey},
		{Name: "body changed", Note: strings.Replace(good, "\n42\n", "\n43\n", 1), Key: vkey},
		{Name: "key hash does not match key", Note: good, Key: badHashKey},
		{Name: "no signature", Note: body, Key: vkey},
		{Name: "extension line", Note: sign(body+"extra\n", skey), Key: vkey},
	}
}

// testVerifyLibrary runs verify.js alone against proofs and signed notes
// made by the Go reference implementations (transparency-dev/merkle and
// x/mod/sumdb/note), valid and corrupted.
func testVerifyLibrary(t *testing.T, ctx context.Context, base string) {
	do(t, ctx, chromedp.Navigate(base+"/verify-only"))
	inc, cons := merkleVectors(t)
	notes := noteVectors(t)
	data, err := json.Marshal(map[string]any{"inc": inc, "cons": cons, "notes": notes})
	if err != nil {
		t.Fatal(err)
	}
	script := `(async (v) => {
		const V = GlassboxVerify, h = V.hexToBytes, bad = [];
		const outcome = async (f) => { try { await f(); return true; } catch (e) { if (!(e instanceof V.VerificationError)) throw e; return false; } };
		for (const c of v.inc) {
			const ok = await outcome(() => V.verifyInclusion(c.index, c.size, h(c.leaf), c.proof, h(c.root)));
			if (ok !== c.expect) bad.push("inclusion " + c.index + "/" + c.size + " " + (c.name || "valid"));
		}
		for (const c of v.cons) {
			const ok = await outcome(() => V.verifyConsistency(c.first, c.second, c.proof, h(c.root1), h(c.root2)));
			if (ok !== c.expect) bad.push("consistency " + c.first + "->" + c.second + " " + (c.name || "valid"));
		}
		for (const c of v.notes) {
			let size = "";
			const ok = await outcome(async () => { size = String((await V.openCheckpoint(c.note, await V.parseVerifierKey(c.key))).size); });
			if (ok !== c.expect || (ok && size !== c.size)) bad.push("note " + c.name);
		}
		const leaf = V.bytesToHex(await V.leafHash(new TextEncoder().encode("leaf 0")));
		if (leaf !== v.inc[0].leaf) bad.push("leaf hash " + leaf);
		return {bad, counted: v.inc.length + v.cons.length + v.notes.length};
	})(` + string(data) + `)`
	type result struct {
		Bad     []string
		Counted int
	}
	res := run(t, ctx, chromedp.Evaluate[result](script, chromedp.EvalAwaitPromise))
	if len(res.Bad) > 0 {
		t.Errorf("verify.js disagrees with the Go reference on %d of %d vectors: %v", len(res.Bad), res.Counted, res.Bad)
	}
	t.Logf("verify.js agreed with the Go reference on %d vectors", res.Counted)
}
