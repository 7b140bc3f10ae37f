package api_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/time/rate"

	"github.com/glassbox-ledger/glassbox/api"
)

// seriesLabels reads /metrics and returns the label sets of the samples
// of one metric family.
func seriesLabels(t *testing.T, e *env, family string) []map[string]string {
	t.Helper()
	r := e.do(req{method: "GET", path: "/metrics", key: keyAdmin})
	if r.status != 200 {
		t.Fatalf("/metrics: %d %s", r.status, r.body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(r.body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	var out []map[string]string
	if f := fams[family]; f != nil {
		for _, m := range f.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			out = append(out, l)
		}
	}
	return out
}

// TestMetricsLabelsBounded sends 1000 requests with random methods and
// paths: every label takes a value from a fixed set, so the number of
// series stays far below the number of distinct requests.
func TestMetricsLabelsBounded(t *testing.T) {
	e := newEnv(t, envOptions{})
	d := e.createDecision("metrics-1")
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[rng.IntN(len(letters))]
		}
		return string(b)
	}
	standard := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"}
	client := e.http.Client()
	const n = 1000
	for i := range n {
		method := word(3 + rng.IntN(8))
		if i%4 == 0 {
			method = standard[rng.IntN(len(standard))]
		}
		var path string
		switch i % 3 {
		case 0:
			path = "/" + word(12) + "/" + word(5)
		case 1:
			path = "/v1/decisions/" + word(64) // a route template with a random id
		default:
			path = "/v1/decisions/" + d.DecisionID + "/" + word(6)
		}
		hr, err := http.NewRequest(method, e.http.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(hr)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	routes := []string{"unmatched"}
	for _, ri := range e.srv.Handler().(*gin.Engine).Routes() {
		routes = append(routes, ri.Path)
	}
	methods := append(slices.Clone(standard), "CONNECT", "other")
	for _, family := range []string{"glassbox_http_requests_total", "glassbox_http_request_duration_seconds"} {
		series := seriesLabels(t, e, family)
		for _, l := range series {
			if !slices.Contains(methods, l["method"]) {
				t.Errorf("%s: method label %q", family, l["method"])
			}
			if !slices.Contains(routes, l["route"]) {
				t.Errorf("%s: route label %q", family, l["route"])
			}
			if s, ok := l["status"]; ok && (len(s) != 3 || s < "100" || s > "599") {
				t.Errorf("%s: status label %q", family, s)
			}
		}
		// 1000 requests, nearly all distinct; the bound is what the fixed
		// label sets allow for the handful of routes they hit.
		if len(series) > 60 {
			t.Errorf("%s: %d series after %d random requests", family, len(series), n)
		}
		t.Logf("%s: %d series", family, len(series))
	}
}

// proxied is a request that a trusted proxy (the test client, on
// loopback) forwards for client.
func proxied(r req, client string) req {
	h := map[string]string{"X-Forwarded-For": client}
	for k, v := range r.headers {
		h[k] = v
	}
	r.headers = h
	return r
}

var loopbackProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// TestAnonymousFloodSparesKeyedBuckets: a lender's bucket is its own.
// Anonymous callers from more addresses than the limiter tracks neither
// refill a drained lender bucket (forgetting it would) nor spend from a
// full one.
func TestAnonymousFloodSparesKeyedBuckets(t *testing.T) {
	const burst = 5
	e := newEnv(t, envOptions{rateLimit: rate.Every(time.Hour), rateBurst: burst, config: func(c *api.Config) {
		c.TrustedProxies = loopbackProxies
		c.MaxTrackedClients = 20
	}})
	models := req{method: "GET", path: "/v1/models"}
	lender := func(key string) int { r := models; r.key = key; return e.do(r).status }
	for i := range burst {
		if s := lender(keyLender); s != 200 {
			t.Fatalf("lender request %d: %d", i+1, s)
		}
	}
	if s := lender(keyLender); s != 429 {
		t.Fatalf("lender past its burst: %d", s)
	}
	limited := 0
	for i := range 200 {
		if e.do(proxied(models, fmt.Sprintf("10.0.%d.%d", i/250, i%250+1))).status == 429 {
			limited++
		}
	}
	t.Logf("%d of 200 anonymous requests limited", limited)
	if s := lender(keyLender); s != 429 {
		t.Errorf("a drained lender bucket was refilled by an anonymous flood: %d", s)
	}
	for i := range burst {
		if s := lender(keyOtherLender); s != 200 {
			t.Errorf("other lender's request %d after the flood: %d", i+1, s)
		}
	}
	// One anonymous address has its own bucket, whatever the others did.
	hit := 0
	for range burst + 1 {
		if e.do(proxied(models, "192.0.2.7")).status == 429 {
			hit++
		}
	}
	if hit == 0 {
		t.Error("one anonymous address was never limited")
	}
}

// TestExemptRoutesNeverLimited: health checks and the public key answer
// 200 however drained the caller's buckets are, with or without (even
// wrong) credentials.
func TestExemptRoutesNeverLimited(t *testing.T) {
	e := newEnv(t, envOptions{rateLimit: rate.Every(time.Hour), rateBurst: 1, config: func(c *api.Config) {
		c.AuthFailRate, c.AuthFailBurst = rate.Every(time.Hour), 1
	}})
	// Drain the anonymous bucket and the failure budget of this address.
	e.do(req{method: "GET", path: "/v1/models"})
	e.do(req{method: "GET", path: "/v1/models", key: "wrong-key-0123456789"})
	if r := e.do(req{method: "GET", path: "/v1/models"}); r.status != 429 {
		t.Fatalf("anonymous bucket not drained: %d", r.status)
	}
	for _, path := range []string{"/livez", "/healthz", "/readyz", "/v1/ledger/public-key"} {
		for _, key := range []string{"", "wrong-key-0123456789", keyLender} {
			for i := range 20 {
				if r := e.do(req{method: "GET", path: path, key: key}); r.status != 200 {
					t.Fatalf("%s (key %q) request %d: %d %s", path, key, i+1, r.status, r.body)
				}
			}
		}
	}
}

// TestFailedAuthenticationLimited: wrong credentials from one address
// are limited; once the budget is spent, the address gets 429 before any
// credential is looked at (a right key included, or guessing would go
// on); other addresses and anonymous requests are unaffected.
func TestFailedAuthenticationLimited(t *testing.T) {
	const budget = 3
	e := newEnv(t, envOptions{config: func(c *api.Config) {
		c.TrustedProxies = loopbackProxies
		c.AuthFailRate, c.AuthFailBurst = rate.Every(time.Hour), budget
	}})
	models := req{method: "GET", path: "/v1/models"}
	withKey := func(key string) req { r := models; r.key = key; return r }
	for i := range budget {
		if r := e.do(proxied(withKey(fmt.Sprintf("guess-%d-0123456789", i)), "198.51.100.1")); r.status != 401 {
			t.Fatalf("guess %d: %d", i+1, r.status)
		}
	}
	for _, tc := range []struct {
		name   string
		r      req
		status int
	}{
		{"another guess", proxied(withKey("guess-x-0123456789"), "198.51.100.1"), 429},
		{"the right key from the same address", proxied(withKey(keyLender), "198.51.100.1"), 429},
		{"a malformed Authorization header", proxied(req{method: "GET", path: "/v1/models", headers: map[string]string{"Authorization": "Digest x"}}, "198.51.100.1"), 429},
		{"anonymous from the same address", proxied(models, "198.51.100.1"), 200},
		{"the right key elsewhere", proxied(withKey(keyLender), "198.51.100.2"), 200},
		{"a guess elsewhere", proxied(withKey("guess-y-0123456789"), "198.51.100.2"), 401},
	} {
		r := e.do(tc.r)
		if r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, r.status, tc.status)
		}
		if r.status == 429 && r.header.Get("Retry-After") == "" {
			t.Errorf("%s: 429 without Retry-After", tc.name)
		}
	}
}

