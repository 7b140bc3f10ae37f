package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/api/idemstore"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// openIdem opens an idempotency store in dir, closed at the end of the
// test (closing twice is harmless).
func openIdem(t *testing.T, dir string) *idemstore.Store {
	t.Helper()
	s, err := idemstore.Open(context.Background(), filepath.Join(dir, idemstore.FileName), idemstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// keyed is a decision request with an Idempotency-Key.
func keyed(path, key string, body any) req {
	return req{method: "POST", path: path, key: keyLender, body: body, headers: map[string]string{"Idempotency-Key": key}}
}

// decisionsFor counts the decision records in the whole log whose
// application_id is one of ids, read back through the regulator's API.
func (e *env) decisionsFor(ids ...string) int {
	e.t.Helper()
	size := e.settle()
	r := e.do(req{method: "GET", path: fmt.Sprintf("/v1/ledger/entries?start=0&count=%d", size), key: keyRegulator})
	if r.status != http.StatusOK {
		e.t.Fatalf("reading entries: %d %s", r.status, r.body)
	}
	var out struct {
		Entries []struct {
			Type, Data      string
			CommittedRecord string `json:"committed_record"`
		}
	}
	r.json(e.t, &out)
	if uint64(len(out.Entries)) != size {
		e.t.Fatalf("read %d entries of %d", len(out.Entries), size)
	}
	n := 0
	for _, en := range out.Entries {
		content := en.Data
		if en.CommittedRecord != "" {
			content = en.CommittedRecord // a format 2 leaf's record
		}
		data, err := base64.StdEncoding.DecodeString(content)
		if err != nil {
			e.t.Fatal(err)
		}
		rec, err := transparency.DecodeRecord(data)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, id := range ids {
			if rec.Decision != nil && rec.Decision.ApplicationID == id {
				n++
			}
		}
	}
	return n
}

func expectProblem(t *testing.T, r *response, status int, kind string) {
	t.Helper()
	var p api.Problem
	if r.status != status || json.Unmarshal(r.body, &p) != nil || p.Type != "/problems/"+kind {
		t.Fatalf("got %d %s, want %d %s", r.status, r.body, status, kind)
	}
}

// TestIdempotencyKey: the same key and body give back the first receipt,
// byte for byte, and no second decision; another body under the key is a
// conflict; keys belong to one lender; without the header every request is
// a new decision, as before.
func TestIdempotencyKey(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, envOptions{dir: dir, idem: openIdem(t, dir)})
	const key = `"8e03978e-40d5-43e8-bc93-6894a57f9324"`

	first := e.do(keyed("/v1/decisions", key, validApp("idem-1")))
	if first.status != http.StatusCreated || first.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("first request: %d %v %s", first.status, first.header, first.body)
	}
	size := e.settle()
	for range 3 {
		again := e.do(keyed("/v1/decisions", key, validApp("idem-1")))
		if again.status != http.StatusCreated || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay: %d %v %s", again.status, again.header, again.body)
		}
		if !bytes.Equal(again.body, first.body) {
			t.Errorf("replayed receipt differs:\n%s\n%s", again.body, first.body)
		}
	}
	if got := e.settle(); got != size {
		t.Errorf("replays grew the ledger from %d to %d leaves", size, got)
	}
	if n := e.decisionsFor("idem-1"); n != 1 {
		t.Errorf("%d decisions for idem-1 in the log, want 1", n)
	}

	// The same key with another body, or on the other endpoint: 409, and
	// nothing is decided.
	expectProblem(t, e.do(keyed("/v1/decisions", key, validApp("idem-2"))), http.StatusConflict, "idempotency-key-reused")
	expectProblem(t, e.do(keyed("/v1/decisions/batch", key, map[string]any{"applications": []any{validApp("idem-1")}})), http.StatusConflict, "idempotency-key-reused")
	// The body is compared byte for byte: the same JSON spelt differently
	// is another request.
	spaced, _ := json.MarshalIndent(validApp("idem-1"), "", " ")
	expectProblem(t, e.do(keyed("/v1/decisions", key, spaced)), http.StatusConflict, "idempotency-key-reused")
	if n := e.decisionsFor("idem-1", "idem-2"); n != 1 {
		t.Errorf("%d decisions after the conflicts, want 1", n)
	}

	// Another lender's identical key is its own.
	other := e.do(req{method: "POST", path: "/v1/decisions", key: keyOtherLender, body: validApp("idem-1"), headers: map[string]string{"Idempotency-Key": key}})
	if other.status != http.StatusCreated || other.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("other lender: %d %s", other.status, other.body)
	}

	// A request refused for its body is not remembered: correcting the
	// body under the same key makes the decision.
	const key2 = `"retry-after-422"`
	expectProblem(t, e.do(keyed("/v1/decisions", key2, withFeature("Income", -5))), http.StatusUnprocessableEntity, "validation")
	if r := e.do(keyed("/v1/decisions", key2, validApp("idem-3"))); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("corrected request: %d %s", r.status, r.body)
	}

	// Without the header, behaviour is unchanged: two decisions.
	a, b := e.createDecision("idem-4"), e.createDecision("idem-4")
	if a.DecisionID == b.DecisionID {
		t.Error("two unkeyed requests gave one decision")
	}
	if n := e.decisionsFor("idem-1", "idem-2", "idem-3", "idem-4"); n != 5 {
		t.Errorf("%d decisions in the log, want 5 (idem-1 twice: two lenders)", n)
	}
}

