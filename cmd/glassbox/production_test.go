package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// trillianStack is Trillian's own log server and log signer on MariaDB,
// started by scripts/trillian-mariadb.sh as an operator would.
type trillianStack struct {
	t      *testing.T
	state  string
	env    []string
	addr   string
	treeID string
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
		}
	}
	if s.addr == "" || s.treeID == "" {
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

// replicaDataDir prepares a data directory that shares the secrets every
// replica of one deployment must hold: the checkpoint signing key (all
// replicas sign the same log under one origin) and the applicant-token key.
func replicaDataDir(t *testing.T, from string) string {
	dir := t.TempDir()
	for _, f := range []string{"applicant-token.key", "ledger/checkpoint.key"} {
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
	remote := []string{"--trillian", tr.addr, "--tree-id", tr.treeID}
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
	})

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
}
