package api

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// appendConcurrency bounds the concurrent ledger appends, and waits for
// integration, of one batch; the ledger's storage commits concurrent
// appends together.
const appendConcurrency = 32

// scored is an application carried through scoring, policy and the
// ledger.
type scored struct {
	app     *application
	lender  string
	raw, pd float64
	score   float64
	contrib []float64 // per feature, then the expected value
	reasons []explain.Reason
	// reasonMethod is how the reasons were chosen (explain.Method*).
	reasonMethod string
	outcome      policy.Outcome
	sealed       transparency.Sealed
	id           transparency.ID
	queuedAt     time.Time
	proof        *transparency.InclusionProof
}

// Response shapes. Pointers mark members a ledger record may lack (policy
// decides which decision fields are logged), so a decision read back shows
// exactly what the ledger holds.
type (
	// reasonJSON is the reason object of the contract: feature,
	// contribution, direction, reference and rule are null where they do
	// not apply (and, in records written before they existed, direction,
	// reference and rule).
	reasonJSON struct {
		Code         string   `json:"code"`
		Feature      *string  `json:"feature"`
		Value        any      `json:"value"`
		Text         string   `json:"text"`
		Contribution *float64 `json:"contribution"`
		Direction    *string  `json:"direction"`
		Reference    any      `json:"reference"`
		Rule         *string  `json:"rule"`
	}
	modelRefJSON struct {
		ID     string `json:"id"`
		SHA256 string `json:"sha256"`
	}
	policyRefJSON struct {
		Revision string `json:"revision"`
	}
	proofJSON struct {
		LeafIndex  uint64   `json:"leaf_index"`
		TreeSize   uint64   `json:"tree_size"`
		Hashes     []string `json:"hashes"`
		Checkpoint string   `json:"checkpoint,omitempty"`
	}
	ledgerJSON struct {
		TreeID         int64      `json:"tree_id"`
		Status         string     `json:"status"`
		QueuedAt       string     `json:"queued_at"`
		LeafIndex      *uint64    `json:"leaf_index,omitempty"`
		InclusionProof *proofJSON `json:"inclusion_proof,omitempty"`
		Checkpoint     string     `json:"checkpoint,omitempty"`
	}
	decisionJSON struct {
		DecisionID           string             `json:"decision_id"`
		ApplicationID        *string            `json:"application_id,omitempty"`
		Lender               *string            `json:"lender,omitempty"`
		CreatedAt            string             `json:"created_at"`
		Decision             *string            `json:"decision,omitempty"`
		ProbabilityOfDefault *float64           `json:"probability_of_default,omitempty"`
		Score                *float64           `json:"score,omitempty"`
		ReasonMethod         *string            `json:"reason_method,omitempty"`
		Reasons              []reasonJSON       `json:"reasons"`
		Attributions         map[string]float64 `json:"attributions,omitempty"`
		ExpectedValue        *float64           `json:"expected_value,omitempty"`
		Features             map[string]any     `json:"features,omitempty"`
		Model                *modelRefJSON      `json:"model,omitempty"`
		Policy               *policyRefJSON     `json:"policy,omitempty"`
		Ledger               ledgerJSON         `json:"ledger"`
		// ApplicantToken is set in the scoring response only.
		ApplicantToken string `json:"applicant_token,omitempty"`
		// Record is the exact leaf bytes (reads only).
		Record string `json:"record,omitempty"`
		// LeafFormat, CommittedRecord and Salt open a format 2 leaf
		// (reads only; see committedView).
		LeafFormat      int    `json:"leaf_format,omitempty"`
		CommittedRecord string `json:"committed_record,omitempty"`
		Salt            string `json:"salt,omitempty"`
	}
	batchJSON struct {
		Decisions []decisionJSON `json:"decisions"`
	}
)

func ptr[T any](v T) *T { return &v }

const timeLayout = time.RFC3339Nano

// createDecision scores one application: POST /v1/decisions.
func (s *Server) createDecision(c *gin.Context) {
	wait, ok := waitParam(c)
	if !ok {
		return
	}
	body, raw, err := readJSONBody(c, s.cfg.MaxBodyBytes)
	if err != nil {
		abortBody(c, err)
		return
	}
	idem, ok := s.beginIdempotent(c, raw)
	if !ok {
		return
	}
	defer idem.release()
	app, errs := s.parseApplication(body, "")
	if len(errs) > 0 {
		abortValidation(c, "the application is not valid", errs)
		return
	}
	who := callerOf(c)
	sc, err := s.score(c.Request.Context(), app, who.Subject)
	if err != nil {
		s.abortScoring(c, err, "")
		return
	}
	if !s.appendAll(c, []*scored{sc}, wait) {
		return
	}
	idem.respond(c, http.StatusCreated, s.receipt(sc))
}

