package api

import (
	"bytes"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/api/web"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// getNotice: GET /v1/decisions/{id}/notice, the notice of action taken,
// as text (default) or HTML (Accept: text/html).
func (s *Server) getNotice(c *gin.Context) {
	if !checkQuery(c, "token") {
		return
	}
	entry, rec, ok := s.loadDecision(c, policy.ActionDecisionsNotice)
	if !ok {
		return
	}
	lo, hi := 0.0, 0.0
	if sm := s.models[rec.Decision.Model.ID]; sm != nil {
		lo, hi = sm.model.Scale().Min, sm.model.Scale().Max
	}
	n, err := notice.Build(entry.ID.String(), rec, s.cfg.Creditor, lo, hi)
	if err != nil {
		abortKind(c, "internal", "the notice could not be built from the ledger record: "+err.Error())
		return
	}
	var b bytes.Buffer
	switch c.NegotiateFormat(gin.MIMEPlain, gin.MIMEHTML) {
	case gin.MIMEHTML:
		err = s.notices.HTML(&b, n)
		c.Header("Content-Type", "text/html; charset=utf-8")
	default:
		err = s.notices.Text(&b, n)
		c.Header("Content-Type", "text/plain; charset=utf-8")
	}
	if err != nil {
		abortKind(c, "internal", "the notice could not be rendered")
		return
	}
	c.Header("Vary", "Accept")
	c.Status(http.StatusOK)
	c.Writer.Write(b.Bytes())
}

// uiDecision: GET /ui/decisions/{id}?token=…, the applicant's page.
func (s *Server) uiDecision(c *gin.Context) {
	if !checkQuery(c, "token") {
		return
	}
	entry, rec, ok := s.loadDecision(c, policy.ActionDecisionsExplanation)
	if !ok {
		return
	}
	var manifest *models.Manifest
	if sm := s.models[rec.Decision.Model.ID]; sm != nil {
		manifest = sm.model.Manifest
	}
	// The page's ledger check sends the token back for the proof.
	page, err := web.DecisionPageFromRecord(entry.ID, c.Query("token"), rec, manifest)
	if err != nil {
		abortKind(c, "internal", "the page could not be built from the ledger record")
		return
	}
	rv := s.recourseFor(c.Request.Context(), entry, rec)
	for _, cf := range rv.Counterfactuals {
		page.Counterfactuals = append(page.Counterfactuals, cf.Text)
	}
	page.NoRecourseText = rv.Message
	page.RecourseRecord = rv.RecordID
	s.renderPage(c, func(b *bytes.Buffer) error { return s.pages.RenderDecision(b, page) })
}

// auditWindow is how many entries at each end of the log the audit page
// shows: the first ones hold the initial governance events, the last ones
// the recent activity.
const auditWindow = 200

// uiAudit: GET /ui/audit, the regulator's page. Browsers cannot attach a
// bearer key to a navigation, so the key may come as the password of
// HTTP Basic authentication, which the browser prompts for.
func (s *Server) uiAudit(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	if callerOf(c).Role == "" {
		c.Header("WWW-Authenticate", `Basic realm="glassbox audit", charset="UTF-8"`)
	}
	if !s.authorize(c, policy.ActionAuditRead, "", "") {
		return
	}
	ctx := c.Request.Context()
	cp, err := s.ledger.LatestCheckpoint(ctx)
	if err != nil {
		s.abortLedger(c, err, "")
		return
	}
	var entries []transparency.Entry
	if cp.Size > 0 {
		head := min(cp.Size, auditWindow)
		first, err := s.ledger.Entries(ctx, 0, int(head))
		if err != nil {
			s.abortLedger(c, err, "")
			return
		}
		entries = append(entries, first...)
		if cp.Size > head {
			start := max(head, cp.Size-auditWindow)
			last, err := s.ledger.Entries(ctx, start, int(cp.Size-start))
			if err != nil {
				s.abortLedger(c, err, "")
				return
			}
			entries = append(entries, last...)
		}
	}
	list, gov := web.AuditFromEntries(entries)
	page := web.AuditPage{
		Checkpoint: string(cp.Note), TreeSize: cp.Size, VerifierKey: s.ledger.VerifierKey(),
		Entries: list, Governance: gov, GeneratedAt: s.now().UTC(),
	}
	s.renderPage(c, func(b *bytes.Buffer) error { return s.pages.RenderAudit(b, page) })
}

func (s *Server) renderPage(c *gin.Context, render func(*bytes.Buffer) error) {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		s.log.ErrorContext(c.Request.Context(), "rendering page", slog.Any("err", err))
		abortKind(c, "internal", "the page could not be rendered")
		return
	}
	s.pages.SetHeaders(c.Writer.Header())
	c.Header("Content-Type", "text/html; charset=utf-8")
	c.Status(http.StatusOK)
	c.Writer.Write(b.Bytes())
}
