package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/api/web"
	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// The life of a decision after the model (docs/lifecycle.md): final
// actions, notices sent, loan outcomes, the reviewer queue and the
// history. Every record is checked, by validation and by policy, before
// anything is appended; a refusal changes nothing.

// lifecycle is the server's lifecycle state.
type lifecycle struct {
	// index is derived from the ledger (decision.Index): caught up from
	// the log before it is read, fed each record appended here at once.
	index    *decision.Index
	settings policy.LifecycleSettings
	// write serialises the check and the append of lifecycle records, so
	// that two final actions cannot both pass "only one final action".
	write sync.Mutex
	// catchUp serialises reading the log into the index.
	catchUp sync.Mutex
}

// Limits of lifecycle requests.
const (
	maxNoteChars        = 2000
	maxCounterTerms     = 20
	maxTermName         = 64
	maxChannelChars     = 32
	maxMonthsOnBook     = 1200
	defaultDeadlineDays = 30
	// clockSkew is how far in the future a sent_at may lie: the lender's
	// clock is not ours.
	clockSkew = 5 * time.Minute
)

// Notice channels a lender may report.
var noticeChannels = []string{"mail", "email", "portal", "in_person", "sms"}

func (s *Server) initLifecycle(ctx context.Context) {
	s.life = &lifecycle{index: decision.NewIndex()}
	st, err := s.policy.Lifecycle(ctx)
	if err != nil {
		s.log.WarnContext(ctx, "the policy gives no lifecycle settings; using the defaults", slog.Int("days", defaultDeadlineDays), slog.Any("err", err))
		st = policy.LifecycleSettings{ReviewDeadlineDays: defaultDeadlineDays, NoticeDeadlineDays: defaultDeadlineDays}
	}
	s.life.settings = st
	s.metrics.registry.MustRegister(&reviewCollector{s: s,
		open: prometheus.NewDesc("glassbox_reviews_open", "Decisions awaiting a person's final action (referrals, contests).", nil, nil),
		overdue: prometheus.NewDesc("glassbox_reviews_overdue",
			"Decisions awaiting a final action for longer than the policy's review deadline.", nil, nil),
	})
}

func (l *lifecycle) reviewDeadline() time.Duration {
	return time.Duration(l.settings.ReviewDeadlineDays) * 24 * time.Hour
}

// reviewCollector reports the review queue at scrape time, with the
// server's clock.
type reviewCollector struct {
	s             *Server
	open, overdue *prometheus.Desc
}

func (r *reviewCollector) Describe(ch chan<- *prometheus.Desc) { ch <- r.open; ch <- r.overdue }

func (r *reviewCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.s.syncIndex(ctx); err != nil {
		// Report what is known: the records appended here are indexed.
		r.s.log.Warn("review metrics: reading the ledger failed", slog.Any("err", err))
	}
	idx := r.s.life.index
	ch <- prometheus.MustNewConstMetric(r.open, prometheus.GaugeValue, float64(len(idx.Reviews(""))))
	ch <- prometheus.MustNewConstMetric(r.overdue, prometheus.GaugeValue, float64(idx.Overdue(r.s.now(), r.s.life.reviewDeadline())))
}

// syncIndex feeds the index the log's leaves it has not seen.
func (s *Server) syncIndex(ctx context.Context) error {
	s.life.catchUp.Lock()
	defer s.life.catchUp.Unlock()
	cp, err := s.ledger.LatestCheckpoint(ctx)
	if err != nil {
		return err
	}
	for next := s.life.index.Synced(); next < cp.Size; {
		n := min(cp.Size-next, transparency.MaxEntriesPerRequest)
		es, err := s.ledger.Entries(ctx, next, int(n))
		if err != nil {
			return err
		}
		if len(es) == 0 {
			return fmt.Errorf("%w: no entries at %d", transparency.ErrUnavailable, next)
		}
		for _, e := range es {
			// A format 2 leaf is indexed by the record it commits to;
			// foreign and erased leaves have none (Record is nil).
			s.indexEntry(ctx, e.ID, e.Type, e.Record)
		}
		next += uint64(len(es))
		s.life.index.SetSynced(next)
	}
	return nil
}

// indexEntry feeds one leaf to the index, decoding only what it keeps:
// referrals and the records linked to decisions.
func (s *Server) indexEntry(ctx context.Context, id transparency.ID, typ transparency.RecordType, data []byte) {
	switch typ {
	case transparency.TypeDecision:
		if !bytes.Contains(data, []byte(`"decision":"refer"`)) {
			return
		}
	case transparency.TypeFinalAction, transparency.TypeNoticeSent, transparency.TypeOutcome, transparency.TypeRecourse, "":
	default:
		return
	}
	if data == nil {
		return
	}
	rec, err := transparency.DecodeRecord(data)
	if err != nil {
		s.log.ErrorContext(ctx, "ledger entry does not decode", slog.String("id", id.String()), slog.Any("err", err))
		return
	}
	s.life.index.Add(id, rec)
}

// indexReferrals feeds the index the referrals just appended, from what
// their records hold (policy may keep the lender or the application id
// out of the ledger; a referral without its lender is in no queue, as
// when it is read back from the log).
func (s *Server) indexReferrals(scs []*scored) {
	if !slices.Contains(s.ledgerFields, "decision") || !slices.Contains(s.ledgerFields, "lender") {
		return
	}
	keepApp := slices.Contains(s.ledgerFields, "application_id")
	for _, sc := range scs {
		if sc.outcome.Decision != policy.Refer {
			continue
		}
		app := ""
		if keepApp {
			app = sc.app.ID
		}
		s.life.index.AddReferral(sc.id, sc.lender, app, sc.queuedAt)
	}
}