// TestIdempotencyKeyMalformed: keys that are not an RFC 8941 sf-string of
// 1 to 255 printable characters get 400 and make no decision.
func TestIdempotencyKeyMalformed(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, envOptions{dir: dir, idem: openIdem(t, dir)})
	for name, k := range map[string]string{
		"unquoted":           `8e03978e-40d5-43e8-bc93-6894a57f9324`,
		"empty string":       `""`,
		"no closing quote":   `"abc`,
		"text after quote":   `"abc"x`,
		"parameters":         `"abc";p=1`,
		"inner quote":        `"a"b"`,
		"bad escape":         `"a\x"`,
		"trailing backslash": `"a\"`,
		"too long":           `"` + strings.Repeat("k", 256) + `"`,
		"non-ASCII":          `"clé"`,
		"token":              `abc`,
	} {
		t.Run(name, func(t *testing.T) {
			sub := *e
			sub.t = t
			expectProblem(t, sub.do(keyed("/v1/decisions", k, validApp("bad-key"))), http.StatusBadRequest, "invalid-idempotency-key")
		})
	}
	// Escapes and the longest key are fine.
	for _, k := range []string{`"a\"b\\c"`, `"` + strings.Repeat("k", 255) + `"`, ` "padded" `} {
		if r := e.do(keyed("/v1/decisions", k, validApp("good-key"))); r.status != http.StatusCreated {
			t.Errorf("key %s: %d %s", k, r.status, r.body)
		}
	}
	// Two Idempotency-Key fields in one request.
	hr, err := http.NewRequest("POST", e.http.URL+"/v1/decisions", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+keyLender)
	hr.Header.Add("Idempotency-Key", `"one"`)
	hr.Header.Add("Idempotency-Key", `"two"`)
	resp, err := e.http.Client().Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("two keys: %d", resp.StatusCode)
	}
	if n := e.decisionsFor("bad-key"); n != 0 {
		t.Errorf("%d decisions made with malformed keys", n)
	}
}

// TestIdempotencyKeyAcrossRestart: a key is honoured by the next process
// on the same data directory, for single and batch requests.
func TestIdempotencyKeyAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	store := openIdem(t, dir)
	e := newEnv(t, envOptions{dir: dir, idem: store})
	batch := map[string]any{"applications": []any{validApp("rs-b1"), validApp("rs-b2"), validApp("rs-b3")}}
	one := e.do(keyed("/v1/decisions", `"restart-one"`, validApp("rs-1")))
	many := e.do(keyed("/v1/decisions/batch", `"restart-batch"`, batch))
	if one.status != http.StatusCreated || many.status != http.StatusCreated {
		t.Fatalf("%d %s / %d %s", one.status, one.body, many.status, many.body)
	}
	size := e.settle()
	e.http.Close()
	if err := e.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	e.closed = true
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	again := newEnv(t, envOptions{dir: dir, idem: openIdem(t, dir)})
	r1 := again.do(keyed("/v1/decisions", `"restart-one"`, validApp("rs-1")))
	r2 := again.do(keyed("/v1/decisions/batch", `"restart-batch"`, batch))
	for i, pair := range [][2]*response{{one, r1}, {many, r2}} {
		if pair[1].status != http.StatusCreated || pair[1].header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(pair[0].body, pair[1].body) {
			t.Errorf("request %d after the restart: %d %v %s", i, pair[1].status, pair[1].header, pair[1].body)
		}
	}
	var b struct{ Decisions []decisionOut }
	r2.json(t, &b)
	if len(b.Decisions) != 3 {
		t.Fatalf("batch replay holds %d decisions", len(b.Decisions))
	}
	if got := again.settle(); got != size {
		t.Errorf("ledger grew from %d to %d leaves across the replays", size, got)
	}
	if n := again.decisionsFor("rs-1", "rs-b1", "rs-b2", "rs-b3"); n != 4 {
		t.Errorf("%d decisions in the log, want 4", n)
	}
	expectProblem(t, again.do(keyed("/v1/decisions/batch", `"restart-batch"`, map[string]any{"applications": []any{validApp("rs-b1")}})), http.StatusConflict, "idempotency-key-reused")
}

// gatedLedger is a fault-injection seam around the real ledger: once a
// test arms it, each append first calls the hook, which may block or fail
// it. (api.New appends the governance records through it unarmed.)
type gatedLedger struct {
	api.Ledger
	mu   sync.Mutex
	hook func() error
}

func (g *gatedLedger) arm(hook func() error) {
	g.mu.Lock()
	g.hook = hook
	g.mu.Unlock()
}