// TestTrustedProxies: X-Forwarded-For names the client only when the
// peer is a listed proxy; by default no proxy is trusted. The client
// address is observed through the per-address anonymous bucket (burst
// 1): two requests for different forwarded clients share a bucket
// exactly when the header is ignored.
func TestTrustedProxies(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []netip.Prefix
		honour  bool
	}{
		{"none by default", nil, false},
		{"peer listed", loopbackProxies, true},
		{"peer listed as a single address", []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}, true},
		{"other proxies listed", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{rateLimit: rate.Every(time.Hour), rateBurst: 1, config: func(c *api.Config) { c.TrustedProxies = tc.proxies }})
			models := req{method: "GET", path: "/v1/models"}
			if r := e.do(proxied(models, "203.0.113.1")); r.status != 200 {
				t.Fatalf("first client: %d", r.status)
			}
			second := e.do(proxied(models, "203.0.113.2")).status
			if tc.honour && second != 200 {
				t.Errorf("forwarded client from a trusted proxy shares a bucket: %d", second)
			}
			if !tc.honour && second != 429 {
				t.Errorf("X-Forwarded-For from an untrusted peer was believed: %d", second)
			}
			// A client cannot escape its bucket by prepending addresses: the
			// hop next to the trusted proxy counts.
			if tc.honour {
				if r := e.do(proxied(models, "192.0.2.99, 203.0.113.1")); r.status != 429 {
					t.Errorf("spoofed leftmost X-Forwarded-For hop escaped the limit: %d", r.status)
				}
			}
		})
	}
}

