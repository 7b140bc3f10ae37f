package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/transparency"
)

const hostile = `<script>alert("x")</script><img src=x onerror=alert(1)>&amp;'"` + "\u2028"

func testID() string { return strings.Repeat("ab", 32) }

func samplePage() DecisionPage {
	return DecisionPage{
		ID:                   testID(),
		Token:                "gbt_abc",
		Decision:             OutcomeDecline,
		Score:                512,
		ScoreMin:             300,
		ScoreMax:             850,
		ProbabilityOfDefault: 0.183,
		Reasons: []Reason{
			{Code: "R07", Text: "Income too low relative to the amount requested", Feature: "Monthly income", Value: "900 currency units per month"},
			{Code: "R09", Text: "Amount of existing debt too high", Feature: "Amount of existing debt", Value: "4,000 currency units"},
		},
		Contributions: []Contribution{
			{Feature: "Monthly income", Value: "900", Contribution: 0.61},
			{Feature: "Years with the current employer", Value: "12", Contribution: -0.4},
			{Feature: "Amount of existing debt", Value: "4,000", Contribution: 0.2},
			{Feature: "Type of residence", Value: "owner", Contribution: 0},
		},
		ExpectedValue:   -1.9,
		Counterfactuals: []string{"Based on our current model and policy, an application with the monthly income between 1,400 and 2,100 would have been approved."},
		RecourseRecord:  strings.Repeat("cd", 32),
		ModelID:         "credit-risk-v1",
		PolicyRevision:  "3",
		CreatedAt:       time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC),
	}
}

func render(t *testing.T, p DecisionPage) string {
	t.Helper()
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := r.RenderDecision(&buf, p); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// svgOf returns the markup of one drawing ("wide" or "narrow") of the
// contribution chart.
func svgOf(t *testing.T, page, name string) string {
	t.Helper()
	start := strings.Index(page, `<svg class="chart-`+name+`"`)
	if start < 0 {
		t.Fatal("no contribution chart in the page")
	}
	end := strings.Index(page[start:], "</svg>")
	if end < 0 {
		t.Fatal("unterminated chart")
	}
	return page[start : start+end+len("</svg>")]
}

type svgDoc struct {
	XMLName xml.Name `xml:"svg"`
	Role    string   `xml:"role,attr"`
	Label   string   `xml:"aria-labelledby,attr"`
	Title   string   `xml:"title"`
	Desc    string   `xml:"desc"`
	Groups  []struct {
		Class string `xml:"class,attr"`
		Title string `xml:"title"`
		Texts []struct {
			Anchor string   `xml:"text-anchor,attr"`
			Text   string   `xml:",chardata"`
			Lines  []string `xml:"tspan"`
		} `xml:"text"`
		Rect struct {
			X     string `xml:"x,attr"`
			Width string `xml:"width,attr"`
			Fill  string `xml:"fill,attr"`
		} `xml:"rect"`
	} `xml:"g"`
}

func parseSVG(t *testing.T, s string) svgDoc {
	t.Helper()
	var doc svgDoc
	// The chart must be well-formed XML too, so it can be cut out and
	// reused (e.g. saved as an .svg file) as it is.
	if err := xml.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatalf("chart is not well-formed XML: %v\n%s", err, s)
	}
	return doc
}

