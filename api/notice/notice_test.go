package notice

import (
	"bytes"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/api/internal/readability"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/transparency"
)

func decisionRecord(t *testing.T, decision string, reasons int) *transparency.Record {
	t.Helper()
	d := &transparency.Decision{
		Lender: "lender-a", ApplicationID: "app-<42>", Decision: decision, Score: 571.4, ProbabilityOfDefault: 0.31,
		Model:  transparency.ModelRef{ID: "credit-risk-v1", SHA256: strings.Repeat("ab", 32)},
		Policy: transparency.PolicyRef{Revision: "rev-7"},
	}
	feats := []string{"Amount", "Income", "Assets", "Records", "Home"}
	texts := []string{"Amount of credit requested is too high", "Income too low relative to the amount requested", "Insufficient assets", "Record of past credit problems", "Type of residence"}
	one := 1.0
	for i := 0; i < reasons; i++ {
		d.Reasons = append(d.Reasons, transparency.Reason{Code: "R1" + string(rune('0'+i)), Feature: feats[i], Text: texts[i], Contribution: &one})
	}
	rec, err := transparency.NewRecord(time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC), d)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func configured() Creditor {
	return Creditor{Name: "Example Bank", Address: "1 Main St; Springfield, IL 62701", Reconsideration: "Call 555-0100 to ask for review.", AgencyID: "fdic"}
}

// manifest returns the default model's manifest; with consumerReport, its
// Records feature is marked as coming from a consumer report.
func manifest(t *testing.T, consumerReport bool) *models.Manifest {
	t.Helper()
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m := *p.Manifest
	m.Features = append([]models.Feature(nil), m.Features...)
	if consumerReport {
		m.Features[m.FeatureIndex("Records")].Source = models.SourceConsumerReport
	}
	return &m
}

