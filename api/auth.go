package api

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"

	"github.com/gin-gonic/gin"
)

// caller is who sent a request: an API key holder, an applicant token
// holder, or anonymous (Role "").
type caller struct {
	Principal
	// TokenDecisionID is the decision an applicant token opens (hex).
	TokenDecisionID string
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
	return &caller{limitKey: "ip:" + c.ClientIP()}
}

// authenticate identifies the caller. It refuses only credentials that
// are present and wrong (401); whether an anonymous caller may proceed is
// for the policy to say.
func (s *Server) authenticate(c *gin.Context) {
	cred, fromQuery, ok := credential(c)
	switch {
	case !ok:
		abortKind(c, "unauthenticated", "the Authorization header must be \"Bearer <key or applicant token>\"")
		return
	case cred == "":
		c.Set(ctxCaller, &caller{limitKey: "ip:" + c.ClientIP()})
		c.Next()
		return
	}
	// A key in the query string would end up in logs and browser history:
	// only applicant tokens, which open a single decision, may come there.
	if !fromQuery {
		if p, ok := s.keys.Lookup(cred); ok {
			d := sha256.Sum256([]byte(cred))
			c.Set(ctxCaller, &caller{Principal: p, limitKey: "key:" + hex.EncodeToString(d[:8])})
			c.Next()
			return
		}
	}
	if id, ok := s.tokens.Check(cred); ok {
		hexID := hex.EncodeToString(id[:])
		c.Set(ctxCaller, &caller{
			Principal:       Principal{Role: RoleApplicant},
			TokenDecisionID: hexID,
			limitKey:        "token:" + hexID,
		})
		c.Next()
		return
	}
	abortKind(c, "unauthenticated", "the API key or applicant token is not valid")
}

// credential returns the bearer credential of the request, from the
// Authorization header or else the token query parameter; ok is false
// for an Authorization header that is not a bearer credential.
func credential(c *gin.Context) (cred string, fromQuery, ok bool) {
	if h := c.GetHeader("Authorization"); h != "" {
		scheme, value, found := strings.Cut(h, " ")
		value = strings.TrimSpace(value)
		if found && strings.EqualFold(scheme, "Basic") {
			// Browsers can only send a key on a page navigation through
			// Basic authentication: the key is the password.
			raw, err := base64.StdEncoding.DecodeString(value)
			_, pass, ok := strings.Cut(string(raw), ":")
			if err != nil || !ok || pass == "" {
				return "", false, false
			}
			return pass, false, true
		}
		if !found || !strings.EqualFold(scheme, "Bearer") || value == "" {
			return "", false, false
		}
		return value, false, true
	}
	if t, present := c.GetQuery("token"); present {
		if t == "" {
			return "", true, false
		}
		return t, true, true
	}
	return "", false, true
}
