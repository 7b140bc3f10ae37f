package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/audit/report"
	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// fixture is the whole credit test set decided through the real decision
// path, as decision records, with outcomes from its labels.
type fixture struct {
	prefix   *report.Prefix
	pkgs     map[string]*report.Model
	pkg      *models.Package
	outcomes map[string]bool
	labels   []bool // by row
}

var base = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.New(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := decision.NewExplainers(m)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../../testdata/credit_test.csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := scoring.ReadCSV(bytes.NewReader(raw), m.Ensemble.FeatureNames)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := scoring.ReadCSV(bytes.NewReader(raw), []string{"label"})
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{pkg: pkg, outcomes: map[string]bool{}, pkgs: map[string]*report.Model{pkg.SHA256: {Manifest: pkg.Manifest, Distribution: pkg.Distribution}}}
	fx.prefix = &report.Prefix{Root: []byte{1, 2, 3}}
	for i, x := range rows {
		ev, err := decision.Evaluate(ctx, pol, m, ex, x)
		if err != nil {
			t.Fatal(err)
		}
		d := &transparency.Decision{
			Lender: "test", ApplicationID: rowID(i), Model: transparency.ModelRef{ID: pkg.Manifest.ID, SHA256: pkg.SHA256},
			Policy: transparency.PolicyRef{Revision: pol.Revision()}, Features: map[string]transparency.FeatureValue{},
			RawScore: ev.Prediction.Raw, ProbabilityOfDefault: ev.Prediction.PD, Score: ev.Prediction.Score,
			Decision: string(ev.Outcome.Decision), ReasonMethod: ev.ReasonMethod, Attributions: map[string]float64{},
			ExpectedValue: ev.Contributions[len(ev.Contributions)-1],
		}
		for j := range pkg.Manifest.Features {
			f := &pkg.Manifest.Features[j]
			switch {
			case math.IsNaN(x[j]):
				d.Features[f.Name] = transparency.MissingValue()
			case f.Type == models.Categorical:
				d.Features[f.Name] = transparency.LevelValue(f.Levels[int(x[j])])
			default:
				d.Features[f.Name] = transparency.NumberValue(x[j])
			}
			d.Attributions[f.Name] = ev.Contributions[j]
		}
		for _, r := range ev.Reasons {
			d.Reasons = append(d.Reasons, transparency.Reason{Code: r.Code, Feature: r.Feature, Text: r.Text, Contribution: r.Contribution, Direction: r.Direction, Rule: r.Rule})
		}
		rec, err := transparency.NewRecord(base.Add(time.Duration(i)*time.Minute), d)
		if err != nil {
			t.Fatal(err)
		}
		id, err := rec.ID()
		if err != nil {
			t.Fatal(err)
		}
		fx.prefix.Entries = append(fx.prefix.Entries, report.Entry{Index: uint64(i), ID: id.String(), Record: rec})
		fx.outcomes[id.String()] = labels[i][0] == 1
		fx.labels = append(fx.labels, labels[i][0] == 1)
	}
	fx.prefix.Size = uint64(len(rows))
	return fx
}

func rowID(i int) string { return "row-" + strconv.Itoa(i) }

