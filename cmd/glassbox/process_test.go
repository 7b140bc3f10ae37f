package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// Process-level tests run the real glassbox binary, as operators do.

const (
	lenderKey    = "lender-key-0123456789abcdef0123"
	regulatorKey = "regulator-key-0123456789abcdef01"
	adminKey     = "admin-key-0123456789abcdef012345"
)

var apiKeysEnv = "GLASSBOX_API_KEYS=lender/acme:" + lenderKey + ",regulator:" + regulatorKey + ",admin:" + adminKey

// binaryPath builds the glassbox binary once per test run.
var binaryPath = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "glassbox-bin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "glassbox")
	cmd := exec.Command("go", "build", "-o", out, ".")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, msg)
	}
	return out, nil
})

// serveProc is a running `glassbox serve`.
type serveProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	url     string
	dataDir string
	args    []string
	logs    *syncBuffer
	done    chan struct{}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServe starts glassbox serve on a free loopback port and waits until
// it is ready.
func startServe(t *testing.T, dataDir string, extra ...string) *serveProc {
	t.Helper()
	bin, err := binaryPath()
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProc{t: t, dataDir: dataDir, args: extra}
	p.start(freeAddr(t))
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	_ = bin
	return p
}

func (p *serveProc) start(addr string) {
	p.t.Helper()
	bin, _ := binaryPath()
	args := append([]string{"serve", "--addr", addr, "--data-dir", p.dataDir, "--rate-limit", "0"}, p.args...)
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), apiKeysEnv)
	p.logs = &syncBuffer{}
	p.cmd.Stdout = p.logs
	p.cmd.Stderr = p.logs
	if err := p.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.done) }()
	p.url = "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			p.t.Fatalf("glassbox serve exited early:\n%s", p.logs.String())
		default:
		}
		resp, err := http.Get(p.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.t.Fatalf("glassbox serve not ready after 60s:\n%s", p.logs.String())
}

// restart starts the process again on the same address and data.
func (p *serveProc) restart() {
	p.t.Helper()
	p.start(strings.TrimPrefix(p.url, "http://"))
}

func (p *serveProc) kill(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func call(ctx context.Context, method, url, key string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp.StatusCode, data, err
}

// sampleApplication returns a valid application that varies with i (the
// load generator's own).
func sampleApplication(i int) map[string]any { return sampleApp(i) }

// loadResult is what a load run saw.
type loadResult struct {
	mu    sync.Mutex
	acked []string // decision ids answered 201
	other map[int]int
}

// load posts decisions from workers until ctx ends.
func load(ctx context.Context, urls []string, workers int, seq *int64Counter) *loadResult {
	r := &loadResult{other: map[int]int{}}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for ctx.Err() == nil {
				i := seq.next()
				url := urls[i%len(urls)]
				code, body, err := call(ctx, http.MethodPost, url+"/v1/decisions", lenderKey, sampleApplication(i))
				if err != nil && ctx.Err() != nil {
					// The run ended mid-request: not an outcome of the server.
					return
				}
				r.mu.Lock()
				switch {
				case err != nil:
					r.other[-1]++
				case code == http.StatusCreated:
					var d struct {
						DecisionID string `json:"decision_id"`
					}
					if json.Unmarshal(body, &d) == nil && d.DecisionID != "" {
						r.acked = append(r.acked, d.DecisionID)
					}
				default:
					r.other[code]++
				}
				r.mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	return r
}

type int64Counter struct {
	mu sync.Mutex
	n  int
}

func (c *int64Counter) next() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	return c.n
}

// checkpointOf fetches and verifies the latest checkpoint of a server.
func checkpointOf(t *testing.T, url, key string) *transparency.Checkpoint {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodGet, url+"/v1/ledger/checkpoint", "", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("checkpoint: %d %v %s", code, err, body)
	}
	cp, err := transparency.OpenCheckpoint(body, key, "")
	if err != nil {
		t.Fatalf("checkpoint does not verify: %v", err)
	}
	return cp
}

func publicKey(t *testing.T, url string) string {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodGet, url+"/v1/ledger/public-key", "", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("public key: %d %v", code, err)
	}
	return strings.TrimSpace(string(body))
}

