package api

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/api/web"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// language picks the notice's or page's language from ?lang= and
// Accept-Language, answering 400 for an unsupported ?lang=.
func language(c *gin.Context) (string, bool) {
	q, has := c.GetQuery("lang")
	lang, err := notice.PickLanguage(q, has, c.GetHeader("Accept-Language"))
	if err != nil {
		abortKind(c, "invalid-query", err.Error())
		return "", false
	}
	c.Header("Content-Language", lang)
	c.Header("Vary", "Accept, Accept-Language")
	return lang, true
}

// scoreRange is the served model's score range, or 0, 0 when the record's
// model is not served (or not the same file).
func (s *Server) scoreRange(rec *transparency.Record) (lo, hi float64, m *scoring.Model) {
	sm := s.models[rec.Decision.Model.ID]
	if sm == nil || sm.model.SHA256 != rec.Decision.Model.SHA256 {
		return 0, 0, nil
	}
	lo, hi, _ = sm.model.ScoreRange()
	return lo, hi, sm.model
}

// getNotice: GET /v1/decisions/{id}/notice, the notice of action taken,
// as text (default) or HTML (Accept: text/html), in English or Spanish
// (?lang=es or Accept-Language: es).
func (s *Server) getNotice(c *gin.Context) {
	if !checkQuery(c, "token", "lang", "record") {
		return
	}
	lang, ok := language(c)
	if !ok {
		return
	}
	entry, rec, ok := s.lifecycleDecision(c, policy.ActionDecisionsNotice)
	if !ok {
		return
	}
	var which string
	if r, present := c.GetQuery("record"); present {
		id, err := transparency.ParseID(r)
		if err != nil {
			abortKind(c, "invalid-query", "record must be a record id, 64 hexadecimal digits")
			return
		}
		which = id.String()
	}
	// The notice in force is the final action's, once there is one.
	n, _, err := s.noticeFor(entry, rec, which, lang)
	switch {
	case errors.Is(err, errNoSuchNotice), errors.Is(err, notice.ErrNoNotice):
		abortKind(c, "not-found", err.Error())
		return
	case err != nil:
		abortKind(c, "internal", "the notice could not be built from the ledger record: "+err.Error())
		return
	}
	html := c.NegotiateFormat(gin.MIMEPlain, gin.MIMEHTML) == gin.MIMEHTML
	b, err := s.renderNotice(n, html)
	if html {
		// The same headers as the pages: the notice is personal data
		// rendered as HTML.
		s.pages.SetHeaders(c.Writer.Header())
	} else {
		c.Header("Content-Type", "text/plain; charset=utf-8")
	}
	if err != nil {
		abortKind(c, "internal", "the notice could not be rendered")
		return
	}
	c.Status(http.StatusOK)
	c.Writer.Write(b)
}

// uiDecision: GET /ui/decisions/{id}?token=…, the applicant's page, in
// English or Spanish like the notice. A token in the link is exchanged
// for a cookie and the browser sent back to the same URL without it, so
// that the token stays out of the browser's history and of access logs
// further on; the page and its ledger check then authenticate with the
// cookie.
func (s *Server) uiDecision(c *gin.Context) {
	if !checkQuery(c, "token", "lang") {
		return
	}
	lang, ok := language(c)
	if !ok {
		return
	}
	who := callerOf(c)
	if who.source == fromQuery && who.Role == RoleApplicant && strings.EqualFold(who.TokenDecisionID, c.Param("id")) {
		http.SetCookie(c.Writer, s.tokenCookie(c, c.Query("token"), 0))
		// Only the token leaves the URL; the language choice stays.
		u := *c.Request.URL
		q := u.Query()
		q.Del("token")
		u.RawQuery = q.Encode()
		c.Header("Referrer-Policy", "no-referrer")
		c.Redirect(http.StatusSeeOther, u.RequestURI())
		c.Abort()
		return
	}
	if who.Role == "" && crossSiteNavigation(c) {
		// A SameSite=Strict cookie is not sent on a navigation that
		// another site started, redirects included: a link in a web mail
		// lands here without it. A navigation this page starts itself is
		// same-site, and carries the cookie if there is one.
		s.pages.SetHeaders(c.Writer.Header())
		c.Status(http.StatusOK)
		c.Writer.Write(web.ReloadPage())
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
	// The page's ledger check authenticates with the cookie: the token
	// is not written into the page.
	page, err := web.DecisionPageFromRecordIn(lang, entry.ID, "", rec, manifest)
	if err != nil {
		abortKind(c, "internal", "the page could not be built from the ledger record")
		return
	}
	if lo, hi, _ := s.scoreRange(rec); hi > lo && page.ScoreMax > page.ScoreMin {
		page.ScoreMin, page.ScoreMax = lo, hi
	}
	rv := s.recourseFor(c.Request.Context(), entry, rec)
	for _, cf := range rv.Counterfactuals {
		// The recorded text is the API's; the page words the same
		// verified changes in its language with the manifest's plain
		// names, units and levels.
		text := cf.Text
		if manifest != nil {
			text = web.RecourseText(lang, manifest, cf.Changes)
		}
		page.Counterfactuals = append(page.Counterfactuals, text)
	}
	page.NoRecourseText = rv.Message
	page.RecourseRecord = rv.RecordID
	page.History = s.pageHistory(c.Request.Context(), entry.ID.String(), lang)
	page.Contest = s.contestForm(entry.ID.String(), rec, lang)
	if w := s.cfg.Witnesses; w != nil {
		st := w.Status()
		for _, ws := range st.Witnesses {
			page.WitnessKeys = append(page.WitnessKeys, ws.Key)
		}
		page.WitnessQuorum = st.Quorum
	}
	s.renderPage(c, func(b *bytes.Buffer) error { return s.pages.RenderDecision(b, page) })
}

// auditWindow is how many entries at each end of the log the audit page
// shows: the first ones hold the initial governance events, the last ones
// the recent activity.
const auditWindow = 200

// auditCheckpoint admits a caller to the audit pages and returns the
// latest signed checkpoint; false means the answer has been written.
// Browsers cannot attach a bearer key to a navigation, so the key may come
// as the password of HTTP Basic authentication, which the browser prompts
// for.
func (s *Server) auditCheckpoint(c *gin.Context) (*transparency.Checkpoint, bool) {
	if !checkQuery(c) {
		return nil, false
	}
	if callerOf(c).Role == "" {
		c.Header("WWW-Authenticate", `Basic realm="glassbox audit", charset="UTF-8"`)
	}
	if !s.authorize(c, policy.ActionAuditRead, "", "") {
		return nil, false
	}
	cp, err := s.ledger.LatestCheckpoint(c.Request.Context())
	if err != nil {
		s.abortLedger(c, err, "")
		return nil, false
	}
	return cp, true
}

// uiAudit: GET /ui/audit, the regulator's page (see auditCheckpoint for
// how the regulator's key arrives).
func (s *Server) uiAudit(c *gin.Context) {
	cp, ok := s.auditCheckpoint(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
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

// crossSiteNavigation reports whether the browser says the request is a
// page navigation started from another site (Fetch Metadata headers).
func crossSiteNavigation(c *gin.Context) bool {
	return c.GetHeader("Sec-Fetch-Site") == "cross-site" && c.GetHeader("Sec-Fetch-Mode") == "navigate"
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
