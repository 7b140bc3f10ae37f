// Package notice renders the notice of action taken on a credit application
// from its ledger record: the elements of Regulation B (12 CFR 1002.9(a)(2),
// (b)(1) and (b)(2)), the score disclosure of FCRA §615(a)(2) because a
// credit score is used, and, when the model uses consumer-report data, the
// other FCRA §615(a) elements (15 U.S.C. 1681m(a)).
//
// The notice is built from the ledger record alone, plus the creditor's
// configuration, the model's manifest (plain names, consumer-report marks)
// and the model's score range, so what the applicant is told is exactly
// what was logged. Notices are written in English or Spanish.
package notice

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"math"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/glassbox-ledger/glassbox/internal/reasontext"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// Creditor is the lender's identity and contacts printed on notices; see
// the README's "Creditor configuration" for the serve flags that set it.
type Creditor struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Reconsideration says how to ask for the decision to be reviewed;
	// empty uses the notice's default wording in the notice's language.
	Reconsideration string `json:"reconsideration"`
	// AgencyID picks the federal agency of Regulation B's Appendix A that
	// the ECOA statement names (see AppendixA).
	AgencyID string `json:"agency"`
	// CRA is the consumer reporting agency whose report the model's
	// consumer-report features come from.
	CRA ConsumerReportingAgency `json:"consumer_reporting_agency"`
}

// ConsumerReportingAgency is what FCRA §615(a)(3) requires a notice to
// give about the agency that furnished the report.
type ConsumerReportingAgency struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Phone is the agency's toll-free number (for nationwide agencies).
	Phone string `json:"phone"`
}

// DefaultCreditor is the unconfigured creditor: notices built with it are
// marked SPECIMEN.
func DefaultCreditor() Creditor { return Creditor{} }

// Missing lists what is not configured for notices of a model that does
// (consumerReport) or does not use consumer-report data, as flag names.
func (c Creditor) Missing(consumerReport bool) []string {
	var out []string
	if strings.TrimSpace(c.Name) == "" {
		out = append(out, "--creditor-name")
	}
	if strings.TrimSpace(c.Address) == "" {
		out = append(out, "--creditor-address")
	}
	if _, err := LookupAgency(c.AgencyID); err != nil {
		out = append(out, "--creditor-agency")
	}
	if consumerReport {
		out = append(out, c.CRA.Missing()...)
	}
	return out
}

// Missing lists the flags of the agency's details that are not set.
func (a ConsumerReportingAgency) Missing() []string {
	var out []string
	for _, f := range []struct{ v, flag string }{{a.Name, "--cra-name"}, {a.Address, "--cra-address"}, {a.Phone, "--cra-phone"}} {
		if strings.TrimSpace(f.v) == "" {
			out = append(out, f.flag)
		}
	}
	return out
}

// Options are what a notice needs besides the record.
type Options struct {
	Creditor Creditor
	// Manifest of the decision's model: display names, and which features
	// come from a consumer report. It may be nil (model no longer served).
	Manifest *models.Manifest
	// ScoreMin and ScoreMax are the model's score range (scoring's
	// ScoreRange); ScoreMax <= ScoreMin means unknown.
	ScoreMin, ScoreMax float64
	// Lang is English or Spanish; anything else is English.
	Lang string
}

