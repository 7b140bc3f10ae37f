package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/gin-gonic/gin"
)

// TokenCookie is the cookie that carries an applicant token once the
// applicant page has exchanged the token in its link for it.
const TokenCookie = "glassbox_applicant_token"

// credentialSource says where a request's credential came from.
type credentialSource int

const (
	fromNone credentialSource = iota
	fromHeader
	fromQuery
	fromCookie
)

// caller is who sent a request: an API key holder, an applicant token
// holder, or anonymous (Role "").
type caller struct {
	Principal
	// TokenDecisionID is the decision an applicant token opens (hex).
	TokenDecisionID string
	source          credentialSource
	limitKey        string
}

func (c *caller) roleName() string {
	if c.Role == "" {
		return "anonymous"
	}
	return c.Role
}

func callerOf(c *gin.Context) *caller {
	if v, ok := c.Get(ctxCaller); ok {
		return v.(*caller)
	}
	return anonymous(c)
}

func anonymous(c *gin.Context) *caller {
	return &caller{limitKey: limitAnonymous + clientKey(c)}
}

// clientKey is the client address a request counts against: the peer,
// or the X-Forwarded-For hop next to the first trusted proxy when the
// peer is one. IPv6 clients are counted per /64, the smallest block a
// site is usually given, so that one site cannot mint fresh addresses to
// escape its limits.
func clientKey(c *gin.Context) string {
	a, err := netip.ParseAddr(c.ClientIP())
	if err != nil {
		return c.ClientIP()
	}
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// authenticate identifies the caller. It refuses only credentials that
// are present and wrong (401); whether an anonymous caller may proceed is
// for the policy to say. Credentials are not looked at on the routes
// exempt from limits (health and the public key): those answer the same
// to everyone, so they cannot serve to test guessed credentials.
func (s *Server) authenticate(c *gin.Context) {
	if exemptRoute(c) {
		c.Set(ctxCaller, anonymous(c))
		c.Next()
		return
	}
	cred, src, ok := credential(c)
	if ok && cred == "" {
		c.Set(ctxCaller, anonymous(c))
		c.Next()
		return
	}
	client := clientKey(c)
	// An address that keeps failing is refused before its credential is
	// checked: answering would let it go on guessing.
	if !s.limits.authFailures.peek(client) {
		s.metrics.limited.WithLabelValues("auth-failures").Inc()
		c.Header("Retry-After", "1")
		closeUnreadBody(c)
		abortKind(c, "rate-limited", "too many failed authentication attempts from this address; retry later")
		return
	}
	if !ok {
		s.failAuth(c, client, src, "the Authorization header must be \"Bearer <key or applicant token>\"")
		return
	}
	// A key in the query string or a cookie would end up in logs and
	// browser history: only applicant tokens, which open a single
	// decision, may come there.
	if src == fromHeader {
		if p, ok := s.keys.Lookup(cred); ok {
			d := sha256.Sum256([]byte(cred))
			c.Set(ctxCaller, &caller{Principal: p, source: src, limitKey: limitKey + hex.EncodeToString(d[:8])})
			c.Next()
			return
		}
	}
	id, expires, err := s.tokens.Check(cred)
	switch {
	case err == nil:
		hexID := hex.EncodeToString(id[:])
		c.Set(ctxCaller, &caller{
			Principal:       Principal{Role: RoleApplicant},
			TokenDecisionID: hexID,
			source:          src,
			limitKey:        limitToken + hexID,
		})
		c.Next()
	case errors.Is(err, ErrTokenExpired):
		// A genuine token: not a guess, so not counted as a failure.
		s.refuseToken(c, src, "token-expired", "the applicant token expired on "+expires.Format("2006-01-02")+"; ask the lender for a new one")
	case errors.Is(err, ErrTokenVersion):
		s.refuseToken(c, src, "unauthenticated", ErrTokenVersion.Error()+"; ask the lender for a new one")
	default:
		s.failAuth(c, client, src, "the API key or applicant token is not valid")
	}
}

// failAuth answers a wrong credential and counts it against the client
// address.
func (s *Server) failAuth(c *gin.Context, client string, src credentialSource, detail string) {
	s.limits.authFailures.take(client)
	s.refuseToken(c, src, "unauthenticated", detail)
}

// refuseToken answers 401, and forgets a cookie that no longer opens
// anything so that the browser stops sending it.
func (s *Server) refuseToken(c *gin.Context, src credentialSource, kind, detail string) {
	if src == fromCookie {
		http.SetCookie(c.Writer, s.tokenCookie(c, "", -1))
	}
	closeUnreadBody(c)
	abortKind(c, kind, detail)
}

// credential returns the bearer credential of the request, from the
// Authorization header, else the token query parameter, else the token
// cookie; ok is false for an Authorization header that is not a bearer
// credential. The cookie counts only on the reads an applicant makes
// from the applicant page.
func credential(c *gin.Context) (cred string, src credentialSource, ok bool) {
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, value, found := strings.Cut(h, " ")
		value = strings.TrimSpace(value)
		if found && strings.EqualFold(scheme, "Basic") {
			// Browsers can only send a key on a page navigation through
			// Basic authentication: the key is the password.
			raw, err := base64.StdEncoding.DecodeString(value)
			_, pass, ok := strings.Cut(string(raw), ":")
			if err != nil || !ok || pass == "" {
				return "", fromHeader, false
			}
			return pass, fromHeader, true
		}
		if !found || !strings.EqualFold(scheme, "Bearer") || value == "" {
			return "", fromHeader, false
		}
		return value, fromHeader, true
	}
	if t, present := c.GetQuery("token"); present {
		if t == "" {
			return "", fromQuery, false
		}
		return t, fromQuery, true
	}
	if cookieRoute(c) {
		if v, err := c.Cookie(TokenCookie); err == nil && v != "" {
			return v, fromCookie, true
		}
	}
	return "", fromNone, true
}

