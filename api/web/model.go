package web

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/glassbox-ledger/glassbox/internal/reasontext"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// Decision outcomes as recorded in the ledger.
const (
	OutcomeApprove = "approve"
	OutcomeRefer   = "refer"
	OutcomeDecline = "decline"
)

// DecisionPage is what the applicant's page shows. Strings are plain text:
// the templates escape them, so they may hold anything.
type DecisionPage struct {
	// ID is the decision id (64 hex digits, the RFC 6962 leaf hash of the
	// record); the page's ledger check recomputes it from the record bytes.
	ID string
	// Token, when set, is sent back by the ledger check (as ?token=) to
	// fetch the proof. Leave it empty when the browser holds the token in
	// the applicant cookie, as glassbox's server does, so that the token
	// is not written into the page.
	Token string
	// Decision is "approve", "refer" or "decline".
	Decision string
	// Score on [ScoreMin, ScoreMax], higher is safer. The score section is
	// left out when ScoreMax <= ScoreMin (e.g. a minimised record).
	Score, ScoreMin, ScoreMax float64
	// ProbabilityOfDefault in [0, 1]; negative means unknown.
	ProbabilityOfDefault float64
	// Reasons are the adverse-action reasons, most important first.
	Reasons []Reason
	// Contributions are the feature attributions (log-odds of default; a
	// positive value raises risk). Drawn largest first.
	Contributions []Contribution
	// ExpectedValue is the model's average output that the contributions
	// are measured from.
	ExpectedValue float64
	// Counterfactuals are plain-language suggestions (explain.Counterfactual
	// Text) under which the application would have been approved.
	Counterfactuals []string
	// RecourseRecord is the ledger id of the "recourse" record that proves
	// what the suggestions were ("" when there is none).
	RecourseRecord string
	// NoRecourseText replaces the suggestions when there are none; a
	// default sentence is used when it is empty too.
	NoRecourseText string
	ModelID        string
	PolicyRevision string
	CreatedAt      time.Time
	// APIPrefix is where the JSON API is mounted; default "/v1".
	APIPrefix string
	// Lang is the page's language, "en" (default) or "es".
	Lang string
	// Contest, when set, shows the contest form (or, once contested, the
	// contest's record id).
	Contest *ContestForm
	// History is the decision's records after it (final actions, notices
	// sent, loan outcomes), in ledger order; the section is left out when
	// there are none.
	History []HistoryItem
	// PointsPerLogOdds converts contributions to score points for the
	// chart (the scale's PDO / ln 2); 0 uses the default scale's.
	PointsPerLogOdds float64
}

// Reason is one adverse-action reason.
type Reason struct {
	Code string
	Text string
	// Feature is the feature's plain-language name.
	Feature string
	// Value is the applicant's value, already formatted ("1,200 currency
	// units per month", "not provided").
	Value string
}

// Contribution is one bar of the contribution chart.
type Contribution struct {
	// Feature is the plain-language name shown next to the bar.
	Feature string
	// Value is the applicant's value, already formatted.
	Value string
	// Contribution in log-odds of default: positive raises risk.
	Contribution float64
}

// AuditPage is what the regulator's page shows.
type AuditPage struct {
	// Checkpoint is the latest signed checkpoint note, verbatim.
	Checkpoint string
	// TreeSize of Checkpoint; read from the note when zero.
	TreeSize uint64
	// VerifierKey is the ledger's note verifier key, shown for reference.
	VerifierKey string
	// Entries are recent ledger entries, shown grouped by type, newest
	// first within each type.
	Entries []AuditEntry
	// Governance lists model admissions and policy activations.
	Governance []GovernanceEvent
	// APIPrefix is where the JSON API is mounted; default "/v1".
	APIPrefix   string
	GeneratedAt time.Time
}

// AuditEntry is one ledger entry in the audit page's lists.
type AuditEntry struct {
	Index   uint64
	ID      string
	Type    string // transparency.RecordType
	Time    time.Time
	Summary string
}

// GovernanceEvent is a model admission or a policy activation.
type GovernanceEvent struct {
	Index uint64
	ID    string
	Type  string // model_admitted or policy_activated
	Time  time.Time
	// Subject is the model id or "revision N".
	Subject string
	SHA256  string
	Details []Detail
}

// Detail is one key/value attestation of a governance event.
type Detail struct{ Key, Value string }

// DecisionPageFromRecord fills an English DecisionPage from a decision
// record; see DecisionPageFromRecordIn.
func DecisionPageFromRecord(id transparency.ID, token string, rec *transparency.Record, m *models.Manifest) (DecisionPage, error) {
	return DecisionPageFromRecordIn(English, id, token, rec, m)
}

