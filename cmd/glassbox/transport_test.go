package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

func TestRemoteFlagsRefuseContradictions(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    remoteFlags
		want error
	}{
		{"TLS and insecure", remoteFlags{addr: "10.0.0.7:8090", treeID: 1, useTLS: true, insecure: true}, errUsage},
		{"CA and insecure", remoteFlags{addr: "10.0.0.7:8090", treeID: 1, tls: transparency.TLSFiles{CA: "ca.pem"}, insecure: true}, errUsage},
		{"TLS flags without --trillian", remoteFlags{tls: transparency.TLSFiles{CA: "ca.pem"}}, errUsage},
		{"insecure without --trillian", remoteFlags{insecure: true}, errUsage},
		{"certificate without key", remoteFlags{addr: "10.0.0.7:8090", treeID: 1, tls: transparency.TLSFiles{Cert: "c.pem"}}, transparency.ErrInvalidArgument},
		{"plaintext off-host", remoteFlags{addr: "10.0.0.7:8090", treeID: 1}, transparency.ErrPlaintext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, _, err := openLedger(context.Background(), transparency.EmbeddedConfig{DataDir: dir}, tc.r)
			if !errors.Is(err, tc.want) {
				t.Errorf("openLedger: %v, want %v", err, tc.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 0 {
				t.Errorf("refused configuration left %d files in the data directory", len(entries))
			}
		})
	}
}

// serveFails runs `glassbox serve` expecting it to refuse to start, and
// returns its output and how long it took.
func serveFails(t *testing.T, args ...string) (string, time.Duration) {
	t.Helper()
	bin, err := binaryPath()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir()}, args...)...)
	cmd.Env = append(os.Environ(), apiKeysEnv)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start)
	if err == nil {
		t.Fatalf("serve %v started:\n%s", args, out)
	}
	if ctx.Err() != nil {
		t.Fatalf("serve %v still running after %s:\n%s", args, took, out)
	}
	return string(out), took
}

func TestServeRefusesPlaintextOffHost(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	// TEST-NET-1: never routed, so nothing could answer even if dialled.
	out, _ := serveFails(t, "--trillian", "192.0.2.1:8090", "--tree-id", "1")
	for _, want := range []string{"refusing a plaintext connection", "192.0.2.1:8090", "--trillian-insecure"} {
		if !strings.Contains(out, want) {
			t.Errorf("output does not mention %q:\n%s", want, out)
		}
	}
}

func TestServeSilentTrillianFailsAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	// A listener that is never served: the kernel completes TCP
	// handshakes into its backlog, so the connection is accepted and
	// nothing ever answers (a hung Trillian, or a TLS one dialled in
	// plaintext).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	out, took := serveFails(t, "--trillian", ln.Addr().String(), "--tree-id", "1", "--trillian-start-timeout", "2s", "--trillian-timeout", "500ms")
	if !strings.Contains(out, "did not answer within 2s") {
		t.Errorf("output does not say Trillian did not answer within 2s:\n%s", out)
	}
	if took < 2*time.Second {
		t.Errorf("serve gave up after %s, before its start-up deadline", took)
	}
}