func TestChartHasOneBarPerFeatureLargestFirst(t *testing.T) {
	p := samplePage()
	page := render(t, p)
	for _, l := range []chartLayout{wideLayout(), narrowLayout()} {
		t.Run(l.Name, func(t *testing.T) {
			doc := parseSVG(t, svgOf(t, page, l.Name))
			if doc.Role != "img" || doc.Label != "chart-title-"+l.Name+" chart-desc-"+l.Name || doc.Title == "" || doc.Desc == "" {
				t.Errorf("chart lacks accessible name/description: role=%q labelledby=%q title=%q desc=%q", doc.Role, doc.Label, doc.Title, doc.Desc)
			}
			if len(doc.Groups) != len(p.Contributions) {
				t.Fatalf("%d bars, want %d", len(doc.Groups), len(p.Contributions))
			}
			wantOrder := []string{"Monthly income", "Years with the current employer", "Amount of existing debt", "Type of residence"}
			wantDir := []string{"raises risk", "lowers risk", "raises risk", "no effect"}
			var widths []float64
			for i, g := range doc.Groups {
				if !strings.HasPrefix(g.Title, wantOrder[i]+" ") {
					t.Errorf("bar %d title %q, want it to start with %q", i, g.Title, wantOrder[i])
				}
				if !strings.Contains(g.Title, wantDir[i]) {
					t.Errorf("bar %d title %q lacks direction %q", i, g.Title, wantDir[i])
				}
				if label := strings.Join(g.Texts[0].Lines, " "); !strings.HasPrefix(label, wantOrder[i]+": ") {
					t.Errorf("bar %d label %q", i, label)
				}
				// Direction is written in words next to each bar, not only
				// coded by colour or pattern.
				last := g.Texts[len(g.Texts)-1].Text
				if !strings.HasPrefix(last, wantDir[i]) {
					t.Errorf("bar %d direction label %q, want %q", i, last, wantDir[i])
				}
				raise := strings.Contains(g.Class, "bar-raise")
				if raise != (wantDir[i] == "raises risk") {
					t.Errorf("bar %d class %q", i, g.Class)
				}
				if raise && g.Rect.Fill != "url(#hatch-raise-"+l.Name+")" {
					t.Errorf("risk-raising bar %d is not hatched: fill %q", i, g.Rect.Fill)
				}
				w, err := strconv.ParseFloat(g.Rect.Width, 64)
				if err != nil {
					t.Fatal(err)
				}
				widths = append(widths, w)
			}
			// Bars scale with |contribution|: the largest spans half the
			// drawing less the margin.
			centre := l.Width / 2
			if widths[0] != centre-chartPad || widths[1] >= widths[0] || widths[2] >= widths[1] || widths[3] != minBarLength {
				t.Errorf("bar widths %v", widths)
			}
			// Risk-raising bars start at the centre line; risk-lowering ones
			// end there.
			if x, _ := strconv.ParseFloat(doc.Groups[0].Rect.X, 64); x != centre {
				t.Errorf("raising bar x %v", x)
			}
			if x, _ := strconv.ParseFloat(doc.Groups[1].Rect.X, 64); x+widths[1] != centre {
				t.Errorf("lowering bar x %v + width %v != centre", x, widths[1])
			}
		})
	}
}

func TestWrap(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want []string
	}{
		{"", 10, []string{""}},
		{"Monthly income: 900", 40, []string{"Monthly income: 900"}},
		{"Whether the applicant has records of past credit problems: no", 20, []string{"Whether the", "applicant has", "records of past", "credit problems: no"}},
		{"abcdefghij-klmno xy", 5, []string{"abcde", "fghij", "-klmn", "o xy"}},
	} {
		got := wrap(tc.in, tc.n)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("wrap(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
		for _, l := range got {
			if len([]rune(l)) > tc.n {
				t.Errorf("line %q longer than %d", l, tc.n)
			}
		}
	}
}

func TestChartEscapesFeatureText(t *testing.T) {
	p := samplePage()
	p.Contributions = []Contribution{{Feature: hostile, Value: hostile, Contribution: 1}}
	page := render(t, p)
	for _, name := range []string{"wide", "narrow"} {
		s := svgOf(t, page, name)
		if strings.Contains(s, "<script") || strings.Contains(s, "<img") {
			t.Fatalf("markup from feature text reached the SVG:\n%s", s)
		}
		doc := parseSVG(t, s)
		if len(doc.Groups) != 1 {
			t.Fatalf("%d bars", len(doc.Groups))
		}
		// The text survives escaping intact (though wrapped), so the
		// reader sees what was given.
		label := strings.Join(doc.Groups[0].Texts[0].Lines, " ")
		if want := strings.Join(strings.Fields(hostile+": "+hostile), " "); label != want {
			t.Errorf("%s label %q, want %q", name, label, want)
		}
		if !strings.HasPrefix(doc.Groups[0].Title, hostile) {
			t.Errorf("%s bar title %q", name, doc.Groups[0].Title)
		}
	}
}