// createBatch scores up to MaxBatch applications: POST
// /v1/decisions/batch. Every application is validated, scored and
// checked by policy before any is logged, so a bad one costs nothing.
func (s *Server) createBatch(c *gin.Context) {
	wait, ok := waitParam(c)
	if !ok {
		return
	}
	body, raw, err := readJSONBody(c, s.cfg.MaxBatchBytes)
	if err != nil {
		abortBody(c, err)
		return
	}
	idem, ok := s.beginIdempotent(c, raw)
	if !ok {
		return
	}
	defer idem.release()
	obj, isObj := body.(map[string]any)
	if !isObj {
		abortValidation(c, "the batch is not valid", []FieldError{{Field: "", Message: "must be an object, not " + jsonType(body)}})
		return
	}
	var errs []FieldError
	for _, k := range sortedKeys(obj) {
		if k != "applications" {
			errs = append(errs, FieldError{Field: k, Message: "unknown field; allowed: applications"})
		}
	}
	list, isList := obj["applications"].([]any)
	switch _, present := obj["applications"]; {
	case !present:
		errs = append(errs, FieldError{Field: "applications", Message: "required"})
	case !isList:
		errs = append(errs, FieldError{Field: "applications", Message: "must be an array, not " + jsonType(obj["applications"])})
	case len(list) == 0:
		errs = append(errs, FieldError{Field: "applications", Message: "must hold at least one application"})
	case len(list) > s.cfg.MaxBatch:
		errs = append(errs, FieldError{Field: "applications", Message: fmt.Sprintf("holds %d applications; at most %d are allowed", len(list), s.cfg.MaxBatch)})
		list = nil
	}
	apps := make([]*application, len(list))
	for i, v := range list {
		app, aerrs := s.parseApplication(v, fmt.Sprintf("applications[%d]", i))
		errs = append(errs, aerrs...)
		apps[i] = app
	}
	if len(errs) > 0 {
		abortValidation(c, "the batch is not valid; no application was scored", errs)
		return
	}
	who := callerOf(c)
	out, scoreErrs := s.scoreAll(c.Request.Context(), apps, who.Subject)
	for i, err := range scoreErrs {
		if err != nil {
			s.abortScoring(c, err, fmt.Sprintf("applications[%d]", i))
			return
		}
	}
	if !s.appendAll(c, out, wait) {
		return
	}
	resp := batchJSON{Decisions: make([]decisionJSON, len(out))}
	for i, sc := range out {
		resp.Decisions[i] = s.receipt(sc)
	}
	idem.respond(c, http.StatusCreated, resp)
}

// scoreAll scores applications on every core; the explainer and the
// policy engine are safe for concurrent use.
func (s *Server) scoreAll(ctx context.Context, apps []*application, lender string) ([]*scored, []error) {
	out := make([]*scored, len(apps))
	errs := make([]error, len(apps))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(apps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = s.score(ctx, apps[i], lender)
			}
		}()
	}
	for i := range apps {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errs
}

// waitParam reads ?wait=integrated.
func waitParam(c *gin.Context) (bool, bool) {
	for k := range c.Request.URL.Query() {
		if k != "wait" {
			abortKind(c, "invalid-query", fmt.Sprintf("unknown query parameter %q", k))
			return false, false
		}
	}
	switch w, present := c.GetQuery("wait"); {
	case !present:
		return false, true
	case w == "integrated":
		return true, true
	default:
		abortKind(c, "invalid-query", `wait must be "integrated"`)
		return false, false
	}
}

// score runs the model, the explainer and the decision policy, and builds
// the ledger record. Nothing is written.
func (s *Server) score(ctx context.Context, app *application, lender string) (*scored, error) {
	ev, err := decision.Evaluate(ctx, s.policy, app.Model.model, app.Model.explainer, app.X)
	if err != nil {
		return nil, err
	}
	sc := &scored{app: app, lender: lender, raw: ev.Prediction.Raw, pd: ev.Prediction.PD, score: ev.Prediction.Score,
		contrib: ev.Contributions, outcome: ev.Outcome, reasons: ev.Reasons, reasonMethod: ev.ReasonMethod}
	sc.queuedAt = s.now().UTC()
	if sc.sealed, err = decision.Record(sc.queuedAt, decision.Subject{Lender: lender, ApplicationID: app.ID}, app.Model.model, app.X, ev, s.ledgerFields, s.ledger.Seal); err != nil {
		return nil, err
	}
	sc.id = sc.sealed.ID()
	return sc, nil
}