// cookieRoute reports whether the token cookie is accepted on this
// request: safe reads of one decision, and the applicant's contest of it
// (SameSite=Strict and a JSON body keep other sites from sending one).
func cookieRoute(c *gin.Context) bool {
	// The one write: the applicant page's contest form. The cookie is
	// SameSite=Strict, so no other site's request carries it, and the
	// endpoint takes only application/json, which no cross-site form can
	// send without a CORS preflight this server never grants.
	if c.Request.Method == http.MethodPost && c.FullPath() == "/v1/decisions/:id/contest" {
		return true
	}
	if m := c.Request.Method; m != http.MethodGet && m != http.MethodHead {
		return false
	}
	switch c.FullPath() {
	case "/ui/decisions/:id", "/v1/decisions/:id", "/v1/decisions/:id/explanation",
		"/v1/decisions/:id/proof", "/v1/decisions/:id/notice":
		return true
	}
	return false
}

// tokenCookie is the applicant token cookie for value (maxAge < 0
// deletes it). It is a session cookie: the token's own expiry still
// applies on every request, and a browser that is closed forgets it.
func (s *Server) tokenCookie(c *gin.Context, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: TokenCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.overTLS(c),
	}
}

// overTLS reports whether the client reached the service over TLS:
// directly, or through a trusted proxy that says so in
// X-Forwarded-Proto.
func (s *Server) overTLS(c *gin.Context) bool {
	if c.Request.TLS != nil {
		return true
	}
	return s.peerTrusted(c) && strings.EqualFold(strings.TrimSpace(c.GetHeader("X-Forwarded-Proto")), "https")
}

// peerTrusted reports whether the TCP peer is one of the trusted proxies.
func (s *Server) peerTrusted(c *gin.Context) bool {
	ap, err := netip.ParseAddrPort(c.Request.RemoteAddr)
	if err != nil {
		return false
	}
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(ap.Addr().Unmap()) {
			return true
		}
	}
	return false
}
