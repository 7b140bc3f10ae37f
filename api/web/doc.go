// Package web renders glassbox's server-side HTML pages: the applicant's
// decision page and the regulator's audit page.
//
// Both pages are self-contained: templates, CSS and JavaScript are embedded
// in the binary and inlined into the page, so nothing is fetched from
// another origin and the page works behind a strict Content-Security-Policy
// (see ContentSecurityPolicy and SetHeaders). Charts are SVG drawn on the
// server, so they appear even when scripts are off.
//
// The pages do not ask the reader to trust the server that renders them.
// Their script (verify.js, also available on its own through VerifyScript)
// fetches the ledger's proofs and public key and checks them in the browser
// with WebCrypto: the RFC 6962 leaf hash of the record bytes, the inclusion
// or consistency proof against a checkpoint root, and the checkpoint's
// Ed25519 signed-note signature.
//
// The package knows nothing about routing or authentication; the api
// package decides who may see which page and supplies the view models
// (DecisionPage, AuditPage).
package web