// TestReport computes the report of the whole test set and checks each
// figure against a computation done here another way.
func TestReport(t *testing.T) {
	fx := newFixture(t)
	rep, err := report.Compute(fx.prefix, fx.pkgs, report.Options{Outcomes: fx.outcomes})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Segments) != 1 {
		t.Fatalf("%d segments, want 1", len(rep.Segments))
	}
	seg := rep.Segments[0]
	es := fx.prefix.Entries

	// Volumes, counted directly.
	counts := map[string]int{}
	for _, e := range es {
		counts[e.Record.Decision.Decision]++
	}
	if len(counts) != len(seg.ByDecision) {
		t.Errorf("by decision %v, counted %v", seg.ByDecision, counts)
	}
	for k, n := range counts {
		if seg.ByDecision[k] != n || seg.Rates[k] != float64(n)/float64(len(es)) {
			t.Errorf("%s: %d (%v), counted %d", k, seg.ByDecision[k], seg.Rates[k], n)
		}
	}
	if seg.ByDecision["approve"] != 535 {
		t.Errorf("approvals %d, want the 535 of models reference", seg.ByDecision["approve"])
	}

	// Score PSI, the formula written out over bins counted by linear scan.
	h := fx.pkg.Distribution.Score
	actual := make([]float64, len(h.Counts))
	for _, e := range es {
		b := len(h.Edges)
		for i, edge := range h.Edges {
			if e.Record.Decision.Score <= edge {
				b = i
				break
			}
		}
		actual[b]++
	}
	var psi float64
	for i := range actual {
		a := max(actual[i]/float64(len(es)), 1e-4)
		r := max(float64(h.Counts[i])/float64(fx.pkg.Distribution.Rows), 1e-4)
		psi += (a - r) * math.Log(a/r)
	}
	// The missing bin is empty on both sides: (1e-4 − 1e-4)·ln 1 = 0.
	if seg.Score.PSI == nil || math.Abs(*seg.Score.PSI-psi) > 1e-12 {
		t.Errorf("score PSI %v, formula %v", seg.Score.PSI, psi)
	}
	if len(seg.Features) != len(fx.pkg.Manifest.Features) {
		t.Errorf("%d feature stabilities", len(seg.Features))
	}

	// Reason codes, counted directly.
	codes := map[string]int{}
	for _, e := range es {
		for _, r := range e.Record.Decision.Reasons {
			codes[r.Code]++
		}
	}
	for _, c := range seg.Reasons {
		if codes[c.Code] != c.Count {
			t.Errorf("reason %s: %d, counted %d", c.Code, c.Count, codes[c.Code])
		}
	}
	if len(codes) != len(seg.Reasons) || !slices.IsSortedFunc(seg.Reasons, func(a, b report.CodeCount) int { return b.Count - a.Count }) {
		t.Errorf("reasons %v, counted %v", seg.Reasons, codes)
	}

	// Outcomes: AUC by pairwise counting over the records' PDs.
	p := seg.Performance
	if p == nil || p.Matured != len(es) || p.Bad != 247 {
		t.Fatalf("performance %+v, want 890 matured, 247 bad", p)
	}
	var wins, pairs float64
	for i := range es {
		for j := range es {
			if fx.labels[i] && !fx.labels[j] {
				pairs++
				pi, pj := es[i].Record.Decision.ProbabilityOfDefault, es[j].Record.Decision.ProbabilityOfDefault
				if pi > pj {
					wins++
				} else if pi == pj {
					wins += 0.5
				}
			}
		}
	}
	if math.Abs(p.AUC-wins/pairs) > 1e-12 {
		t.Errorf("AUC %v, pairwise %v", p.AUC, wins/pairs)
	}
	// It is the AUC the shipped evidence measured on the same set.
	if math.Abs(p.AUC-fx.pkg.Evidence.AUC) > 1e-12 || math.Abs(p.KS-fx.pkg.Evidence.KS) > 1e-12 {
		t.Errorf("AUC %v KS %v, evidence %v %v", p.AUC, p.KS, fx.pkg.Evidence.AUC, fx.pkg.Evidence.KS)
	}
	n, bad := 0, 0
	for _, b := range p.BadRateByBand {
		n += b.N
		bad += b.Bad
	}
	if n != len(es) || bad != 247 {
		t.Errorf("bands hold %d cases, %d bad", n, bad)
	}
	// The test set's calibration fails at 5%: a finding.
	if p.Calibration == nil || p.Calibration.PValue >= 0.05 {
		t.Fatalf("calibration %+v", p.Calibration)
	}
	kinds := map[string]int{}
	for _, f := range rep.Findings {
		kinds[f.Kind]++
	}
	if kinds["calibration"] != 1 {
		t.Errorf("findings %+v, want one calibration finding", rep.Findings)
	}
	// The test set is drawn from the same data as the training set: no
	// variable drifts past 0.25.
	if kinds["psi"] != 0 {
		t.Errorf("psi findings on an undrifted population: %+v", rep.Findings)
	}

	// Deterministic: the same prefix gives the same bytes.
	again, err := report.Compute(fx.prefix, fx.pkgs, report.Options{Outcomes: fx.outcomes})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(rep)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Error("two computations of the same prefix differ")
	}
	var page bytes.Buffer
	if err := report.WriteHTML(&page, rep); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<svg", "<title id=", "<desc id=", "Population stability index", "Hosmer"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// TestDriftFinding shifts the population (every applicant asks for ten
