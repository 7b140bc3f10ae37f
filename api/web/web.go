package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/glassbox-ledger/glassbox/models"
)

//go:embed assets
var assets embed.FS

// Renderer holds the parsed templates and the inline assets. Parse once
// with New and share it: it is safe for concurrent use.
type Renderer struct {
	decision, audit *template.Template
	css             template.CSS
	decisionJS      template.JS
	auditJS         template.JS
	csp             string
	// The reviewer page (reviews.go).
	reviews   *template.Template
	reviewsJS template.JS
}

// New parses the embedded templates and assembles the inline scripts.
func New() (*Renderer, error) {
	read := func(name string) (string, error) {
		b, err := assets.ReadFile("assets/" + name)
		return string(b), err
	}
	css, err := read("page.css")
	if err != nil {
		return nil, err
	}
	verify, err := read("verify.js")
	if err != nil {
		return nil, err
	}
	applicant, err := read("applicant.js")
	if err != nil {
		return nil, err
	}
	auditJS, err := read("audit.js")
	if err != nil {
		return nil, err
	}
	reviewsJS, err := read("reviews.js")
	if err != nil {
		return nil, err
	}
	post, err := read("post.js")
	if err != nil {
		return nil, err
	}
	r := &Renderer{
		css: template.CSS(css),
		// One script element per page: the library first, then the page's
		// own code, so a single hash covers all the page may run.
		decisionJS: template.JS(verify + "\n" + post + "\n" + applicant),
		auditJS:    template.JS(verify + "\n" + auditJS),
		reviewsJS:  template.JS(post + "\n" + reviewsJS),
	}
	for _, s := range []string{css, string(r.decisionJS), string(r.auditJS), string(r.reviewsJS)} {
		// The assets are inlined verbatim into <style>/<script>; any of
		// these would end the element early or change how it parses.
		low := strings.ToLower(s)
		if strings.Contains(low, "</script") || strings.Contains(low, "</style") || strings.Contains(low, "<!--") {
			return nil, errors.New("web: inline asset contains an HTML end tag or comment opener")
		}
	}
	r.csp = buildCSP(css, string(r.decisionJS), string(r.auditJS), string(r.reviewsJS))
	if r.decision, err = template.New("decision.html.tmpl").ParseFS(assets, "assets/layout.html.tmpl", "assets/decision.html.tmpl"); err != nil {
		return nil, err
	}
	if r.audit, err = template.New("audit.html.tmpl").ParseFS(assets, "assets/layout.html.tmpl", "assets/audit.html.tmpl"); err != nil {
		return nil, err
	}
	if r.reviews, err = template.New("reviews.html.tmpl").ParseFS(assets, "assets/layout.html.tmpl", "assets/reviews.html.tmpl"); err != nil {
		return nil, err
	}
	return r, nil
}

// buildCSP allows exactly the inline style and scripts this package emits,
// by hash rather than nonce, so the header is the same for every response
// and pages stay cacheable. connect-src 'self' is what the ledger check
// needs; everything else is shut.
func buildCSP(css string, scripts ...string) string {
	h := func(s string) string {
		d := sha256.Sum256([]byte(s))
		return "'sha256-" + base64.StdEncoding.EncodeToString(d[:]) + "'"
	}
	var js []string
	for _, s := range scripts {
		js = append(js, h(s))
	}
	return strings.Join([]string{
		"default-src 'none'",
		"script-src " + strings.Join(js, " "),
		"style-src " + h(css),
		"img-src 'self'",
		"connect-src 'self'",
		"base-uri 'none'",
		"form-action 'none'",
		"frame-ancestors 'none'",
	}, "; ")
}

// ContentSecurityPolicy is the Content-Security-Policy header value for
// both pages. It depends only on the embedded assets.
func (r *Renderer) ContentSecurityPolicy() string { return r.csp }

// SetHeaders sets the response headers both pages need: the CSP, and
// because the applicant page's URL carries a token and the pages show
// personal or supervisory data, no referrer, no caching and no framing.
func (r *Renderer) SetHeaders(h http.Header) {
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", r.csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
}