// Notice holds every element of the notice, in its language.
type Notice struct {
	T    messages
	Lang string
	// Specimen is set when the creditor (or, for a consumer-report model,
	// the reporting agency) is not configured.
	Specimen bool
	Missing  []string

	DecisionID    string
	ApplicationID string
	Date          time.Time
	CreditorName  string
	// CreditorAddress is one line per element.
	CreditorAddress []string
	Reconsideration string
	Agency          Agency

	// Action is the decision: approve, refer or decline.
	Action     string
	ActionText string
	// NextSteps say what happens after a referral.
	NextSteps []string
	Adverse   bool
	// Incomplete: a notice of incompleteness (12 CFR 1002.9(c)(2)); the
	// reasons then name the missing information.
	Incomplete bool
	// Reasons are the principal reasons (at most four), most important first.
	Reasons []Reason

	// Score disclosure (FCRA §615(a)(2), §609(f)).
	Score      float64
	HasRange   bool
	RangeText  string
	ScoreBy    string
	KeyFactors []string

	// FCRA is set when the model uses consumer-report data (§615(a)).
	FCRA *FCRA

	ModelID, ModelSHA256, PolicyRevision string

	// FinalActionID is set on the notice of a final action (BuildFinal):
	// the id of its final_action record, shown under FinalActionLabel.
	FinalActionID, FinalActionLabel string
	// Terms are a counteroffer's terms, one "name: value" each.
	Terms []string
}

// FCRA holds the §615(a) elements about the consumer reporting agency.
type FCRA struct {
	Agency ConsumerReportingAgency
	// Features are the plain names of the features taken from the report.
	Features []string
}

// Reason is one principal reason for the action.
type Reason struct {
	Code string
	Text string
}

// reasonFor words a recorded reason for the notice in lang: the
// manifest's text in that language when it has one, else the recorded
// text. It is the one place a reason's wording is chosen, so fields the
// record may carry later (direction, rule) are added here.
func reasonFor(r transparency.Reason, m *models.Manifest, lang string) Reason {
	text := r.Text
	if lang != English {
		// A rule's or the fallback's reason has no manifest text.
		text = reasontext.Translate(lang, r.Code, r.Text)
		if m != nil {
			if i := m.FeatureIndex(r.Feature); i >= 0 {
				if t := m.Features[i].DisplayReason(lang, r.Direction); t != "" {
					text = t
				}
			}
		}
	}
	return Reason{Code: r.Code, Text: text}
}

// ErrNotDecision means the record is not a decision.
var ErrNotDecision = errors.New("record is not a decision")

// maxReasons is how many reasons a notice lists: Regulation B's comment
// 9(b)(2)-4 says more than four are unlikely to help, and FCRA §609(f)
// asks for up to four key factors.
const maxReasons = 4

// Build assembles the notice from a decoded ledger record.
func Build(id string, rec *transparency.Record, o Options) (*Notice, error) {
	if rec == nil || rec.Type != transparency.TypeDecision || rec.Decision == nil {
		return nil, ErrNotDecision
	}
	lang := o.Lang
	if lang != Spanish {
		lang = English
	}
	d := rec.Decision
	t := messagesFor(lang)
	c := o.Creditor
	consumerReport := o.Manifest != nil && o.Manifest.UsesConsumerReport()
	n := &Notice{
		T: t, Lang: lang,
		Missing:         c.Missing(consumerReport),
		DecisionID:      id,
		ApplicationID:   d.ApplicationID,
		Date:            rec.Timestamp.UTC(),
		CreditorName:    orNotSet(c.Name, t, "--creditor-name"),
		CreditorAddress: lines(orNotSet(c.Address, t, "--creditor-address")),
		Reconsideration: c.Reconsideration,
		Action:          d.Decision,
		Score:           d.Score,
		ModelID:         d.Model.ID,
		ModelSHA256:     d.Model.SHA256,
		PolicyRevision:  d.Policy.Revision,
	}
	n.Specimen = len(n.Missing) > 0
	if n.Reconsideration == "" {
		n.Reconsideration = t.DefaultRecon
	}
	if a, err := LookupAgency(c.AgencyID); err == nil {
		n.Agency = a
	} else {
		n.Agency = Agency{Contacts: []Contact{{Name: fmt.Sprintf("(%s: --creditor-agency)", t.NotSet)}}}
	}
	text, ok := actionText(lang, d.Decision)
	if !ok {
		return nil, fmt.Errorf("unknown decision %q", d.Decision)
	}
	n.ActionText = text
	n.Adverse = d.Decision == "refer" || d.Decision == "decline" || d.Decision == transparency.ActionCounteroffer
	n.Incomplete = d.Decision == "incomplete"
	creditor := c.Name
	if strings.TrimSpace(creditor) == "" {
		creditor = pick(lang == Spanish, "the lender", "el prestamista")
	}
	if d.Decision == "refer" {
		n.NextSteps = referSteps(lang, creditor)
	}
	n.ScoreBy = scoreByText(lang, creditor)
	for _, r := range d.Reasons {
		// An incompleteness notice names everything that is missing.
		if !n.Incomplete && len(n.Reasons) == maxReasons {
			break
		}
		rr := reasonFor(r, o.Manifest, lang)
		n.Reasons = append(n.Reasons, rr)
		// Key factors are what adversely affected the score: the model's
		// reasons, not a policy rule's or a missing item's.
		if n.Adverse && r.Rule == "" && r.Feature != "" {
			n.KeyFactors = append(n.KeyFactors, rr.Text)
		}
	}
	if (n.Adverse || n.Incomplete) && len(n.Reasons) == 0 {
		return nil, errors.New("adverse decision record carries no reasons")
	}
	if o.ScoreMax > o.ScoreMin {
		n.HasRange = true
		n.RangeText = rangeText(lang, points(o.ScoreMin), points(o.ScoreMax))
	}
	if consumerReport {
		cra := c.CRA
		cra.Name = orNotSet(cra.Name, t, "--cra-name")
		cra.Address = orNotSet(cra.Address, t, "--cra-address")
		cra.Phone = orNotSet(cra.Phone, t, "--cra-phone")
		f := &FCRA{Agency: cra}
		for _, feat := range o.Manifest.Features {
			if feat.Source == models.SourceConsumerReport {
				f.Features = append(f.Features, feat.DisplayName(lang))
			}
		}
		n.FCRA = f
	}
	return n, nil
}