// times the amount): the Amount PSI crosses the threshold.
func TestDriftFinding(t *testing.T) {
	fx := newFixture(t)
	for _, e := range fx.prefix.Entries {
		v, _ := e.Record.Decision.Features["Amount"].Number()
		e.Record.Decision.Features["Amount"] = transparency.NumberValue(v * 10)
	}
	rep, err := report.Compute(fx.prefix, fx.pkgs, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, f := range rep.Findings {
		if f.Kind == "psi" && f.Variable == "Amount" && f.Value > 0.25 && f.Threshold == 0.25 {
			found = true
		}
	}
	if !found {
		t.Errorf("no Amount drift finding: %+v", rep.Findings)
	}
	if rep.Segments[0].Performance != nil {
		t.Error("performance without outcomes")
	}
	// A higher threshold silences it.
	rep, err = report.Compute(fx.prefix, fx.pkgs, report.Options{PSIThreshold: 100})
	if err != nil || len(rep.Findings) != 0 {
		t.Errorf("threshold 100: %+v %v", rep.Findings, err)
	}
	// Scope: a time window and a model filter.
	rep, err = report.Compute(fx.prefix, fx.pkgs, report.Options{From: base.Add(10 * time.Minute), To: base.Add(20 * time.Minute)})
	if err != nil || rep.Segments[0].Decisions != 10 {
		t.Errorf("ten-minute window: %+v %v", rep.Segments, err)
	}
	rep, err = report.Compute(fx.prefix, fx.pkgs, report.Options{ModelID: "other"})
	if err != nil || len(rep.Segments) != 0 {
		t.Errorf("other model: %+v %v", rep.Segments, err)
	}
	if _, err := report.Compute(fx.prefix, map[string]*report.Model{}, report.Options{}); err == nil {
		t.Error("no package for the model: no error")
	}
}

// TestFairness reproduces the approval-rate ratios of credit_protected_
// test.csv's Age and Marital from counts, checks that attributions by
// group add up to the score gap, and that the report names no label.
func TestFairness(t *testing.T) {
	fx := newFixture(t)
	raw, err := os.ReadFile("../../testdata/credit_protected_groups.csv")
	if err != nil {
		t.Fatal(err)
	}
	// The shipped group file numbers rows from 1; the fixture's ids are
	// row-0, row-1, …
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for i, r := range recs {
		if i > 0 {
			r[0] = rowID(i - 1)
		}
		_ = w.Write(r)
	}
	w.Flush()
	g, err := audit.ReadGroups(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	fr, err := report.ComputeFairness(fx.prefix, fx.pkgs, g, buf.Bytes(), report.Options{Outcomes: fx.outcomes})
	if err != nil {
		t.Fatal(err)
	}
	es := fx.prefix.Entries
	attrs := fr.Models[0].Attributes
	for a, attr := range attrs {
		n, k, good, goodK := map[string]int{}, map[string]int{}, map[string]int{}, map[string]int{}
		raws := map[string][]float64{}
		for i, e := range es {
			l := recs[i+1][a+1]
			if l == "" {
				continue
			}
			n[l]++
			ok := e.Record.Decision.Decision == "approve"
			if ok {
				k[l]++
			}
			if !fx.labels[i] {
				good[l]++
				if ok {
					goodK[l]++
				}
			}
			raws[l] = append(raws[l], e.Record.Decision.RawScore)
		}
		var fav string
		for _, gf := range attr.Groups {
			if gf.Favoured {
				fav = gf.Group
			}
		}
		for _, gf := range attr.Groups {
			want := (float64(k[gf.Group]) / float64(n[gf.Group])) / (float64(k[fav]) / float64(n[fav]))
			if gf.N != n[gf.Group] || gf.Approved != k[gf.Group] || math.Abs(gf.Ratio-want) > 1e-12 {
				t.Errorf("%s=%s: %d/%d ratio %v; counted %d/%d ratio %v", attr.Attribute, gf.Group, gf.Approved, gf.N, gf.Ratio, k[gf.Group], n[gf.Group], want)
			}
		}
		if attr.AmongGood == nil {
			t.Fatalf("%s: no among-good figures", attr.Attribute)
		}
		for _, gf := range attr.AmongGood.Groups {
			if gf.N != good[gf.Group] || gf.Approved != goodK[gf.Group] {
				t.Errorf("%s=%s among good: %d/%d, counted %d/%d", attr.Attribute, gf.Group, gf.Approved, gf.N, goodK[gf.Group], good[gf.Group])
			}
		}
		// TreeSHAP is additive: the attribution gaps of a group sum to
		// the difference of its mean raw score from the favoured group's.
		mean := func(x []float64) float64 { m, _ := audit.MeanSD(x); return m }
		for grp := range n {
			if grp == fav {
				continue
			}
			var sum float64
			for _, p := range attr.Proxies {
				sum += p.AttributionGap[grp]
			}
			if d := mean(raws[grp]) - mean(raws[fav]); math.Abs(sum-d) > 1e-9 {
				t.Errorf("%s=%s: attribution gaps sum to %v, raw score gap %v", attr.Attribute, grp, sum, d)
			}
		}
	}
	// The observation: single against married, 18–24 against the
	// most approved age band.
	for _, c := range []struct {
		attr, group string
		ratio       float64
	}{{"Marital", "single", (90.0 / 191) / (421.0 / 655)}, {"Age", "18-24", (52.0 / 119) / (60.0 / 80)}} {
		for _, a := range attrs {
			for _, gf := range a.Groups {
				if a.Attribute == c.attr && gf.Group == c.group && math.Abs(gf.Ratio-c.ratio) > 1e-12 {
					t.Errorf("%s=%s: %v, want %v", c.attr, c.group, gf.Ratio, c.ratio)
				}
			}
		}
	}
	// Age's proxies: Home (living with parents) and Seniority track age
	// more closely than the loan's price does.
	v := map[string]float64{}
	for _, p := range attrs[0].Proxies {
		if p.CramersV != nil {
			v[p.Feature] = *p.CramersV
		}
	}
	if !(v["Home"] > v["Price"] && v["Seniority"] > v["Price"]) {
		t.Errorf("Cramér's V for Age: %v", v)
	}
	t.Logf("Cramér's V against Age: %v", v)
	// Aggregates only: no application id and no row-level label.
	b, _ := json.Marshal(fr)
	for _, leak := range []string{"row-"} {
		if bytes.Contains(b, []byte(leak)) {
			t.Errorf("fairness report holds %q", leak)
		}
	}
	var page bytes.Buffer
	if err := report.WriteFairnessHTML(&page, fr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "Adverse impact ratio by Age") || !strings.Contains(page.String(), "<desc id=") {
		t.Error("fairness page lacks its charts")
	}
}

// lifecycleRecord writes a final_action or outcome record in the form the
// ledger writes it (canonical JSON envelope, docs/lifecycle.md).
func lifecycleRecord(t *testing.T, typ string, ts time.Time, body map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{"body": body, "format": 1, "timestamp": ts.UTC().Format("2006-01-02T15:04:05.000000000Z"), "type": typ})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLifecycleFigures adds final actions and loan outcomes as lifecycle
// records: outcomes read from them give the same performance figures as
// the labels, and overrides, resolution times and overdue referrals are
// the counts made here.
func TestLifecycleFigures(t *testing.T) {
	fx := newFixture(t)
	es := fx.prefix.Entries
	add := func(typ string, ts time.Time, body map[string]any) {
		ev, ok := report.ParseEvent(uint64(len(es)+len(fx.prefix.Events)), lifecycleRecord(t, typ, ts, body))
		if !ok {
			t.Fatalf("%s record not parsed", typ)
		}
		fx.prefix.Events = append(fx.prefix.Events, ev)
	}
	// Every decision's loan: a first "current" report, then the matured
	// status its label gives.
	for i, e := range es {
		status := "repaid"
		if fx.labels[i] {
			status = "defaulted"
		}
		add("outcome", e.Record.Timestamp.Add(24*time.Hour), map[string]any{"decision_id": e.ID, "lender": "test", "status": "current", "as_of": "2027-01-01", "months_on_book": 1})
		add("outcome", e.Record.Timestamp.Add(48*time.Hour), map[string]any{"decision_id": e.ID, "lender": "test", "status": status, "as_of": "2027-12-01", "months_on_book": 12})
	}
	got := report.Outcomes(fx.prefix)
	if len(got) != len(fx.outcomes) {
		t.Fatalf("%d outcomes, want %d", len(got), len(fx.outcomes))
	}
	for id, bad := range fx.outcomes {
		if got[id] != bad {
			t.Fatalf("decision %s: bad %v, label says %v", id, got[id], bad)
		}
	}
	// Final actions: referrals approved by a reviewer (an override) after
	// 2 hours, except every fifth, resolved after 40 days; every declined
	// decision confirmed after an hour.
	var refers, overdue, declines int
	var hours []float64
	for _, e := range es {
		switch e.Record.Decision.Decision {
		case "refer":
			took := 2 * time.Hour
			if refers%5 == 0 {
				took = 40 * 24 * time.Hour
				overdue++
			}
			refers++
			hours = append(hours, took.Hours())
			add("final_action", e.Record.Timestamp.Add(took), map[string]any{"decision_id": e.ID, "action": "approve", "override": true, "actor": "reviewer"})
		case "decline":
			declines++
			add("final_action", e.Record.Timestamp.Add(time.Hour), map[string]any{"decision_id": e.ID, "action": "decline", "override": false, "actor": "system"})
		}
	}
	rep, err := report.Compute(fx.prefix, fx.pkgs, report.Options{Outcomes: report.Outcomes(fx.prefix)})
	if err != nil {
		t.Fatal(err)
	}
	seg := rep.Segments[0]
	if seg.Performance == nil || math.Abs(seg.Performance.AUC-fx.pkg.Evidence.AUC) > 1e-12 {
		t.Errorf("performance from outcome records %+v", seg.Performance)
	}
	fa := seg.FinalActions
	if fa == nil {
		t.Fatal("no final-action figures")
	}
	slices.Sort(hours)
	med := hours[len(hours)/2]
	if len(hours)%2 == 0 {
		med = (hours[len(hours)/2-1] + hours[len(hours)/2]) / 2
	}
	if fa.Referrals != refers || fa.Resolved != refers || fa.Overdue != overdue || fa.Overrides != refers ||
		fa.Decided != refers+declines || fa.ByAction["approve"] != refers || fa.ByAction["decline"] != declines ||
		fa.Directions["refer→approve"] != refers || fa.MedianResolutionHours == nil || *fa.MedianResolutionHours != med {
		t.Errorf("final actions %+v; counted %d referrals (%d overdue), %d declines, median %v h", fa, refers, overdue, declines, med)
	}
	if refers == 0 || math.Abs(fa.OverrideRate-float64(refers)/float64(refers+declines)) > 1e-15 {
		t.Errorf("override rate %v", fa.OverrideRate)
	}
	// Records of other types are not events.
	if _, ok := report.ParseEvent(0, lifecycleRecord(t, "notice_sent", base, map[string]any{"decision_id": "x"})); ok {
		t.Error("notice_sent parsed as an event")
	}
}
