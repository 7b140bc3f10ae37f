package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/api/idemstore"
)

// This file implements the Idempotency-Key request header of the IETF
// httpapi draft (draft-ietf-httpapi-idempotency-key-header) for the two
// endpoints that make decisions. The key is scoped to the caller (role and
// subject: one lender cannot see or block another's keys); the request's
// fingerprint is the SHA-256 of its method, path and body bytes.
//
//   - first use: the request is processed; a 201 is stored (durably, after
//     its decisions are in the ledger) before it is sent. Nothing else is
//     stored: a 4xx names a mistake the client must correct, and a 503
//     means no decision (or, for a batch, only the listed ones) was made.
//   - same key, same fingerprint, after completion: the stored response,
//     byte for byte, with status 201 and Idempotent-Replayed: true. No new
//     decision, no new leaf.
//   - same key, different fingerprint: 409 idempotency-key-reused (the
//     draft suggests 422; glassbox's contract is 409, with a type of its
//     own so clients can tell the cases apart).
//   - same key while the first request is still in progress (on this
//     replica): 409 idempotency-key-in-flight, with Retry-After.
//   - a malformed key: 400 invalid-idempotency-key.

// IdempotencyKeyHeader is the request header field.
const IdempotencyKeyHeader = "Idempotency-Key"

// maxIdempotencyKey bounds a key's length (a UUID is 36 characters).
const maxIdempotencyKey = 255

// idempotency is a server's idempotency state: the durable store of
// responses and the keys whose first request is still being processed.
type idempotency struct {
	store    *idemstore.Store
	mu       sync.Mutex
	inFlight map[string]struct{}
}

func newIdempotency(store *idemstore.Store) *idempotency {
	return &idempotency{store: store, inFlight: map[string]struct{}{}}
}

// idemRequest is a request that carries an Idempotency-Key and is being
// processed for the first time; a nil *idemRequest is a request without
// one.
type idemRequest struct {
	s           *Server
	scope, key  string
	fingerprint [sha256.Size]byte
}