// DecisionPageFromRecordIn fills a DecisionPage in lang from a decision
// record. m supplies the plain-language feature names, units, levels and
// reason texts (its display object) and the score scale; it may be nil.
// Counterfactuals are not in the record: the caller adds them. Fields
// that were minimised out of the record are left empty.
func DecisionPageFromRecordIn(lang string, id transparency.ID, token string, rec *transparency.Record, m *models.Manifest) (DecisionPage, error) {
	if rec == nil || rec.Type != transparency.TypeDecision || rec.Decision == nil {
		return DecisionPage{}, fmt.Errorf("web: not a decision record")
	}
	d := rec.Decision
	omitted := map[string]bool{}
	for _, f := range rec.Omitted() {
		omitted[f] = true
	}
	p := DecisionPage{
		ID:                   id.String(),
		Token:                token,
		Decision:             d.Decision,
		Score:                d.Score,
		ProbabilityOfDefault: d.ProbabilityOfDefault,
		ExpectedValue:        d.ExpectedValue,
		ModelID:              d.Model.ID,
		CreatedAt:            rec.Timestamp,
		Lang:                 lang,
	}
	t := textFor(lang)
	if !omitted["policy"] {
		p.PolicyRevision = d.Policy.Revision
	}
	if omitted["probability_of_default"] {
		p.ProbabilityOfDefault = -1
	}
	if !omitted["score"] {
		scale := models.DefaultScoreScale()
		if m != nil {
			scale = m.ScoreScale
		}
		p.ScoreMin, p.ScoreMax = scale.Min, scale.Max
	}
	if m != nil {
		p.PointsPerLogOdds = m.ScoreScale.PDO / math.Ln2
	}
	for _, r := range d.Reasons {
		p.Reasons = append(p.Reasons, reasonFor(r, m, lang, t))
	}
	for _, name := range slices.Sorted(maps.Keys(d.Attributions)) {
		v, ok := d.Features[name]
		value := t.NotRecorded
		if ok {
			value = displayValue(m, name, v, lang, t)
		}
		p.Contributions = append(p.Contributions, Contribution{
			Feature:      featureLabel(m, name, lang),
			Value:        value,
			Contribution: d.Attributions[name],
		})
	}
	return p, nil
}

// reasonFor words a recorded reason for the page in lang: the manifest's
// text in that language when it has one, else the recorded text. It is
// the one place a reason's wording is chosen, so fields the record may
// carry later (direction, rule) are added here.
func reasonFor(r transparency.Reason, m *models.Manifest, lang string, t pageText) Reason {
	text := r.Text
	if lang != English {
		// A rule's or the fallback's reason has no manifest text.
		text = reasontext.Translate(lang, r.Code, r.Text)
	}
	if f := feature(m, r.Feature); f != nil && lang != English {
		if s := f.DisplayReason(lang, r.Direction); s != "" {
			text = s
		}
	}
	return Reason{
		Code:    r.Code,
		Text:    text,
		Feature: featureLabel(m, r.Feature, lang),
		Value:   displayValue(m, r.Feature, r.Value, lang, t),
	}
}

// displayValue formats a value in plain words: a level by its display
// name, a number with the display unit, a missing value as such.
func displayValue(m *models.Manifest, name string, v transparency.FeatureValue, lang string, t pageText) string {
	f := feature(m, name)
	if l, ok := v.Level(); ok && f != nil {
		return f.DisplayLevel(lang, l)
	}
	if _, ok := v.Number(); !ok {
		if _, ok := v.Level(); !ok {
			return t.NotGiven
		}
	}
	unit := ""
	if f != nil {
		unit = f.DisplayUnit(lang)
	}
	if x, ok := v.Number(); ok && x == 1 {
		unit = singular(lang, unit)
	}
	return FormatFeatureValue(v, unit)
}

// singular is the unit after the number 1: the manifest's units are plural
// ("years", "dollars a month"; "años", "meses", "dólares al mes"), and
// the plural is formed regularly in the first word of each.
func singular(lang, unit string) string {
	word, rest, _ := strings.Cut(unit, " ")
	if rest != "" {
		rest = " " + rest
	}
	switch {
	case lang == Spanish && len(word) > 3 && strings.HasSuffix(word, "es") && strings.ContainsAny(word[len(word)-3:len(word)-2], "rlnsd"):
		return word[:len(word)-2] + rest
	case strings.HasSuffix(word, "s") && len(word) > 1:
		return word[:len(word)-1] + rest
	}
	return unit
}

func feature(m *models.Manifest, name string) *models.Feature {
	if m == nil {
		return nil
	}
	if i := m.FeatureIndex(name); i >= 0 {
		return &m.Features[i]
	}
	return nil
}

func featureLabel(m *models.Manifest, name, lang string) string {
	if f := feature(m, name); f != nil {
		return f.DisplayName(lang)
	}
	return name
}

// FormatFeatureValue writes a feature value for people: numbers with
// thousands separators and the unit, levels as they are, missing values
// as "not provided".
func FormatFeatureValue(v transparency.FeatureValue, unit string) string {
	if x, ok := v.Number(); ok {
		s := formatNumber(x)
		if unit != "" {
			s += " " + unit
		}
		return s
	}
	if l, ok := v.Level(); ok {
		return l
	}
	return "not provided"
}

