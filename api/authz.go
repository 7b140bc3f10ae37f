package api

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/policy"
)

// allow is route middleware asking policy whether the caller may perform
// action at all (for actions not tied to one decision).
func (s *Server) allow(action policy.Action) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.authorize(c, action, "", "") {
			return
		}
		c.Next()
	}
}

// authorize asks policy and, on refusal, writes the problem: 401 when the
// caller presented no credential (it might be allowed with one), 403
// otherwise. A policy that fails to evaluate refuses (500): access
// control fails closed.
func (s *Server) authorize(c *gin.Context, action policy.Action, owner, decisionID string) bool {
	who := callerOf(c)
	_, err := s.policy.Authorize(c.Request.Context(), policy.AccessRequest{
		Role:            policy.Role(who.Role),
		Subject:         who.Subject,
		Action:          action,
		ResourceOwner:   owner,
		DecisionID:      decisionID,
		TokenDecisionID: who.TokenDecisionID,
	})
	if err == nil {
		return true
	}
	if !errors.Is(err, policy.ErrDenied) {
		s.log.ErrorContext(c.Request.Context(), "access policy failed", slog.String("action", string(action)), slog.Any("err", err))
		abortKind(c, "internal", "the access policy could not be evaluated")
		return false
	}
	var msgs []string
	if v, ok := policy.AsViolation(err); ok {
		// Titles, not messages: a message may name the owner of a
		// decision the caller may not see.
		for _, f := range v.Findings {
			msgs = append(msgs, f.ID+": "+f.Title)
		}
	}
	detail := strings.Join(msgs, "; ")
	if detail == "" {
		detail = "the policy does not allow " + string(action)
	}
	// A refused request's body will not be read: do not drain it.
	closeUnreadBody(c)
	if who.Role == "" {
		abortKind(c, "unauthenticated", detail)
		return false
	}
	abortKind(c, "forbidden", detail)
	return false
}
