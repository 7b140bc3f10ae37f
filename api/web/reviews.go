package web

import (
	"io"
	"time"
)

// ReviewsPage is the reviewer queue (/ui/reviews): the decisions of a
// lender awaiting a person's final action, oldest first.
type ReviewsPage struct {
	// Lender whose queue it is ("" for a regulator: every lender's).
	Lender string
	// DeadlineDays is the policy's review deadline.
	DeadlineDays int
	Reviews      []ReviewItem
	// CanAct shows the action form on each review (reviewers only).
	CanAct      bool
	APIPrefix   string
	GeneratedAt time.Time
}

// ReviewItem is one review of the queue.
type ReviewItem struct {
	DecisionID, ApplicationID, Lender string
	// Kind is "referral" or "contest".
	Kind         string
	Since, DueAt time.Time
	AgeDays      float64
	Overdue      bool
}

type reviewsView struct {
	pageCommon
	P         ReviewsPage
	APIPrefix string
	Generated string
	Overdue   int
}

// RenderReviews writes the reviewer page.
func (r *Renderer) RenderReviews(w io.Writer, p ReviewsPage) error {
	title := "Reviews"
	if p.Lender != "" {
		title = "Reviews for " + p.Lender
	}
	v := reviewsView{
		pageCommon: pageCommon{Lang: English, T: textFor(English), Title: title, Heading: "Reviewer queue", CSS: r.css, Script: r.reviewsJS},
		P:          p,
		APIPrefix:  apiPrefix(p.APIPrefix),
		Generated:  formatTime(p.GeneratedAt),
	}
	for _, it := range p.Reviews {
		if it.Overdue {
			v.Overdue++
		}
	}
	return execute(w, r.reviews, v)
}

// HistoryItem is one record of a decision's history as the applicant
// page lists it.
type HistoryItem struct {
	// Type is the record type (decision, final_action, notice_sent,
	// outcome, recourse).
	Type     string
	RecordID string
	Time     time.Time
	// Summary says what the record records, in the page's language.
	Summary string
}

// HistorySummary words a lifecycle record for the applicant page in lang.
// action, channel and status are the record's own values.
func HistorySummary(lang, typ, action, channel, status string) string {
	es := lang == Spanish
	switch typ {
	case "decision":
		return pick(es, "Decision by the scoring model: "+action, "Decisión del modelo de puntaje: "+action)
	case "final_action":
		return pick(es, "Final decision by the lender: "+action, "Decisión final del prestamista: "+action)
	case "notice_sent":
		return pick(es, "Notice sent to you by "+channel, "Aviso enviado a usted por "+channel)
	case "outcome":
		return pick(es, "Loan status reported: "+status, "Estado del préstamo informado: "+status)
	case "recourse":
		return pick(es, "What would change the decision was shown to you", "Se le mostró qué cambiaría la decisión")
	}
	return typ
}

func pick(es bool, en, spanish string) string {
	if es {
		return spanish
	}
	return en
}

// historyHeading is the applicant page's history heading in lang.
func historyHeading(lang string) (heading, intro string) {
	if lang == Spanish {
		return "Historial de su solicitud", "Todo lo que el registro guarda sobre esta decisión, en orden. Cada registro tiene su propia prueba en el registro verificable."
	}
	return "History of your application", "Everything the ledger holds about this decision, in order. Each record has its own proof in the verifiable ledger."
}