// verifyConsistent checks with a consistency proof from url that the log
// of checkpoint b extends the log of checkpoint a.
func verifyConsistent(t *testing.T, url string, a, b *transparency.Checkpoint) {
	t.Helper()
	if a.Size > b.Size {
		t.Fatalf("tree shrank from %d to %d", a.Size, b.Size)
	}
	if a.Size == b.Size {
		if !bytes.Equal(a.Root, b.Root) {
			t.Fatalf("two roots for size %d", a.Size)
		}
		return
	}
	if a.Size == 0 {
		return
	}
	code, body, err := call(context.Background(), http.MethodGet,
		fmt.Sprintf("%s/v1/ledger/consistency?first=%d&second=%d", url, a.Size, b.Size), regulatorKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("consistency %d→%d: %d %v %s", a.Size, b.Size, code, err, body)
	}
	var c struct{ Hashes []string }
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	hashes, err := decodeHashes(c.Hashes)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, a.Size, b.Size, hashes, a.Root, b.Root); err != nil {
		t.Fatalf("checkpoint %d is not consistent with %d: %v", b.Size, a.Size, err)
	}
}

// verifyDecision fetches a decision's record and proof from url (as the
// regulator) and verifies the receipt independently, waiting up to wait
// for a queued decision to integrate.
func verifyDecision(t *testing.T, url, key, id string, wait time.Duration) {
	t.Helper()
	ctx := context.Background()
	code, body, err := call(ctx, http.MethodGet, url+"/v1/decisions/"+id, regulatorKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("decision %s: %d %v %s", id, code, err, body)
	}
	var d struct {
		Record          string `json:"record"`
		CommittedRecord string `json:"committed_record"`
		Salt            string `json:"salt"`
	}
	if err := json.Unmarshal(body, &d); err != nil || d.Record == "" {
		t.Fatalf("decision %s has no record: %v", id, err)
	}
	// The leaf is a commitment: the acknowledged decision's record must
	// be in the record store (the read returns it beside the leaf), and
	// verifyReceipt checks it opens the commitment.
	if raw, _ := base64.StdEncoding.DecodeString(d.Record); transparency.LeafFormat(raw) == transparency.EnvelopeFormat && (d.CommittedRecord == "" || d.Salt == "") {
		t.Fatalf("acknowledged decision %s lacks its record: %s", id, body)
	}
	deadline := time.Now().Add(wait)
	for {
		code, body, err = call(ctx, http.MethodGet, url+"/v1/decisions/"+id+"/proof", regulatorKey, nil)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decision %s: no proof after %v: %d %v %s", id, wait, code, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var r Receipt
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	r.Record, r.DecisionID, r.CommittedRecord, r.Salt = d.Record, id, d.CommittedRecord, d.Salt
	if _, err := verifyReceipt(&r, key); err != nil {
		t.Fatalf("decision %s: %v", id, err)
	}
	raw, _ := base64.StdEncoding.DecodeString(d.Record)
	if got := transparency.RecordID(raw).String(); got != id {
		t.Fatalf("decision id %s is not the record's leaf hash %s", id, got)
	}
}

// TestEmbeddedCrashRecovery kills glassbox serve with SIGKILL under load,
// again and again, and checks after each restart that every acknowledged
// decision is provable and that the log only grew.
func TestEmbeddedCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	cycles := 20
	if v, err := strconv.Atoi(os.Getenv("GLASSBOX_CRASH_CYCLES")); err == nil && v > 0 {
		cycles = v
	}
	dir := t.TempDir()
	p := startServe(t, dir)
	key := publicKey(t, p.url)
	last := checkpointOf(t, p.url, key)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var seq int64Counter
	total := 0
	for cycle := 0; cycle < cycles; cycle++ {
		ctx, cancel := context.WithCancel(context.Background())
		resCh := make(chan *loadResult, 1)
		go func() { resCh <- load(ctx, []string{p.url}, 16, &seq) }()
		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		// The last checkpoint signed before the crash, as a monitor saw it.
		before := checkpointOf(t, p.url, key)
		p.kill(syscall.SIGKILL)
		cancel()
		res := <-resCh
		if len(res.acked) == 0 {
			t.Fatalf("cycle %d: no decision acknowledged (errors %v)\n%s", cycle, res.other, p.logs.String())
		}
		p.restart()
		after := checkpointOf(t, p.url, key)
		verifyConsistent(t, p.url, last, before)
		verifyConsistent(t, p.url, before, after)
		for _, id := range res.acked {
			verifyDecision(t, p.url, key, id, 15*time.Second)
		}
		last = checkpointOf(t, p.url, key)
		verifyConsistent(t, p.url, after, last)
		total += len(res.acked)
	}
	t.Logf("%d cycles, %d acknowledged decisions, all provable; final tree size %d", cycles, total, last.Size)
}

// syncBuffer is the serve process's output: os/exec copies into it while
// the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
