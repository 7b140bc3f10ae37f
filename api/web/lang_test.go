package web

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/api/internal/readability"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/transparency"
)

func recordPage(t *testing.T, lang, decision string) (DecisionPage, string) {
	t.Helper()
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	rec := sampleRecord(t, pkg.Manifest)
	rec.Decision.Decision = decision
	b, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	p, err := DecisionPageFromRecordIn(lang, transparency.RecordID(b), "tok", rec, pkg.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	return p, render(t, p)
}

// TestDecisionPageLanguages: the page is in Spanish for "es" and in
// English otherwise, with the manifest's plain names for features and
// levels, and never a raw level name or internal unit.
func TestDecisionPageLanguages(t *testing.T) {
	cases := []struct {
		lang, wantLang string
		want           []string
	}{
		{"es", "es", []string{"Su decisión de crédito", "Rechazada", "Razones principales", "Ingreso muy bajo para la suma pedida", "Ingreso del mes: ", "900 dólares al mes", "Tipo de vivienda: Alquiler", "Empleo fijo", "Referencia", "puntos"}},
		{"en", "en", []string{"Your credit decision", "Declined", "Main reasons", "Income too low relative to the amount requested", "Monthly income: ", "900 dollars a month", "Type of home: Rent", "Steady job", "Reference", "points"}},
		{"", "en", []string{"Your credit decision", "Type of home: Rent"}},
	}
	for _, tc := range cases {
		_, page := recordPage(t, tc.lang, OutcomeDecline)
		if !strings.Contains(page, `<html lang="`+tc.wantLang+`">`) {
			t.Errorf("lang %q: no lang=%q attribute", tc.lang, tc.wantLang)
		}
		text := html.UnescapeString(page)
		for _, s := range tc.want {
			if !strings.Contains(text, s) {
				t.Errorf("lang %q: page lacks %q", tc.lang, s)
			}
		}
		for _, s := range []string{"log-odds", "currency units", ": rent", ": fixed", ">rent<", ">fixed<"} {
			if strings.Contains(text, s) {
				t.Errorf("lang %q: page shows %q", tc.lang, s)
			}
		}
		// Reason codes appear only in the reference part.
		ref := strings.Index(text, `id="meta-h"`)
		if i := strings.Index(text, "R07"); i < 0 || i < ref {
			t.Errorf("lang %q: reason code at %d, reference part at %d", tc.lang, i, ref)
		}
	}
}

var (
	pageDropRe  = dropElements("title", "style", "script", "code", "noscript", "table", "strong")
	pageBlockRe = regexp.MustCompile(`</?(p|li|h1|h2|dt|dd|div|section|ul|ol|dl|br|figcaption|summary|header|footer|a|button)[^>]*>`)
	pageTagRe   = regexp.MustCompile(`<[^>]+>`)
)

// dropElements matches the named elements with their content (Go's
// regexp has no back-references, hence one alternative per element), the
// reference part and the reason values.
func dropElements(names ...string) *regexp.Regexp {
	alts := []string{`<section class="card meta".*?</section>`, `<p class="reason-value">.*?</p>`}
	for _, n := range names {
		alts = append(alts, `<`+n+`[ >].*?</`+n+`>`)
	}
	return regexp.MustCompile(`(?s)` + strings.Join(alts, "|"))
}

// pageSentences are the page's full sentences for the applicant, less the
// reference part and values. The chart's description, which screen
// readers speak, counts.
func pageSentences(page string) string {
	page = pageDropRe.ReplaceAllString(page, "\n")
	page = pageBlockRe.ReplaceAllString(page, "\n")
	var out []string
	for _, s := range readability.Sentences(html.UnescapeString(pageTagRe.ReplaceAllString(page, " "))) {
		if strings.ContainsAny(s[len(s)-1:], ".!?") {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

func TestDecisionPageReadability(t *testing.T) {
	for _, lang := range []string{English, Spanish} {
		for _, d := range []string{OutcomeApprove, OutcomeRefer, OutcomeDecline} {
			_, page := recordPage(t, lang, d)
			text := pageSentences(page)
			if n := len(readability.Sentences(text)); n < 6 {
				t.Fatalf("%s %s: only %d sentences measured:\n%s", lang, d, n, text)
			}
			if lang == English {
				if g := readability.FleschKincaidGrade(text); g > 8 {
					t.Errorf("%s %s page reads at grade %.1f:\n%s", lang, d, g, text)
				} else {
					t.Logf("%s %s: grade %.1f", lang, d, g)
				}
			} else if e := readability.FernandezHuerta(text); e < 70 {
				t.Errorf("%s %s page has Fernández-Huerta ease %.1f:\n%s", lang, d, e, text)
			} else {
				t.Logf("%s %s: Fernández-Huerta %.1f", lang, d, e)
			}
		}
	}
}
