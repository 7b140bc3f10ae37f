package api

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

const (
	headerRequestID = "X-Request-ID"
	ctxRequestID    = "glassbox.request_id"
	ctxCaller       = "glassbox.caller"
	// unmatchedRoute labels requests no route matched, so that scanners
	// probing random paths cannot blow up metric cardinality.
	unmatchedRoute = "unmatched"
)

func requestID(c *gin.Context) string { return c.GetString(ctxRequestID) }

// validRequestID accepts caller-chosen ids that are safe to echo and log.
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// requestIDMiddleware adopts a well-formed X-Request-ID or makes one.
func requestIDMiddleware(c *gin.Context) {
	id := c.GetHeader(headerRequestID)
	if !validRequestID(id) {
		id = newRequestID()
	}
	c.Set(ctxRequestID, id)
	c.Header(headerRequestID, id)
	c.Next()
}

func route(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return unmatchedRoute
}

// methodLabel maps the request method to a fixed set, so that callers
// inventing methods cannot add metric series.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "other"
}

// statusLabel is the status code, or "other" outside 100-599: handlers
// only write codes from the problem table and net/http's own, but the
// label set stays bounded whatever they write.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// observe logs and measures each request. Only the route template is
// recorded: raw paths and queries can carry applicant tokens and feature
// values never appear in logs.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	c.Next()
	elapsed := time.Since(start)
	// The route is a template from the routing table (or "unmatched"),
	// the method and status come from fixed sets: no request can add a
	// series of its own.
	r, status, method := route(c), c.Writer.Status(), methodLabel(c.Request.Method)
	s.metrics.requests.WithLabelValues(method, r, statusLabel(status)).Inc()
	s.metrics.latency.WithLabelValues(method, r).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("route", r),
		slog.Int("status", status),
		slog.Duration("latency", elapsed),
		slog.String("request_id", requestID(c)),
		slog.Int("bytes", c.Writer.Size()),
	}
	if who, ok := c.Get(ctxCaller); ok {
		p := who.(*caller)
		attrs = append(attrs, slog.String("role", p.roleName()))
		if p.Subject != "" {
			attrs = append(attrs, slog.String("subject", p.Subject))
		}
	}
	if len(c.Errors) > 0 {
		attrs = append(attrs, slog.String("error", c.Errors.Last().Error()))
	}
	s.log.LogAttrs(c.Request.Context(), level, "request", attrs...)
}

// recoverMiddleware turns a panic into a 500 problem. http.ErrAbortHandler
// is re-raised: it is net/http's way to abort a response on purpose.
func (s *Server) recoverMiddleware(c *gin.Context) {
	defer func() {
		rec := recover()
		if rec == nil {
			return
		}
		if err, ok := rec.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(rec)
		}
		s.log.ErrorContext(c.Request.Context(), "panic serving request",
			slog.String("route", route(c)), slog.String("request_id", requestID(c)),
			slog.String("panic", fmt.Sprint(rec)), slog.String("stack", string(debug.Stack())))
		if c.Writer.Written() {
			c.Abort()
			return
		}
		abortKind(c, "internal", "an internal error occurred; quote the request id to the operator")
	}()
	c.Next()
}

// Prefixes of limit keys; each names its own pool of buckets.
const (
	limitKey       = "key:"
	limitToken     = "token:"
	limitAnonymous = "ip:"
)

// Defaults for the failed-authentication limit per client address.
const (
	DefaultAuthFailRate  = 1 // failures per second, refilled
	DefaultAuthFailBurst = 20
)

// limiters hands out one token bucket per credential. API keys, applicant
// tokens and anonymous client addresses have separate pools, so that no
// flood of one kind can evict or share the buckets of another; failed
// authentications are counted per client address in a fourth pool.
type limiters struct {
	keys, tokens, anonymous, authFailures *bucketPool
}

func newLimiters(r rate.Limit, burst int, failRate rate.Limit, failBurst, max int) *limiters {
	return &limiters{
		// Only configured keys reach this pool: it needs no bound.
		keys:         newBucketPool(r, burst, 0),
		tokens:       newBucketPool(r, burst, max),
		anonymous:    newBucketPool(r, burst, max),
		authFailures: newBucketPool(failRate, failBurst, max),
	}
}

func (l *limiters) allow(key string) bool {
	switch {
	case strings.HasPrefix(key, limitKey):
		return l.keys.take(key)
	case strings.HasPrefix(key, limitToken):
		return l.tokens.take(key)
	default:
		return l.anonymous.take(key)
	}
}

