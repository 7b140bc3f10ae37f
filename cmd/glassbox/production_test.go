package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// trillianStack is Trillian's own log server and log signer on MariaDB,
// started by scripts/trillian-mariadb.sh as an operator would.
type trillianStack struct {
	t      *testing.T
	state  string
	env    []string
	addr   string
	treeID string
	// The test PKI the script made: CA, and the client's certificate and
	// key for mutual TLS.
	ca, cert, key string
}

// mariadbAvailable reports whether MariaDB answers; under CI its absence
// is a failure, since .ci/run is responsible for starting it.
func requireMariaDB(t *testing.T) {
	t.Helper()
	if err := exec.Command("mysqladmin", "-h", "127.0.0.1", "-uroot", "ping").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("MariaDB is not reachable on 127.0.0.1:3306 (CI must start it): %v", err)
		}
		t.Skipf("MariaDB is not reachable on 127.0.0.1:3306: %v (run scripts/trillian-mariadb.sh ensure-mariadb)", err)
	}
}

func freePort(t *testing.T) string {
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	return port
}

func startTrillian(t *testing.T) *trillianStack {
	t.Helper()
	requireMariaDB(t)
	s := &trillianStack{t: t, state: t.TempDir()}
	db := fmt.Sprintf("glassbox_test_%d", time.Now().UnixNano())
	s.env = append(os.Environ(),
		"TRILLIAN_DB="+db,
		"TRILLIAN_RPC_PORT="+freePort(t),
		"TRILLIAN_HTTP_PORT="+freePort(t),
		"TRILLIAN_SIGNER_HTTP_PORT="+freePort(t),
		"TRILLIAN_TLS=1",
	)
	out := s.script("start")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "TRILLIAN_ADDR":
			s.addr = v
		case "TREE_ID":
			s.treeID = v
		case "TRILLIAN_TLS_CA":
			s.ca = v
		case "TRILLIAN_TLS_CERT":
			s.cert = v
		case "TRILLIAN_TLS_KEY":
			s.key = v
		}
	}
	if s.addr == "" || s.treeID == "" || s.ca == "" || s.cert == "" || s.key == "" {
		t.Fatalf("trillian-mariadb.sh start printed no address or tree:\n%s", out)
	}
	t.Cleanup(func() {
		s.script("stop")
		exec.Command("mysql", "-h", "127.0.0.1", "-uroot", "-e", "DROP DATABASE IF EXISTS `"+db+"`").Run()
	})
	return s
}

func (s *trillianStack) script(args ...string) string {
	s.t.Helper()
	cmd := exec.Command("bash", append([]string{"../../scripts/trillian-mariadb.sh"}, append(args, s.state)...)...)
	cmd.Env = s.env
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		s.t.Fatalf("trillian-mariadb.sh %v: %v\n%s%s", args, err, out, msg)
	}
	return string(out)
}

// kill sends sig to the Trillian process named "server" or "signer".
func (s *trillianStack) kill(which string, sig syscall.Signal) {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(s.state, which+".pid"))
	if err != nil {
		s.t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	if err := syscall.Kill(pid, sig); err != nil {
		s.t.Fatalf("kill %s: %v", which, err)
	}
	// Wait for the process to be gone before anything restarts it.
	for i := 0; i < 200 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(25 * time.Millisecond)
	}
}

// mtlsFront is what a deployment puts before Trillian's log server to get
// mutual TLS, which the server itself cannot do (it loads a certificate and
// key, and never asks for a client certificate): a TLS terminator that
// requires a client certificate from the CA and forwards to the log
// server over TLS. It stands where Envoy, ghostunnel or a mesh sidecar
// would.
// It returns its address and a count of connections refused for want of a
// valid client certificate.
func (s *trillianStack) mtlsFront() (string, *atomic.Int64) {
	t := s.t
	t.Helper()
	dir := filepath.Dir(s.ca)
	serverCert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.pem"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(s.ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no CA certificate in", s.ca)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	upstream := &tls.Config{RootCAs: pool, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12}
	var wg sync.WaitGroup
	var refused atomic.Int64
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				if !forward(c, s.addr, upstream) {
					refused.Add(1)
				}
			})
		}
	})
	return ln.Addr().String(), &refused
}