// VerifyScript returns verify.js, the in-browser verification library, so
// it can also be served on its own for third parties.
func VerifyScript() []byte {
	b, err := assets.ReadFile("assets/verify.js")
	if err != nil {
		panic(err) // embedded at build time; cannot be missing
	}
	return b
}

// RenderDecision renders the applicant page with a freshly parsed
// Renderer. Servers should keep one Renderer from New instead.
func RenderDecision(w io.Writer, p DecisionPage) error {
	r, err := New()
	if err != nil {
		return err
	}
	return r.RenderDecision(w, p)
}

// RenderAudit renders the regulator page with a freshly parsed Renderer.
// Servers should keep one Renderer from New instead.
func RenderAudit(w io.Writer, p AuditPage) error {
	r, err := New()
	if err != nil {
		return err
	}
	return r.RenderAudit(w, p)
}

// ContentSecurityPolicy returns the CSP header value for the pages; see
// Renderer.ContentSecurityPolicy.
func ContentSecurityPolicy() (string, error) {
	r, err := New()
	if err != nil {
		return "", err
	}
	return r.csp, nil
}

// pageCommon is what the layout template needs.
type pageCommon struct {
	Lang    string
	T       pageText
	Title   string
	Heading string
	CSS     template.CSS
	Script  template.JS
}

type outcomeView struct {
	Class    string // approve, refer, decline or unknown
	Headline string
	Sentence string
}

type gaugeView struct {
	Score, Min, Max string
	FillW, MarkerX  string
	Label           string
}

type decisionView struct {
	pageCommon
	P          DecisionPage
	APIPrefix  string
	Outcome    outcomeView
	HasScore   bool
	Gauge      gaugeView
	PD         string
	HasChart   bool
	Charts     []chartView // wide and narrow drawings of the same chart
	ShowChange bool
	NoChange   string
	NoScript   string
	ScaleText  string
	Created    string
	// HistoryHeading and HistoryIntro head the history section.
	HistoryHeading, HistoryIntro string
	ContestT                     contestText
	// Witnesses is DecisionPage.WitnessKeys space-separated, for the
	// page's data attribute (keys hold no spaces).
	Witnesses string
}

// RenderDecision writes the applicant page. The page is rendered into a
// buffer first so that a failure never leaves half a page on the wire.
func (r *Renderer) RenderDecision(w io.Writer, p DecisionPage) error {
	if b, err := hex.DecodeString(p.ID); err != nil || len(b) != 32 {
		return fmt.Errorf("web: decision id %q is not 64 hex digits", p.ID)
	}
	lang := p.Lang
	if lang != Spanish {
		lang = English
	}
	t := textFor(lang)
	v := decisionView{
		pageCommon: pageCommon{Lang: lang, T: t, Title: t.Title, Heading: t.Title, CSS: r.css, Script: r.decisionJS},
		P:          p,
		APIPrefix:  apiPrefix(p.APIPrefix),
		Outcome:    outcomeIn(lang, p.Decision),
		HasChart:   len(p.Contributions) > 0,
		ShowChange: p.Decision != OutcomeApprove,
		Created:    formatTime(p.CreatedAt),
		Witnesses:  strings.Join(p.WitnessKeys, " "),
	}
	if p.ScoreMax > p.ScoreMin && !math.IsNaN(p.Score) {
		v.HasScore = true
		v.Gauge = gauge(lang, p.Score, p.ScoreMin, p.ScoreMax)
		v.ScaleText = fmt.Sprintf(t.ScaleFmt, v.Gauge.Min, v.Gauge.Max)
	}
	if p.ProbabilityOfDefault >= 0 && p.ProbabilityOfDefault <= 1 {
		v.PD = fmt.Sprintf("%.1f%%", p.ProbabilityOfDefault*100)
	}
	if v.HasChart {
		per := p.PointsPerLogOdds
		if per <= 0 {
			s := models.DefaultScoreScale()
			per = s.PDO / math.Ln2
		}
		words := chartWordsFor(lang)
		v.Charts = []chartView{
			buildChart(p.Contributions, per, words, wideLayout()),
			buildChart(p.Contributions, per, words, narrowLayout()),
		}
	}
	if len(p.Counterfactuals) == 0 {
		// The caller's sentence is English; other languages use the page's
		// own, which says the same without the search's parameters.
		v.NoChange = p.NoRecourseText
		if v.NoChange == "" || lang != English {
			v.NoChange = t.NoChange
		}
	}
	v.NoScript = fmt.Sprintf(t.NoScript, v.APIPrefix, p.ID)
	v.HistoryHeading, v.HistoryIntro = historyHeading(lang)
	v.ContestT = contestTextFor(lang)
	return execute(w, r.decision, v)
}