// beginIdempotent handles the Idempotency-Key header of a request whose
// body is raw. It returns (nil, true) when there is no header, and false
// when it has answered the request itself (a replay or a problem).
// Otherwise the caller owns the key until it calls release, and answers
// through respond.
func (s *Server) beginIdempotent(c *gin.Context, raw []byte) (*idemRequest, bool) {
	values := c.Request.Header.Values(IdempotencyKeyHeader)
	if len(values) == 0 {
		return nil, true
	}
	if len(values) > 1 {
		abortKind(c, "invalid-idempotency-key", "send at most one Idempotency-Key header")
		return nil, false
	}
	key, err := parseIdempotencyKey(values[0])
	if err != nil {
		abortKind(c, "invalid-idempotency-key", err.Error())
		return nil, false
	}
	if s.idem.store == nil {
		abortKind(c, "invalid-idempotency-key", "this server keeps no idempotency keys; send the request without Idempotency-Key")
		return nil, false
	}
	who := callerOf(c)
	r := &idemRequest{s: s, scope: who.Role + ":" + who.Subject, key: key,
		fingerprint: requestFingerprint(c.Request.Method, c.Request.URL.Path, raw)}

	// The key is claimed before the store is read, and released only after
	// a response is stored: a second request either finds the claim (409)
	// or, once it is gone, the stored response.
	s.idem.mu.Lock()
	_, busy := s.idem.inFlight[r.mapKey()]
	if !busy {
		s.idem.inFlight[r.mapKey()] = struct{}{}
	}
	s.idem.mu.Unlock()
	if busy {
		c.Header("Retry-After", "1")
		abortKind(c, "idempotency-key-in-flight", "a request with this Idempotency-Key is still being processed; retry when it has been answered")
		return nil, false
	}
	stored, err := s.idem.store.Get(c.Request.Context(), r.scope, r.key)
	if err != nil {
		r.release()
		s.log.ErrorContext(c.Request.Context(), "idempotency store read failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
		c.Header("Retry-After", "1")
		abortKind(c, "idempotency-unavailable", "the idempotency store cannot be read; no decision was made")
		return nil, false
	}
	if stored == nil {
		return r, true
	}
	r.release()
	if stored.Fingerprint != r.fingerprint {
		abortKind(c, "idempotency-key-reused", "this Idempotency-Key was used for a different request (another body or endpoint); use a new key for a new request")
		return nil, false
	}
	c.Header("Idempotent-Replayed", "true")
	c.Data(stored.Status, stored.ContentType, stored.Body)
	c.Abort()
	return nil, false
}

func (r *idemRequest) mapKey() string { return r.scope + "\x00" + r.key }

// release gives up the claim on the key; it is deferred by the handler,
// so it runs after respond has stored the response.
func (r *idemRequest) release() {
	if r == nil {
		return
	}
	r.s.idem.mu.Lock()
	delete(r.s.idem.inFlight, r.mapKey())
	r.s.idem.mu.Unlock()
}

// respond sends v as JSON with status, first storing it under the key.
// It is called only when the decisions are durably in the ledger. If the
// store cannot be written the decisions still exist, so the answer is
// still sent (an error would invite a retry); the key is then not
// remembered, which is logged.
func (r *idemRequest) respond(c *gin.Context, status int, v any) {
	if r == nil {
		c.JSON(status, v)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		// Not reached for receipts; the decisions exist, so answer anyway.
		r.s.log.ErrorContext(c.Request.Context(), "encoding response", slog.Any("err", err))
		c.JSON(status, v)
		return
	}
	const contentType = "application/json; charset=utf-8" // as c.JSON writes
	// The client may have gone; the response must be stored regardless.
	ctx := context.WithoutCancel(c.Request.Context())
	if err := r.s.idem.store.Put(ctx, r.scope, r.key, idemstore.Response{
		Fingerprint: r.fingerprint, Status: status, ContentType: contentType, Body: body,
	}); err != nil {
		r.s.log.ErrorContext(ctx, "idempotency store write failed: a retry with this key will make new decisions",
			slog.String("request_id", requestID(c)), slog.Any("err", err))
	}
	c.Data(status, contentType, body)
}

// requestFingerprint identifies a request for idempotency: its method,
// path (so a key used on one endpoint does not match another) and body
// bytes. The query is left out: ?wait=integrated changes how long the
// answer takes, not which decision is made.
func requestFingerprint(method, path string, body []byte) [sha256.Size]byte {
	h := sha256.New()
	fmt.Fprintf(h, "%s %s\n", method, path)
	h.Write(body)
	var fp [sha256.Size]byte
	h.Sum(fp[:0])
	return fp
}

// parseIdempotencyKey reads the header's value: an RFC 8941 sf-string
// (the draft's syntax), e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324" with
// the quotes, of 1 to 255 printable ASCII characters.
func parseIdempotencyKey(v string) (string, error) {
	const form = `the Idempotency-Key must be a quoted string (RFC 8941 sf-string) of 1 to 255 printable ASCII characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324"`
	v = strings.Trim(v, " \t")
	if len(v) < 2 || v[0] != '"' {
		return "", errors.New(form)
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			i++
			if i == len(v) || (v[i] != '"' && v[i] != '\\') {
				return "", errors.New(form + `; inside it, \ may only escape " and \`)
			}
			b.WriteByte(v[i])
		case c == '"':
			if i != len(v)-1 {
				return "", errors.New(form + "; nothing may follow the closing quote")
			}
			if b.Len() == 0 || b.Len() > maxIdempotencyKey {
				return "", errors.New(form)
			}
			return b.String(), nil
		case c < 0x20 || c > 0x7e:
			return "", errors.New(form)
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New(form + "; the closing quote is missing")
}
