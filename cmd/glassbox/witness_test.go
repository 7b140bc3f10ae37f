package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// litewitness is a running filippo.io/torchwood litewitness (installed by
// scripts/test.sh), with its own ssh-agent holding its key.
type litewitness struct {
	t      *testing.T
	dir    string
	url    string
	vkey   string
	name   string
	cmd    *exec.Cmd
	agent  *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

// toolPath finds a Go-installed tool on PATH or in GOPATH/bin. Missing, the
// test is skipped outside CI and fails in CI, where scripts/test.sh
// installs it.
func toolPath(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is not installed (scripts/test.sh installs it)", name)
	}
	t.Skipf("%s is not installed: go install filippo.io/torchwood/cmd/%s@v0.6.1", name, name)
	return ""
}

func runTool(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// startLitewitness generates an Ed25519 ssh key, loads it into a dedicated
// ssh-agent and starts litewitness with it on a free port.
func startLitewitness(t *testing.T) *litewitness {
	t.Helper()
	bin := toolPath(t, "litewitness")
	toolPath(t, "witnessctl")
	for _, tool := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	// A short directory: unix socket paths are limited to about 100 bytes.
	dir, err := os.MkdirTemp("", "lw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w := &litewitness{t: t, dir: dir, name: "witness.glassbox.test/w1"}
	key := filepath.Join(dir, "key")
	runTool(t, nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "litewitness", "-f", key)
	fp := strings.Fields(runTool(t, nil, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))
	if len(fp) < 2 || !strings.HasPrefix(fp[1], "SHA256:") {
		t.Fatalf("ssh-keygen fingerprint: %q", fp)
	}
	sock := filepath.Join(dir, "s")
	w.agent = exec.Command("ssh-agent", "-D", "-a", sock)
	if err := w.agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.agent.Process.Kill(); w.agent.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 100 {
			t.Fatal("ssh-agent socket did not appear")
		}
		time.Sleep(50 * time.Millisecond)
	}
	runTool(t, []string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-q", key)

	addr := freeAddr(t)
	w.url = "http://" + addr
	w.stderr = &syncBuffer{}
	w.cmd = exec.Command(bin, "-db", filepath.Join(dir, "w.db"), "-name", w.name, "-key", fp[1],
		"-ssh-agent", sock, "-listen", addr)
	w.cmd.Stdout = w.stderr
	w.cmd.Stderr = w.stderr
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.done = make(chan struct{})
	go func() { w.cmd.Wait(); close(w.done) }()
	t.Cleanup(w.stop)
	vkeyRE := regexp.MustCompile(`vkey=(\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for w.vkey == "" || !listening(addr) {
		if time.Now().After(deadline) {
			t.Fatalf("litewitness did not start:\n%s", w.stderr.String())
		}
		select {
		case <-w.done:
			t.Fatalf("litewitness exited:\n%s", w.stderr.String())
		default:
		}
		if m := vkeyRE.FindStringSubmatch(w.stderr.String()); m != nil {
			w.vkey = m[1]
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w
}

func listening(addr string) bool {
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func (w *litewitness) stop() {
	if w.cmd.Process == nil {
		return
	}
	select {
	case <-w.done:
		return
	default:
	}
	w.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		w.cmd.Process.Kill()
		<-w.done
	}
}

// addLog tells the witness about glassbox's log (origin and key), as its
// operator would with witnessctl.
func (w *litewitness) addLog(origin, vkey string) {
	w.t.Helper()
	ctl := toolPath(w.t, "witnessctl")
	db := filepath.Join(w.dir, "w.db")
	runTool(w.t, nil, ctl, "add-log", "-db", db, "-origin", origin)
	runTool(w.t, nil, ctl, "add-key", "-db", db, "-origin", origin, "-key", vkey)
}

// readyWitnesses reads the witnesses detail of /readyz.
func readyWitnesses(t *testing.T, url string) transparency.WitnessStatus {
	t.Helper()
	code, body, err := call(context.Background(), http.MethodGet, url+"/readyz", "", nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("readyz: %d %v %s", code, err, body)
	}
	var r struct {
		Checks    map[string]string           `json:"checks"`
		Witnesses *transparency.WitnessStatus `json:"witnesses"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Witnesses == nil {
		t.Fatalf("readyz without witnesses: %s", body)
	}
	return *r.Witnesses
}

// createDecision makes one decision, waiting until it is integrated, and
// fails if that takes longer than limit.
func createIntegrated(t *testing.T, url string, i int, limit time.Duration) string {
	t.Helper()
	start := time.Now()
	code, body, err := call(context.Background(), http.MethodPost, url+"/v1/decisions?wait=integrated", lenderKey, sampleApplication(i))
	if err != nil || code != http.StatusCreated {
		t.Fatalf("decision: %d %v %s", code, err, body)
	}
	if d := time.Since(start); d > limit {
		t.Fatalf("decision took %v with a witness down", d)
	}
	var d struct {
		DecisionID string `json:"decision_id"`
	}
	json.Unmarshal(body, &d)
	return d.DecisionID
}

// TestWitnessCosignsAndOfflineProof runs glassbox serve with a real
// litewitness and a witness that is down, and checks: decisions are not
// held up by either; litewitness cosigns glassbox's checkpoints (as
// /log/checkpoint and /readyz show); the decision's tlog-proof verifies
// offline with quorum 1 and fails with a tampered cosignature, a wrong
// witness key, a quorum the witnesses do not reach, and a forked checkpoint,
// which litewitness itself refuses to cosign.
func TestWitnessCosignsAndOfflineProof(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	w := startLitewitness(t)
	// Nothing listens on down: a witness that is down.
	down := freeAddr(t)
	downPub, _, _ := ed25519.GenerateKey(rand.Reader)
	downKey := cosignatureKey("witness.glassbox.test/down", downPub)

	dataDir := t.TempDir()
	p := startServe(t, dataDir,
		"--witness", w.url, "--witness-key", w.vkey,
		"--witness", "http://"+down, "--witness-key", downKey,
		"--witness-quorum", "1", "--witness-interval", "100ms")
	logKey := publicKey(t, p.url)
	origin := keyName(logKey)

	// Before litewitness knows the log, no checkpoint is cosigned, and
	// decisions go through all the same.
	id := createIntegrated(t, p.url, 1, 10*time.Second)
	if st := readyWitnesses(t, p.url); st.QuorumMet || st.Quorum != 1 || len(st.Witnesses) != 2 {
		t.Fatalf("quorum met before any witness cosigned: %+v", st)
	}

	w.addLog(origin, logKey)
	deadline := time.Now().Add(30 * time.Second)
	for !readyWitnesses(t, p.url).QuorumMet {
		if time.Now().After(deadline) {
			t.Fatalf("litewitness never cosigned: %+v\nlitewitness:\n%s\nglassbox:\n%s", readyWitnesses(t, p.url), w.stderr.String(), p.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The served checkpoint carries litewitness's cosignature.
	_, cpBody, err := call(context.Background(), http.MethodGet, p.url+"/log/checkpoint", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ccp, err := transparency.OpenCosignedCheckpoint(cpBody, logKey, []string{w.vkey}, 1)
	if err != nil {
		t.Fatalf("served checkpoint is not cosigned: %v\n%s", err, cpBody)
	}
	if len(ccp.Witnesses) != 1 || ccp.Witnesses[0] != w.name {
		t.Fatalf("cosigned by %v", ccp.Witnesses)
	}

	// The offline proof.
	code, proofBody, err := call(context.Background(), http.MethodGet, p.url+"/v1/decisions/"+id+"/proof?format=tlog-proof", lenderKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("tlog-proof: %d %v %s", code, err, proofBody)
	}
	// A format 2 decision: extra is its leaf, the commitment envelope.
	if !bytes.HasPrefix(proofBody, []byte("c2sp.org/tlog-proof@v1\nextra ")) {
		t.Fatalf("not a tlog-proof with extra:\n%s", proofBody)
	}
	code, receipt, err := call(context.Background(), http.MethodGet, p.url+"/v1/decisions/"+id+"/proof", lenderKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("receipt: %d %v", code, err)
	}
	var r Receipt
	if err := json.Unmarshal(receipt, &r); err != nil {
		t.Fatal(err)
	}
	record, _ := base64.StdEncoding.DecodeString(r.CommittedRecord)
	if len(record) == 0 || r.Salt == "" {
		t.Fatalf("the receipt of a format 2 decision carries no committed record and salt: %s", receipt)
	}
	if p, err := transparency.ParseTLogProof(proofBody); err != nil || !bytes.Equal(p.Extra, mustBase64(r.Record)) {
		t.Fatalf("the tlog-proof's extra is not the decision's leaf: %v", err)
	}
	// The JSON receipt is proven against the witnessed checkpoint too, and
	// carries its cosignature.
	if _, err := transparency.OpenCosignedCheckpoint([]byte(r.Checkpoint), logKey, []string{w.vkey}, 1); err != nil {
		t.Fatalf("the receipt's checkpoint is not cosigned: %v\n%s", err, r.Checkpoint)
	}

	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	recordFile := write("record", record)
	saltArgs := []string{"--salt", r.Salt}
	proofFile := write("good.tlog-proof", proofBody)

	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	wrongKey := cosignatureKey(w.name, otherPub) // the witness's name, another key
	tampered := tamperCosignature(t, proofBody, w.name)
	forked := forkProof(t, proofBody, filepath.Join(dataDir, "ledger", "checkpoint.key"), w)

	cases := []struct {
		name  string
		args  []string
		ok    bool
		match string
	}{
		{"quorum 1 with litewitness", []string{"--witness-key", w.vkey, "--witness-quorum", "1", "--record", recordFile, "--salt", r.Salt, proofFile}, true, "cosigned by " + w.name},
		{"the record from the JSON receipt", []string{"--witness-key", w.vkey, "--witness-quorum", "1", "--record", write("saved-receipt.json", receipt), proofFile}, true, "the record is the one the leaf commits to"},
		{"by decision id", []string{"--witness-key", w.vkey, "--witness-quorum", "1", "--decision-id", id, proofFile}, true, "verified"},
		{"no witness policy", append(saltArgs, "--record", recordFile, proofFile), true, "no witness required"},
		{"JSON receipt, quorum 1", []string{"--witness-key", w.vkey, "--witness-quorum", "1", write("receipt.json", receipt)}, true, "verified: decision " + id},
		{"JSON receipt, wrong witness key", []string{"--witness-key", wrongKey, "--witness-quorum", "1", write("receipt2.json", receipt)}, false, "does NOT verify"},
		{"tampered cosignature", []string{"--witness-key", w.vkey, "--witness-quorum", "1", "--record", recordFile, "--salt", r.Salt, write("tampered", tampered)}, false, "does NOT verify"},
		{"wrong witness key", []string{"--witness-key", wrongKey, "--witness-quorum", "1", "--record", recordFile, "--salt", r.Salt, proofFile}, false, "does NOT verify"},
		{"quorum 2 of one cosigner", []string{"--witness-key", w.vkey, "--witness-key", downKey, "--witness-quorum", "2", "--record", recordFile, "--salt", r.Salt, proofFile}, false, "quorum is 2"},
		{"forked checkpoint", []string{"--witness-key", w.vkey, "--witness-quorum", "1", "--record", recordFile, "--salt", r.Salt, write("forked", forked)}, false, "does NOT verify"},
		{"other record", []string{"--witness-key", w.vkey, "--witness-quorum", "1", "--salt", r.Salt, "--record", write("other", append(bytes.Clone(record), ' ')), proofFile}, false, "do not match the leaf's commitment"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(append([]string{"audit", "verify-receipt", "--key", logKey}, tc.args...)...)
			if (code == 0) != tc.ok || !strings.Contains(stdout+stderr, tc.match) {
				t.Fatalf("exit %d, want ok=%v and %q:\n%s%s", code, tc.ok, tc.match, stdout, stderr)
			}
		})
	}

	// A restarted glassbox does not remember what the witness has: its
	// first submission (old 0) gets a 409 with the witness's size, and
	// the retry from that size is cosigned.
	witnessed := readyWitnesses(t, p.url).Size
	p.kill(syscall.SIGTERM)
	p.restart()
	createIntegrated(t, p.url, 3, 10*time.Second)
	deadline = time.Now().Add(30 * time.Second)
	for st := readyWitnesses(t, p.url); !st.QuorumMet || st.Size <= witnessed; st = readyWitnesses(t, p.url) {
		if time.Now().After(deadline) {
			t.Fatalf("not cosigned again after a restart: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, metrics, err := call(context.Background(), http.MethodGet, p.url+"/metrics", adminKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("metrics: %d %v", code, err)
	}
	if !strings.Contains(string(metrics), `glassbox_ledger_witness_submissions_total{result="conflict",witness="`+w.name+`"} 1`) {
		t.Fatalf("the restart's first submission was not a conflict:\n%s", grepLines(metrics, "witness_submissions"))
	}

	// With litewitness down too, decisions still go through and the
	// service stays ready; the quorum state says what happened.
	w.stop()
	before := readyWitnesses(t, p.url).Size
	createIntegrated(t, p.url, 2, 10*time.Second)
	deadline = time.Now().Add(10 * time.Second)
	for {
		st := readyWitnesses(t, p.url)
		if st.Size > before && !st.QuorumMet {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("quorum state after the witness went down: %+v", st)
		}
		time.Sleep(100 * time.Millisecond)
	}
	code, metrics, err = call(context.Background(), http.MethodGet, p.url+"/metrics", adminKey, nil)
	if err != nil || code != http.StatusOK {
		t.Fatalf("metrics: %d %v", code, err)
	}
	if !metricIs(metrics, "glassbox_ledger_witness_quorum_met", "0") {
		t.Fatalf("glassbox_ledger_witness_quorum_met is not 0 with every witness down")
	}
}

func metricIs(body []byte, name, value string) bool {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 2 && f[0] == name {
			return f[1] == value
		}
	}
	return false
}

// cosignatureKey writes a tlog-cosignature/v1 verifier key per C2SP
// signed-note: name+hex(key hash)+base64(0x04 ‖ public key).
func cosignatureKey(name string, pub ed25519.PublicKey) string {
	typed := append([]byte{0x04}, pub...)
	h := sha256.Sum256(append([]byte(name+"\n"), typed...))
	return fmt.Sprintf("%s+%02x%02x%02x%02x+%s", name, h[0], h[1], h[2], h[3], base64.StdEncoding.EncodeToString(typed))
}

// tamperCosignature flips one bit of the witness's signature in a proof.
func tamperCosignature(t *testing.T, proof []byte, witness string) []byte {
	t.Helper()
	lines := strings.Split(string(proof), "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "— "+witness+" ") {
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(l, "— "+witness+" "))
		if err != nil {
			t.Fatal(err)
		}
		sig[len(sig)-1] ^= 1
		lines[i] = "— " + witness + " " + base64.StdEncoding.EncodeToString(sig)
		return []byte(strings.Join(lines, "\n"))
	}
	t.Fatalf("no cosignature by %s in the proof", witness)
	return nil
}

// forkProof makes the split view a witness exists to catch: the log's own
// key signs a different root at the proof's tree size. litewitness, which
// cosigned the real checkpoint of that size, must refuse the fork (409);
// the fork is returned carrying the witness's real cosignature line, which
// must not verify over the forked body.
func forkProof(t *testing.T, proof []byte, keyFile string, w *litewitness) []byte {
	t.Helper()
	head, cpNote, _ := bytes.Cut(proof, []byte("\n\n"))
	_, err := note.Open(cpNote, note.VerifierList())
	unverified, ok := err.(*note.UnverifiedNoteError)
	if !ok {
		t.Fatalf("opening the proof's checkpoint without keys: %v", err)
	}
	n := unverified.Note
	lines := strings.SplitN(n.Text, "\n", 4)
	root, _ := base64.StdEncoding.DecodeString(lines[2])
	root[0] ^= 0xff
	forkedText := lines[0] + "\n" + lines[1] + "\n" + base64.StdEncoding.EncodeToString(root) + "\n"
	skey, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	forked, err := note.Sign(&note.Note{Text: forkedText}, signer)
	if err != nil {
		t.Fatal(err)
	}
	// Offered to litewitness as the same size it already cosigned.
	body := fmt.Sprintf("old %s\n\n%s", lines[1], forked)
	resp, err := http.Post(w.url+"/add-checkpoint", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// tlog-witness asks for 409 on a different root at the known size;
	// litewitness v0.6.1 finds it as a failed consistency check (422).
	// Either way it refuses, and signs nothing.
	if (resp.StatusCode != http.StatusConflict && resp.StatusCode != http.StatusUnprocessableEntity) || bytes.Contains(answer, []byte("—")) {
		t.Fatalf("litewitness answered %d to a forked checkpoint: %s", resp.StatusCode, answer)
	}
	var cosig []string
	for _, s := range unverified.Note.UnverifiedSigs {
		if s.Name == w.name {
			cosig = append(cosig, "— "+s.Name+" "+s.Base64+"\n")
		}
	}
	if len(cosig) == 0 {
		t.Fatal("the proof has no cosignature to copy onto the fork")
	}
	return append(append(append(head, '\n', '\n'), forked...), strings.Join(cosig, "")...)
}

func grepLines(body []byte, substr string) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