// recordReasons is the reasons as the ledger record holds them.
func recordReasons(app *application, rs []explain.Reason) []transparency.Reason {
	return decision.RecordReasons(app.Model.model, app.X, rs)
}

// reasonView is a record's reason as the API shows it.
func reasonView(r transparency.Reason) reasonJSON {
	opt := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	return reasonJSON{
		Code: r.Code, Feature: opt(r.Feature), Value: featureJSON(r.Value), Text: r.Text, Contribution: r.Contribution,
		Direction: opt(r.Direction), Reference: featureJSON(r.Reference), Rule: opt(r.Rule),
	}
}

// forEach runs f(i) for every i in [0, n), at most appendConcurrency at a
// time, and returns when all have finished. A single call runs on the
// caller's goroutine: a fresh goroutine would start with a small stack and
// grow it again through Trillian's server code, which measurably cost CPU
// per decision.
func forEach(n int, f func(i int)) {
	if n == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, appendConcurrency)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}

// appendAll queues every record in the ledger and, if asked, waits for
// integration. On failure it writes the problem and returns false.
func (s *Server) appendAll(c *gin.Context, scs []*scored, wait bool) bool {
	ctx := c.Request.Context()
	errs := make([]error, len(scs))
	forEach(len(scs), func(i int) {
		start := time.Now()
		_, err := s.ledger.AppendSealed(ctx, scs[i].sealed)
		s.metrics.ledgerOps.WithLabelValues("append", result(err)).Observe(time.Since(start).Seconds())
		errs[i] = err
	})
	if p := s.appendProblem(c, scs, errs); p != nil {
		c.Header("Retry-After", "1")
		abortProblem(c, p)
		return false
	}
	for _, sc := range scs {
		s.metrics.decisions.WithLabelValues(sc.app.Model.model.Manifest.ID, string(sc.outcome.Decision)).Inc()
		s.drift.observe(sc.app.Model.model.Manifest.ID, sc.score)
	}
	s.indexReferrals(scs)
	if !wait {
		return true
	}
	wctx, cancel := context.WithTimeout(ctx, s.cfg.WaitTimeout)
	defer cancel()
	forEach(len(scs), func(i int) {
		start := time.Now()
		p, err := s.ledger.WaitIntegrated(wctx, scs[i].id)
		s.metrics.ledgerOps.WithLabelValues("wait_integrated", result(err)).Observe(time.Since(start).Seconds())
		scs[i].proof, errs[i] = p, err
	})
	for _, err := range errs {
		if err != nil {
			// The decisions exist (they are durably queued): answering an
			// error would invite a retry and a second decision. The
			// receipt says "queued" instead, and the proof can be fetched
			// later.
			s.log.WarnContext(ctx, "waiting for integration failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
			break
		}
	}
	return true
}

// appendProblem is the 503 for appends that failed, or nil if none did.
// It says only what is known: a decision whose record the ledger proved
// not written was not made; one whose outcome is unknown is listed with
// its id to be looked up, never reported as not made.
func (s *Server) appendProblem(c *gin.Context, scs []*scored, errs []error) *Problem {
	var failed, unknownIdx []string
	var recorded []RecordedDecision
	var unknown []UnknownDecision
	for i, err := range errs {
		switch {
		case err == nil:
			recorded = append(recorded, RecordedDecision{Index: i, DecisionID: scs[i].id.String(), ApplicantToken: s.tokens.Issue(scs[i].id)})
			continue
		case errors.Is(err, transparency.ErrNotRecorded):
			failed = append(failed, fmt.Sprint(i))
		default:
			unknownIdx = append(unknownIdx, fmt.Sprint(i))
			unknown = append(unknown, UnknownDecision{Index: i, DecisionID: scs[i].id.String()})
		}
		s.log.ErrorContext(c.Request.Context(), "ledger append failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
	}
	if len(failed) == 0 && len(unknown) == 0 {
		return nil
	}
	var p *Problem
	switch {
	case len(scs) == 1 && len(unknown) == 0:
		p = newProblem("ledger-unavailable", "the ledger could not record the decision; no decision was made")
	case len(scs) == 1:
		p = newProblem("ledger-unavailable", "the ledger did not confirm the decision and cannot tell whether it was recorded; look it up by decision_id before retrying")
	default:
		// Appends are independent, so part of a batch may be in the
		// ledger: those decisions exist, and the lender needs their ids
		// and tokens.
		var parts []string
		if len(failed) > 0 {
			parts = append(parts, fmt.Sprintf("could not record %d (indexes %s), which were not made", len(failed), strings.Join(failed, ", ")))
		}
		if len(unknown) > 0 {
			parts = append(parts, fmt.Sprintf("cannot tell whether %d (indexes %s, listed in unknown) were recorded; look them up by decision_id before retrying", len(unknown), strings.Join(unknownIdx, ", ")))
		}
		p = newProblem("ledger-unavailable", fmt.Sprintf("of %d decisions the ledger %s; the ones listed in recorded were made", len(scs), strings.Join(parts, "; ")))
		p.Recorded = recorded
	}
	p.Unknown = unknown
	return p
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

// receipt is the answer to a decision just made.
func (s *Server) receipt(sc *scored) decisionJSON {
	m := sc.app.Model.model
	attr := make(map[string]float64, m.NumFeatures())
	for i, f := range m.Manifest.Features {
		attr[f.Name] = sc.contrib[i]
	}
	d := decisionJSON{
		DecisionID:           sc.id.String(),
		ApplicationID:        ptr(sc.app.ID),
		CreatedAt:            sc.queuedAt.Format(timeLayout),
		Decision:             ptr(string(sc.outcome.Decision)),
		ProbabilityOfDefault: ptr(sc.pd),
		Score:                ptr(sc.score),
		ReasonMethod:         ptr(sc.reasonMethod),
		Reasons:              make([]reasonJSON, len(sc.reasons)),
		Attributions:         attr,
		ExpectedValue:        ptr(sc.contrib[len(sc.contrib)-1]),
		Model:                &modelRefJSON{ID: m.Manifest.ID, SHA256: m.SHA256},
		Policy:               &policyRefJSON{Revision: sc.outcome.PolicyRevision},
		Ledger: ledgerJSON{
			TreeID:   s.ledger.TreeID(),
			Status:   string(transparency.StatusQueued),
			QueuedAt: sc.queuedAt.Format(timeLayout),
		},
		ApplicantToken: s.tokens.Issue(sc.id),
	}
	for i, r := range recordReasons(sc.app, sc.reasons) {
		d.Reasons[i] = reasonView(r)
	}
	if sc.proof != nil {
		d.Ledger.Status = string(transparency.StatusIntegrated)
		d.Ledger.LeafIndex = ptr(sc.proof.LeafIndex)
		d.Ledger.InclusionProof = proofView(sc.proof)
		if sc.proof.Checkpoint != nil {
			d.Ledger.Checkpoint = string(sc.proof.Checkpoint.Note)
		}
	}
	return d
}

func proofView(p *transparency.InclusionProof) *proofJSON {
	out := &proofJSON{LeafIndex: p.LeafIndex, TreeSize: p.TreeSize, Hashes: make([]string, len(p.Hashes))}
	for i, h := range p.Hashes {
		out.Hashes[i] = hex.EncodeToString(h)
	}
	if p.Checkpoint != nil {
		out.Checkpoint = string(p.Checkpoint.Note)
	}
	return out
}

// featureJSON is a feature value as plain JSON (number, string or null).
func featureJSON(v transparency.FeatureValue) any {
	if x, ok := v.Number(); ok {
		return x
	}
	if l, ok := v.Level(); ok {
		return l
	}
	return nil
}

func abortBody(c *gin.Context, err error) {
	var eb *errBody
	if errors.As(err, &eb) {
		abortProblem(c, eb.p)
		return
	}
	abortKind(c, "bad-request", err.Error())
}

func abortValidation(c *gin.Context, detail string, errs []FieldError) {
	p := newProblem("validation", detail)
	p.Errors = errs
	abortProblem(c, p)
}

// abortScoring maps a failure of score: a policy refusal is the
// application's (422, nothing logged); anything else is ours (500).
func (s *Server) abortScoring(c *gin.Context, err error, field string) {
	var rej *decision.Rejected
	if errors.As(err, &rej) {
		p := newProblem("policy-rejected", "policy does not allow this decision to be issued; nothing was recorded")
		for _, f := range rej.Violation.Findings {
			p.Errors = append(p.Errors, FieldError{Field: field, Message: f.ID + ": " + f.Message})
		}
		abortProblem(c, p)
		return
	}
	s.log.ErrorContext(c.Request.Context(), "scoring failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
	abortKind(c, "internal", "the application could not be scored; nothing was recorded")
}