func orNotSet(v string, t messages, flag string) string {
	if strings.TrimSpace(v) == "" {
		return fmt.Sprintf("(%s: %s)", t.NotSet, flag)
	}
	return v
}

// lines splits a configured address on newlines or semicolons, so that
// "--creditor-address '1 Main St; Springfield, IL 62701'" prints as two.
func lines(s string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ';' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func points(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', 0, 64) }

//go:embed notice.html.tmpl notice.txt.tmpl
var templates embed.FS

// Renderer renders notices; build it once and share it.
type Renderer struct {
	html *template.Template
	text *texttemplate.Template
}

// formatDate writes a date the way each language does.
func formatDate(lang string, t time.Time) string {
	if lang == Spanish {
		months := [...]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre", "noviembre", "diciembre"}
		return fmt.Sprintf("%d de %s de %d", t.Day(), months[t.Month()-1], t.Year())
	}
	return t.Format("2 January 2006")
}

// NewRenderer parses the embedded templates.
func NewRenderer() (*Renderer, error) {
	funcs := map[string]any{
		"date":   formatDate,
		"points": points,
		"inc":    func(i int) int { return i + 1 },
		"upper":  strings.ToUpper,
		"join":   func(v []string) string { return strings.Join(v, ", ") },
	}
	h, err := template.New("notice.html.tmpl").Funcs(funcs).ParseFS(templates, "notice.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("notice html template: %w", err)
	}
	t, err := texttemplate.New("notice.txt.tmpl").Funcs(funcs).ParseFS(templates, "notice.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("notice text template: %w", err)
	}
	return &Renderer{html: h, text: t}, nil
}

// HTML writes the notice as a self-contained HTML page.
func (r *Renderer) HTML(w io.Writer, n *Notice) error {
	var b bytes.Buffer
	if err := r.html.Execute(&b, n); err != nil {
		return fmt.Errorf("render notice: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// Text writes the notice as plain text.
func (r *Renderer) Text(w io.Writer, n *Notice) error {
	var b bytes.Buffer
	if err := r.text.Execute(&b, n); err != nil {
		return fmt.Errorf("render notice: %w", err)
	}
	_, err := w.Write(b.Bytes())
	return err
}