// forward relays one client connection to addr; when either side ends,
// both do, as a proxy's would. It reports false if the client's handshake
// failed.
func forward(c net.Conn, addr string, cfg *tls.Config) bool {
	defer c.Close()
	if err := c.(*tls.Conn).Handshake(); err != nil {
		return false
	}
	up, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return true // the log server is down: the client sees the connection close
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	return true
}

// replicaDataDir prepares a data directory that shares the secrets every
// replica of one deployment must hold: the checkpoint signing key (all
// replicas sign the same log under one origin) and the applicant-token key.
func replicaDataDir(t *testing.T, from string) string {
	dir := t.TempDir()
	for _, f := range []string{"applicant-token.key", "ledger/checkpoint.key", recordsKEKFile} {
		data, err := os.ReadFile(filepath.Join(from, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func postOnce(t *testing.T, url string, i int) (int, map[string]any) {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodPost, url+"/v1/decisions", lenderKey, sampleApplication(i))
	if err != nil {
		return 0, nil
	}
	var m map[string]any
	json.Unmarshal(body, &m)
	return code, m
}

func runLoad(urls []string, workers int, d time.Duration, seq *int64Counter) *loadResult {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return load(ctx, urls, workers, seq)
}

// TestProductionMariaDB runs two glassbox replicas against Trillian's own
// servers on MariaDB and injects the faults a deployment meets.
func TestProductionMariaDB(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	tr := startTrillian(t)
	front, refused := tr.mtlsFront()
	// Both replicas keep their records in one MariaDB record store, so
	// that each can read the other's decisions.
	remote := []string{"--trillian", front, "--tree-id", tr.treeID,
		"--trillian-tls-ca", tr.ca, "--trillian-tls-cert", tr.cert, "--trillian-tls-key", tr.key,
		"--records-dsn", recordsDatabase(t)}

	t.Run("mutual TLS required", func(t *testing.T) {
		// Without a client certificate the front refuses the handshake;
		// in plaintext the log server itself never answers. Both fail
		// start-up at its deadline.
		start := []string{"--tree-id", tr.treeID, "--trillian-start-timeout", "3s"}
		out, _ := serveFails(t, append([]string{"--trillian", front, "--trillian-tls-ca", tr.ca}, start...)...)
		if !strings.Contains(out, "did not answer within 3s") || refused.Load() == 0 {
			t.Errorf("without a client certificate: %d handshakes refused, output:\n%s", refused.Load(), out)
		}
		out, _ = serveFails(t, append([]string{"--trillian", tr.addr}, start...)...)
		if !strings.Contains(out, "did not answer within 3s") {
			t.Errorf("plaintext to the TLS log server:\n%s", out)
		}
		refused.Store(0)
	})
	t.Run("raw QueueLeaf load", func(t *testing.T) { testTrillianOnlyLoad(t, tr) })

	dirA := t.TempDir()
	a := startServe(t, dirA, remote...)
	b := startServe(t, replicaDataDir(t, dirA), remote...)
	key := publicKey(t, a.url)
	if publicKey(t, b.url) != key {
		t.Fatal("replicas publish different checkpoint keys")
	}
	var seq int64Counter
	var acked []string
	checkAll := func(stage string, wait time.Duration) {
		t.Helper()
		for i, id := range acked {
			// Read each decision on the replica that did not create it
			// as often as on the one that did.
			url := []string{a.url, b.url}[i%2]
			verifyDecision(t, url, key, id, wait)
		}
		cpA, cpB := checkpointOf(t, a.url, key), checkpointOf(t, b.url, key)
		if cpA.Size <= cpB.Size {
			verifyConsistent(t, b.url, cpA, cpB)
		} else {
			verifyConsistent(t, a.url, cpB, cpA)
		}
		t.Logf("%s: %d decisions provable on both replicas; checkpoints %d and %d consistent", stage, len(acked), cpA.Size, cpB.Size)
	}

	t.Run("two replicas", func(t *testing.T) {
		res := runLoad([]string{a.url, b.url}, 16, 2*time.Second, &seq)
		if len(res.acked) == 0 || len(res.other) > 0 {
			t.Fatalf("acked %d, other outcomes %v", len(res.acked), res.other)
		}
		acked = append(acked, res.acked...)
		checkAll("two replicas", 30*time.Second)
		// Each replica's view of Trillian is on its /metrics: at least one
		// QueueLeaf per decision it made (and a few for the records of its
		// start), and the checkpoint polling.
		const queued, polled = `method="QueueLeaf",code="OK"`, `method="GetLatestSignedLogRoot",code="OK"`
		for _, p := range []*serveProc{a, b} {
			m := scrape(t, p.url, queued, polled)
			calls, made := m["glassbox_trillian_rpc_duration_seconds_count{"+queued+"}"], m["glassbox_decisions_total"]
			if made == 0 || calls < made || calls > made+10 || m["glassbox_trillian_rpc_duration_seconds_count{"+polled+"}"] == 0 {
				t.Errorf("%s: %v QueueLeaf calls for %v decisions, %v root polls", p.url, calls, made, m["glassbox_trillian_rpc_duration_seconds_count{"+polled+"}"])
			}
		}
	})

	t.Run("foreign leaf", func(t *testing.T) { testForeignLeaf(t, tr, key, a, b) })

	t.Run("log signer killed under load", func(t *testing.T) {
		before := checkpointOf(t, a.url, key)
		done := make(chan *loadResult)
		go func() { done <- runLoad([]string{a.url, b.url}, 16, 3*time.Second, &seq) }()
		time.Sleep(time.Second)
		tr.kill("signer", syscall.SIGKILL)
		time.Sleep(time.Second)
		tr.script("start-signer")
		res := <-done
		// Queueing does not need the signer: nothing may be refused.
		if len(res.acked) == 0 || len(res.other) > 0 {
			t.Fatalf("acked %d, other outcomes %v", len(res.acked), res.other)
		}
		acked = append(acked, res.acked...)
		checkAll("after signer restart", 60*time.Second)
		verifyConsistent(t, a.url, before, checkpointOf(t, a.url, key))
	})

	t.Run("log server down", func(t *testing.T) {
		tr.kill("server", syscall.SIGKILL)
		for _, p := range []*serveProc{a, b} {
			code, body := postOnce(t, p.url, seq.next())
			if code != http.StatusServiceUnavailable {
				t.Errorf("POST with the log server down: %d %v, want 503", code, body)
			} else if body["status"] != float64(503) || body["type"] == nil {
				t.Errorf("503 is not a problem document: %v", body)
			}
			code, _, _ = call(context.Background(), http.MethodGet, p.url+"/readyz", "", nil)
			if code != http.StatusServiceUnavailable {
				t.Errorf("/readyz with the log server down: %d", code)
			}
		}
		tr.script("start-server")
		deadline := time.Now().Add(60 * time.Second)
		for _, p := range []*serveProc{a, b} {
			for {
				code, body := postOnce(t, p.url, seq.next())
				if code == http.StatusCreated {
					acked = append(acked, body["decision_id"].(string))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("service did not resume after the log server returned: %d %v", code, body)
				}
				time.Sleep(250 * time.Millisecond)
			}
		}
		checkAll("after log server restart", 60*time.Second)
	})

	t.Run("replica killed under load", func(t *testing.T) {
		done := make(chan *loadResult)
		go func() { done <- runLoad([]string{b.url}, 8, 3*time.Second, &seq) }()
		doneA := make(chan *loadResult)
		go func() { doneA <- runLoad([]string{a.url}, 8, 3*time.Second, &seq) }()
		time.Sleep(time.Second)
		a.kill(syscall.SIGKILL)
		resB, resA := <-done, <-doneA
		if len(resB.other) > 0 || len(resB.acked) == 0 {
			t.Fatalf("surviving replica: acked %d, other outcomes %v", len(resB.acked), resB.other)
		}
		acked = append(acked, resB.acked...)
		acked = append(acked, resA.acked...)
		a.restart()
		checkAll("after replica restart", 60*time.Second)
	})
	if n := refused.Load(); n != 0 {
		t.Errorf("the front refused %d handshakes of replicas holding a client certificate", n)
	}
}

// testTrillianOnlyLoad runs `glassbox loadtest --trillian-only` against a
// tree of its own on the stack's log server (over TLS) and checks its count
// of queued leaves against the size Trillian reaches.
func testTrillianOnlyLoad(t *testing.T, tr *trillianStack) {
	tree := strings.TrimSpace(tr.script("create-tree"))
	bin, err := binaryPath()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "loadtest", "--trillian-only", "--trillian", tr.addr, "--tree-id", tree,
		"--trillian-tls-ca", tr.ca, "--concurrency", "8", "--warmup", "0s", "--duration", "1s").Output()
	if err != nil {
		t.Fatalf("loadtest --trillian-only: %v\n%s", err, out)
	}
	var rep loadReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report %q: %v", out, err)
	}
	if rep.Target != "trillian" || rep.LeafBytes != 600 || rep.Created == 0 || rep.Created != rep.Sent || len(rep.Errors) > 0 {
		t.Fatalf("report: %+v", rep)
	}
	if want := float64(rep.Created) / rep.DurationSeconds; rep.PerSecond != want || rep.P50ms <= 0 || rep.P99ms < rep.P50ms {
		t.Errorf("report rate %v (want %v) or percentiles p50 %v p99 %v", rep.PerSecond, want, rep.P50ms, rep.P99ms)
	}

	// Every leaf the report counts is in the tree once the signer has
	// integrated them: nothing more (the tree is new), nothing less.
	tlsCfg, err := transparency.ClientTLS(transparency.TLSFiles{CA: tr.ca})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := transparency.Dial(transparency.DialConfig{Addr: tr.addr, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	id, _ := strconv.ParseInt(tree, 10, 64)
	client := trillian.NewTrillianLogClient(conn)
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.GetLatestSignedLogRoot(context.Background(), &trillian.GetLatestSignedLogRootRequest{LogId: id})
		if err != nil {
			t.Fatal(err)
		}
		var root types.LogRootV1
		if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
			t.Fatal(err)
		}
		if root.TreeSize == uint64(rep.Created) {
			t.Logf("raw QueueLeaf: %d leaves in %s (%.0f/s, p99 %.1f ms; a loaded machine), all integrated", rep.Created, time.Duration(rep.DurationSeconds*float64(time.Second)), rep.PerSecond, rep.P99ms)
			return
		}
		if root.TreeSize > uint64(rep.Created) || time.Now().After(deadline) {
			t.Fatalf("tree size %d, loadtest reported %d leaves queued", root.TreeSize, rep.Created)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// recordsDatabase creates a MariaDB database for a record store and
// returns its DSN; it is dropped when the test ends.
func recordsDatabase(t *testing.T) string {
	t.Helper()
	name := fmt.Sprintf("gb_env_%d", time.Now().UnixNano())
	mysql := func(stmt string) {
		if out, err := exec.Command("mysql", "-h", "127.0.0.1", "-uroot", "-e", stmt).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", stmt, err, out)
		}
	}
	mysql("CREATE DATABASE " + name)
	t.Cleanup(func() { mysql("DROP DATABASE " + name) })
	return "root@tcp(127.0.0.1:3306)/" + name
}

// testForeignLeaf queues leaves straight into the Trillian log server, as
// anyone with network access to it could: an envelope signed with another
// key and bytes of no format. Neither may be presented as a decision by
// either replica; both are counted and alerted on.
func testForeignLeaf(t *testing.T, tr *trillianStack, key string, replicas ...*serveProc) {
	tlsCfg, err := transparency.ClientTLS(transparency.TLSFiles{CA: tr.ca})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := transparency.Dial(transparency.DialConfig{Addr: tr.addr, TLS: tlsCfg})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := trillian.NewTrillianLogClient(conn)
	treeID, _ := strconv.ParseInt(tr.treeID, 10, 64)

	// A well-formed envelope, signed by a key named like the ledger's.
	skey, _, err := note.GenerateKey(rand.Reader, strings.Split(key, "+")[0])
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	rec, err := transparency.NewRecord(time.Now(), &transparency.Decision{Lender: "acme", ApplicationID: "forged", Decision: "approve"})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := transparency.SealCommitted(rec, signer)
	if err != nil {
		t.Fatal(err)
	}
	leaves := [][]byte{forged.Bytes(), []byte("queued by someone else")}
	for _, leaf := range leaves {
		if _, err := client.QueueLeaf(context.Background(), &trillian.QueueLeafRequest{LogId: treeID, Leaf: &trillian.LogLeaf{LeafValue: leaf}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range replicas {
		deadline := time.Now().Add(60 * time.Second)
		for _, leaf := range leaves {
			id := transparency.RecordID(leaf).String()
			for {
				code, body, err := call(context.Background(), http.MethodGet, p.url+"/v1/decisions/"+id, regulatorKey, nil)
				if err == nil && code == http.StatusNotFound && strings.Contains(string(body), "/problems/foreign-leaf") {
					break
				}
				if code == http.StatusOK {
					t.Fatalf("%s: foreign leaf %s presented as a decision: %s", p.url, id, body)
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: foreign leaf %s not reported as foreign: %d %v %s", p.url, id, code, err, body)
				}
				time.Sleep(200 * time.Millisecond)
			}
			if code, body, _ := call(context.Background(), http.MethodGet, p.url+"/v1/decisions/"+id+"/proof", regulatorKey, nil); code != http.StatusNotFound || !strings.Contains(string(body), "foreign-leaf") {
				t.Errorf("%s: receipt of a foreign leaf: %d %s", p.url, code, body)
			}
		}
		// Counted by each replica's checkpointer, which saw it arrive, and
		// alerted on in its log.
		for deadline := time.Now().Add(30 * time.Second); ; {
			m := scrape(t, p.url)
			if m["glassbox_ledger_foreign_leaves_total"] >= float64(len(leaves)) && strings.Contains(p.logs.String(), "FOREIGN LEAF") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: foreign leaves counted %v, alert logged %v", p.url, m["glassbox_ledger_foreign_leaves_total"], strings.Contains(p.logs.String(), "FOREIGN LEAF"))
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	// A monitor reading the entries reports them and fails.
	if code, out, errOut := runCmd("audit", "monitor", "--server", replicas[1].url, "--key", key, "--api-key", regulatorKey); code == 0 || strings.Count(out, "FOREIGN leaf") != len(leaves) {
		t.Errorf("monitor over foreign leaves: exit %d\n%s\n%s", code, out, errOut)
	}
	// Replay reports them as foreign and fails.
	code, out, errOut := runCmd("audit", "replay", "--server", replicas[0].url, "--key", key, "--api-key", regulatorKey)
	if code == 0 || !strings.Contains(out, "FOREIGN leaf") || !strings.Contains(out, "2 foreign leaves") {
		t.Errorf("replay over foreign leaves: exit %d\n%s\n%s", code, out, errOut)
	}
}