// form reads the members of a JSON object body, collecting every problem.
type form struct {
	obj  map[string]any
	errs []FieldError
}

// newForm checks that body is an object with only the allowed members.
func newForm(body any, allowed ...string) *form {
	f := &form{}
	obj, ok := body.(map[string]any)
	if !ok {
		f.add("", "must be an object, not "+jsonType(body))
		return f
	}
	f.obj = obj
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(allowed, k) {
			f.add(k, "unknown field; allowed: "+strings.Join(allowed, ", "))
		}
	}
	return f
}

func (f *form) add(field, msg string) {
	f.errs = append(f.errs, FieldError{Field: field, Message: msg})
}

// str reads a string member ("" if absent and not required). oneOf, when
// given, lists the allowed values.
func (f *form) str(name string, required bool, maxChars int, oneOf ...string) string {
	v, present := f.obj[name]
	if !present || v == nil {
		if required && f.obj != nil {
			f.add(name, "required")
		}
		return ""
	}
	s, ok := v.(string)
	switch {
	case !ok:
		f.add(name, "must be a string, not "+jsonType(v))
		return ""
	case !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxChars:
		f.add(name, fmt.Sprintf("must be at most %d characters", maxChars))
		return ""
	case len(oneOf) > 0 && !slices.Contains(oneOf, s):
		f.add(name, "must be one of "+strings.Join(oneOf, ", "))
		return ""
	case required && s == "":
		f.add(name, "required")
	}
	return s
}

// id reads a record id member ("" if absent).
func (f *form) id(name string) string {
	s := f.str(name, false, 64)
	if s == "" {
		return ""
	}
	id, err := transparency.ParseID(s)
	if err != nil {
		f.add(name, "must be a record id, 64 hexadecimal digits")
		return ""
	}
	return id.String()
}

// integer reads a whole number member within [lo, hi].
func (f *form) integer(name string, lo, hi int) (int, bool) {
	v, present := f.obj[name]
	if !present || v == nil {
		if f.obj != nil {
			f.add(name, "required")
		}
		return 0, false
	}
	n, ok := v.(json.Number)
	if !ok {
		f.add(name, "must be a number, not "+jsonType(v))
		return 0, false
	}
	i, err := n.Int64()
	if err != nil || i < int64(lo) || i > int64(hi) {
		f.add(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
		return 0, false
	}
	return int(i), true
}

// readForm reads the request's JSON body into a form, writing the problem
// and returning nil when it is not JSON.
func (s *Server) readForm(c *gin.Context, allowed ...string) *form {
	body, _, err := readJSONBody(c, s.cfg.MaxBodyBytes)
	if err != nil {
		abortBody(c, err)
		return nil
	}
	return newForm(body, allowed...)
}

// lifecycleRecordJSON is a lifecycle record as the API answers it.
type lifecycleRecordJSON struct {
	RecordID   string          `json:"record_id"`
	DecisionID string          `json:"decision_id"`
	Type       string          `json:"type"`
	CreatedAt  string          `json:"created_at"`
	Body       json.RawMessage `json:"body"`
	Ledger     ledgerJSON      `json:"ledger"`
	// Notice is where the notice of an adverse final action is read.
	Notice string `json:"notice,omitempty"`
	// Record is the exact leaf bytes.
	Record string `json:"record"`
}

// recordBody is the body member of a record's bytes.
func recordBody(data []byte) json.RawMessage {
	var w struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return json.RawMessage("null")
	}
	return w.Body
}

// appendLifecycle seals and appends a lifecycle record made now, indexes
// it and answers 201 with it. Called with s.life.write held.
func (s *Server) appendLifecycle(c *gin.Context, decisionID string, body any, wait bool) (*lifecycleRecordJSON, bool) {
	rec, err := transparency.NewRecord(s.now().UTC(), body)
	if err != nil {
		s.log.ErrorContext(c.Request.Context(), "building lifecycle record", slog.Any("err", err))
		abortKind(c, "internal", "the record could not be built; nothing was recorded")
		return nil, false
	}
	sealed, err := rec.Seal()
	if err != nil {
		abortKind(c, "internal", "the record could not be encoded; nothing was recorded")
		return nil, false
	}
	return s.appendSealedLifecycle(c, decisionID, rec, sealed, wait)
}

