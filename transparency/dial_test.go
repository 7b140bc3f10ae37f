package transparency

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/trillian"
)

func TestDialPlaintextOnlyToThisHost(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		tls      bool
		insecure bool
		refused  bool
	}{
		{addr: "127.0.0.1:8090"},
		{addr: "127.3.4.5:8090"},
		{addr: "[::1]:8090"},
		{addr: "localhost:8090"},
		{addr: "dns:///localhost:8090"},
		{addr: "unix:///run/trillian.sock"},
		{addr: "10.0.0.7:8090", refused: true},
		{addr: "[2001:db8::1]:8090", refused: true},
		{addr: "trillian.internal:8090", refused: true},
		{addr: "dns:///trillian.internal:8090", refused: true},
		{addr: "0.0.0.0:8090", refused: true}, // not loopback: any interface
		{addr: "127.0.0.1", refused: true},    // unparseable: not known to be local
		{addr: "10.0.0.7:8090", insecure: true},
		{addr: "10.0.0.7:8090", tls: true},
	} {
		cfg := DialConfig{Addr: tc.addr, Insecure: tc.insecure}
		if tc.tls {
			cfg.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		conn, err := Dial(cfg)
		if tc.refused {
			if !errors.Is(err, ErrPlaintext) || !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("Dial(%+v) = %v, want ErrPlaintext naming the address", tc, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Dial(%+v): %v", tc, err)
			continue
		}
		conn.Close()
	}
}

// silentServer accepts TCP connections and never writes a byte: a wrong
// port, a hung process, or a TLS server dialled in plaintext (or the
// reverse) all look like this to a gRPC client.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestOpenRemoteSilentServerFailsWithinDeadline(t *testing.T) {
	addr := silentServer(t)
	const start = 1500 * time.Millisecond
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{
		{"plaintext", nil},
		{"tls", &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "localhost"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := Dial(DialConfig{Addr: addr, TLS: tc.tls, RPCTimeout: 500 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			began := time.Now()
			l, err := OpenRemote(context.Background(), RemoteConfig{
				Client: trillian.NewTrillianLogClient(conn), TreeID: 1, DataDir: t.TempDir(),
				StartTimeout: start, Logger: quietLogger(),
			})
			took := time.Since(began)
			if err == nil {
				l.Close()
				t.Fatal("OpenRemote succeeded against a server that never answers")
			}
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within 1.5s") {
				t.Errorf("error = %q, want ErrUnavailable saying Trillian did not answer within 1.5s", err)
			}
			// Generous: the bound is that it ends at all, near the deadline,
			// not how precisely on a loaded machine.
			if took < start {
				t.Errorf("OpenRemote gave up after %s, before its start-up deadline of %s", took, start)
			}
			if took > start+10*time.Second {
				t.Errorf("OpenRemote took %s with a start-up deadline of %s", took, start)
			}
		})
	}
}

func TestRPCDeadlineBoundsEachCall(t *testing.T) {
	addr := silentServer(t)
	conn, err := Dial(DialConfig{Addr: addr, RPCTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := trillian.NewTrillianLogClient(conn)
	// No deadline of its own: the call is bounded by RPCTimeout, and says so.
	_, err = client.QueueLeaf(context.Background(), &trillian.QueueLeafRequest{LogId: 1, Leaf: &trillian.LogLeaf{LeafValue: []byte("x")}})
	if err == nil || !strings.Contains(err.Error(), "did not answer /trillian.TrillianLog/QueueLeaf within 300ms") {
		t.Errorf("QueueLeaf against a silent server: %v", err)
	}
	// A caller's earlier deadline stays in charge (and is the caller's).
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = client.QueueLeaf(ctx, &trillian.QueueLeafRequest{LogId: 1, Leaf: &trillian.LogLeaf{LeafValue: []byte("x")}})
	if err == nil || strings.Contains(err.Error(), "did not answer") || ctx.Err() == nil {
		t.Errorf("QueueLeaf with a 50ms caller deadline: %v", err)
	}
}