// serveReal runs e's server on a real listener with its production
// http.Server settings (timeouts, connection cap) and returns its
// address.
func serveReal(t *testing.T, e *env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.srv.Serve(ctx, ln, time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// rawResponse reads one response from conn.
func rawResponse(conn net.Conn, br *bufio.Reader, within time.Duration) (*http.Response, error) {
	conn.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

// TestConnectionCap: with a cap of two, a third connection is not served
// while two are open, and is served once one closes.
func TestConnectionCap(t *testing.T) {
	e := newEnv(t, envOptions{config: func(c *api.Config) { c.MaxConnections = 2 }})
	addr := serveReal(t, e)
	const get = "GET /livez HTTP/1.1\r\nHost: glassbox\r\n\r\n"
	var conns []net.Conn
	var readers []*bufio.Reader
	for i := range 3 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, get); err != nil {
			t.Fatal(err)
		}
		conns, readers = append(conns, c), append(readers, bufio.NewReader(c))
		if i < 2 {
			// Kept alive after the answer: the connection stays open.
			if resp, err := rawResponse(c, readers[i], 20*time.Second); err != nil || resp.StatusCode != 200 {
				t.Fatalf("connection %d: %v %v", i+1, resp, err)
			}
		}
	}
	if resp, err := rawResponse(conns[2], readers[2], time.Second); err == nil {
		t.Fatalf("a third connection was served while two were open: %d", resp.StatusCode)
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("third connection: %v, want a read timeout (waiting)", err)
	}
	conns[0].Close()
	if resp, err := rawResponse(conns[2], readers[2], 20*time.Second); err != nil || resp.StatusCode != 200 {
		t.Fatalf("third connection after one closed: %v %v", resp, err)
	}
}

// TestTricklingBodyCutOff: a request whose body arrives a byte at a time
// is cut off at the read timeout instead of holding its connection for as
// long as the client likes.
func TestTricklingBodyCutOff(t *testing.T) {
	const readTimeout = 500 * time.Millisecond
	e := newEnv(t, envOptions{config: func(c *api.Config) { c.ReadTimeout = readTimeout }})
	addr := serveReal(t, e)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const bodyLen = 1000
	fmt.Fprintf(c, "POST /v1/decisions HTTP/1.1\r\nHost: glassbox\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", keyLender, bodyLen)
	// At one byte per 50 ms the body would take 50 s.
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < bodyLen; n++ {
			if _, err := c.Write([]byte{' '}); err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		sent <- n
	}()
	start := time.Now()
	br := bufio.NewReader(c)
	resp, err := rawResponse(c, br, 20*time.Second)
	if err == nil {
		t.Logf("answered %d after %v", resp.StatusCode, time.Since(start))
		if resp.StatusCode < 400 {
			t.Errorf("trickled body answered %d", resp.StatusCode)
		}
		_, err = rawResponse(c, br, 20*time.Second)
	}
	// Either way the server must close the connection, long before the
	// body is complete.
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("the connection is still open %v after the read timeout of %v", time.Since(start), readTimeout)
	}
	c.Close()
	if n := <-sent; n >= bodyLen {
		t.Errorf("the whole body (%d bytes) was accepted", n)
	}
}

// TestRefusedBodyClosesConnection: a request refused before its body is
// read (401, 403, 429) is answered at once with Connection: close, and
// the connection is closed, instead of the server draining a body the
// client may never finish sending.
func TestRefusedBodyClosesConnection(t *testing.T) {
	// A read timeout far beyond the client's patience: a server that
	// drained would be caught waiting.
	e := newEnv(t, envOptions{config: func(c *api.Config) { c.ReadTimeout = 5 * time.Minute }})
	addr := serveReal(t, e)
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"wrong key", "Authorization: Bearer wrong-key-0123456789\r\n", 401},
		{"anonymous", "", 401},
		{"regulator may not create decisions", "Authorization: Bearer " + keyRegulator + "\r\n", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/decisions HTTP/1.1\r\nHost: glassbox\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"application_id\":", tc.auth)
			br := bufio.NewReader(c)
			resp, err := rawResponse(c, br, 20*time.Second)
			if err != nil {
				t.Fatalf("no answer while the body is unsent: %v", err)
			}
			if resp.StatusCode != tc.status || !resp.Close {
				t.Errorf("status %d, Connection: close %v; want %d and close", resp.StatusCode, resp.Close, tc.status)
			}
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if n, err := br.Read(make([]byte, 1)); err != io.EOF {
				t.Errorf("connection not closed: read %d, %v", n, err)
			}
		})
	}
}

// TestIPv6ClientsCountedPer64: one site cannot mint fresh IPv6 addresses
// to escape the per-address limit; its /64 is one client.
func TestIPv6ClientsCountedPer64(t *testing.T) {
	e := newEnv(t, envOptions{rateLimit: rate.Every(time.Hour), rateBurst: 1, config: func(c *api.Config) { c.TrustedProxies = loopbackProxies }})
	models := req{method: "GET", path: "/v1/models"}
	for _, tc := range []struct {
		client string
		status int
	}{
		{"2001:db8:1:2::1", 200},
		{"2001:db8:1:2:ffff::7", 429}, // same /64
		{"2001:db8:1:3::1", 200},      // next /64
		{"::ffff:192.0.2.1", 200},     // IPv4-mapped counts as IPv4
		{"192.0.2.1", 429},
	} {
		if r := e.do(proxied(models, tc.client)); r.status != tc.status {
			t.Errorf("%s: %d, want %d", tc.client, r.status, tc.status)
		}
	}
}