// appendSealedLifecycle appends a sealed lifecycle record, indexes it and
// returns the answer. Called with s.life.write held.
func (s *Server) appendSealedLifecycle(c *gin.Context, decisionID string, rec *transparency.Record, sealed transparency.Sealed, wait bool) (*lifecycleRecordJSON, bool) {
	ctx := c.Request.Context()
	start := time.Now()
	_, err := s.ledger.AppendSealed(ctx, sealed)
	s.metrics.ledgerOps.WithLabelValues("append", result(err)).Observe(time.Since(start).Seconds())
	if err != nil {
		s.log.ErrorContext(ctx, "ledger append failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
		c.Header("Retry-After", "1")
		if errors.Is(err, transparency.ErrNotRecorded) {
			abortKind(c, "ledger-unavailable", "the ledger could not record this; nothing was recorded")
		} else {
			abortKind(c, "ledger-unavailable", "the ledger did not confirm the record and cannot tell whether it was recorded; read the history before retrying")
		}
		return nil, false
	}
	s.life.index.Add(sealed.ID(), rec)
	recordBytes := sealed.Bytes()
	if _, record, ok := sealed.Committed(); ok {
		recordBytes = record
	}
	out := &lifecycleRecordJSON{
		RecordID: sealed.ID().String(), DecisionID: decisionID, Type: string(rec.Type),
		CreatedAt: rec.Timestamp.Format(timeLayout), Body: recordBody(recordBytes),
		Ledger: ledgerJSON{TreeID: s.ledger.TreeID(), Status: string(transparency.StatusQueued), QueuedAt: rec.Timestamp.Format(timeLayout)},
		Record: base64.StdEncoding.EncodeToString(sealed.Bytes()),
	}
	if wait {
		wctx, cancel := context.WithTimeout(ctx, s.cfg.WaitTimeout)
		defer cancel()
		p, err := s.ledger.WaitIntegrated(wctx, sealed.ID())
		if err != nil {
			s.log.WarnContext(ctx, "waiting for integration failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
		} else {
			out.Ledger.Status = string(transparency.StatusIntegrated)
			out.Ledger.LeafIndex = ptr(p.LeafIndex)
			out.Ledger.InclusionProof = proofView(p)
			if p.Checkpoint != nil {
				out.Ledger.Checkpoint = string(p.Checkpoint.Note)
			}
		}
	}
	return out, true
}

// lifecycleDecision loads the decision in the path for action and brings
// the index up to date; it writes the problem and returns false on failure.
func (s *Server) lifecycleDecision(c *gin.Context, action policy.Action) (*transparency.Entry, *transparency.Record, bool) {
	entry, rec, ok := s.loadDecision(c, action)
	if !ok {
		return nil, nil, false
	}
	if err := s.syncIndex(c.Request.Context()); err != nil {
		s.abortLedger(c, err, "no decision with this id")
		return nil, nil, false
	}
	return entry, rec, true
}

// lifecycleCall is what every lifecycle POST starts with.
type lifecycleCall struct {
	wait  bool
	entry *transparency.Entry
	rec   *transparency.Record
	f     *form
}

// beginLifecycle reads ?wait=, loads and authorises the decision for
// action, brings the index up to date and reads the JSON body with the
// allowed members; it writes the problem and returns false on failure.
func (s *Server) beginLifecycle(c *gin.Context, action policy.Action, allowed ...string) (*lifecycleCall, bool) {
	wait, ok := waitParam(c)
	if !ok {
		return nil, false
	}
	entry, rec, ok := s.lifecycleDecision(c, action)
	if !ok {
		return nil, false
	}
	f := s.readForm(c, allowed...)
	if f == nil {
		return nil, false
	}
	return &lifecycleCall{wait: wait, entry: entry, rec: rec, f: f}, true
}

// modelReasons are the reason codes of a decision's model with their
// general texts, and the fallback's.
func (s *Server) modelReasons(rec *transparency.Record) map[string]string {
	out := map[string]string{explain.FallbackReasonCode: explain.FallbackReasonText}
	if sm := s.models[rec.Decision.Model.ID]; sm != nil {
		for _, f := range sm.model.Manifest.Features {
			out[f.Reason.Code] = f.Reason.Text
		}
	}
	return out
}

// createAction: POST /v1/decisions/{id}/actions, a final action.
func (s *Server) createAction(c *gin.Context) {
	call, ok := s.beginLifecycle(c, policy.ActionDecisionsAct, "action", "reasons", "note", "counteroffer", "amends")
	if !ok {
		return
	}
	wait, entry, rec, f := call.wait, call.entry, call.rec, call.f
	action := f.str("action", true, 32, transparency.FinalActions()...)
	note := f.str("note", false, maxNoteChars)
	amends := f.id("amends")
	var reasons []string
	switch v, present := f.obj["reasons"]; {
	case !present || v == nil:
	default:
		list, isList := v.([]any)
		if !isList {
			f.add("reasons", "must be an array of reason codes, not "+jsonType(v))
			break
		}
		for i, r := range list {
			code, isStr := r.(string)
			if !isStr || code == "" || len(code) > 16 {
				f.add(fmt.Sprintf("reasons[%d]", i), "must be a reason code (a string of 1 to 16 characters)")
				continue
			}
			if slices.Contains(reasons, code) {
				f.add(fmt.Sprintf("reasons[%d]", i), fmt.Sprintf("reason %q is given twice", code))
				continue
			}
			reasons = append(reasons, code)
		}
	}
	terms := map[string]transparency.FeatureValue{}
	if v, present := f.obj["counteroffer"]; present && v != nil {
		obj, isObj := v.(map[string]any)
		switch {
		case !isObj:
			f.add("counteroffer", "must be an object of terms, not "+jsonType(v))
		case len(obj) == 0 || len(obj) > maxCounterTerms:
			f.add("counteroffer", fmt.Sprintf("must hold 1 to %d terms", maxCounterTerms))
		}
		for _, k := range sortedKeys(obj) {
			if k == "" || len(k) > maxTermName || !validName(k) {
				f.add("counteroffer."+k, fmt.Sprintf("a term's name is 1 to %d letters, digits, '.', '_' or '-'", maxTermName))
				continue
			}
			switch x := obj[k].(type) {
			case json.Number:
				n, err := x.Float64()
				if err != nil {
					f.add("counteroffer."+k, "must be a finite number")
					continue
				}
				terms[k] = transparency.NumberValue(n)
			case string:
				if x == "" || utf8.RuneCountInString(x) > 128 {
					f.add("counteroffer."+k, "must be 1 to 128 characters")
					continue
				}
				terms[k] = transparency.LevelValue(x)
			default:
				f.add("counteroffer."+k, "must be a number or a string, not "+jsonType(obj[k]))
			}
		}
	}
	if len(f.errs) > 0 {
		abortValidation(c, "the final action is not valid; nothing was recorded", f.errs)
		return
	}
	who := callerOf(c)
	actor, reviewer := policy.ActorSystem, ""
	if who.Role == RoleReviewer {
		actor, reviewer = policy.ActorReviewer, s.tokens.Pseudonym(who.Subject, who.Reviewer)
	}
	id := entry.ID.String()
	s.life.write.Lock()
	defer s.life.write.Unlock()
	state := decision.StateOf(s.life.index.Linked(id))
	in := policy.ActionInput{
		Action: action, Reasons: reasons, NoteChars: utf8.RuneCountInString(note), HasTerms: len(terms) > 0,
		Actor: actor, ModelDecision: rec.Decision.Decision, ModelReasons: s.modelReasons(rec), Amends: amends,
		Contested: state.Contested,
	}
	if state.Current != nil {
		in.CurrentAction = state.Current.ID.String()
	}
	verdict, err := s.policy.CheckAction(c.Request.Context(), in)
	if err != nil {
		s.abortPolicy(c, err, "policy does not allow this final action; nothing was recorded")
		return
	}
	fa := &transparency.FinalAction{
		DecisionID: id, Lender: rec.Decision.Lender, Action: action, Reasons: make([]transparency.ActionReason, len(verdict.Reasons)),
		Amends: amends, Actor: actor, Reviewer: reviewer, Override: verdict.Override,
		Policy: transparency.PolicyRef{Revision: verdict.PolicyRevision},
	}
	for i, r := range verdict.Reasons {
		fa.Reasons[i] = transparency.ActionReason{Code: r.Code, Text: r.Text}
	}
	if len(terms) > 0 {
		fa.Counteroffer = terms
	}
	if note != "" {
		sum := sha256.Sum256([]byte(note))
		fa.NoteSHA256 = hex.EncodeToString(sum[:])
	}
	out, ok := s.appendLifecycle(c, id, fa, wait)
	if !ok {
		return
	}
	s.metrics.finalActions.WithLabelValues(action, actor).Inc()
	if action != transparency.ActionWithdrawn {
		out.Notice = "/v1/decisions/" + id + "/notice?record=" + out.RecordID
	}
	c.JSON(http.StatusCreated, out)
}

// abortPolicy maps a policy refusal to 422 with its findings, anything
// else to 500.
func (s *Server) abortPolicy(c *gin.Context, err error, detail string) {
	if v, ok := policy.AsViolation(err); ok && errors.Is(err, policy.ErrRejected) {
		p := newProblem("policy-rejected", detail)
		for _, f := range v.Findings {
			p.Errors = append(p.Errors, FieldError{Field: strings.Join(f.Features, ","), Message: f.ID + ": " + f.Message})
		}
		abortProblem(c, p)
		return
	}
	s.log.ErrorContext(c.Request.Context(), "lifecycle policy failed", slog.String("request_id", requestID(c)), slog.Any("err", err))
	abortKind(c, "internal", "the policy could not be evaluated; nothing was recorded")
}

// noticeFor builds the notice a record states: which is the id of the
// decision or of one of its final actions; "" is the final action in
// force, else the decision. It returns the notice and the id of the
// record it states.
func (s *Server) noticeFor(entry *transparency.Entry, rec *transparency.Record, which, lang string) (*notice.Notice, string, error) {
	lo, hi, m := s.scoreRange(rec)
	opts := notice.Options{Creditor: s.cfg.Creditor, ScoreMin: lo, ScoreMax: hi, Lang: lang}
	if m != nil {
		opts.Manifest = m.Manifest
	}
	id := entry.ID.String()
	linked := s.life.index.Linked(id)
	var action *decision.Linked
	switch which {
	case id:
	case "":
		action = decision.StateOf(linked).Current
	default:
		for i := range linked {
			if linked[i].ID.String() == which && linked[i].Record.Type == transparency.TypeFinalAction {
				action = &linked[i]
			}
		}
		if action == nil {
			return nil, "", errNoSuchNotice
		}
	}
	if action == nil {
		n, err := notice.Build(id, rec, opts)
		return n, id, err
	}
	n, err := notice.BuildFinal(id, rec, action.ID.String(), action.Record, opts)
	return n, action.ID.String(), err
}

var errNoSuchNotice = errors.New("the record named is neither this decision nor one of its final actions")

// renderNotice renders n as text or HTML.
func (s *Server) renderNotice(n *notice.Notice, html bool) ([]byte, error) {
	var b bytes.Buffer
	var err error
	if html {
		err = s.notices.HTML(&b, n)
	} else {
		err = s.notices.Text(&b, n)
	}
	return b.Bytes(), err
}

// createNoticeSent: POST /v1/decisions/{id}/notice/sent.
func (s *Server) createNoticeSent(c *gin.Context) {
	call, ok := s.beginLifecycle(c, policy.ActionDecisionsNoticeSent, "channel", "sent_at", "format", "lang", "record", "sha256")
	if !ok {
		return
	}
	wait, entry, rec, f := call.wait, call.entry, call.rec, call.f
	channel := f.str("channel", true, maxChannelChars, noticeChannels...)
	format := f.str("format", false, 8, "text", "html")
	if format == "" {
		format = "text"
	}
	lang := f.str("lang", false, 8, notice.Languages()...)
	if lang == "" {
		lang = notice.English
	}
	which := f.id("record")
	claimed := f.str("sha256", false, 64)
	if claimed != "" && !isHexDigest(claimed) {
		f.add("sha256", "must be 64 lowercase hexadecimal digits")
	}
	var sentAt time.Time
	if raw := f.str("sent_at", true, 40); raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		switch {
		case err != nil:
			f.add("sent_at", "must be an RFC 3339 date and time, e.g. 2026-03-14T15:09:26Z")
		case t.After(s.now().Add(clockSkew)):
			f.add("sent_at", "lies in the future")
		case t.Before(rec.Timestamp.Truncate(time.Second)):
			// Compared to the second: a lender's clock may not give more.
			f.add("sent_at", "is before the decision was made")
		default:
			sentAt = t
		}
	}
	if len(f.errs) > 0 {
		abortValidation(c, "the notice report is not valid; nothing was recorded", f.errs)
		return
	}
	n, stated, err := s.noticeFor(entry, rec, which, lang)
	switch {
	case errors.Is(err, errNoSuchNotice):
		abortValidation(c, "the notice report is not valid; nothing was recorded", []FieldError{{Field: "record", Message: err.Error()}})
		return
	case errors.Is(err, notice.ErrNoNotice):
		abortValidation(c, "the notice report is not valid; nothing was recorded", []FieldError{{Field: "record", Message: err.Error()}})
		return
	case err != nil:
		abortKind(c, "internal", "the notice could not be built from the ledger records: "+err.Error())
		return
	}
	data, err := s.renderNotice(n, format == "html")
	if err != nil {
		abortKind(c, "internal", "the notice could not be rendered")
		return
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	if claimed != "" && claimed != digest {
		abortValidation(c, "the notice report is not valid; nothing was recorded", []FieldError{{Field: "sha256",
			Message: fmt.Sprintf("the notice as glassbox renders it (%s, %s) hashes to %s: what was sent is not that notice", format, lang, digest)}})
		return
	}
	s.life.write.Lock()
	defer s.life.write.Unlock()
	out, ok := s.appendLifecycle(c, entry.ID.String(), &transparency.NoticeSent{
		DecisionID: entry.ID.String(), Lender: rec.Decision.Lender, Notice: stated, Channel: channel,
		SentAt: transparency.FormatSentAt(sentAt), Format: format, Lang: lang, SHA256: digest,
	}, wait)
	if !ok {
		return
	}
	c.JSON(http.StatusCreated, out)
}

func isHexDigest(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size && strings.ToLower(s) == s
}

// createOutcome: POST /v1/decisions/{id}/outcome.
func (s *Server) createOutcome(c *gin.Context) {
	call, ok := s.beginLifecycle(c, policy.ActionDecisionsOutcome, "status", "as_of", "months_on_book")
	if !ok {
		return
	}
	wait, entry, rec, f := call.wait, call.entry, call.rec, call.f
	status := f.str("status", true, 16, transparency.LoanStatuses()...)
	months, _ := f.integer("months_on_book", 0, maxMonthsOnBook)
	asOf := f.str("as_of", true, 10)
	if asOf != "" {
		d, err := time.Parse(transparency.AsOfLayout, asOf)
		decided := rec.Timestamp.UTC().Truncate(24 * time.Hour)
		switch {
		case err != nil || d.Format(transparency.AsOfLayout) != asOf:
			f.add("as_of", "must be a date YYYY-MM-DD")
		case d.After(s.now().UTC()):
			f.add("as_of", "lies in the future")
		case d.Before(decided):
			f.add("as_of", "is before the decision was made ("+decided.Format(transparency.AsOfLayout)+")")
		}
	}
	if len(f.errs) > 0 {
		abortValidation(c, "the outcome is not valid; nothing was recorded", f.errs)
		return
	}
	id := entry.ID.String()
	s.life.write.Lock()
	defer s.life.write.Unlock()
	// A loan exists only if credit was granted: by the model with no final
	// action since, or by a final approval or counteroffer.
	state := decision.StateOf(s.life.index.Linked(id))
	granted := rec.Decision.Decision == string(policy.Approve)
	if state.Current != nil {
		a := state.Current.Record.FinalAction.Action
		granted = a == transparency.ActionApprove || a == transparency.ActionCounteroffer
	}
	if !granted {
		abortValidation(c, "the outcome is not valid; nothing was recorded", []FieldError{{Field: "",
			Message: "no credit was granted on this decision, so there is no loan to report on"}})
		return
	}
	out, ok := s.appendLifecycle(c, id, &transparency.Outcome{
		DecisionID: id, Lender: rec.Decision.Lender, Status: status, AsOf: asOf, MonthsOnBook: months,
	}, wait)
	if !ok {
		return
	}
	c.JSON(http.StatusCreated, out)
}

// reviewJSON is one entry of the reviewer queue.
type reviewJSON struct {
	DecisionID    string  `json:"decision_id"`
	ApplicationID string  `json:"application_id"`
	Lender        string  `json:"lender"`
	Kind          string  `json:"kind"`
	Since         string  `json:"since"`
	AgeDays       float64 `json:"age_days"`
	DueAt         string  `json:"due_at"`
	Overdue       bool    `json:"overdue"`
}

type reviewsJSON struct {
	Status       string       `json:"status"`
	AsOf         string       `json:"as_of"`
	DeadlineDays int          `json:"deadline_days"`
	Reviews      []reviewJSON `json:"reviews"`
}

// listReviews: GET /v1/reviews?status=open|overdue|all. open are the
// reviews within the deadline, overdue those past it, all both; a lender
// or reviewer sees its own, a regulator every lender's.
func (s *Server) listReviews(c *gin.Context) {
	lender, status, ok := s.queueQuery(c, "open")
	if !ok {
		return
	}
	now := s.now().UTC()
	out := reviewsJSON{Status: status, AsOf: now.Format(timeLayout), DeadlineDays: s.life.settings.ReviewDeadlineDays, Reviews: []reviewJSON{}}
	for _, r := range s.queue(lender, status, now) {
		out.Reviews = append(out.Reviews, reviewJSON{
			DecisionID: r.DecisionID, ApplicationID: r.ApplicationID, Lender: r.Lender, Kind: r.Kind,
			Since: r.Since.UTC().Format(timeLayout), AgeDays: r.AgeDays, DueAt: r.DueAt.UTC().Format(timeLayout), Overdue: r.Overdue,
		})
	}
	c.JSON(http.StatusOK, out)
}

// queueQuery reads ?status= (default def), brings the index up to date
// and returns whose queue the caller sees: its own lender's, or every
// lender's ("") for a regulator.
func (s *Server) queueQuery(c *gin.Context, def string) (lender, status string, ok bool) {
	if !checkQuery(c, "status") {
		return "", "", false
	}
	status = c.DefaultQuery("status", def)
	if !slices.Contains([]string{"open", "overdue", "all"}, status) {
		abortKind(c, "invalid-query", `status must be "open", "overdue" or "all"`)
		return "", "", false
	}
	if err := s.syncIndex(c.Request.Context()); err != nil {
		s.abortLedger(c, err, "")
		return "", "", false
	}
	who := callerOf(c)
	if who.Role == RoleRegulator {
		return "", status, true
	}
	return who.Subject, status, true
}

// queue is the reviews of lender ("" for all) with the given status at
// now: open are those within the deadline, overdue those past it, all
// both.
func (s *Server) queue(lender, status string, now time.Time) []web.ReviewItem {
	deadline := s.life.reviewDeadline()
	var out []web.ReviewItem
	for _, r := range s.life.index.Reviews(lender) {
		overdue := r.Age(now) > deadline
		if (status == "open" && overdue) || (status == "overdue" && !overdue) {
			continue
		}
		out = append(out, web.ReviewItem{DecisionID: r.DecisionID, ApplicationID: r.ApplicationID, Lender: r.Lender,
			Kind: r.Kind, Since: r.Since, DueAt: r.Since.Add(deadline), AgeDays: r.Age(now).Hours() / 24, Overdue: overdue})
	}
	return out
}

// historyRecordJSON is one record of a decision's history.
type historyRecordJSON struct {
	RecordID  string  `json:"record_id"`
	Type      string  `json:"type"`
	CreatedAt string  `json:"created_at"`
	Status    string  `json:"status"`
	LeafIndex *uint64 `json:"leaf_index,omitempty"`
	// Body is the record's body (null when it was erased).
	Body json.RawMessage `json:"body"`
	// Record is the leaf bytes; LeafFormat, CommittedRecord and Salt open
	// a format 2 leaf (committedView).
	Record          string     `json:"record"`
	LeafFormat      int        `json:"leaf_format"`
	CommittedRecord string     `json:"committed_record,omitempty"`
	Salt            string     `json:"salt,omitempty"`
	Erased          bool       `json:"erased,omitempty"`
	InclusionProof  *proofJSON `json:"inclusion_proof,omitempty"`
}

type historyStateJSON struct {
	// Stage is decided, awaiting_review or final (docs/lifecycle.md).
	Stage       string  `json:"stage"`
	FinalAction *string `json:"final_action"`
	Action      *string `json:"action"`
	Outcome     *string `json:"outcome"`
	NoticesSent int     `json:"notices_sent"`
}

type historyJSON struct {
	DecisionID string              `json:"decision_id"`
	TreeSize   uint64              `json:"tree_size"`
	Checkpoint string              `json:"checkpoint"`
	State      historyStateJSON    `json:"state"`
	Records    []historyRecordJSON `json:"records"`
}

// getHistory: GET /v1/decisions/{id}/history, the decision and every
// record linked to it, each integrated one with its inclusion proof
// against the one checkpoint returned.
func (s *Server) getHistory(c *gin.Context) {
	if !checkQuery(c, "token") {
		return
	}
	entry, rec, ok := s.lifecycleDecision(c, policy.ActionDecisionsHistory)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	cp, err := s.ledger.LatestCheckpoint(ctx)
	if err != nil {
		s.abortLedger(c, err, "")
		return
	}
	id := entry.ID.String()
	linked := s.life.index.Linked(id)
	out := historyJSON{DecisionID: id, TreeSize: cp.Size, Checkpoint: string(cp.Note), Records: make([]historyRecordJSON, 0, len(linked)+1)}
	add := func(e *transparency.Entry, r *transparency.Record) bool {
		h := historyRecordJSON{RecordID: e.ID.String(), Type: string(r.Type), CreatedAt: r.Timestamp.UTC().Format(timeLayout),
			Status: string(transparency.StatusQueued), Body: json.RawMessage("null"), Record: base64.StdEncoding.EncodeToString(e.Data), Erased: e.Erased}
		if e.Record != nil {
			h.Body = recordBody(e.Record)
		}
		h.LeafFormat, h.CommittedRecord, h.Salt = committedView(e)
		p, err := s.ledger.InclusionProof(ctx, e.ID, cp.Size)
		switch {
		case err == nil:
			h.Status = string(transparency.StatusIntegrated)
			h.LeafIndex = ptr(p.LeafIndex)
			h.InclusionProof = proofView(p)
			h.InclusionProof.Checkpoint = ""
		case errors.Is(err, transparency.ErrNotFound), errors.Is(err, transparency.ErrInvalidArgument):
			// Not under this checkpoint yet: listed as queued, no proof.
		default:
			s.abortLedger(c, err, "")
			return false
		}
		out.Records = append(out.Records, h)
		return true
	}
	if !add(entry, rec) {
		return
	}
	for _, l := range linked {
		// The leaf, not the indexed record: a format 2 leaf is an
		// envelope, and its proof is of the envelope's bytes.
		e, err := s.ledger.GetEntry(ctx, l.ID)
		if err != nil {
			s.abortLedger(c, err, "a linked record is missing from the ledger")
			return
		}
		if !add(e, l.Record) {
			return
		}
	}
	st := decision.StateOf(linked)
	out.State = historyStateJSON{Stage: "decided", NoticesSent: len(st.Notices)}
	if rec.Decision.Decision == string(policy.Refer) {
		out.State.Stage = "awaiting_review"
	}
	if st.Current != nil {
		out.State.Stage = "final"
		out.State.FinalAction = ptr(st.Current.ID.String())
		out.State.Action = ptr(st.Current.Record.FinalAction.Action)
	}
	if st.Outcome != nil {
		out.State.Outcome = ptr(st.Outcome.Record.Outcome.Status)
	}
	c.JSON(http.StatusOK, out)
}

// pageHistory is the applicant page's history of a decision: its final
// actions, notices sent and loan outcomes. A ledger that cannot be read
// just now leaves out what other servers appended; the records this
// server appended are indexed already.
func (s *Server) pageHistory(ctx context.Context, id, lang string) []web.HistoryItem {
	if err := s.syncIndex(ctx); err != nil {
		s.log.WarnContext(ctx, "applicant page: reading the ledger for the history failed", slog.Any("err", err))
	}
	var out []web.HistoryItem
	for _, l := range s.life.index.Linked(id) {
		var action, channel, status string
		switch r := l.Record; {
		case r.FinalAction != nil:
			action = r.FinalAction.Action
		case r.NoticeSent != nil:
			channel = r.NoticeSent.Channel
		case r.Outcome != nil:
			status = r.Outcome.Status
		}
		out = append(out, web.HistoryItem{Type: string(l.Record.Type), RecordID: l.ID.String(), Time: l.Record.Timestamp,
			Summary: web.HistorySummary(lang, string(l.Record.Type), action, channel, status)})
	}
	return out
}

// uiReviews: GET /ui/reviews, the reviewer page: the queue, and for a
// reviewer a form per review that records the final action. Like the
// audit page it takes the key as the password of HTTP Basic
// authentication, which browsers prompt for.
func (s *Server) uiReviews(c *gin.Context) {
	if callerOf(c).Role == "" {
		c.Header("WWW-Authenticate", `Basic realm="glassbox reviews", charset="UTF-8"`)
	}
	if !s.authorize(c, policy.ActionReviewsList, "", "") {
		return
	}
	lender, status, ok := s.queueQuery(c, "all")
	if !ok {
		return
	}
	page := web.ReviewsPage{Lender: lender, DeadlineDays: s.life.settings.ReviewDeadlineDays, CanAct: callerOf(c).Role == RoleReviewer,
		GeneratedAt: s.now(), Reviews: s.queue(lender, status, s.now())}
	s.renderPage(c, func(b *bytes.Buffer) error { return s.pages.RenderReviews(b, page) })
}

// Limits of a contest.
const maxStatementChars = 5000

// createContest: POST /v1/decisions/{id}/contest, the applicant (with
// their token) contests the decision with a statement and proposed
// corrections of feature values. The statement is personal data: the
// contest record is written as a format 2 leaf, its record in the record
// store, so it is refused when the ledger keeps none.
func (s *Server) createContest(c *gin.Context) {
	call, ok := s.beginLifecycle(c, policy.ActionDecisionsContest, "statement", "corrections")
	if !ok {
		return
	}
	wait, entry, rec, f := call.wait, call.entry, call.rec, call.f
	statement := strings.TrimSpace(f.str("statement", true, maxStatementChars))
	corrections := map[string]transparency.FeatureValue{}
	sm := s.models[rec.Decision.Model.ID]
	if v, present := f.obj["corrections"]; present && v != nil {
		obj, isObj := v.(map[string]any)
		switch {
		case !isObj:
			f.add("corrections", "must be an object of feature values, not "+jsonType(v))
		case sm == nil || sm.model.SHA256 != rec.Decision.Model.SHA256 || len(rec.Decision.Features) == 0:
			f.add("corrections", "this decision's model or features are not available here, so no value can be corrected")
		default:
			man := sm.model.Manifest
			inputs := rec.Decision.Inputs()
			for _, k := range sortedKeys(obj) {
				i := man.FeatureIndex(k)
				if i < 0 {
					f.add("corrections."+k, "unknown feature of model "+man.ID)
					continue
				}
				inputs[k] = obj[k]
			}
			if len(f.errs) == 0 {
				x, err := sm.model.Vectorize(inputs)
				if ve, isVE := err.(*scoring.ValidationError); isVE {
					for _, p := range ve.Problems {
						f.add("corrections."+p.Field, p.Message)
					}
				} else if err != nil {
					f.add("corrections", err.Error())
				}
				for _, k := range sortedKeys(obj) {
					i := man.FeatureIndex(k)
					if len(f.errs) > 0 || i < 0 {
						break
					}
					fv := decision.FeatureValue(&man.Features[i], x[i])
					if featureJSON(fv) == featureJSON(rec.Decision.Features[k]) {
						f.add("corrections."+k, "is the value the decision was made with: not a correction")
						continue
					}
					corrections[k] = fv
				}
			}
		}
	}
	if len(f.errs) > 0 {
		abortValidation(c, "the contest is not valid; nothing was recorded", f.errs)
		return
	}
	id := entry.ID.String()
	s.life.write.Lock()
	defer s.life.write.Unlock()
	if st := decision.StateOf(s.life.index.Linked(id)); st.Contest != nil {
		abortValidation(c, "the contest is not valid; nothing was recorded", []FieldError{{Field: "",
			Message: "this decision was contested already (record " + st.Contest.ID.String() + ")"}})
		return
	}
	body := &transparency.Contest{DecisionID: id, Lender: rec.Decision.Lender, ApplicationID: rec.Decision.ApplicationID, Statement: statement}
	if len(corrections) > 0 {
		body.Corrections = corrections
	}
	out, ok := s.appendCommitted(c, id, body, wait)
	if !ok {
		return
	}
	c.JSON(http.StatusCreated, out)
}

// appendCommitted is appendLifecycle for a record holding personal data:
// sealed by the ledger as a format 2 leaf, refused (503) when the ledger
// has no record store to keep it erasable.
func (s *Server) appendCommitted(c *gin.Context, decisionID string, body any, wait bool) (*lifecycleRecordJSON, bool) {
	rec, err := transparency.NewRecord(s.now().UTC(), body)
	if err != nil {
		abortKind(c, "internal", "the record could not be built; nothing was recorded")
		return nil, false
	}
	sealed, err := s.ledger.Seal(rec)
	if err != nil {
		abortKind(c, "internal", "the record could not be sealed; nothing was recorded")
		return nil, false
	}
	if _, _, committed := sealed.Committed(); !committed {
		abortKind(c, "not-ready", "this ledger keeps no record store, and a contest's statement may not enter the log in clear; nothing was recorded")
		return nil, false
	}
	return s.appendSealedLifecycle(c, decisionID, rec, sealed, wait)
}

// createRescore: POST /v1/decisions/{id}/rescore, the reviewer decides
// the contested application again, with the contest's corrections,
// through the real decision path: a new decision, and a rescore record
// linking it to the first.
func (s *Server) createRescore(c *gin.Context) {
	call, ok := s.beginLifecycle(c, policy.ActionDecisionsAct)
	if !ok {
		return
	}
	wait, entry, rec := call.wait, call.entry, call.rec
	if len(call.f.errs) > 0 {
		abortValidation(c, "the rescore request is not valid; nothing was recorded", call.f.errs)
		return
	}
	id := entry.ID.String()
	s.life.write.Lock()
	defer s.life.write.Unlock()
	st := decision.StateOf(s.life.index.Linked(id))
	if st.Contest == nil || len(st.Contest.Record.Contest.Corrections) == 0 {
		abortValidation(c, "nothing to rescore; nothing was recorded", []FieldError{{Field: "", Message: "the decision has no contest with corrections"}})
		return
	}
	if len(st.Rescores) > 0 {
		abortValidation(c, "nothing to rescore; nothing was recorded", []FieldError{{Field: "", Message: "the contest was rescored already (record " + st.Rescores[0].ID.String() + ")"}})
		return
	}
	d := rec.Decision
	sm := s.models[d.Model.ID]
	if sm == nil || sm.model.SHA256 != d.Model.SHA256 || len(d.Features) == 0 {
		abortValidation(c, "nothing to rescore; nothing was recorded", []FieldError{{Field: "", Message: "this decision's model or features are not available here"}})
		return
	}
	inputs := d.Inputs()
	for k, v := range st.Contest.Record.Contest.Corrections {
		inputs[k] = featureJSON(v)
	}
	x, err := sm.model.Vectorize(inputs)
	if err != nil {
		abortKind(c, "internal", "the corrected application does not validate: "+err.Error())
		return
	}
	app := &application{ID: d.ApplicationID, Model: sm, X: x}
	sc, err := s.score(c.Request.Context(), app, d.Lender)
	if err != nil {
		s.abortScoring(c, err, "")
		return
	}
	if !s.appendAll(c, []*scored{sc}, wait) {
		return
	}
	out, ok := s.appendLifecycle(c, id, &transparency.Rescore{DecisionID: id, Lender: d.Lender, Contest: st.Contest.ID.String(), Rescored: sc.id.String()}, wait)
	if !ok {
		return
	}
	c.JSON(http.StatusCreated, rescoreJSON{lifecycleRecordJSON: *out, Decision: s.receipt(sc)})
}

// rescoreJSON is the rescore record with the decision it made.
type rescoreJSON struct {
	lifecycleRecordJSON
	Decision decisionJSON `json:"rescored_decision"`
}

// contestForm is the applicant page's contest section for an adverse
// decision whose model and features are at hand: the form, or the
// contest's id once contested. nil hides the section.
func (s *Server) contestForm(id string, rec *transparency.Record, lang string) *web.ContestForm {
	d := rec.Decision
	sm := s.models[d.Model.ID]
	if d.Decision == string(policy.Approve) || sm == nil || sm.model.SHA256 != d.Model.SHA256 || len(d.Features) == 0 {
		return nil
	}
	if st := decision.StateOf(s.life.index.Linked(id)); st.Contest != nil {
		return &web.ContestForm{Recorded: st.Contest.ID.String()}
	}
	form := &web.ContestForm{}
	for i := range sm.model.Manifest.Features {
		f := &sm.model.Manifest.Features[i]
		var v string
		switch x := featureJSON(d.Features[f.Name]).(type) {
		case float64:
			v = strconv.FormatFloat(x, 'f', -1, 64)
		case string:
			v = x
		}
		form.Fields = append(form.Fields, web.ContestField{Name: f.Name, Label: f.DisplayName(lang), Value: v})
	}
	return form
}

// eraseContests crypto-shreds the contest records of an erased decision:
// the applicant's statement and corrections go with the decision. The
// decision's erasure record covers them.
func (s *Server) eraseContests(ctx context.Context, id transparency.ID) error {
	if err := s.syncIndex(ctx); err != nil {
		return err
	}
	var contests []transparency.ID
	for _, l := range s.life.index.Linked(id.String()) {
		if l.Record.Type == transparency.TypeContest {
			contests = append(contests, l.ID)
		}
	}
	if len(contests) == 0 {
		return nil
	}
	if err := s.ledger.EraseRelated(ctx, id, contests...); err != nil {
		return fmt.Errorf("erasing the contests of %s: %w", id, err)
	}
	return nil
}
