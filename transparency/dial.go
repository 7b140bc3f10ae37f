package transparency

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Defaults for DialConfig and RemoteConfig.
const (
	// DefaultRPCTimeout bounds every call to a remote Trillian, and each
	// attempt to connect to it.
	DefaultRPCTimeout = 5 * time.Second
	// DefaultStartTimeout bounds OpenRemote: reaching Trillian and reading
	// the log's root.
	DefaultStartTimeout = 30 * time.Second
)

// ErrPlaintext is returned by Dial for a plaintext connection to an
// address that is not on this host, unless DialConfig.Insecure is set.
var ErrPlaintext = errors.New("refusing a plaintext connection to Trillian off this host")

// DialConfig describes the connection to a remote Trillian log server.
type DialConfig struct {
	// Addr is host:port (or a gRPC target such as dns:///host:port).
	Addr string
	// TLS secures the connection; nil means plaintext, which Dial accepts
	// only to a loopback address or a Unix socket unless Insecure is set.
	TLS *tls.Config
	// Insecure allows plaintext to any address.
	Insecure bool
	// RPCTimeout bounds each call that does not carry an earlier deadline,
	// and each connection attempt; default DefaultRPCTimeout.
	RPCTimeout time.Duration
	// Metrics, if set, receives the latency of every call by method and
	// gRPC code (TrillianRPCMetric): in remote mode, the ledger's view of
	// Trillian.
	Metrics prometheus.Registerer
}

// TrillianRPCMetric is the histogram of calls to a remote Trillian.
const TrillianRPCMetric = "glassbox_trillian_rpc_duration_seconds"

// TLSFiles are the PEM files of a TLS client configuration.
type TLSFiles struct {
	// CA verifies the server; empty means the system's roots.
	CA string
	// Cert and Key are the client's certificate and key, presented when
	// the server asks for one (mutual TLS). Both or neither.
	Cert, Key string
}

// ClientTLS builds a TLS client configuration from PEM files.
func ClientTLS(f TLSFiles) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.CA != "" {
		pem, err := os.ReadFile(f.CA)
		if err != nil {
			return nil, fmt.Errorf("reading Trillian CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s holds no PEM certificate", ErrInvalidArgument, f.CA)
		}
		cfg.RootCAs = pool
	}
	if (f.Cert == "") != (f.Key == "") {
		return nil, fmt.Errorf("%w: a client certificate and its key go together", ErrInvalidArgument)
	}
	if f.Cert != "" {
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, fmt.Errorf("loading Trillian client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// Dial returns a connection to a Trillian log server whose calls are
// bounded by cfg.RPCTimeout. Like grpc.NewClient it does not connect yet;
// OpenRemote's first call does, within its own start-up deadline.
func Dial(cfg DialConfig) (*grpc.ClientConn, error) {
	if cfg.RPCTimeout <= 0 {
		cfg.RPCTimeout = DefaultRPCTimeout
	}
	creds := insecure.NewCredentials()
	if cfg.TLS != nil {
		creds = credentials.NewTLS(cfg.TLS)
	} else if !cfg.Insecure && !local(cfg.Addr) {
		return nil, fmt.Errorf("%w: %s is not a loopback address; configure TLS to Trillian or allow plaintext explicitly", ErrPlaintext, cfg.Addr)
	}
	interceptors := []grpc.UnaryClientInterceptor{rpcDeadline(cfg.RPCTimeout)}
	if cfg.Metrics != nil {
		latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    TrillianRPCMetric,
			Help:    "Calls to the remote Trillian log server by method and gRPC code, deadline included.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "code"})
		if err := cfg.Metrics.Register(latency); err != nil {
			return nil, fmt.Errorf("registering %s: %w", TrillianRPCMetric, err)
		}
		// Outermost, so that a call failed by the deadline counts.
		interceptors = append([]grpc.UnaryClientInterceptor{observeRPC(latency)}, interceptors...)
	}
	conn, err := grpc.NewClient(cfg.Addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: cfg.RPCTimeout}),
		grpc.WithChainUnaryInterceptor(interceptors...),
	)
	if err != nil {
		return nil, fmt.Errorf("connecting to Trillian at %s: %w", cfg.Addr, err)
	}
	return conn, nil
}

// rpcDeadline bounds each call by d unless its context ends sooner, so a
// Trillian that accepts connections but stops answering fails requests
// instead of holding them (and their HTTP clients) forever.
func rpcDeadline(d time.Duration) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		callCtx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		err := invoker(callCtx, method, req, reply, cc, opts...)
		if err != nil && ctx.Err() == nil && errors.Is(callCtx.Err(), context.DeadlineExceeded) {
			return status.Errorf(codes.DeadlineExceeded, "Trillian at %s did not answer %s within %s", cc.Target(), method, d)
		}
		return err
	}
}

// observeRPC records each call's latency under its short method name.
func observeRPC(h *prometheus.HistogramVec) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		h.WithLabelValues(method[strings.LastIndexByte(method, '/')+1:], status.Code(err).String()).Observe(time.Since(start).Seconds())
		return err
	}
}

// local reports whether a gRPC target names this host: a loopback IP,
// "localhost", or a Unix socket. Anything it cannot parse is not local.
func local(target string) bool {
	if strings.HasPrefix(target, "unix:") {
		return true
	}
	if i := strings.Index(target, ":///"); i >= 0 {
		target = target[i+len(":///"):]
	}
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