type auditGroup struct {
	Type, Title string
	Entries     []AuditEntry
}

type auditView struct {
	pageCommon
	P         AuditPage
	APIPrefix string
	Origin    string
	Root      string
	Groups    []auditGroup
	Generated string
}

// RenderAudit writes the regulator page.
func (r *Renderer) RenderAudit(w io.Writer, p AuditPage) error {
	v := auditView{
		pageCommon: pageCommon{Lang: English, T: textFor(English), Title: "Ledger audit", Heading: "Ledger audit", CSS: r.css, Script: r.auditJS},
		P:          p,
		APIPrefix:  apiPrefix(p.APIPrefix),
		Generated:  formatTime(p.GeneratedAt),
	}
	if origin, size, root, ok := checkpointSummary(p.Checkpoint); ok {
		v.Origin, v.Root = origin, root
		if v.P.TreeSize == 0 {
			v.P.TreeSize = size
		}
	}
	groups := []auditGroup{
		{Type: "decision", Title: "Decisions"},
		{Type: "model_admitted", Title: "Model admissions"},
		{Type: "policy_activated", Title: "Policy activations"},
		{Type: "recourse", Title: "Recourse shown to applicants"},
	}
	var other []AuditEntry
	for _, e := range p.Entries {
		i := slices.IndexFunc(groups, func(g auditGroup) bool { return g.Type == e.Type })
		if i < 0 {
			other = append(other, e)
			continue
		}
		groups[i].Entries = append(groups[i].Entries, e)
	}
	if len(other) > 0 {
		groups = append(groups, auditGroup{Type: "other", Title: "Other entries", Entries: other})
	}
	for i := range groups {
		slices.SortStableFunc(groups[i].Entries, byIndexDesc)
	}
	v.Groups = groups
	return execute(w, r.audit, v)
}

func execute(w io.Writer, t *template.Template, data any) error {
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}

func apiPrefix(p string) string {
	if p == "" {
		return "/v1"
	}
	return strings.TrimRight(p, "/")
}

// Gauge geometry, in the score SVG's user units.
const (
	gaugeX0 = 8.0
	gaugeW  = 304.0
)

func gauge(lang string, score, lo, hi float64) gaugeView {
	f := (min(max(score, lo), hi) - lo) / (hi - lo)
	return gaugeView{
		Score:   fmt.Sprintf("%.0f", score),
		Min:     fmt.Sprintf("%.0f", lo),
		Max:     fmt.Sprintf("%.0f", hi),
		FillW:   num(f * gaugeW),
		MarkerX: num(gaugeX0 + f*gaugeW),
		Label:   gaugeLabel(lang, fmt.Sprintf("%.0f", score), fmt.Sprintf("%.0f", lo), fmt.Sprintf("%.0f", hi)),
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2 January 2006, 15:04 UTC")
}

// reloadPage loads the same URL again as a navigation of its own (the
// server answers it to cross-site navigations that arrive without the
// applicant's SameSite=Strict cookie). It needs no script or style, so
// the pages' Content-Security-Policy covers it.
const reloadPage = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0"><title>Your credit decision</title></head>
<body><p>Opening your decision… <a href="">Continue</a> if nothing happens.</p></body></html>
`

// ReloadPage returns the page that reloads its own URL.
func ReloadPage() []byte { return []byte(reloadPage) }
