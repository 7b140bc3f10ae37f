package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// maxRequester bounds the requester of an erasure, in bytes.
const maxRequester = 200

// erasureJSON answers an erasure request.
type erasureJSON struct {
	DecisionID    string `json:"decision_id"`
	ErasureRecord string `json:"erasure_record"`
	AlreadyErased bool   `json:"already_erased"`
}

// eraseDecision: POST /v1/decisions/{id}/erasure. The record the
// decision's leaf commits to is crypto-shredded and an erasure record
// (decision id, legal basis, time) is logged; the leaf and every proof
// stay. The requester goes to the service's log, not the ledger: it may
// name the data subject. Repeating the request is safe and answers the
// same erasure record.
func (s *Server) eraseDecision(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	id, err := transparency.ParseID(c.Param("id"))
	if err != nil {
		abortKind(c, "invalid-id", "a decision id is 64 hexadecimal digits")
		return
	}
	body, _, err := readJSONBody(c, s.cfg.MaxBodyBytes)
	if err != nil {
		abortBody(c, err)
		return
	}
	basis, requester, errs := parseErasure(body)
	if len(errs) > 0 {
		abortValidation(c, "the erasure request is not valid; nothing was erased", errs)
		return
	}
	ctx := c.Request.Context()
	res, err := s.ledger.Erase(ctx, id, basis, s.now())
	switch {
	case errors.Is(err, transparency.ErrNotErasable):
		abortKind(c, "not-erasable", "this decision was logged in clear (leaf format 1): its record is the leaf itself and cannot be erased")
		return
	case errors.Is(err, transparency.ErrForeign):
		abortKind(c, "foreign-leaf", "the log holds a leaf with this id, but this ledger did not write it: it is not a decision")
		return
	case err != nil:
		s.abortLedger(c, err, "no decision with this id")
		return
	}
	// The recourse shown for the decision holds the applicant's values
	// too: its record and its stored suggestions go with it. Failing
	// that, the request can be repeated.
	if err := s.eraseRecourse(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "erasing the recourse of an erased decision", slog.String("request_id", requestID(c)), slog.String("decision_id", id.String()), slog.Any("err", err))
		c.Header("Retry-After", "1")
		abortKind(c, "ledger-unavailable", "the decision's record was erased but the recourse shown for it could not be; repeat the request")
		return
	}
	// So do the applicant's contests of it (lifecycle.go).
	if err := s.eraseContests(ctx, id); err != nil {
		s.log.ErrorContext(ctx, "erasing the contests of an erased decision", slog.String("request_id", requestID(c)), slog.String("decision_id", id.String()), slog.Any("err", err))
		c.Header("Retry-After", "1")
		abortKind(c, "ledger-unavailable", "the decision's record was erased but the contests of it could not be; repeat the request")
		return
	}
	s.log.InfoContext(ctx, "decision erased", slog.String("request_id", requestID(c)), slog.String("decision_id", id.String()),
		slog.String("erasure_record", res.Record.String()), slog.String("legal_basis", basis), slog.String("requester", requester),
		slog.Bool("already_erased", res.Already))
	c.JSON(http.StatusOK, erasureJSON{DecisionID: id.String(), ErasureRecord: res.Record.String(), AlreadyErased: res.Already})
}

// parseErasure reads {"legal_basis": "...", "requester": "..."}.
func parseErasure(body any) (basis, requester string, errs []FieldError) {
	obj, ok := body.(map[string]any)
	if !ok {
		return "", "", []FieldError{{Field: "", Message: "must be an object, not " + jsonType(body)}}
	}
	for _, k := range sortedKeys(obj) {
		if k != "legal_basis" && k != "requester" {
			errs = append(errs, FieldError{Field: k, Message: "unknown field; allowed: legal_basis, requester"})
		}
	}
	str := func(name string, limit int) string {
		v, present := obj[name]
		s, isStr := v.(string)
		switch {
		case !present:
			errs = append(errs, FieldError{Field: name, Message: "required"})
		case !isStr:
			errs = append(errs, FieldError{Field: name, Message: "must be a string, not " + jsonType(v)})
		case s == "" || len(s) > limit || !utf8.ValidString(s):
			errs = append(errs, FieldError{Field: name, Message: "must be 1 to " + strconv.Itoa(limit) + " bytes"})
		}
		return s
	}
	basis = str("legal_basis", transparency.MaxLegalBasis)
	requester = str("requester", maxRequester)
	return basis, requester, errs
}

// abortErased answers a read of an erased decision: 410, naming the
// erasure record.
func abortErased(c *gin.Context, e *transparency.Entry) {
	p := newProblem("erased", "the record of this decision was erased; its leaf and proofs remain in the ledger")
	if e.ErasureRecord != (transparency.ID{}) {
		p.ErasureRecord = e.ErasureRecord.String()
		p.Detail += "; the erasure record is " + p.ErasureRecord
	}
	abortProblem(c, p)
}

// eraseRecourse erases the recourse record of a decision and removes the
// suggestions kept for it, if there are any.
func (s *Server) eraseRecourse(ctx context.Context, id transparency.ID) error {
	e, ok, err := s.recourse.Get(ctx, id.String())
	if err != nil || !ok {
		return err
	}
	if rid, err := transparency.ParseID(e.RecordID); err == nil && transparency.LeafFormat(e.Record) == transparency.EnvelopeFormat {
		if _, err := s.ledger.EraseRecord(ctx, rid); err != nil && !errors.Is(err, transparency.ErrNotFound) {
			return err
		}
	}
	_, err = s.recourse.Delete(ctx, id.String())
	return err
}
