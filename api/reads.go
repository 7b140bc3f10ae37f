package api

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// Defaults for GET /v1/ledger/entries.
const (
	defaultEntries = 100
	maxEntries     = transparency.MaxEntriesPerRequest
)

// checkQuery refuses query parameters other than allowed (and token,
// which authentication reads).
func checkQuery(c *gin.Context, allowed ...string) bool {
	for k, vs := range c.Request.URL.Query() {
		if k != "token" && !slices.Contains(allowed, k) {
			abortKind(c, "invalid-query", fmt.Sprintf("unknown query parameter %q", k))
			return false
		}
		if len(vs) > 1 {
			abortKind(c, "invalid-query", fmt.Sprintf("query parameter %q is given %d times", k, len(vs)))
			return false
		}
	}
	return true
}

// uintParam parses an optional non-negative integer query parameter.
func uintParam(c *gin.Context, name string, min uint64) (v uint64, present, ok bool) {
	s, present := c.GetQuery(name)
	if !present {
		return 0, false, true
	}
	v, err := strconv.ParseUint(s, 10, 63)
	if err != nil || v < min {
		abortKind(c, "invalid-query", fmt.Sprintf("%s must be an integer of at least %d", name, min))
		return 0, true, false
	}
	return v, true, true
}

// abortLedger maps ledger errors: bad arguments are the caller's, a
// missing record is 404, anything else means the ledger cannot answer.
func (s *Server) abortLedger(c *gin.Context, err error, notFound string) {
	switch {
	case errors.Is(err, transparency.ErrInvalidArgument):
		abortKind(c, "invalid-query", strings.TrimPrefix(err.Error(), "invalid argument: "))
	case errors.Is(err, transparency.ErrNotFound):
		abortKind(c, "not-found", notFound)
	case errors.Is(err, transparency.ErrInconsistent):
		s.log.ErrorContext(c.Request.Context(), "LEDGER INCONSISTENT", slog.Any("err", err))
		abortKind(c, "internal", "the ledger failed a consistency check; the operator has been alerted")
	default:
		s.log.ErrorContext(c.Request.Context(), "ledger call failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
		c.Header("Retry-After", "1")
		abortKind(c, "ledger-unavailable", "the ledger cannot answer right now; retry later")
	}
}

// loadDecision reads the decision named in the path and asks policy
// whether the caller may perform action on it. The owner comes from the
// record itself: the ledger is the only store.
func (s *Server) loadDecision(c *gin.Context, action policy.Action) (*transparency.Entry, *transparency.Record, bool) {
	// An anonymous caller learns nothing, not even whether the id is
	// well-formed, unless policy lets anonymous callers in.
	if callerOf(c).Role == "" && !s.authorize(c, action, "", "") {
		return nil, nil, false
	}
	id, err := transparency.ParseID(c.Param("id"))
	if err != nil {
		abortKind(c, "invalid-id", "a decision id is 64 hexadecimal digits")
		return nil, nil, false
	}
	entry, err := s.ledger.GetEntry(c.Request.Context(), id)
	if err != nil {
		s.abortLedger(c, err, "no decision with this id")
		return nil, nil, false
	}
	if entry.Erased {
		// The leaf stays and so does its proof, which reveals nothing of
		// the record; every other read answers 410. With the record gone
		// there is no lender to match, so only callers entitled to any
		// decision (or bound to this one) get the proof.
		if action == policy.ActionDecisionsProof {
			return entry, nil, s.authorize(c, action, "", id.String())
		}
		abortErased(c, entry)
		return nil, nil, false
	}
	if entry.Foreign {
		s.log.WarnContext(c.Request.Context(), "read of a foreign leaf", slog.String("id", id.String()))
		abortKind(c, "foreign-leaf", "the log holds a leaf with this id, but this ledger did not write it (its authenticator does not verify): it is not a decision")
		return nil, nil, false
	}
	rec, err := transparency.DecodeRecord(entry.Record)
	if err != nil {
		s.log.ErrorContext(c.Request.Context(), "ledger entry does not decode", slog.String("id", id.String()), slog.Any("err", err))
		abortKind(c, "internal", "the ledger entry could not be read")
		return nil, nil, false
	}
	if rec.Type != transparency.TypeDecision {
		abortKind(c, "not-found", "no decision with this id")
		return nil, nil, false
	}
	if !s.authorize(c, action, rec.Decision.Lender, id.String()) {
		return nil, nil, false
	}
	return entry, rec, true
}

// getDecision: GET /v1/decisions/{id}.
func (s *Server) getDecision(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	entry, rec, ok := s.loadDecision(c, policy.ActionDecisionsRead)
	if !ok {
		return
	}
	d := s.decisionView(c.Request.Context(), entry, rec)
	d.Record = base64.StdEncoding.EncodeToString(entry.Data)
	d.LeafFormat, d.CommittedRecord, d.Salt = committedView(entry)
	c.JSON(http.StatusOK, d)
}

// decisionView shows a logged decision: what the record holds, plus the
// attributions recomputed from the logged features when policy kept them
// out of the ledger (the model is deterministic, so they are the same).
func (s *Server) decisionView(ctx context.Context, entry *transparency.Entry, rec *transparency.Record) decisionJSON {
	d := rec.Decision
	omitted := map[string]bool{}
	for _, f := range rec.Omitted() {
		omitted[f] = true
	}
	v := decisionJSON{
		DecisionID: entry.ID.String(),
		CreatedAt:  rec.Timestamp.UTC().Format(timeLayout),
		Reasons:    []reasonJSON{},
		Ledger: ledgerJSON{
			TreeID:   s.ledger.TreeID(),
			Status:   string(entry.Status),
			QueuedAt: rec.Timestamp.UTC().Format(timeLayout),
		},
	}
	if entry.Status == transparency.StatusIntegrated {
		v.Ledger.LeafIndex = ptr(entry.Index)
	}
	if !omitted["application_id"] {
		v.ApplicationID = ptr(d.ApplicationID)
	}
	if !omitted["lender"] {
		v.Lender = ptr(d.Lender)
	}
	if !omitted["decision"] {
		v.Decision = ptr(d.Decision)
	}
	if !omitted["probability_of_default"] {
		v.ProbabilityOfDefault = ptr(d.ProbabilityOfDefault)
	}
	if !omitted["score"] {
		v.Score = ptr(d.Score)
	}
	if !omitted["model"] {
		v.Model = &modelRefJSON{ID: d.Model.ID, SHA256: d.Model.SHA256}
	}
	if !omitted["policy"] {
		v.Policy = &policyRefJSON{Revision: d.Policy.Revision}
	}
	if !omitted["reason_method"] {
		v.ReasonMethod = ptr(d.ReasonMethod)
	}
	for _, r := range d.Reasons {
		v.Reasons = append(v.Reasons, reasonView(r))
	}
	if !omitted["features"] {
		v.Features = make(map[string]any, len(d.Features))
		for k, f := range d.Features {
			v.Features[k] = featureJSON(f)
		}
	}
	if !omitted["attributions"] {
		v.Attributions = d.Attributions
	}
	if !omitted["expected_value"] {
		v.ExpectedValue = ptr(d.ExpectedValue)
	}
	if v.Attributions == nil || v.ExpectedValue == nil {
		if attr, ev, ok := s.replay(ctx, rec, omitted); ok {
			v.Attributions, v.ExpectedValue = attr, ptr(ev)
		}
	}
	return v
}

// replay recomputes the attributions of a logged decision from its
// logged features, when the record names a model served here with the
// same SHA-256.
func (s *Server) replay(ctx context.Context, rec *transparency.Record, omitted map[string]bool) (map[string]float64, float64, bool) {
	d := rec.Decision
	if omitted["features"] || omitted["model"] {
		return nil, 0, false
	}
	sm := s.models[d.Model.ID]
	if sm == nil || sm.model.SHA256 != d.Model.SHA256 {
		return nil, 0, false
	}
	x, err := sm.model.Vectorize(d.Inputs())
	if err != nil {
		s.log.WarnContext(ctx, "logged features do not validate against the model", slog.String("model", d.Model.ID), slog.Any("err", err))
		return nil, 0, false
	}
	out := make([]float64, sm.model.NumFeatures()+1)
	if err := sm.explainer.TreeSHAP.Explain(x, out); err != nil {
		s.log.WarnContext(ctx, "replaying explanation failed", slog.Any("err", err))
		return nil, 0, false
	}
	attr := make(map[string]float64, len(x))
	for i, f := range sm.model.Manifest.Features {
		attr[f.Name] = out[i]
	}
	return attr, out[len(x)], true
}

type (
	scoreJSON struct {
		Value          float64 `json:"value"`
		Min            float64 `json:"min"`
		Max            float64 `json:"max"`
		HigherIsBetter bool    `json:"higher_is_better"`
	}
	contributionJSON struct {
		Feature      string  `json:"feature"`
		Description  string  `json:"description,omitempty"`
		Value        any     `json:"value"`
		Contribution float64 `json:"contribution"`
		Effect       string  `json:"effect"`
	}
	explanationJSON struct {
		DecisionID           string             `json:"decision_id"`
		CreatedAt            string             `json:"created_at"`
		Decision             string             `json:"decision,omitempty"`
		Summary              string             `json:"summary"`
		ProbabilityOfDefault *float64           `json:"probability_of_default,omitempty"`
		Score                *scoreJSON         `json:"score,omitempty"`
		ReasonMethod         *string            `json:"reason_method,omitempty"`
		Reasons              []reasonJSON       `json:"reasons"`
		Contributions        []contributionJSON `json:"contributions"`
		ExpectedValue        *float64           `json:"expected_value,omitempty"`
		Model                *modelRefJSON      `json:"model,omitempty"`
		Policy               *policyRefJSON     `json:"policy,omitempty"`
		// Counterfactuals are verified changes under which the
		// application would have been approved (empty for an approval,
		// or when none exists: then Recourse says so plainly). They are
		// computed once, stored and recorded in the ledger as the
		// "recourse" record RecourseRecord.
		Counterfactuals []explain.Counterfactual `json:"counterfactuals"`
		RecourseRecord  string                   `json:"recourse_record,omitempty"`
		Recourse        string                   `json:"recourse,omitempty"`
	}
)

// getExplanation: GET /v1/decisions/{id}/explanation, the
// plain-language account for the applicant.
func (s *Server) getExplanation(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	entry, rec, ok := s.loadDecision(c, policy.ActionDecisionsExplanation)
	if !ok {
		return
	}
	v := s.decisionView(c.Request.Context(), entry, rec)
	e := explanationJSON{
		DecisionID:           v.DecisionID,
		CreatedAt:            v.CreatedAt,
		ProbabilityOfDefault: v.ProbabilityOfDefault,
		ReasonMethod:         v.ReasonMethod,
		Reasons:              v.Reasons,
		Contributions:        []contributionJSON{},
		ExpectedValue:        v.ExpectedValue,
		Model:                v.Model,
		Policy:               v.Policy,
	}
	if v.Decision != nil {
		e.Decision = *v.Decision
	}
	var sm *servedModel
	if v.Model != nil {
		sm = s.models[v.Model.ID]
	}
	// The range comes from the model's scale: without the model no range
	// can be stated, and a score without its range means nothing.
	if v.Score != nil && sm != nil {
		sc := sm.model.Scale()
		e.Score = &scoreJSON{Value: *v.Score, Min: sc.Min, Max: sc.Max, HigherIsBetter: true}
	}
	for name, contribution := range v.Attributions {
		cj := contributionJSON{Feature: name, Contribution: contribution, Value: v.Features[name], Effect: effect(contribution)}
		if sm != nil {
			if i := sm.model.Manifest.FeatureIndex(name); i >= 0 {
				cj.Description = sm.model.Manifest.Features[i].Description
			}
		}
		e.Contributions = append(e.Contributions, cj)
	}
	sort.Slice(e.Contributions, func(i, j int) bool {
		a, b := math.Abs(e.Contributions[i].Contribution), math.Abs(e.Contributions[j].Contribution)
		if a != b {
			return a > b
		}
		return e.Contributions[i].Feature < e.Contributions[j].Feature
	})
	e.Summary = summary(e)
	rv := s.recourseFor(c.Request.Context(), entry, rec)
	e.Counterfactuals, e.RecourseRecord, e.Recourse = rv.Counterfactuals, rv.RecordID, rv.Message
	c.JSON(http.StatusOK, e)
}

func effect(contribution float64) string {
	switch {
	case contribution > 0:
		return "raised the estimated risk"
	case contribution < 0:
		return "lowered the estimated risk"
	}
	return "no effect"
}

func summary(e explanationJSON) string {
	var b strings.Builder
	switch e.Decision {
	case "approve":
		b.WriteString("Your application was approved.")
	case "refer":
		b.WriteString("Your application was referred to a credit officer for review.")
	case "decline":
		b.WriteString("Your application was declined.")
	case "incomplete":
		b.WriteString("Your application is incomplete: no decision was made.")
	default:
		b.WriteString("A decision was made on your application.")
	}
	if e.Score != nil {
		fmt.Fprintf(&b, " Your credit score is %.0f on a scale from %.0f to %.0f, where higher is better.", e.Score.Value, e.Score.Min, e.Score.Max)
	}
	if len(e.Reasons) > 0 && e.Decision == "incomplete" {
		b.WriteString(" What is missing: ")
		for i, r := range e.Reasons {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(r.Text)
		}
		b.WriteString(".")
	} else if len(e.Reasons) > 0 {
		b.WriteString(" The principal reasons were: ")
		for i, r := range e.Reasons {
			if i > 0 {
				b.WriteString("; ")
			}
			b.WriteString(r.Text)
		}
		b.WriteString(".")
	}
	return b.String()
}

// getProof: GET /v1/decisions/{id}/proof[?tree_size=N].
func (s *Server) getProof(c *gin.Context) {
	if !checkQuery(c, "tree_size") {
		return
	}
	treeSize, _, ok := uintParam(c, "tree_size", 1)
	if !ok {
		return
	}
	entry, _, ok := s.loadDecision(c, policy.ActionDecisionsProof)
	if !ok {
		return
	}
	p, err := s.ledger.InclusionProof(c.Request.Context(), entry.ID, treeSize)
	if err != nil {
		if errors.Is(err, transparency.ErrNotFound) {
			c.Header("Retry-After", "1")
			abortKind(c, "not-integrated", "the decision is not in the tree of that size yet (it may still be queued)")
			return
		}
		s.abortLedger(c, err, "")
		return
	}
	r := receiptJSON{DecisionID: entry.ID.String(), Record: base64.StdEncoding.EncodeToString(entry.Data), proofJSON: proofView(p)}
	r.LeafFormat, r.CommittedRecord, r.Salt = committedView(entry)
	c.JSON(http.StatusOK, r)
}

// checkpoint: GET /v1/ledger/checkpoint, the latest signed note.
func (s *Server) checkpoint(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	cp, err := s.ledger.LatestCheckpoint(c.Request.Context())
	if err != nil || cp == nil {
		if err == nil {
			err = errors.New("no checkpoint yet")
		}
		s.abortLedger(c, err, "")
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "text/plain; charset=utf-8", cp.Note)
}

// publicKey: GET /v1/ledger/public-key, the note verifier key.
func (s *Server) publicKey(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	c.Data(http.StatusOK, "text/plain; charset=utf-8", []byte(s.ledger.VerifierKey()+"\n"))
}

type consistencyJSON struct {
	First            uint64   `json:"first"`
	Second           uint64   `json:"second"`
	Hashes           []string `json:"hashes"`
	FirstCheckpoint  string   `json:"first_checkpoint,omitempty"`
	SecondCheckpoint string   `json:"second_checkpoint,omitempty"`
}

// receiptJSON is the proof endpoint's answer: everything needed to check
// the decision offline (glassbox audit verify-receipt, the applicant page).
type receiptJSON struct {
	DecisionID string `json:"decision_id"`
	Record     string `json:"record"`
	// LeafFormat, CommittedRecord and Salt: see committedView.
	LeafFormat      int    `json:"leaf_format"`
	CommittedRecord string `json:"committed_record,omitempty"`
	Salt            string `json:"salt,omitempty"`
	*proofJSON
}

// committedView is what a reader needs to open a format 2 leaf: the leaf
// format, and for format 2 the full record (base64) and the salt (hex) of
// the leaf's commitment, SHA-256(salt ‖ record). For format 1 the leaf
// (record) is the record itself.
func committedView(e *transparency.Entry) (format int, record, salt string) {
	if e.Format != transparency.EnvelopeFormat || e.Record == nil {
		return e.Format, "", ""
	}
	return e.Format, base64.StdEncoding.EncodeToString(e.Record), hex.EncodeToString(e.Salt)
}

// consistency: GET /v1/ledger/consistency?first=A&second=B.
func (s *Server) consistency(c *gin.Context) {
	if !checkQuery(c, "first", "second") {
		return
	}
	first, hasFirst, ok := uintParam(c, "first", 0)
	if !ok {
		return
	}
	second, hasSecond, ok := uintParam(c, "second", 1)
	if !ok {
		return
	}
	if !hasFirst || !hasSecond {
		abortKind(c, "invalid-query", "first and second are required")
		return
	}
	if first > second {
		abortKind(c, "invalid-query", "first may not exceed second")
		return
	}
	p, err := s.ledger.ConsistencyProof(c.Request.Context(), first, second)
	if err != nil {
		s.abortLedger(c, err, "")
		return
	}
	out := consistencyJSON{First: p.First, Second: p.Second, Hashes: make([]string, len(p.Hashes))}
	for i, h := range p.Hashes {
		out.Hashes[i] = hex.EncodeToString(h)
	}
	if p.FirstCheckpoint != nil {
		out.FirstCheckpoint = string(p.FirstCheckpoint.Note)
	}
	if p.SecondCheckpoint != nil {
		out.SecondCheckpoint = string(p.SecondCheckpoint.Note)
	}
	c.JSON(http.StatusOK, out)
}

type (
	entryJSON struct {
		Index uint64 `json:"index"`
		ID    string `json:"id"`
		Type  string `json:"type"`
		Data  string `json:"data"`
		// Format is the leaf format (0: foreign); CommittedRecord and
		// Salt open a format 2 leaf (committedView).
		Format          int    `json:"format"`
		CommittedRecord string `json:"committed_record,omitempty"`
		Salt            string `json:"salt,omitempty"`
		Foreign         bool   `json:"foreign,omitempty"`
		Erased          bool   `json:"erased,omitempty"`
	}
	entriesJSON struct {
		Start   uint64      `json:"start"`
		Entries []entryJSON `json:"entries"`
	}
)

// entries: GET /v1/ledger/entries?start=S&count=C.
func (s *Server) entries(c *gin.Context) {
	if !checkQuery(c, "start", "count") {
		return
	}
	start, hasStart, ok := uintParam(c, "start", 0)
	if !ok {
		return
	}
	if !hasStart {
		abortKind(c, "invalid-query", "start is required")
		return
	}
	count, hasCount, ok := uintParam(c, "count", 1)
	if !ok {
		return
	}
	if !hasCount {
		count = defaultEntries
	}
	if count > maxEntries {
		abortKind(c, "invalid-query", fmt.Sprintf("count may be at most %d", maxEntries))
		return
	}
	es, err := s.ledger.Entries(c.Request.Context(), start, int(count))
	if err != nil {
		s.abortLedger(c, err, "")
		return
	}
	out := entriesJSON{Start: start, Entries: make([]entryJSON, len(es))}
	for i, e := range es {
		ej := entryJSON{Index: e.Index, ID: e.ID.String(), Type: string(e.Type), Data: base64.StdEncoding.EncodeToString(e.Data), Foreign: e.Foreign, Erased: e.Erased}
		ej.Format, ej.CommittedRecord, ej.Salt = committedView(&e)
		out.Entries[i] = ej
	}
	c.JSON(http.StatusOK, out)
}

type modelsJSON struct {
	Default string `json:"default"`
	Models  []any  `json:"models"`
}

// listModels: GET /v1/models.
func (s *Server) listModels(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	out := modelsJSON{Default: s.defaultModel, Models: make([]any, len(s.modelIDs))}
	for i, id := range s.modelIDs {
		out.Models[i] = s.models[id].model.Manifest
	}
	c.JSON(http.StatusOK, out)
}

// getModel: GET /v1/models/{id}.
func (s *Server) getModel(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	sm := s.models[c.Param("id")]
	if sm == nil {
		abortKind(c, "not-found", "no model with this id")
		return
	}
	c.JSON(http.StatusOK, sm.model.Manifest)
}

// livez: the process answers; no dependency is checked.
func (s *Server) livez(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz: the ledger answers, models are admitted and policy is loaded.
func (s *Server) readyz(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	checks := map[string]string{"ledger": "ok", "models": "ok", "policy": "ok"}
	var failed []string
	if err := s.ledgerReady(ctx); err != nil {
		checks["ledger"] = "unavailable"
		failed = append(failed, "ledger: "+err.Error())
	}
	if len(s.models) == 0 {
		checks["models"] = "none admitted"
		failed = append(failed, "models: none admitted")
	}
	if s.policy.Revision() == "" {
		checks["policy"] = "not loaded"
		failed = append(failed, "policy: not loaded")
	}
	if len(failed) > 0 {
		// The ledger repairs itself (a freed disk is noticed within a
		// second or so), so a short retry is right.
		c.Header("Retry-After", "1")
		abortKind(c, "not-ready", strings.Join(failed, "; "))
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "checks": checks})
}

// ledgerReady asks the ledger whether its log answers.
func (s *Server) ledgerReady(ctx context.Context) error { return s.ledger.Ready(ctx) }