func TestChartWithNoContributionsIsOmitted(t *testing.T) {
	p := samplePage()
	p.Contributions = nil
	if page := render(t, p); strings.Contains(page, `id="chart-title-`) {
		t.Error("chart drawn without contributions")
	}
}

func TestDecisionPageEscapesHostileStrings(t *testing.T) {
	p := samplePage()
	p.Token = hostile
	p.Decision = hostile
	p.ModelID, p.PolicyRevision = hostile, hostile
	p.Reasons = []Reason{{Code: hostile, Text: hostile, Feature: hostile, Value: hostile}}
	p.Counterfactuals = []string{hostile}
	p.APIPrefix = `/v1"><script>`
	page := render(t, p)
	if n := strings.Count(page, "<script"); n != 1 {
		t.Errorf("%d <script elements, want exactly the page's own", n)
	}
	for _, bad := range []string{"<img", `onerror=alert(1)>`, `"><script>`} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") {
		t.Error("hostile text is not shown escaped")
	}
	// An unknown decision value is not echoed as the outcome headline.
	if !strings.Contains(page, "Decision recorded") {
		t.Error("unknown decision not rendered as a neutral outcome")
	}
}

func TestDecisionPageContent(t *testing.T) {
	page := render(t, samplePage())
	for _, want := range []string{
		`<html lang="en">`, "<main", `role="status"`, `aria-live="polite"`,
		"Declined", "512", "on a scale from 300 to 850", "18.3%",
		"R07", "Income too low relative to the amount requested", "900 currency units per month",
		"an application with the monthly income between 1,400 and 2,100 would have been approved", "Check this decision in the ledger",
		"This is not an offer of credit", "recorded in the ledger as record <code>" + strings.Repeat("cd", 32) + "</code>",
		`data-decision-id="` + testID() + `"`, `data-token="gbt_abc"`, `data-api="/v1"`,
		"1 March 2026, 10:30 UTC", "credit-risk-v1",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("page refers to an external URL")
	}
}

func TestDecisionPageNoRecourse(t *testing.T) {
	p := samplePage()
	p.Counterfactuals = nil
	if page := render(t, p); !strings.Contains(page, "No change of them alone would lead to approval") {
		t.Error("default no-recourse sentence missing")
	}
	p.NoRecourseText = "Nothing you can change would help."
	if page := render(t, p); !strings.Contains(page, p.NoRecourseText) {
		t.Error("NoRecourseText not shown")
	}
	p.Decision = OutcomeApprove
	if page := render(t, p); strings.Contains(page, "What would change the decision") {
		t.Error("an approval shows what would change it")
	}
}

func TestRenderDecisionRejectsBadID(t *testing.T) {
	p := samplePage()
	p.ID = "../../admin"
	if err := RenderDecision(&bytes.Buffer{}, p); err == nil {
		t.Fatal("no error for a malformed id")
	}
}

var (
	scriptRE = regexp.MustCompile(`(?s)<script>(.*?)</script>`)
	styleRE  = regexp.MustCompile(`(?s)<style>(.*?)</style>`)
)

