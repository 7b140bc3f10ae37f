package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// maxErasureBody bounds POST /v1/decisions/{id}/erasure: two strings of
// at most 200 characters each, with room for escapes.
const maxErasureBody = 4 << 10

// erasureJSON names an erasure record: in the answer to an erasure, and in
// the 410 problem of every read of an erased decision.
type erasureJSON struct {
	DecisionID string `json:"decision_id"`
	// ID is the erasure record's id (its leaf hash).
	ID         string `json:"id"`
	LegalBasis string `json:"legal_basis"`
	ErasedAt   string `json:"erased_at"`
	// Record is the erasure record's leaf bytes (base64): it is in
	// clear, so anyone can check it against the log.
	Record string     `json:"record"`
	Ledger ledgerJSON `json:"ledger"`
}

// createErasure: POST /v1/decisions/{id}/erasure. It crypto-shreds the
// decision's record (and its recourse), appends an "erasure" record and
// answers with it: 201 for a new erasure, 200 with the earlier one for an
// erased decision. Refusals change nothing.
func (s *Server) createErasure(c *gin.Context) {
	wait, ok := waitParam(c)
	if !ok {
		return
	}
	id, err := transparency.ParseID(c.Param("id"))
	if err != nil {
		abortKind(c, "invalid-id", "a decision id is 64 hexadecimal digits")
		return
	}
	body, _, err := readJSONBody(c, maxErasureBody)
	if err != nil {
		abortBody(c, err)
		return
	}
	basis, requester, errs := parseErasure(body)
	if len(errs) > 0 {
		abortValidation(c, "the erasure request is not valid", errs)
		return
	}
	ctx := c.Request.Context()
	// The decision's recourse holds the applicant's values too: its
	// record (when the store keeps it) is shredded with the decision and
	// the suggestions are deleted.
	var related []transparency.ID
	rc, hasRecourse, err := s.recourse.Get(ctx, id.String())
	if err != nil {
		s.log.ErrorContext(ctx, "reading recourse store for an erasure", slog.String("decision", id.String()), slog.Any("err", err))
		c.Header("Retry-After", "1")
		abortKind(c, "ledger-unavailable", "the recourse store cannot be read right now; nothing was erased; retry later")
		return
	}
	if hasRecourse {
		if rid, err := transparency.ParseID(rc.RecordID); err == nil {
			related = append(related, rid)
		}
	}
	info, err := s.ledger.Erase(ctx, transparency.ErasureRequest{
		Decision: id, LegalBasis: basis, Requester: requester, Related: related, Time: s.now(),
	})
	switch {
	case errors.Is(err, transparency.ErrNotErasable):
		abortKind(c, "not-erasable", strings.TrimPrefix(err.Error(), transparency.ErrNotErasable.Error()+": "))
		return
	case errors.Is(err, transparency.ErrNotFound):
		abortKind(c, "not-found", "no decision with this id")
		return
	case errors.Is(err, transparency.ErrInvalidArgument):
		abortValidation(c, "the erasure request is not valid", []FieldError{{Field: "", Message: err.Error()}})
		return
	case err != nil:
		s.abortLedger(c, err, "no decision with this id")
		return
	}
	// After the keys: an erasure cut short here is finished by the
	// retry, which answers with the same erasure record, or by the next
	// read of the decision.
	if err := s.dropRecourse(ctx, id); err != nil {
		c.Header("Retry-After", "1")
		abortKind(c, "ledger-unavailable", "the record is erased, but its recourse could not be deleted yet; repeat the request, which answers with the same erasure record")
		return
	}
	// So do the applicant's contests of it (lifecycle.go).
	if err := s.eraseContests(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "erasing the contests of an erased decision", slog.String("request_id", requestID(c)), slog.String("decision_id", id.String()), slog.Any("err", err))
		c.Header("Retry-After", "1")
		abortKind(c, "ledger-unavailable", "the record is erased, but the contests of it could not be yet; repeat the request, which answers with the same erasure record")
		return
	}
	if wait {
		wctx, cancel := context.WithTimeout(ctx, s.cfg.WaitTimeout)
		defer cancel()
		if _, err := s.ledger.WaitIntegrated(wctx, info.ID); err != nil {
			s.log.WarnContext(ctx, "waiting for the erasure record's integration failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
		}
	}
	status := http.StatusCreated
	if info.Already {
		status = http.StatusOK
	}
	c.JSON(status, s.erasureView(ctx, id, info))
}

