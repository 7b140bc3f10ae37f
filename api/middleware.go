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

// observe logs and measures each request. Only the route template is
// recorded: raw paths and queries can carry applicant tokens and feature
// values never appear in logs.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	s.metrics.inflight.Inc()
	defer s.metrics.inflight.Dec()
	c.Next()
	elapsed := time.Since(start)
	r, status := route(c), c.Writer.Status()
	s.metrics.requests.WithLabelValues(c.Request.Method, r, strconv.Itoa(status)).Inc()
	s.metrics.latency.WithLabelValues(c.Request.Method, r).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", c.Request.Method),
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

// limiters hands out one token bucket per credential.
type limiters struct {
	mu    sync.Mutex
	rate  rate.Limit
	burst int
	max   int
	m     map[string]*rate.Limiter
}

func newLimiters(r rate.Limit, burst, max int) *limiters {
	return &limiters{rate: r, burst: burst, max: max, m: map[string]*rate.Limiter{}}
}

func (l *limiters) allow(key string) bool {
	if l.rate == rate.Inf {
		return true
	}
	l.mu.Lock()
	lim, ok := l.m[key]
	if !ok {
		// Forgetting every bucket is crude, but it bounds memory when
		// anonymous callers come from many addresses; a forgotten bucket
		// starts full, which only errs towards serving.
		if len(l.m) >= l.max {
			clear(l.m)
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.m[key] = lim
	}
	l.mu.Unlock()
	return lim.Allow()
}

// rateLimit applies the per-credential limit after authentication, so a
// valid key's budget is its own and anonymous callers share one per
// client address.
func (s *Server) rateLimit(c *gin.Context) {
	who := callerOf(c)
	if !s.limits.allow(who.limitKey) {
		s.metrics.limited.Inc()
		c.Header("Retry-After", "1")
		abortKind(c, "rate-limited", "the rate limit for this credential is exceeded; retry later")
		return
	}
	c.Next()
}