// The header allows inline code by hash, so it must hash exactly what the
// pages contain; otherwise the browser silently blocks the script.
func TestCSPCoversInlineAssets(t *testing.T) {
	r, err := New()
	if err != nil {
		t.Fatal(err)
	}
	var audit bytes.Buffer
	if err := r.RenderAudit(&audit, AuditPage{Checkpoint: "o\n1\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n\n— o AAAA\n"}); err != nil {
		t.Fatal(err)
	}
	csp := r.ContentSecurityPolicy()
	for name, page := range map[string]string{"decision": render(t, samplePage()), "audit": audit.String()} {
		for _, re := range []*regexp.Regexp{scriptRE, styleRE} {
			m := re.FindAllStringSubmatch(page, -1)
			if len(m) != 1 {
				t.Fatalf("%s page: %d matches of %s", name, len(m), re)
			}
			d := sha256.Sum256([]byte(m[0][1]))
			if h := "'sha256-" + base64.StdEncoding.EncodeToString(d[:]) + "'"; !strings.Contains(csp, h) {
				t.Errorf("%s page: CSP lacks %s", name, h)
			}
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP lacks %q", want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Error("CSP allows unsafe-*")
	}
	pkgCSP, err := ContentSecurityPolicy()
	if err != nil || pkgCSP != csp {
		t.Errorf("package CSP differs from the renderer's: %v", err)
	}
}

func TestDecisionPageFromRecord(t *testing.T) {
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	rec := sampleRecord(t, pkg.Manifest)
	b, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	id := transparency.RecordID(b)
	p, err := DecisionPageFromRecord(id, "tok", rec, pkg.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != id.String() || p.Decision != OutcomeDecline || p.ScoreMin != 300 || p.ScoreMax != 850 || p.PolicyRevision != "7" {
		t.Errorf("page %+v", p)
	}
	if len(p.Reasons) != 2 || p.Reasons[0].Feature != "Monthly income" || p.Reasons[0].Value != "900 dollars a month" {
		t.Errorf("reasons %+v", p.Reasons)
	}
	if len(p.Contributions) != len(rec.Decision.Attributions) {
		t.Errorf("%d contributions", len(p.Contributions))
	}
	for _, c := range p.Contributions {
		if c.Feature == "Home" || c.Value == "" {
			t.Errorf("contribution without plain-language name or value: %+v", c)
		}
	}

	if err := rec.Minimise([]string{"decision", "reasons"}); err != nil {
		t.Fatal(err)
	}
	p, err = DecisionPageFromRecord(id, "tok", rec, pkg.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	if p.ScoreMax > p.ScoreMin || p.ProbabilityOfDefault >= 0 || p.PolicyRevision != "" {
		t.Errorf("minimised fields shown: %+v", p)
	}
	if _, err := DecisionPageFromRecord(id, "tok", &transparency.Record{Type: transparency.TypeModelAdmitted}, nil); err == nil {
		t.Error("non-decision record accepted")
	}
}

// sampleRecord is a realistic decision on the default model's features.
func sampleRecord(t testing.TB, m *models.Manifest) *transparency.Record {
	t.Helper()
	num := transparency.NumberValue
	feats := map[string]transparency.FeatureValue{
		"Seniority": num(1), "Home": transparency.LevelValue("rent"), "Time": num(48),
		"Records": transparency.LevelValue("no"), "Job": transparency.LevelValue("fixed"),
		"Expenses": num(75), "Income": num(900), "Assets": num(0), "Debt": num(4000),
		"Amount": num(1500), "Price": num(1800),
	}
	attr := map[string]float64{
		"Seniority": 0.35, "Home": 0.12, "Time": 0.08, "Records": -0.22, "Job": -0.3,
		"Expenses": 0.05, "Income": 0.61, "Assets": 0.18, "Debt": 0.27, "Amount": 0.1, "Price": -0.06,
	}
	reason := func(f string) transparency.Reason {
		ft := m.Features[m.FeatureIndex(f)]
		c := attr[f]
		return transparency.Reason{Code: ft.Reason.Code, Feature: f, Value: feats[f], Text: ft.Reason.Text, Contribution: &c}
	}
	rec, err := transparency.NewRecord(time.Date(2026, 3, 1, 10, 30, 0, 0, time.UTC), &transparency.Decision{
		Lender:               "lender-demo",
		ApplicationID:        "app-0042",
		Model:                transparency.ModelRef{ID: m.ID, SHA256: m.ModelSHA256},
		Policy:               transparency.PolicyRef{Revision: "7"},
		Features:             feats,
		RawScore:             -1.5,
		ProbabilityOfDefault: 0.183,
		Score:                553,
		Decision:             OutcomeDecline,
		Reasons:              []transparency.Reason{reason("Income"), reason("Seniority")},
		Attributions:         attr,
		ExpectedValue:        -1.9,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestAuditPage(t *testing.T) {
	ts := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	var entries []transparency.Entry
	add := func(body any) {
		rec, err := transparency.NewRecord(ts, body)
		if err != nil {
			t.Fatal(err)
		}
		b, err := rec.Encode()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, transparency.Entry{ID: transparency.RecordID(b), Data: b, Type: rec.Type, Status: transparency.StatusIntegrated, Index: uint64(len(entries))})
	}
	add(&transparency.ModelAdmitted{Model: transparency.ModelRef{ID: "credit-risk-v1", SHA256: strings.Repeat("1", 64)}, Details: map[string]string{"validation": hostile}})
	add(&transparency.PolicyActivated{Policy: transparency.PolicyRef{Revision: "7"}})
	add(&transparency.Decision{Lender: "lender-demo", ApplicationID: "a1", Decision: "approve", Score: 700})
	add(&transparency.Decision{Lender: "lender-demo", ApplicationID: "a2", Decision: "decline", Score: 480})
	entries = append(entries, transparency.Entry{Index: 4, Type: "decision", Data: []byte("{not json")})
	add(&transparency.Recourse{DecisionID: entries[3].ID.String(), Digest: strings.Repeat("ab", 32), Suggestions: 2,
		Model: transparency.ModelRef{ID: "credit-risk-v1", SHA256: strings.Repeat("1", 64)}, Policy: transparency.PolicyRef{Revision: "7"}})

	list, gov := AuditFromEntries(entries)
	if len(list) != 6 || len(gov) != 2 {
		t.Fatalf("%d entries, %d governance events", len(list), len(gov))
	}
	if gov[0].Subject != "model credit-risk-v1" || gov[1].Subject != "policy revision 7" || gov[0].Details[0].Value != hostile {
		t.Errorf("governance %+v", gov)
	}
	if !strings.HasPrefix(list[4].Summary, "record does not decode") {
		t.Errorf("undecodable entry summary %q", list[4].Summary)
	}
	root := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	var buf bytes.Buffer
	err := RenderAudit(&buf, AuditPage{
		Checkpoint:  "glassbox.local/ledger/1\n5\n" + root + "\n\n— glassbox.local/ledger/1 AAAA\n",
		VerifierKey: "glassbox.local/ledger/1+01020304+AQ==",
		Entries:     list,
		Governance:  gov,
		GeneratedAt: ts,
	})
	if err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{
		`<strong id="tree-size">5</strong>`, "glassbox.local/ledger/1", strings.Repeat("07", 32),
		"Decisions <span class=\"count\">(3)</span>", "Model admissions <span class=\"count\">(1)</span>",
		"Policy activations <span class=\"count\">(1)</span>", "approve · score 700", "model credit-risk-v1 admitted",
		`id="consistency-form"`, `type="password"`,
		"Recourse shown to applicants <span class=\"count\">(1)</span>", "recourse for decision " + entries[3].ID.String() + " (2 suggestion(s))",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	// Newest first within a type.
	if strings.Index(page, entries[3].ID.String()) > strings.Index(page, entries[2].ID.String()) {
		t.Error("decisions are not newest first")
	}
	if strings.Contains(page, "<img") || strings.Count(page, "<script") != 1 {
		t.Error("hostile governance detail not escaped")
	}
	// The key field has no name, so the form can never submit it in a URL.
	if regexp.MustCompile(`<input[^>]*id="reg-key"[^>]*name=`).MatchString(page) {
		t.Error("the key input has a name")
	}
}

func TestFormatting(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 1200: "1,200", 1234567.891: "1,234,567.89", -4.5: "−4.5", 0.004: "0"} {
		if got := formatNumber(in); got != want {
			t.Errorf("formatNumber(%v) = %q, want %q", in, got, want)
		}
	}
	if got := FormatFeatureValue(transparency.NumberValue(1200), "currency units"); got != "1,200 currency units" {
		t.Errorf("got %q", got)
	}
	if got := FormatFeatureValue(transparency.MissingValue(), "x"); got != "not provided" {
		t.Errorf("got %q", got)
	}
	for in, want := range map[float64]string{0.5: "+0.50", -0.25: "−0.25", 0.001: "0.00"} {
		if got := signed(in); got != want {
			t.Errorf("signed(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestVerifyScriptIsEmbedded(t *testing.T) {
	if s := string(VerifyScript()); !strings.Contains(s, "const GlassboxVerify") {
		t.Error("VerifyScript does not return verify.js")
	}
}

// TestReloadPageNeedsNothingTheCSPForbids: the reload page is served
// under the pages' CSP, which allows no script or style but the pages'
// own hashed ones, so it must work with neither; and a token-less
// decision page sends no token back.
func TestReloadPageNeedsNothingTheCSPForbids(t *testing.T) {
	page := strings.ToLower(string(ReloadPage()))
	for _, bad := range []string{"<script", "<style", "style=", "onload", "javascript:", "http:", "https:"} {
		if strings.Contains(page, bad) {
			t.Errorf("reload page contains %q", bad)
		}
	}
	if !strings.Contains(page, `<meta http-equiv="refresh" content="0">`) {
		t.Error("reload page does not reload")
	}
	p := samplePage()
	p.Token = ""
	var b bytes.Buffer
	if err := RenderDecision(&b, p); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `data-token=""`) {
		t.Error("a page without a token carries one")
	}
}

// TestAuditEntriesFormat2: a format 2 decision is summarised from the
// record beside its leaf; a foreign leaf, an erased record and an erasure
// record say what they are.
func TestAuditEntriesFormat2(t *testing.T) {
	ts := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	rec, err := transparency.NewRecord(ts, &transparency.Decision{Lender: "lender-demo", ApplicationID: "a1", Decision: "decline", Score: 480})
	if err != nil {
		t.Fatal(err)
	}
	full, err := rec.Encode()
	if err != nil {
		t.Fatal(err)
	}
	envelope := []byte(`{"authenticator":"AA==","commitment":"00","format":2}`) // only its prefix matters here
	er, err := transparency.NewRecord(ts, &transparency.Erasure{DecisionID: strings.Repeat("ab", 32), LegalBasis: "GDPR Art. 17(1)(a)"})
	if err != nil {
		t.Fatal(err)
	}
	erBytes, _ := er.Encode()
	entries := []transparency.Entry{
		{Index: 0, Data: envelope, Record: full, Format: 2, Type: transparency.TypeDecision},
		{Index: 1, Data: []byte("queued by someone else"), Foreign: true},
		{Index: 2, Data: envelope, Format: 2, Type: transparency.TypeDecision, Erased: true},
		{Index: 3, Data: erBytes, Record: erBytes, Format: 1, Type: transparency.TypeErasure},
	}
	list, _ := AuditFromEntries(entries)
	want := []struct{ typ, summary string }{
		{"decision", "decline · score 480 · lender lender-demo"},
		{"foreign", "FOREIGN LEAF"},
		{"decision", "record erased"},
		{"erasure", "record of decision " + strings.Repeat("ab", 32) + " erased (GDPR Art. 17(1)(a))"},
	}
	for i, w := range want {
		if list[i].Type != w.typ || !strings.HasPrefix(list[i].Summary, w.summary) {
			t.Errorf("entry %d: %s %q, want %s %q", i, list[i].Type, list[i].Summary, w.typ, w.summary)
		}
	}
}