// parseErasure checks the erasure body: an object with exactly the string
// members legal_basis and requester, both required and bounded.
func parseErasure(body any) (basis, requester string, errs []FieldError) {
	obj, ok := body.(map[string]any)
	if !ok {
		return "", "", []FieldError{{Field: "", Message: "the body must be a JSON object"}}
	}
	var unknown []string
	for k := range obj {
		if k != "legal_basis" && k != "requester" {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		errs = append(errs, FieldError{Field: k, Message: "unknown member"})
	}
	get := func(name string, max int) string {
		v, present := obj[name]
		str, isString := v.(string)
		switch {
		case !present:
			errs = append(errs, FieldError{Field: name, Message: "is required"})
		case !isString:
			errs = append(errs, FieldError{Field: name, Message: "must be a string"})
		default:
			if err := transparency.CheckErasureText(name, str, max); err != nil {
				errs = append(errs, FieldError{Field: name, Message: err.Error()})
			}
		}
		return str
	}
	basis = get("legal_basis", transparency.MaxLegalBasis)
	requester = get("requester", transparency.MaxRequester)
	return basis, requester, errs
}

// dropRecourse deletes an erased decision's recourse, if any is left,
// after shredding its record: recourse computed while the erasure ran, or
// left by a crash, goes too.
func (s *Server) dropRecourse(ctx context.Context, id transparency.ID) error {
	rc, ok, err := s.recourse.Get(ctx, id.String())
	if err != nil || !ok {
		return err
	}
	if rid, err := transparency.ParseID(rc.RecordID); err == nil {
		if err := s.ledger.EraseRelated(ctx, id, rid); err != nil {
			s.log.ErrorContext(ctx, "erasing the recourse record of an erased decision", slog.String("decision", id.String()), slog.Any("err", err))
			return err
		}
	}
	if _, err := s.recourse.Delete(ctx, id.String()); err != nil {
		s.log.ErrorContext(ctx, "deleting the recourse of an erased decision", slog.String("decision", id.String()), slog.Any("err", err))
		return err
	}
	return nil
}

// erasureView shows an erasure record and where it stands in the log.
func (s *Server) erasureView(ctx context.Context, decision transparency.ID, info *transparency.ErasureInfo) *erasureJSON {
	at := info.Record.Timestamp.UTC().Format(timeLayout)
	v := &erasureJSON{
		DecisionID: decision.String(),
		ID:         info.ID.String(),
		LegalBasis: info.Record.Erasure.LegalBasis,
		ErasedAt:   at,
		Record:     base64.StdEncoding.EncodeToString(info.Data),
		Ledger:     ledgerJSON{TreeID: s.ledger.TreeID(), Status: string(transparency.StatusQueued), QueuedAt: at},
	}
	if e, err := s.ledger.GetEntry(ctx, info.ID); err == nil && e.Status == transparency.StatusIntegrated {
		v.Ledger.Status, v.Ledger.LeafIndex = string(e.Status), ptr(e.Index)
	}
	return v
}

// abortErased answers a read of an erased decision: 410, naming the
// erasure record. Who may be told: the erasure record is in clear in the
// log and names the decision, so that the decision was erased is no
// secret from anyone the log is shown to; the decision's owner is gone
// with its record, so the caller's role is checked as if it owned the
// decision (an applicant token stays bound to its decision).
func (s *Server) abortErased(c *gin.Context, action policy.Action, id transparency.ID) {
	if !s.authorize(c, action, callerOf(c).Subject, id.String()) {
		return
	}
	ctx := c.Request.Context()
	// Suggestions a crash left behind go now.
	_ = s.dropRecourse(ctx, id)
	info, err := s.ledger.Erasure(ctx, id)
	if err != nil && !errors.Is(err, transparency.ErrNotFound) {
		s.abortLedger(c, err, "")
		return
	}
	p := newProblem("erased", "the record of this decision was erased (crypto-shredded); its leaf and proofs remain in the log")
	if info != nil {
		p.Erasure = s.erasureView(ctx, id, info)
		p.Detail = fmt.Sprintf("the record of this decision was erased (crypto-shredded) on %s under %q, as erasure record %s says; its leaf and proofs remain in the log",
			p.Erasure.ErasedAt, p.Erasure.LegalBasis, p.Erasure.ID)
	}
	abortProblem(c, p)
}