func (g *gatedLedger) AppendSealed(ctx context.Context, s transparency.Sealed) (transparency.Receipt, error) {
	g.mu.Lock()
	hook := g.hook
	g.mu.Unlock()
	if hook != nil {
		if err := hook(); err != nil {
			return transparency.Receipt{}, err
		}
	}
	return g.Ledger.AppendSealed(ctx, s)
}

// gatedEnv is an env whose ledger sits behind a gatedLedger.
func gatedEnv(t *testing.T) (*env, *gatedLedger) {
	dir := t.TempDir()
	gate := &gatedLedger{}
	e := newEnv(t, envOptions{dir: dir, idem: openIdem(t, dir), wrapLedger: func(l api.Ledger) api.Ledger {
		gate.Ledger = l
		return gate
	}})
	return e, gate
}

// TestIdempotencyKeyInFlight: while the first request with a key is still
// being processed, another with the key gets 409 (whatever its body);
// once the first is answered, a retry gets its receipt.
func TestIdempotencyKeyInFlight(t *testing.T) {
	e, gate := gatedEnv(t)
	entered, release := make(chan struct{}), make(chan struct{})
	var held atomic.Bool
	gate.arm(func() error {
		if held.CompareAndSwap(false, true) { // only the first append is held
			close(entered)
			<-release
		}
		return nil
	})
	const key = `"slow-one"`
	done := make(chan *response)
	go func() {
		sub := *e
		sub.t = t
		done <- sub.do(keyed("/v1/decisions", key, validApp("slow-1")))
	}()
	<-entered // the first request is inside the ledger append
	r := e.do(keyed("/v1/decisions", key, validApp("slow-1")))
	expectProblem(t, r, http.StatusConflict, "idempotency-key-in-flight")
	if r.header.Get("Retry-After") == "" {
		t.Error("in-flight conflict without Retry-After")
	}
	expectProblem(t, e.do(keyed("/v1/decisions", key, validApp("slow-2"))), http.StatusConflict, "idempotency-key-in-flight")
	// Other keys are not held up.
	if r := e.do(keyed("/v1/decisions", `"fast-one"`, validApp("fast-1"))); r.status != http.StatusCreated {
		t.Errorf("another key while one is in flight: %d %s", r.status, r.body)
	}
	close(release)
	first := <-done
	if first.status != http.StatusCreated {
		t.Fatalf("held request: %d %s", first.status, first.body)
	}
	replay := e.do(keyed("/v1/decisions", key, validApp("slow-1")))
	if replay.status != http.StatusCreated || !bytes.Equal(replay.body, first.body) {
		t.Errorf("retry after completion: %d %s", replay.status, replay.body)
	}
	if n := e.decisionsFor("slow-1", "slow-2"); n != 1 {
		t.Errorf("%d decisions in the log, want 1", n)
	}
}

// TestIdempotencyKeyNotStoredOnFailure: a decision the ledger refused
// (503) is not the key's answer: the retry makes the decision, and only
// that one is in the log.
func TestIdempotencyKeyNotStoredOnFailure(t *testing.T) {
	e, gate := gatedEnv(t)
	gate.arm(func() error { return fmt.Errorf("injected: %w", transparency.ErrUnavailable) })
	const key = `"fails-first"`
	body := map[string]any{"applications": []any{validApp("nf-1"), validApp("nf-2")}}
	if r := e.do(keyed("/v1/decisions", key, validApp("nf-0"))); r.status != http.StatusServiceUnavailable {
		t.Fatalf("with the ledger failing: %d %s", r.status, r.body)
	}
	if r := e.do(keyed("/v1/decisions/batch", `"fails-batch"`, body)); r.status != http.StatusServiceUnavailable {
		t.Fatalf("batch with the ledger failing: %d %s", r.status, r.body)
	}
	gate.arm(nil)
	for _, tc := range []struct {
		path, key string
		body      any
	}{{"/v1/decisions", key, validApp("nf-0")}, {"/v1/decisions/batch", `"fails-batch"`, body}} {
		retry := e.do(keyed(tc.path, tc.key, tc.body))
		if retry.status != http.StatusCreated || retry.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s retry: %d %v %s", tc.path, retry.status, retry.header, retry.body)
		}
		if again := e.do(keyed(tc.path, tc.key, tc.body)); again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.body, retry.body) {
			t.Errorf("%s second retry: %d %s", tc.path, again.status, again.body)
		}
	}
	if n := e.decisionsFor("nf-0", "nf-1", "nf-2"); n != 3 {
		t.Errorf("%d decisions in the log, want 3", n)
	}
}

// TestIdempotencyKeyWithoutStore: a server built without a store refuses
// keyed requests rather than pretending to honour them.
func TestIdempotencyKeyWithoutStore(t *testing.T) {
	e := newEnv(t, envOptions{})
	expectProblem(t, e.do(keyed("/v1/decisions", `"k"`, validApp("ns-1"))), http.StatusBadRequest, "invalid-idempotency-key")
}
