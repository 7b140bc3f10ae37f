// Package notice renders the notice of action taken on a credit application
// from its ledger record: the elements of Regulation B (12 CFR 1002.9(a)(2),
// (b)(1) and (b)(2)) and, because a credit score is used, the score
// disclosure of FCRA §615(a) (15 U.S.C. 1681m(a)).
//
// The notice is built from the ledger record alone (plus the creditor's own
// contact details and the model's score range), so what the applicant is
// told is exactly what was logged.
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

	"github.com/glassbox-ledger/glassbox/transparency"
)

// Creditor is the lender's identity and contacts printed on notices.
type Creditor struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Reconsideration says how to ask for the decision to be reviewed.
	Reconsideration string `json:"reconsideration"`
	// Agency is the federal agency that administers ECOA compliance for
	// this creditor, with its address.
	Agency string `json:"agency"`
}

// DefaultCreditor is a placeholder to be configured by the operator.
func DefaultCreditor() Creditor {
	return Creditor{
		Name:            "(creditor name not configured: glassbox serve --creditor-name)",
		Address:         "(creditor address not configured: --creditor-address)",
		Reconsideration: "Write to the creditor at the address above within 60 days, quoting the decision id, and include any information you believe was missing or wrong. A person, not the model, will review your application again.",
		Agency:          "Consumer Financial Protection Bureau, 1700 G Street NW, Washington, DC 20552",
	}
}

// Notice holds every element of the notice.
type Notice struct {
	DecisionID    string
	ApplicationID string
	Date          time.Time
	Creditor      Creditor
	// Action is the decision: approve, refer or decline.
	Action string
	// ActionText states the action taken in plain words.
	ActionText string
	Adverse    bool
	// Incomplete: a notice of incompleteness (12 CFR 1002.9(c)(2)); the
	// reasons then name the missing information.
	Incomplete bool
	// Reasons are the principal reasons (at most four), most important first.
	Reasons []Reason
	// Score disclosure (FCRA §615(a)).
	Score          float64
	ScoreMin       float64
	ScoreMax       float64
	ScoreSource    string
	KeyFactors     []string
	PolicyRevision string
}

// Reason is one principal reason for the action.
type Reason struct {
	Code string
	Text string
}

// ErrNotDecision means the record is not a decision.
var ErrNotDecision = errors.New("record is not a decision")

// Build assembles the notice from a decoded ledger record.
func Build(id string, rec *transparency.Record, c Creditor, scoreMin, scoreMax float64) (*Notice, error) {
	if rec == nil || rec.Type != transparency.TypeDecision || rec.Decision == nil {
		return nil, ErrNotDecision
	}
	d := rec.Decision
	n := &Notice{
		DecisionID:     id,
		ApplicationID:  d.ApplicationID,
		Date:           rec.Timestamp.UTC(),
		Creditor:       c,
		Action:         d.Decision,
		Score:          d.Score,
		ScoreMin:       scoreMin,
		ScoreMax:       scoreMax,
		ScoreSource:    fmt.Sprintf("%s (model SHA-256 %s), the creditor's own scoring model run by glassbox", d.Model.ID, d.Model.SHA256),
		PolicyRevision: d.Policy.Revision,
	}
	switch d.Decision {
	case "approve":
		n.ActionText = "Your application for credit has been approved."
	case "refer":
		n.Adverse = true
		n.ActionText = "Your application could not be approved automatically on the terms requested and has been referred to a credit officer for review. You will be told of the final decision. The principal reasons it could not be approved automatically are listed below."
	case "decline":
		n.Adverse = true
		n.ActionText = "We are unable to approve your application for credit on the terms requested."
	case "incomplete":
		n.Incomplete = true
		n.ActionText = "Your application is incomplete, so no decision has been made on it. Please provide the information listed below within 30 days of the date of this notice; otherwise we will be unable to give your application further consideration."
	default:
		return nil, fmt.Errorf("unknown decision %q", d.Decision)
	}
	for _, r := range d.Reasons {
		if !n.Incomplete && len(n.Reasons) == 4 {
			break
		}
		n.Reasons = append(n.Reasons, Reason{Code: r.Code, Text: r.Text})
		// Key factors are what adversely affected the score: the model's
		// reasons, not a policy rule's or a missing item's.
		if n.Adverse && r.Rule == "" && r.Feature != "" {
			n.KeyFactors = append(n.KeyFactors, r.Text)
		}
	}
	if (n.Adverse || n.Incomplete) && len(n.Reasons) == 0 {
		return nil, errors.New("adverse decision record carries no reasons")
	}
	return n, nil
}

//go:embed notice.html.tmpl notice.txt.tmpl
var templates embed.FS

// Renderer renders notices; build it once and share it.
type Renderer struct {
	html *template.Template
	text *texttemplate.Template
}

// NewRenderer parses the embedded templates.
func NewRenderer() (*Renderer, error) {
	funcs := map[string]any{
		"date":   func(t time.Time) string { return t.Format("2 January 2006") },
		"points": func(v float64) string { return strconv.FormatFloat(math.Round(v), 'f', 0, 64) },
		"inc":    func(i int) int { return i + 1 },
		"upper":  strings.ToUpper,
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