// formatNumber keeps at most two decimals: values shown to applicants are
// money, months and years, where more digits only confuse.
func formatNumber(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	s := strconv.FormatFloat(math.Abs(x), 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return grouped(x < 0 && s != "0", s)
}

// grouped writes the decimal digits s (no sign) with thousands separators,
// after a minus sign when negative.
func grouped(negative bool, s string) string {
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if negative {
		b.WriteString("−")
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}

// AuditFromEntries turns ledger entries into the audit page's lists.
// Entries that do not decode are listed with a summary saying so rather
// than dropped, since a regulator should see that they exist.
func AuditFromEntries(entries []transparency.Entry) ([]AuditEntry, []GovernanceEvent) {
	var list []AuditEntry
	var gov []GovernanceEvent
	for _, e := range entries {
		ae := AuditEntry{Index: e.Index, ID: e.ID.String(), Type: string(e.Type)}
		switch {
		case e.Foreign:
			ae.Type, ae.Summary = "foreign", "FOREIGN LEAF: not written by this ledger (its authenticator does not verify); not a decision"
			list = append(list, ae)
			continue
		case e.Erased:
			ae.Summary = "record erased; the leaf and its proofs remain"
			list = append(list, ae)
			continue
		}
		content := e.Record
		if content == nil && transparency.LeafFormat(e.Data) != transparency.EnvelopeFormat {
			content = e.Data // a format 1 leaf is its record
		}
		rec, err := transparency.DecodeRecord(content)
		if err != nil {
			ae.Summary = "record does not decode: " + err.Error()
			list = append(list, ae)
			continue
		}
		ae.Type, ae.Time = string(rec.Type), rec.Timestamp
		if rec.Type != transparency.TypeDecision && rec.Timestamp.Equal(time.Unix(0, 0)) {
			// Governance records are content-addressed (every replica and
			// restart writes the same bytes), so they carry the epoch
			// rather than a time; showing 1970 would mislead.
			ae.Time = time.Time{}
		}
		switch rec.Type {
		case transparency.TypeDecision:
			d := rec.Decision
			parts := []string{}
			if d.Decision != "" {
				parts = append(parts, d.Decision)
			}
			if !slices.Contains(rec.Omitted(), "score") {
				parts = append(parts, "score "+strconv.FormatFloat(math.Round(d.Score), 'f', 0, 64))
			}
			if d.Model.ID != "" {
				parts = append(parts, "model "+d.Model.ID)
			}
			if d.Lender != "" {
				parts = append(parts, "lender "+d.Lender)
			}
			ae.Summary = strings.Join(parts, " · ")
		case transparency.TypeModelAdmitted:
			ma := rec.ModelAdmitted
			ae.Summary = "model " + ma.Model.ID + " admitted"
			gov = append(gov, GovernanceEvent{Index: e.Index, ID: ae.ID, Type: ae.Type, Time: ae.Time,
				Subject: "model " + ma.Model.ID, SHA256: ma.Model.SHA256, Details: details(ma.Details)})
		case transparency.TypeRecourse:
			ae.Summary = fmt.Sprintf("recourse for decision %s (%d suggestion(s))", rec.Recourse.DecisionID, rec.Recourse.Suggestions)
		case transparency.TypeErasure:
			ae.Summary = fmt.Sprintf("record of decision %s erased (%s)", rec.Erasure.DecisionID, rec.Erasure.LegalBasis)
		case transparency.TypePolicyActivated:
			pa := rec.PolicyActivated
			rev := "revision " + pa.Policy.Revision
			ae.Summary = "policy " + rev + " activated"
			gov = append(gov, GovernanceEvent{Index: e.Index, ID: ae.ID, Type: ae.Type, Time: ae.Time,
				Subject: "policy " + rev, SHA256: pa.Policy.Revision, Details: details(pa.Details)})
		}
		list = append(list, ae)
	}
	return list, gov
}

func details(m map[string]string) []Detail {
	var out []Detail
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Detail{k, m[k]})
	}
	return out
}

// checkpointSummary reads origin, size and root from a checkpoint note
// without verifying it: the page only displays them, and the browser does
// the verifying.
func checkpointSummary(note string) (origin string, size uint64, root string, ok bool) {
	body, _, found := strings.Cut(note, "\n\n")
	if !found {
		return "", 0, "", false
	}
	lines := strings.Split(body, "\n")
	if len(lines) < 3 {
		return "", 0, "", false
	}
	n, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		return "", 0, "", false
	}
	r, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil {
		return "", 0, "", false
	}
	return lines[0], n, fmt.Sprintf("%x", r), true
}

// byIndexDesc sorts newest (highest index) first.
func byIndexDesc(a, b AuditEntry) int { return cmp.Compare(b.Index, a.Index) }
