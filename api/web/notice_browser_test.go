package web

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/models"
)

// TestNoticeInBrowser loads the HTML notice in Chromium and checks what a
// browser (and a screen reader) makes of it: the document language, one
// h1, the section headings in order with none skipped, every section
// labelled by its heading, and the SPECIMEN mark first when the creditor
// is not configured.
func TestNoticeInBrowser(t *testing.T) {
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m := *pkg.Manifest
	m.Features = slices.Clone(m.Features)
	m.Features[m.FeatureIndex("Records")].Source = models.SourceConsumerReport
	rec := sampleRecord(t, &m)
	r, err := notice.NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	configured := notice.Creditor{Name: "Example Bank", Address: "1 Main St; Springfield, IL 62701", AgencyID: "occ",
		CRA: notice.ConsumerReportingAgency{Name: "Example Bureau", Address: "PO Box 1, Atlanta, GA 30301", Phone: "1-800-555-0199"}}
	pages := map[string][]byte{}
	for _, lang := range notice.Languages() {
		for name, c := range map[string]notice.Creditor{"configured": configured, "specimen": {}} {
			n, err := notice.Build(strings.Repeat("ab", 32), rec, notice.Options{Creditor: c, Manifest: &m, ScoreMin: 300, ScoreMax: 797, Lang: lang})
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := r.HTML(&b, n); err != nil {
				t.Fatal(err)
			}
			pages["/"+lang+"/"+name] = b.Bytes()
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, ok := pages[req.URL.Path]
		if !ok {
			http.NotFound(w, req)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(b)
	}))
	defer srv.Close()
	ctx := newBrowser(t)

	wantHeadings := map[string][]string{
		"en": {"What we decided", "The main reasons for our decision", "Your credit score", "Your rights about your consumer report", "What would have changed the decision", "How to ask us to look again", "Your rights under the Equal Credit Opportunity Act", "Checking this decision", "Reference"},
		"es": {"Lo que decidimos", "Las razones principales de la decisión", "Su puntaje de crédito", "Sus derechos sobre su informe de crédito", "Lo que habría cambiado la decisión", "Cómo pedir que lo veamos otra vez", "Sus derechos según la Ley de Igualdad de Oportunidades de Crédito", "Cómo revisar esta decisión", "Referencia"},
	}
	type shown struct {
		Lang       string   `json:"lang"`
		H1         []string `json:"h1"`
		H2         []string `json:"h2"`
		Levels     []int    `json:"levels"`
		Unlabelled int      `json:"unlabelled"`
		First      string   `json:"first"`
		LegalLang  string   `json:"legalLang"`
		Agency     string   `json:"agency"`
	}
	for _, lang := range notice.Languages() {
		for _, name := range []string{"configured", "specimen"} {
			t.Run(lang+"/"+name, func(t *testing.T) {
				do(t, ctx, chromedp.Navigate(srv.URL+"/"+lang+"/"+name), chromedp.WaitVisible(chromedp.CSS("h1")))
				got := run(t, ctx, chromedp.Evaluate[shown](`({
					lang: document.documentElement.lang,
					h1: [...document.querySelectorAll("h1")].map(h => h.textContent.trim()),
					h2: [...document.querySelectorAll("h2")].map(h => h.textContent.trim()),
					levels: [...document.querySelectorAll("h1,h2,h3,h4,h5,h6")].map(h => +h.tagName[1]),
					unlabelled: [...document.querySelectorAll("section")].filter(s => { const id = s.getAttribute("aria-labelledby"); const h = id && document.getElementById(id); return !h || !/^H[1-6]$/.test(h.tagName) || !s.contains(h); }).length,
					first: document.querySelector("main").firstElementChild.innerText.trim(),
					legalLang: (document.querySelector(".legal [lang]") || {lang: ""}).lang,
					agency: document.getElementById("agency").innerText,
				})`))
				if got.Lang != lang {
					t.Errorf("document language %q", got.Lang)
				}
				if len(got.H1) != 1 {
					t.Errorf("h1 headings %q", got.H1)
				}
				if !slices.Equal(got.H2, wantHeadings[lang]) {
					t.Errorf("section headings\n got %q\nwant %q", got.H2, wantHeadings[lang])
				}
				for i := 1; i < len(got.Levels); i++ {
					if got.Levels[i] > got.Levels[i-1]+1 {
						t.Errorf("heading levels skip: %v", got.Levels)
					}
				}
				if got.Unlabelled != 0 {
					t.Errorf("%d sections not labelled by their own heading", got.Unlabelled)
				}
				if specimen := strings.HasPrefix(got.First, notice.SpecimenMark); specimen != (name == "specimen") {
					t.Errorf("first element %q", got.First)
				}
				if got.LegalLang != "en" {
					t.Errorf("the regulation's English wording is not marked lang=en: %q", got.LegalLang)
				}
				if name == "configured" && !strings.Contains(got.Agency, "Office of the Comptroller of the Currency") {
					t.Errorf("agency %q", got.Agency)
				}
			})
		}
	}
}
