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

// ContestForm is the applicant page's contest section.
type ContestForm struct {
	// Fields are the features the applicant may correct, with the values
	// the decision was made with.
	Fields []ContestField
	// Recorded is the id of the contest record once the decision was
	// contested; the form is not shown then.
	Recorded string
}

// ContestField is one correctable feature.
type ContestField struct {
	Name, Label, Value string
}

// contestText is the contest section's wording in lang.
type contestText struct {
	Heading, Intro, Statement, Corrections, Button, Recorded string
}

func contestTextFor(lang string) contestText {
	if lang == Spanish {
		return contestText{
			Heading:     "Impugnar esta decisión",
			Intro:       "Si cree que la decisión es incorrecta, díganos por qué y corrija los datos que estén mal. Una persona revisará su solicitud otra vez.",
			Statement:   "Por qué impugna la decisión",
			Corrections: "Datos con los que se tomó la decisión (cambie los que estén mal)",
			Button:      "Enviar impugnación",
			Recorded:    "Usted impugnó esta decisión. Registro:",
		}
	}
	return contestText{
		Heading:     "Contest this decision",
		Intro:       "If you think the decision is wrong, tell us why and correct any details that are wrong. A person will review your application again.",
		Statement:   "Why you contest the decision",
		Corrections: "The details the decision was made with (change any that are wrong)",
		Button:      "Send my contest",
		Recorded:    "You contested this decision. Record:",
	}
}