// bucketPool is a bounded set of token buckets. When it is full, buckets
// that have refilled completely are dropped (a dropped bucket comes back
// full, so dropping it changes nothing for its owner); when none has,
// newcomers share one overflow bucket until a later sweep makes room.
// Nobody ever gets a fresh bucket in place of a drained one.
type bucketPool struct {
	mu        sync.Mutex
	rate      rate.Limit
	burst     int
	max       int // 0: unbounded
	m         map[string]*rate.Limiter
	overflow  *rate.Limiter
	lastSweep time.Time
}

// sweepEvery bounds how often a full pool is scanned for idle buckets.
const sweepEvery = time.Second

func newBucketPool(r rate.Limit, burst, max int) *bucketPool {
	return &bucketPool{rate: r, burst: burst, max: max, m: map[string]*rate.Limiter{}, overflow: rate.NewLimiter(r, burst)}
}

func (p *bucketPool) bucket(key string) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	if lim, ok := p.m[key]; ok {
		return lim
	}
	if p.max > 0 && len(p.m) >= p.max {
		now := time.Now()
		if now.Sub(p.lastSweep) < sweepEvery {
			return p.overflow
		}
		p.lastSweep = now
		for k, lim := range p.m {
			if lim.TokensAt(now) >= float64(p.burst) {
				delete(p.m, k)
			}
		}
		if len(p.m) >= p.max {
			return p.overflow
		}
	}
	lim := rate.NewLimiter(p.rate, p.burst)
	p.m[key] = lim
	return lim
}

// take spends one token of key's bucket.
func (p *bucketPool) take(key string) bool {
	if p.rate == rate.Inf {
		return true
	}
	return p.bucket(key).Allow()
}

// peek reports whether key's bucket has a token, without spending it. A
// key without a bucket has spent nothing: none is made for it, so that
// callers that never fail take no room in the pool.
func (p *bucketPool) peek(key string) bool {
	if p.rate == rate.Inf {
		return true
	}
	p.mu.Lock()
	lim, ok := p.m[key]
	if !ok && p.max > 0 && len(p.m) >= p.max {
		// A full pool sends newcomers to the overflow bucket: that is
		// the one they spend from.
		lim, ok = p.overflow, true
	}
	p.mu.Unlock()
	return !ok || lim.Tokens() >= 1
}

// exemptRoute reports whether a request is exempt from rate limits (and
// from authentication): health checks, which orchestrators must always
// get through, and the public key, which verifiers everywhere need and
// which is the same for everyone.
func exemptRoute(c *gin.Context) bool {
	switch c.FullPath() {
	case "/livez", "/healthz", "/readyz", "/v1/ledger/public-key":
		return true
	}
	return false
}

// rateLimit applies the per-credential limit after authentication, so a
// valid key's budget is its own and anonymous callers share one per
// client address.
func (s *Server) rateLimit(c *gin.Context) {
	if exemptRoute(c) {
		c.Next()
		return
	}
	who := callerOf(c)
	if !s.limits.allow(who.limitKey) {
		s.metrics.limited.WithLabelValues("credential").Inc()
		c.Header("Retry-After", "1")
		closeUnreadBody(c)
		abortKind(c, "rate-limited", "the rate limit for this credential is exceeded; retry later")
		return
	}
	c.Next()
}

// closeUnreadBody makes a response to a request whose body will not be
// read close the connection at once. net/http would otherwise read the
// rest of the body (up to 256 KiB) after the response to reuse the
// connection, which a client trickling its body stretches to the whole
// read timeout, holding a connection and a goroutine. The read deadline
// set to now makes that drain fail immediately; Connection: close tells
// the client not to send on.
func closeUnreadBody(c *gin.Context) {
	if c.Request.ContentLength == 0 {
		return
	}
	c.Header("Connection", "close")
	// Not every ResponseWriter can (a test recorder cannot): then the
	// drain is bounded by the read timeout as before.
	_ = http.NewResponseController(c.Writer).SetReadDeadline(time.Now())
}

// noStore keeps responses that carry personal data (everything about a
// decision, and the pages) out of shared and browser caches.
func noStore(c *gin.Context) {
	if p := c.FullPath(); strings.HasPrefix(p, "/v1/decisions") || strings.HasPrefix(p, "/ui/") {
		c.Header("Cache-Control", "no-store")
	}
	c.Next()
}
