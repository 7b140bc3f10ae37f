package report

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// Bar is one bar of a chart: a value, optionally with an interval.
type Bar struct {
	Label  string
	Value  float64
	Lo, Hi *float64
}

// chart draws a horizontal bar chart as inline SVG, with a title and a
// description for assistive technology and an optional reference line
// (a threshold). The same numbers are always also given as a table next
// to it, the chart's text alternative.
func chart(title, desc string, bars []Bar, line *float64, format string) template.HTML {
	const rowH, labelW, plotW, pad = 22, 150, 360, 6
	top := 0.0
	for _, b := range bars {
		top = max(top, b.Value)
		if b.Hi != nil {
			top = max(top, *b.Hi)
		}
	}
	if line != nil {
		top = max(top, *line)
	}
	if top <= 0 || math.IsNaN(top) || math.IsInf(top, 0) {
		top = 1
	}
	x := func(v float64) float64 { return labelW + plotW*min(max(v, 0), top)/top }
	h := rowH*len(bars) + 2*pad
	var b strings.Builder
	id := fmt.Sprintf("c%x", hash(title))
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" width="%d" height="%d" viewBox="0 0 %d %d" aria-labelledby="%s-t %s-d">`,
		labelW+plotW+80, h, labelW+plotW+80, h, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title><desc id="%s-d">%s</desc>`, id, template.HTMLEscapeString(title), id, template.HTMLEscapeString(desc))
	for i, bar := range bars {
		y := pad + i*rowH
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" text-anchor="end">%s</text>`, labelW-6, y+15, template.HTMLEscapeString(bar.Label))
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4a6fa5"/>`, labelW, y+3, x(bar.Value)-labelW, rowH-6)
		if bar.Lo != nil && bar.Hi != nil {
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#222" stroke-width="1.5"/>`, x(*bar.Lo), x(*bar.Hi), y+rowH/2, y+rowH/2)
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11">%s</text>`, x(max(bar.Value, valueOr(bar.Hi)))+4, y+15, fmt.Sprintf(format, bar.Value))
	}
	if line != nil {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="0" y2="%d" stroke="#b00" stroke-dasharray="4 3"/>`, x(*line), x(*line), h)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // every text in it is escaped above
}

func valueOr(p *float64) float64 {
	if p == nil {
		return 0
	}
	return *p
}

func hash(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// pageStyle is the pages' only style sheet, inline so that a page is one
// self-contained file; CSP allows exactly it, by hash.
const pageStyle = `body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#111}table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}th:first-child,td:first-child{text-align:left}figure{margin:1rem 0}.finding{background:#fff3f3;border-left:4px solid #b00;padding:.4rem .8rem}`

// CSP is the Content-Security-Policy a server sends with these pages:
// nothing but their own inline style sheet, no script, no fetch.
func CSP() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

var funcs = template.FuncMap{
	"style": func() template.CSS { return template.CSS(pageStyle) },
	"f3":    func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"f4":    func(v float64) string { return fmt.Sprintf("%.4f", v) },
	"fp": func(v *float64) string {
		if v == nil {
			return "—"
		}
		return fmt.Sprintf("%.4f", *v)
	},
	"pct": func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"decisionsChart": func(s Segment) template.HTML {
		var bars []Bar
		for _, d := range []string{"approve", "refer", "decline", "incomplete"} {
			bars = append(bars, Bar{Label: d, Value: s.Rates[d]})
		}
		return chart("Decisions by outcome, "+s.ModelID, "Share of decisions per outcome; the table below gives the counts.", bars, nil, "%.3f")
	},
	"psiChart": func(s Segment, threshold float64) template.HTML {
		var bars []Bar
		for _, st := range append([]Stability{s.Score}, s.Features...) {
			bars = append(bars, Bar{Label: st.Name, Value: valueOr(st.PSI)})
		}
		return chart("Population stability index, "+s.ModelID, fmt.Sprintf("PSI of the score and each feature against the training distribution; the dashed line is the threshold %v. The table below gives the values.", threshold), bars, &threshold, "%.4f")
	},
	"scoreChart": func(s Segment) template.HTML {
		var bars []Bar
		n, r := total(s.Score.Actual), total(s.Score.Reference)
		for i := range s.Score.Actual {
			lab := "missing"
			if i < len(s.Score.Edges) {
				lab = fmt.Sprintf("≤ %.0f", s.Score.Edges[i])
			} else if i == len(s.Score.Edges) && len(s.Score.Edges) > 0 {
				lab = fmt.Sprintf("> %.0f", s.Score.Edges[len(s.Score.Edges)-1])
			}
			if n > 0 && r > 0 {
				bars = append(bars, Bar{Label: lab + " live", Value: float64(s.Score.Actual[i]) / float64(n)}, Bar{Label: lab + " training", Value: float64(s.Score.Reference[i]) / float64(r)})
			}
		}
		return chart("Score distribution, "+s.ModelID, "Share of live decisions and of the training data in each reference score band; the table gives the counts.", bars, nil, "%.3f")
	},
	"airChart": func(a AttributeFairness) template.HTML {
		var bars []Bar
		for _, g := range a.Groups {
			bars = append(bars, Bar{Label: g.Group, Value: g.Ratio, Lo: g.CILow, Hi: g.CIHigh})
		}
		four := 0.8
		return chart("Adverse impact ratio by "+a.Attribute, "Each group's approval rate over the most favoured group's, with its 95% interval; the dashed line marks four fifths. The table gives the counts.", bars, &four, "%.3f")
	},
}

func total(c []int) int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

var pages = template.Must(template.New("").Funcs(funcs).Parse(`
{{define "head"}}<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{.}}</title>
<style>{{style}}</style></head><body>{{end}}
{{define "log"}}<p>Computed from the first <strong>{{.Log.Size}}</strong> entries of the ledger, Merkle root <code>{{.Log.Root}}</code>{{with .Scope.FromTime}}, from {{.}}{{end}}{{with .Scope.ToTime}}, to {{.}}{{end}}{{with .Scope.ModelID}}, model {{.}}{{end}}. Anyone holding those entries can recompute this report: <code>glassbox audit report --verify report.json</code>.</p>{{end}}
{{define "report"}}{{template "head" "glassbox monitoring report"}}<main><h1>Monitoring report</h1>{{template "log" .}}
<h2>Findings</h2>{{range .Findings}}<p class="finding">{{.Message}} ({{.ModelID}}, policy {{printf "%.12s" .PolicyRevision}})</p>{{else}}<p>No finding: every PSI is at or below {{.Scope.PSIThreshold}}{{if true}} and no calibration test failed at {{.Scope.CalibrationAlpha}}{{end}}.</p>{{end}}
{{$t := .Scope.PSIThreshold}}{{range .Segments}}<section><h2>{{.ModelID}} under policy {{printf "%.12s" .PolicyRevision}}</h2>
<p>{{.Decisions}} decisions from {{.FirstTime}} to {{.LastTime}}; mean score {{f3 .ScoreMean}} (sd {{f3 .ScoreSD}}).</p>
<figure>{{decisionsChart .}}<figcaption>Decisions by outcome</figcaption></figure>
<table><caption>Decisions by outcome</caption><tr><th>Outcome</th><th>Count</th><th>Share</th></tr>{{$r := .Rates}}{{range $k, $v := .ByDecision}}<tr><td>{{$k}}</td><td>{{$v}}</td><td>{{pct (index $r $k)}}</td></tr>{{end}}</table>
<figure>{{scoreChart .}}<figcaption>Score distribution against the training data</figcaption></figure>
<figure>{{psiChart . $t}}<figcaption>Population stability</figcaption></figure>
<table><caption>Population stability index</caption><tr><th>Variable</th><th>PSI</th></tr><tr><td>score</td><td>{{fp .Score.PSI}}</td></tr>{{range .Features}}<tr><td>{{.Name}}</td><td>{{fp .PSI}}</td></tr>{{end}}</table>
<table><caption>Reason codes disclosed</caption><tr><th>Code</th><th>Count</th></tr>{{range .Reasons}}<tr><td>{{.Code}}</td><td>{{.Count}}</td></tr>{{end}}</table>
{{with .Performance}}<h3>Outcomes</h3><p>{{.Matured}} decisions with a matured outcome, {{.Bad}} bad: AUC {{f4 .AUC}}, KS {{f4 .KS}}{{with .Calibration}}, Hosmer–Lemeshow {{f3 .HL}} on {{.DF}} df (p = {{f4 .PValue}}){{end}}.</p>
<table><caption>Bad rate by score band</caption><tr><th>Band upper edge</th><th>Matured</th><th>Bad</th><th>Bad rate</th></tr>{{range .BadRateByBand}}<tr><td>{{fp .Upper}}</td><td>{{.N}}</td><td>{{.Bad}}</td><td>{{fp .Rate}}</td></tr>{{end}}</table>
{{with .Calibration}}<table><caption>Calibration</caption><tr><th>Band (PD)</th><th>n</th><th>Predicted</th><th>Observed</th></tr>{{range .Bands}}<tr><td>{{f3 .Lower}}–{{f3 .Upper}}</td><td>{{.N}}</td><td>{{f3 .Predicted}}</td><td>{{f3 .ObservedRate}}</td></tr>{{end}}</table>{{end}}{{end}}
{{with .FinalActions}}<h3>Final actions</h3><p>{{.Decided}} decisions with a final action; {{.Overrides}} overrides of the model (rate {{pct .OverrideRate}}); {{.Referrals}} referrals, {{.Resolved}} resolved (median {{fp .MedianResolutionHours}} hours), {{.Overdue}} overdue (more than 30 days).</p>
<table><caption>Overrides by direction (model decision → final action)</caption><tr><th>Direction</th><th>Count</th></tr>{{range $k, $v := .Directions}}<tr><td>{{$k}}</td><td>{{$v}}</td></tr>{{end}}</table>{{end}}
{{range .Notes}}<p><em>{{.}}</em></p>{{end}}</section>{{end}}</main></body></html>{{end}}
{{define "fairness"}}{{template "head" "glassbox fair-lending report"}}<main><h1>Fair-lending report</h1>{{template "log" .}}
<p>Group labels came from a file supplied out of band (SHA-256 <code>{{.GroupsSHA256}}</code>, keyed by {{.GroupKey}}); they never reached the model or the ledger, and this report holds only aggregates.</p>
{{range .Models}}<section><h2>{{.ModelID}}</h2><p>{{.Decisions}} decisions.</p>{{range .Attributes}}<h3>{{.Attribute}}</h3>
<figure>{{airChart .}}<figcaption>Adverse impact ratio by {{.Attribute}}</figcaption></figure>
<table><caption>Approval by {{.Attribute}}</caption><tr><th>Group</th><th>Decisions</th><th>Approved</th><th>Rate</th><th>Impact ratio</th><th>95% CI</th><th>Score SMD</th></tr>{{range .Groups}}<tr><td>{{.Group}}{{if .Favoured}} (most favoured){{end}}</td><td>{{.N}}</td><td>{{.Approved}}</td><td>{{f3 .ApprovalRate}}</td><td>{{f3 .Ratio}}</td><td>{{fp .CILow}}–{{fp .CIHigh}}</td><td>{{fp .ScoreSMD}}</td></tr>{{end}}</table>
{{with .AmongGood}}<table><caption>Approval among applicants who turned out good</caption><tr><th>Group</th><th>Good</th><th>Approved</th><th>Impact ratio</th></tr>{{range .Groups}}<tr><td>{{.Group}}</td><td>{{.N}}</td><td>{{.Approved}}</td><td>{{f3 .Ratio}}</td></tr>{{end}}</table>{{end}}
<table><caption>Proxy screen: each feature's association with {{.Attribute}} and its share of the score gap</caption><tr><th>Feature</th><th>Cramér's V</th><th>Attribution gap by group (log-odds)</th></tr>{{range .Proxies}}<tr><td>{{.Feature}}</td><td>{{fp .CramersV}}</td><td>{{range $g, $v := .AttributionGap}}{{$g}}: {{f4 $v}}; {{end}}</td></tr>{{end}}</table>
{{end}}</section>{{end}}</main></body></html>{{end}}
`))

// WriteHTML renders a monitoring report as a self-contained HTML page.
func WriteHTML(w io.Writer, r *Report) error { return pages.ExecuteTemplate(w, "report", r) }

// WriteFairnessHTML renders a fair-lending report as an HTML page.
func WriteFairnessHTML(w io.Writer, f *Fairness) error {
	return pages.ExecuteTemplate(w, "fairness", f)
}
