package api

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

// problemContentType is the media type of RFC 9457 problem documents.
const problemContentType = "application/problem+json"

// problemTypeBase prefixes the type URIs of glassbox's problems. The URIs
// are identifiers (RFC 9457 §3.1.1), documented in the OpenAPI description;
// a relative reference keeps every host name out of the responses.
const problemTypeBase = "/problems/"

// FieldError is one problem with one field of a request.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string       `json:"type"`
	Title    string       `json:"title"`
	Status   int          `json:"status"`
	Detail   string       `json:"detail,omitempty"`
	Instance string       `json:"instance,omitempty"`
	Errors   []FieldError `json:"errors,omitempty"`
	// RequestID lets a caller quote the request to an operator.
	RequestID string `json:"request_id,omitempty"`
	// Recorded lists the decisions of a batch that did reach the ledger
	// when others failed to.
	Recorded []RecordedDecision `json:"recorded,omitempty"`
	// Unknown lists the decisions whose append failed in a way that does
	// not tell whether the ledger has them (a remote log that timed out
	// after receiving the record, say): look each up by its id before
	// retrying.
	Unknown []UnknownDecision `json:"unknown,omitempty"`
	// ErasureRecord is, for an erased decision (410), the id of the
	// erasure record in the ledger.
	ErasureRecord string `json:"erasure_record,omitempty"`
}

// UnknownDecision is a decision that may or may not be in the ledger. Its
// id is the record's RFC 6962 leaf hash, so GET /v1/decisions/{id} (once
// integrated) or the log's entries find it if it was recorded.
type UnknownDecision struct {
	Index      int    `json:"index"`
	DecisionID string `json:"decision_id"`
}

// RecordedDecision is a decision of a failed batch that exists anyway.
type RecordedDecision struct {
	Index          int    `json:"index"`
	DecisionID     string `json:"decision_id"`
	ApplicantToken string `json:"applicant_token"`
}

// problemKinds maps a problem type to its title and status, so that one
// kind always has the same title and status wherever it is raised.
var problemKinds = map[string]struct {
	title  string
	status int
}{
	"bad-request":            {"Malformed request", http.StatusBadRequest},
	"invalid-query":          {"Invalid query parameter", http.StatusBadRequest},
	"invalid-id":             {"Invalid decision id", http.StatusBadRequest},
	"unauthenticated":        {"Authentication required", http.StatusUnauthorized},
	"token-expired":          {"Applicant token expired", http.StatusUnauthorized},
	"forbidden":              {"Forbidden", http.StatusForbidden},
	"not-found":              {"Not found", http.StatusNotFound},
	"method-not-allowed":     {"Method not allowed", http.StatusMethodNotAllowed},
	"payload-too-large":      {"Request body too large", http.StatusRequestEntityTooLarge},
	"unsupported-media-type": {"Unsupported media type", http.StatusUnsupportedMediaType},
	"validation":             {"Invalid request", http.StatusUnprocessableEntity},
	"policy-rejected":        {"Rejected by policy", http.StatusUnprocessableEntity},
	"not-integrated":         {"Not yet integrated", http.StatusNotFound},
	"foreign-leaf":           {"Foreign leaf", http.StatusNotFound},
	"erased":                 {"Decision erased", http.StatusGone},
	"not-erasable":           {"Decision cannot be erased", http.StatusConflict},
	"rate-limited":           {"Too many requests", http.StatusTooManyRequests},
	"internal":               {"Internal error", http.StatusInternalServerError},
	"ledger-unavailable":     {"Ledger unavailable", http.StatusServiceUnavailable},
	"not-ready":              {"Not ready", http.StatusServiceUnavailable},
	// Idempotency-Key (idempotency.go).
	"invalid-idempotency-key":   {"Invalid Idempotency-Key", http.StatusBadRequest},
	"idempotency-key-reused":    {"Idempotency-Key already used for another request", http.StatusConflict},
	"idempotency-key-in-flight": {"A request with this Idempotency-Key is in progress", http.StatusConflict},
	"idempotency-unavailable":   {"Idempotency store unavailable", http.StatusServiceUnavailable},
}

// newProblem builds a problem of a registered kind.
func newProblem(kind, detail string) *Problem {
	k, ok := problemKinds[kind]
	if !ok {
		k = problemKinds["internal"]
		kind = "internal"
	}
	return &Problem{Type: problemTypeBase + kind, Title: k.title, Status: k.status, Detail: detail}
}

// abortProblem writes p and stops the handler chain.
func abortProblem(c *gin.Context, p *Problem) {
	if p.RequestID == "" {
		p.RequestID = requestID(c)
	}
	if p.Status == http.StatusUnauthorized {
		if c.Writer.Header().Get("WWW-Authenticate") == "" {
			c.Header("WWW-Authenticate", `Bearer realm="glassbox"`)
		}
	}
	c.Header("Content-Type", problemContentType)
	c.Header("Cache-Control", "no-store")
	// c.JSON would overwrite the content type with application/json.
	c.Render(p.Status, problemRender{p})
	c.Abort()
}

func abortKind(c *gin.Context, kind, detail string) {
	abortProblem(c, newProblem(kind, detail))
}