func render(t *testing.T, n *Notice, format string) string {
	t.Helper()
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if format == "text" {
		err = r.Text(&b, n)
	} else {
		err = r.HTML(&b, n)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// flat is the notice without tags, whitespace collapsed, entities decoded.
func flat(s string) string {
	return html.UnescapeString(strings.Join(strings.Fields(tagRe.ReplaceAllString(s, " ")), " "))
}

func build(t *testing.T, decision string, reasons int, o Options) *Notice {
	t.Helper()
	n, err := Build("abcd", decisionRecord(t, decision, reasons), o)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNoticeHasEveryRequiredElement(t *testing.T) {
	n := build(t, "decline", 5, Options{Creditor: configured(), Manifest: manifest(t, false), ScoreMin: 312.4, ScoreMax: 796.9})
	if len(n.Reasons) != 4 {
		t.Errorf("%d reasons, want at most 4", len(n.Reasons))
	}
	for _, format := range []string{"text", "html"} {
		out := flat(render(t, n, format))
		required := map[string]string{
			"action taken (1002.9(a)(2))":       "We cannot approve your application",
			"principal reason 1 (1002.9(b)(2))": "Amount of credit requested is too high",
			"principal reason 4":                "Record of past credit problems",
			"score used (FCRA 615(a)(2))":       "571",
			"score range (609(f)(1)(A))":        "From 312 to 797",
			"date":                              "25 November 2026",
			"who provided the score":            "Example Bank, with its own scoring model",
			"key factors":                       "The main things that lowered your score",
			"creditor name (1002.9(a)(2))":      "Example Bank",
			"creditor address":                  "Springfield, IL 62701",
			"reconsideration":                   "Call 555-0100",
			"ECOA statement (1002.9(b)(1))":     "Equal Credit Opportunity Act prohibits creditors from discriminating",
			"administering agency":              "Federal Deposit Insurance Corporation",
			"decision id for the ledger check":  "abcd",
			"reason code, in the reference":     "R10",
			"model hash, in the reference":      strings.Repeat("ab", 32),
		}
		for what, s := range required {
			if !strings.Contains(out, s) {
				t.Errorf("%s notice lacks %s (%q)", format, what, s)
			}
		}
		// Codes and hashes only in the reference part, at the end.
		ref := strings.LastIndex(out, "Reference")
		for _, s := range []string{"R10", strings.Repeat("ab", 32), "credit-risk-v1"} {
			if i := strings.Index(out, s); i >= 0 && i < ref {
				t.Errorf("%s notice shows %q before its reference part", format, s)
			}
		}
		for _, s := range []string{"Type of residence", SpecimenMark, "log-odds", "currency units", "fifth"} {
			if strings.Contains(out, s) {
				t.Errorf("%s notice contains %q", format, s)
			}
		}
		if format == "html" && strings.Contains(render(t, n, format), "app-<42>") {
			t.Error("html notice does not escape the application id")
		}
	}
}

func TestNoticeActions(t *testing.T) {
	cases := []struct {
		decision string
		reasons  int
		adverse  bool
		wantErr  bool
	}{
		{"approve", 0, false, false},
		{"refer", 2, true, false},
		{"decline", 1, true, false},
		{"decline", 0, true, true},
		{"maybe", 1, false, true},
	}
	for _, tc := range cases {
		n, err := Build("id", decisionRecord(t, tc.decision, tc.reasons), Options{})
		if (err != nil) != tc.wantErr {
			t.Errorf("%s/%d: err %v", tc.decision, tc.reasons, err)
			continue
		}
		if err == nil && n.Adverse != tc.adverse {
			t.Errorf("%s: adverse %v", tc.decision, n.Adverse)
		}
	}
	if _, err := Build("id", nil, Options{}); err == nil {
		t.Error("nil record accepted")
	}
}

// TestSpecimen: an unconfigured or partly configured creditor marks the
// notice SPECIMEN before anything else; a configured one never does.
func TestSpecimen(t *testing.T) {
	partly := configured()
	partly.AgencyID = ""
	cases := []struct {
		name     string
		c        Creditor
		cr       bool
		specimen bool
		missing  string
	}{
		{"unconfigured", DefaultCreditor(), false, true, "--creditor-name --creditor-address --creditor-agency"},
		{"no agency", partly, false, true, "--creditor-agency"},
		{"configured", configured(), false, false, ""},
		{"consumer report without agency contacts", configured(), true, true, "--cra-name --cra-address --cra-phone"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := build(t, "decline", 2, Options{Creditor: tc.c, Manifest: manifest(t, tc.cr)})
			if got := strings.Join(n.Missing, " "); got != tc.missing {
				t.Errorf("missing %q, want %q", got, tc.missing)
			}
			for _, lang := range Languages() {
				n := build(t, "decline", 2, Options{Creditor: tc.c, Manifest: manifest(t, tc.cr), Lang: lang})
				text := render(t, n, "text")
				first, _, _ := strings.Cut(text, "\n")
				if got := strings.Contains(first, SpecimenMark); got != tc.specimen {
					t.Errorf("%s text notice first line %q: specimen %v, want %v", lang, first, got, tc.specimen)
				}
				h := render(t, n, "html")
				body := h[strings.Index(h, "<main>"):]
				if got := strings.HasPrefix(body, `<main>`+"\n"+`<div class="specimen"`) && strings.Contains(body, SpecimenMark); got != tc.specimen {
					t.Errorf("%s html notice: specimen at the top %v, want %v", lang, got, tc.specimen)
				}
			}
		})
	}
}

// TestAgencyPerAppendixA checks each supported --creditor-agency value
// against Appendix A's text, typed here from the appendix.
func TestAgencyPerAppendixA(t *testing.T) {
	want := map[string][]string{
		"cfpb":     {"Bureau of Consumer Financial Protection, 1700 G Street NW, Washington, DC 20552"},
		"cfpb-ftc": {"Bureau of Consumer Financial Protection, 1700 G Street NW, Washington, DC 20552", "Federal Trade Commission, Consumer Response Center, 600 Pennsylvania Avenue NW, Washington, DC 20580"},
		"occ":      {"Office of the Comptroller of the Currency, Customer Assistance Group, P.O. Box 53570, Houston, TX 77052"},
		"frb":      {"Federal Reserve Consumer Help Center, P.O. Box 1200, Minneapolis, MN 55480"},
		"fdic":     {"Division of Depositor and Consumer Protection, National Center for Consumer and Depositor Assistance, Federal Deposit Insurance Corporation, 1100 Walnut Street, Box #11, Kansas City, MO 64106"},
		"ncua":     {"National Credit Union Administration, Office of Consumer Financial Protection, 1775 Duke Street, Alexandria, VA 22314"},
		"sec":      {"Securities and Exchange Commission, 100 F Street NE, Washington, DC 20549"},
		"fca":      {"Farm Credit Administration, 1501 Farm Credit Drive, McLean, VA 22102-5090"},
		"ftc":      {"Federal Trade Commission, Consumer Response Center, 600 Pennsylvania Avenue NW, Washington, DC 20580"},
	}
	if got := strings.Join(AgencyIDs(), " "); got != "cfpb cfpb-ftc occ frb fdic ncua sec fca ftc" {
		t.Errorf("supported agencies %q", got)
	}
	for id, contacts := range want {
		t.Run(id, func(t *testing.T) {
			a, err := LookupAgency(id)
			if err != nil {
				t.Fatal(err)
			}
			if a.Creditors == "" || a.Paragraph == "" {
				t.Error("entry does not say which creditors list it")
			}
			c := configured()
			c.AgencyID = id
			n := build(t, "decline", 1, Options{Creditor: c})
			for _, format := range []string{"text", "html"} {
				out := render(t, n, format)
				ecoa := flat(out[strings.Index(out, "Equal Credit Opportunity Act"):])
				for _, s := range contacts {
					name, addr, _ := strings.Cut(s, ", ")
					for strings.Contains(addr, ", ") && !startsAddress(addr) {
						var more string
						more, addr, _ = strings.Cut(addr, ", ")
						name += ", " + more
					}
					if !strings.Contains(ecoa, name) || !strings.Contains(ecoa, addr) {
						t.Errorf("%s notice's ECOA statement lacks %q", format, s)
					}
				}
				for other, oc := range want {
					if other != id && len(oc) == 1 && len(contacts) == 1 && !strings.Contains(strings.Join(contacts, ""), oc[0]) && strings.Contains(ecoa, strings.SplitN(oc[0], ",", 2)[0]) {
						t.Errorf("%s notice for %s also names %s", format, id, other)
					}
				}
			}
		})
	}
	if _, err := LookupAgency("cfbp"); err == nil || !strings.Contains(err.Error(), "cfpb, cfpb-ftc") {
		t.Errorf("unknown agency: %v", err)
	}
}

// startsAddress tells a street or box from the rest of an agency's name.
func startsAddress(s string) bool {
	return regexp.MustCompile(`^(\d|P\.O\.)`).MatchString(s)
}

// TestFCRAElements: the §615(a) elements appear exactly when the manifest
// marks a consumer-report feature.
func TestFCRAElements(t *testing.T) {
	c := configured()
	c.CRA = ConsumerReportingAgency{Name: "Example Credit Bureau", Address: "PO Box 1, Atlanta, GA 30301", Phone: "1-800-555-0199"}
	elements := map[string]string{
		"agency name (615(a)(3)(A))":    "Example Credit Bureau",
		"agency address":                "PO Box 1, Atlanta, GA 30301",
		"toll-free number":              "1-800-555-0199",
		"did not make the decision (B)": "The agency did not make this decision. It cannot tell you why we made it.",
		"free report in 60 days (4)(A)": "free copy of your report from the agency. Ask for it within 60 days",
		"dispute (4)(B)":                "tell the agency if facts in your report are wrong or not complete",
		"which facts":                   "The facts we used from the report: Past credit problems on record",
	}
	for _, cr := range []bool{false, true} {
		for _, decision := range []string{"decline", "refer"} {
			n := build(t, decision, 2, Options{Creditor: c, Manifest: manifest(t, cr)})
			if n.Specimen {
				t.Errorf("configured creditor and agency marked specimen: %v", n.Missing)
			}
			for _, format := range []string{"text", "html"} {
				out := flat(render(t, n, format))
				for what, s := range elements {
					if got := strings.Contains(out, s); got != cr {
						t.Errorf("consumer report %v, %s %s notice: %s present %v", cr, decision, format, what, got)
					}
				}
			}
		}
	}
}

func TestSpanishNotice(t *testing.T) {
	for _, lang := range []string{"es", "en", ""} {
		n := build(t, "decline", 2, Options{Creditor: configured(), Manifest: manifest(t, true), Lang: lang, ScoreMin: 300, ScoreMax: 797})
		h := render(t, n, "html")
		wantLang := lang
		if wantLang == "" {
			wantLang = "en"
		}
		if !strings.Contains(h, `<html lang="`+wantLang+`">`) {
			t.Errorf("lang %q: html lang attribute missing", lang)
		}
		out := flat(h + render(t, n, "text"))
		spanish := []string{"No podemos aprobar su solicitud", "La suma pedida es muy alta", "25 de noviembre de 2026", "Sus derechos según la Ley", "De 300 a 797", "Problemas de crédito anteriores"}
		for _, s := range spanish {
			if got := strings.Contains(out, s); got != (lang == "es") {
				t.Errorf("lang %q: %q present %v", lang, s, got)
			}
		}
	}
}

func TestReferralPromisesOnlyWhatHappens(t *testing.T) {
	for _, lang := range Languages() {
		n := build(t, "refer", 2, Options{Creditor: configured(), Lang: lang})
		out := flat(render(t, n, "text"))
		for _, banned := range []string{"You will be told", "A person, not the model", "will review your application again", "Se le informará"} {
			if strings.Contains(out, banned) {
				t.Errorf("%s referral notice promises %q", lang, banned)
			}
		}
		want := map[string][]string{
			"en": {"We have not made a final decision", "This system does not send you the final decision", "Example Bank must tell you its decision", "30 days", "write to Example Bank at the address above"},
			"es": {"Aún no tomamos una decisión final", "Este sistema no le envía la decisión final", "Example Bank debe darle su decisión", "30 días", "escriba a Example Bank a la dirección de arriba"},
		}[lang]
		for _, s := range want {
			if !strings.Contains(out, s) {
				t.Errorf("%s referral notice lacks %q", lang, s)
			}
		}
	}
}

var (
	dropRe  = regexp.MustCompile(`(?s)<(title|style|code)[^>]*>.*?</(title|style|code)>|<section[^>]*class="reference".*?</section>|<div class="legal">.*?</div>|<(\w+) class="data"[^>]*>.*?</(\w+)>`)
	blockRe = regexp.MustCompile(`</?(p|li|h1|h2|dt|dd|div|section|ul|ol|dl|br|address)[^>]*>`)
	tagRe   = regexp.MustCompile(`<[^>]+>`)
)

// consumerText is what the applicant reads as sentences: the notice less
// its reference part, the regulation's verbatim wording, and data (names,
// addresses, numbers), each block on its own line.
// Only full sentences (ending in . ! or ?) count: headings and labels
// would pull the grade down without being read as prose.
func consumerText(h string) string {
	h = dropRe.ReplaceAllString(h, "\n")
	h = blockRe.ReplaceAllString(h, "\n")
	var out []string
	for _, s := range readability.Sentences(html.UnescapeString(tagRe.ReplaceAllString(h, " "))) {
		if strings.ContainsAny(s[len(s)-1:], ".!?") {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

// TestNoticeReadability holds the applicant-facing sentences of every kind
// of notice to a Flesch–Kincaid grade of 8 (English) and a
// Fernández-Huerta ease of 70, "fairly easy", about seventh grade
// (Spanish).
func TestNoticeReadability(t *testing.T) {
	c := configured()
	c.Reconsideration = "" // the default wording is ours to keep readable
	c.CRA = ConsumerReportingAgency{Name: "Example Credit Bureau", Address: "PO Box 1", Phone: "1-800-555-0199"}
	for _, lang := range Languages() {
		for _, decision := range []string{"approve", "refer", "decline"} {
			reasons := 4
			if decision == "approve" {
				reasons = 0
			}
			n := build(t, decision, reasons, Options{Creditor: c, Manifest: manifest(t, true), Lang: lang, ScoreMin: 300, ScoreMax: 797})
			text := consumerText(render(t, n, "html"))
			if len(readability.Sentences(text)) < 10 {
				t.Fatalf("%s %s: too little text measured:\n%s", lang, decision, text)
			}
			if lang == English {
				if g := readability.FleschKincaidGrade(text); g > 8 {
					t.Errorf("%s %s notice reads at grade %.1f:\n%s", lang, decision, g, text)
				} else {
					t.Logf("%s %s: Flesch–Kincaid grade %.1f", lang, decision, g)
				}
			} else {
				if e := readability.FernandezHuerta(text); e < 70 {
					t.Errorf("%s %s notice has Fernández-Huerta ease %.1f:\n%s", lang, decision, e, text)
				} else {
					t.Logf("%s %s: Fernández-Huerta ease %.1f", lang, decision, e)
				}
			}
		}
	}
}

func TestPickLanguage(t *testing.T) {
	cases := []struct {
		query    string
		hasQuery bool
		accept   string
		want     string
		wantErr  bool
	}{
		{"", false, "", "en", false},
		{"", false, "es", "es", false},
		{"", false, "es-MX,es;q=0.9,en;q=0.5", "es", false},
		{"", false, "en-US,en;q=0.9,es;q=0.8", "en", false},
		{"", false, "fr-FR,es;q=0.5", "es", false},
		{"", false, "fr", "en", false},
		{"", false, "es;q=0.2,en;q=0.9", "en", false},
		{"", false, "es;q=bogus", "en", false},
		{"es", true, "en", "es", false},
		{"ES", true, "", "es", false},
		{"en", true, "es", "en", false},
		{"fr", true, "", "", true},
		{"", true, "es", "", true},
	}
	for _, tc := range cases {
		got, err := PickLanguage(tc.query, tc.hasQuery, tc.accept)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("PickLanguage(%q, %v, %q) = %q, %v; want %q (error %v)", tc.query, tc.hasQuery, tc.accept, got, err, tc.want, tc.wantErr)
		}
	}
}

// An incomplete application gets a notice of incompleteness: what is
// missing, and by when; rule and missing-item reasons are not key factors
// of the score.
func TestNoticeIncomplete(t *testing.T) {
	rec := decisionRecord(t, "incomplete", 0)
	rec.Decision.Reasons = []transparency.Reason{
		{Code: "P02", Text: "Credit application incomplete", Rule: "DEC-INCOMPLETE"},
		{Code: "R07", Feature: "Income", Text: "Income not provided", Direction: "provide"},
	}
	n, err := Build("id", rec, Options{Creditor: DefaultCreditor(), ScoreMin: 300, ScoreMax: 850})
	if err != nil {
		t.Fatal(err)
	}
	if !n.Incomplete || n.Adverse || len(n.Reasons) != 2 || len(n.KeyFactors) != 0 {
		t.Fatalf("notice %+v", n)
	}
	r, err := NewRenderer()
	if err != nil {
		t.Fatal(err)
	}
	var txt bytes.Buffer
	if err := r.Text(&txt, n); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"INFORMATION WE NEED", "Income not provided", "within 30 days"} {
		if !strings.Contains(txt.String(), want) {
			t.Errorf("text notice lacks %q:\n%s", want, txt.String())
		}
	}
	rec.Decision.Reasons = nil
	if _, err := Build("id", rec, Options{Creditor: DefaultCreditor(), ScoreMin: 300, ScoreMax: 850}); err == nil {
		t.Error("incomplete notice without the missing items built")
	}
}

// TestSpanishRuleReason: a rule's reason (no feature, no manifest text) is
// shown in Spanish when it is the shipped rulebook's, and as recorded when
// a custom rulebook gives the code another text.
func TestSpanishRuleReason(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"Credit application incomplete", "Solicitud de crédito incompleta"},
		{"Our own wording", "Our own wording"},
	} {
		rec := decisionRecord(t, "incomplete", 0)
		rec.Decision.Reasons = []transparency.Reason{{Code: "P02", Text: tc.text, Rule: "DEC-INCOMPLETE"}}
		n, err := Build("id", rec, Options{Creditor: configured(), Lang: Spanish})
		if err != nil {
			t.Fatal(err)
		}
		if len(n.Reasons) != 1 || n.Reasons[0].Text != tc.want {
			t.Errorf("reasons %+v, want %q", n.Reasons, tc.want)
		}
	}
}
