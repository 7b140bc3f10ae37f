// Package api is glassbox's HTTP interface: lenders submit loan
// applications, glassbox scores and explains them, policy decides, and the
// decision with its explanation is durably queued in the verifiable ledger
// before the answer leaves the server. The decision path itself is package
// decision; what happens after (final actions, notices sent, loan
// outcomes, the reviewer queue, the history) is lifecycle.go.
//
// The package declares the small interfaces it needs from the ledger and
// the policy engine (Ledger, Policy) and wires them into a Gin engine with
// authentication (API keys and applicant tokens), per-key rate limits,
// RFC 9457 problem documents, Prometheus metrics and an embedded OpenAPI
// 3.1 description (GET /openapi.json).
//
// # Credentials
//
// API keys are configured as "ROLE[/NAME]:KEY" entries separated by commas
// (GLASSBOX_API_KEYS). ROLE is lender, regulator or admin. NAME is the
// caller's identity (the subject policy sees, and the lender recorded in
// each decision); without it the subject is derived from the key as
// "ROLE-" followed by the first 8 hex digits of SHA-256(KEY), so the same
// key always maps to the same lender. A reviewer, a person at a lender who
// takes final actions (docs/lifecycle.md), is "reviewer/LENDER[/NAME]:KEY":
// its subject is the lender and NAME its own. Only SHA-256 digests of keys
// are kept in memory and they are compared in constant time.
//
// Applicant tokens are "gbt_" followed by base64url(decision id ‖
// HMAC-SHA256(token key, decision id)). They open one decision, and are
// checked with the token key alone, without any lookup.
package api
