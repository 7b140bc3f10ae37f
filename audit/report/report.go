// Package report computes glassbox's monitoring and fair-lending reports
// from a verified prefix of the ledger: per model and policy revision,
// volumes and rates by decision, reason-code frequencies, the score's and
// every feature's population stability against the model's reference
// distribution and, where outcomes are known, bad rate by score band,
// AUC, KS and calibration.
//
// A report is a pure function of the prefix, the model packages and the
// options, and holds no wall-clock time, so anyone holding the same
// records recomputes the same bytes (glassbox audit report --verify).
// How the prefix was fetched and checked against a signed checkpoint is
// the caller's business: Prefix is what this package consumes.
package report

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// Format is the version of the report JSON this package writes.
const Format = 1

// DefaultPSIThreshold is the population stability index above which a
// finding is raised unless policy sets another: the conventional line of
// a significant shift.
const DefaultPSIThreshold = 0.25

// DefaultCalibrationAlpha is the Hosmer–Lemeshow p-value below which a
// calibration finding is raised.
const DefaultCalibrationAlpha = 0.05

// Entry is one ledger entry of a verified prefix, decoded.
type Entry struct {
	Index uint64
	// ID is the record's id (its RFC 6962 leaf hash), lowercase hex.
	ID     string
	Record *transparency.Record
}

// Prefix is the first Size entries of the log, which the caller has
// checked hash to Root under a signed checkpoint.
type Prefix struct {
	Size    uint64
	Root    []byte
	Entries []Entry
	// Events are the prefix's final_action and outcome records, in log
	// order (ParseEvent).
	Events []Event
}

// Model is what a report needs of a model package.
type Model struct {
	Manifest     *models.Manifest
	Distribution *models.Distribution
}

// Options choose what a report covers.
type Options struct {
	// From and To bound the decisions' timestamps, [From, To); zero is
	// unbounded.
	From, To time.Time
	// ModelID keeps only one model's decisions ("" for all).
	ModelID string
	// PSIThreshold and CalibrationAlpha set when findings are raised.
	PSIThreshold     float64
	CalibrationAlpha float64
	// Outcomes maps decision ids to a matured outcome, true for bad. It is
	// read from the ledger's outcome records (Outcomes), nil if there are
	// none.
	Outcomes map[string]bool
}

// Report is report.json.
type Report struct {
	Format   int       `json:"format"`
	Log      LogRef    `json:"log"`
	Scope    Scope     `json:"scope"`
	Segments []Segment `json:"segments"`
	Findings []Finding `json:"findings"`
}

// LogRef names the log prefix a report was computed from.
type LogRef struct {
	Size uint64 `json:"size"`
	Root string `json:"root"`
}

// Scope is the options that shape a report, so that --verify can
// recompute it.
type Scope struct {
	FromTime         string  `json:"from_time,omitempty"`
	ToTime           string  `json:"to_time,omitempty"`
	ModelID          string  `json:"model_id,omitempty"`
	PSIThreshold     float64 `json:"psi_threshold"`
	CalibrationAlpha float64 `json:"calibration_alpha"`
}

// Segment is the decisions of one model under one policy revision.
type Segment struct {
	ModelID        string `json:"model_id"`
	ModelSHA256    string `json:"model_sha256"`
	PolicyRevision string `json:"policy_revision"`
	// FirstTime and LastTime are the earliest and latest decision
	// timestamps of the segment.
	FirstTime string `json:"first_time"`
	LastTime  string `json:"last_time"`
	Decisions int    `json:"decisions"`
	// ByDecision counts decisions by outcome (approve, refer, decline,
	// incomplete) and Rates divides them by Decisions.
	ByDecision map[string]int     `json:"by_decision"`
	Rates      map[string]float64 `json:"rates"`
	// Reasons counts how often each reason code was disclosed, most
	// frequent first.
	Reasons []CodeCount `json:"reasons"`
	// Score is the score's distribution and stability.
	Score Stability `json:"score"`
	// ScoreMean and ScoreSD summarise the scores.
	ScoreMean float64 `json:"score_mean"`
	ScoreSD   float64 `json:"score_sd"`
	// Features is every feature's stability, in manifest order; empty
	// when the model ships no reference distribution or the records carry
	// no features.
	Features []Stability `json:"features"`
	// Performance is present when outcomes are known for the segment.
	Performance *Performance `json:"performance,omitempty"`
	// FinalActions is present when the prefix holds final actions for the
	// segment's decisions, or the segment has referrals.
	FinalActions *FinalActions `json:"final_actions,omitempty"`
	// Note says what could not be computed and why.
	Notes []string `json:"notes,omitempty"`
}

// CodeCount is one reason code's frequency.
type CodeCount struct {
	Code  string `json:"code"`
	Count int    `json:"count"`
}

// Stability is one variable's live distribution against its reference:
// counts per reference bin (the missing bin last) and the PSI.
type Stability struct {
	Name      string    `json:"name"`
	Edges     []float64 `json:"edges,omitempty"`
	Levels    []string  `json:"levels,omitempty"`
	Reference []int     `json:"reference"`
	Actual    []int     `json:"actual"`
	PSI       *float64  `json:"psi"`
}

// Performance is what the matured outcomes say of the model.
type Performance struct {
	// Matured counts decisions with a known outcome; Bad the bad ones.
	Matured int     `json:"matured"`
	Bad     int     `json:"bad"`
	AUC     float64 `json:"auc"`
	KS      float64 `json:"ks"`
	// BadRateByBand is the bad rate per reference score bin.
	BadRateByBand []BandRate         `json:"bad_rate_by_band"`
	Calibration   *audit.Calibration `json:"calibration,omitempty"`
}

// BandRate is the bad rate among matured decisions in one score band.
type BandRate struct {
	// Upper is the band's upper score edge (null for the last band).
	Upper *float64 `json:"upper"`
	N     int      `json:"n"`
	Bad   int      `json:"bad"`
	Rate  *float64 `json:"rate"`
}

// Finding is an alarm: a figure beyond the threshold set for it.
type Finding struct {
	Kind           string  `json:"kind"` // "psi" or "calibration"
	ModelID        string  `json:"model_id"`
	PolicyRevision string  `json:"policy_revision"`
	Variable       string  `json:"variable,omitempty"`
	Value          float64 `json:"value"`
	Threshold      float64 `json:"threshold"`
	Message        string  `json:"message"`
}

// ErrNoModel means a decision names a model whose package is not at hand.
var ErrNoModel = errors.New("report: no package for the model a decision names")

const timeLayout = time.RFC3339Nano

// decisions returns the prefix's decision entries in scope, grouped by
// segment key, keys in first-seen order.
type segKey struct{ id, sha, policy string }

func inScope(e Entry, opt Options) bool {
	r := e.Record
	if r.Type != transparency.TypeDecision || r.Decision == nil {
		return false
	}
	if opt.ModelID != "" && r.Decision.Model.ID != opt.ModelID {
		return false
	}
	if !opt.From.IsZero() && r.Timestamp.Before(opt.From) {
		return false
	}
	if !opt.To.IsZero() && !r.Timestamp.Before(opt.To) {
		return false
	}
	return true
}

func segments(p *Prefix, opt Options) ([]segKey, map[segKey][]Entry) {
	var keys []segKey
	by := map[segKey][]Entry{}
	for _, e := range p.Entries {
		if !inScope(e, opt) {
			continue
		}
		d := e.Record.Decision
		k := segKey{d.Model.ID, d.Model.SHA256, d.Policy.Revision}
		if _, ok := by[k]; !ok {
			keys = append(keys, k)
		}
		by[k] = append(by[k], e)
	}
	slices.SortFunc(keys, func(a, b segKey) int {
		return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(a.sha, b.sha), cmp.Compare(a.policy, b.policy))
	})
	return keys, by
}

func (o Options) scope() Scope {
	s := Scope{ModelID: o.ModelID, PSIThreshold: o.PSIThreshold, CalibrationAlpha: o.CalibrationAlpha}
	if !o.From.IsZero() {
		s.FromTime = o.From.UTC().Format(timeLayout)
	}
	if !o.To.IsZero() {
		s.ToTime = o.To.UTC().Format(timeLayout)
	}
	return s
}

func (o *Options) defaults() {
	if o.PSIThreshold == 0 {
		o.PSIThreshold = DefaultPSIThreshold
	}
	if o.CalibrationAlpha == 0 {
		o.CalibrationAlpha = DefaultCalibrationAlpha
	}
}

// Compute builds the monitoring report of prefix p. pkgs maps a model's
// SHA-256 to its package.
func Compute(p *Prefix, pkgs map[string]*Model, opt Options) (*Report, error) {
	opt.defaults()
	rep := &Report{Format: Format, Log: LogRef{Size: p.Size, Root: hex.EncodeToString(p.Root)}, Scope: opt.scope(), Segments: []Segment{}, Findings: []Finding{}}
	keys, by := segments(p, opt)
	for _, k := range keys {
		pkg, ok := pkgs[k.sha]
		if !ok {
			return nil, fmt.Errorf("%w: %s (sha256 %s)", ErrNoModel, k.id, k.sha)
		}
		seg, err := segment(k, by[k], pkg, opt)
		if err == nil {
			seg.FinalActions = finalActions(by[k], p.Events, latestTime(p))
		}
		if err != nil {
			return nil, fmt.Errorf("report: model %s policy %s: %w", k.id, k.policy, err)
		}
		rep.Segments = append(rep.Segments, seg)
		rep.Findings = append(rep.Findings, findings(seg, opt)...)
	}
	return rep, nil
}

func segment(k segKey, es []Entry, pkg *Model, opt Options) (Segment, error) {
	seg := Segment{
		ModelID: k.id, ModelSHA256: k.sha, PolicyRevision: k.policy, Decisions: len(es),
		ByDecision: map[string]int{}, Rates: map[string]float64{}, Reasons: []CodeCount{}, Features: []Stability{},
	}
	first, last := es[0].Record.Timestamp, es[0].Record.Timestamp
	scores := make([]float64, len(es))
	codes := map[string]int{}
	for i, e := range es {
		d := e.Record.Decision
		ts := e.Record.Timestamp
		if ts.Before(first) {
			first = ts
		}
		if ts.After(last) {
			last = ts
		}
		seg.ByDecision[d.Decision]++
		for _, r := range d.Reasons {
			codes[r.Code]++
		}
		scores[i] = d.Score
	}
	seg.FirstTime, seg.LastTime = first.UTC().Format(timeLayout), last.UTC().Format(timeLayout)
	for dec, n := range seg.ByDecision {
		seg.Rates[dec] = float64(n) / float64(len(es))
	}
	for c, n := range codes {
		seg.Reasons = append(seg.Reasons, CodeCount{c, n})
	}
	slices.SortFunc(seg.Reasons, func(a, b CodeCount) int { return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code)) })
	seg.ScoreMean, seg.ScoreSD = audit.MeanSD(scores)
	if math.IsNaN(seg.ScoreSD) {
		seg.ScoreSD = 0
	}

	dist := pkg.Distribution
	if dist == nil {
		seg.Notes = append(seg.Notes, "the model package ships no reference distribution: no population stability")
		seg.Score = Stability{Name: "score", Reference: []int{}, Actual: []int{}}
	} else {
		seg.Score = stability("score", dist.Score, nil, scores)
		for i := range pkg.Manifest.Features {
			f := &pkg.Manifest.Features[i]
			col, ok := FeatureColumn(es, f)
			if !ok {
				seg.Notes = append(seg.Notes, fmt.Sprintf("feature %q is not in the records (minimised away): no stability", f.Name))
				continue
			}
			var levels []string
			if f.Type == models.Categorical {
				levels = f.Levels
			}
			seg.Features = append(seg.Features, stability(f.Name, dist.Features[f.Name], levels, col))
		}
	}
	perf, err := performance(es, dist, opt.Outcomes)
	if err != nil {
		return seg, err
	}
	seg.Performance = perf
	if perf == nil {
		seg.Notes = append(seg.Notes, "no matured outcomes with both good and bad cases: no bad rate, AUC, KS or calibration")
	}
	return seg, nil
}

// FeatureColumn returns feature f's values over the entries in the
// model's encoding (a category as its level index, missing as NaN); ok is
// false if a record does not carry the feature map at all.
func FeatureColumn(es []Entry, f *models.Feature) ([]float64, bool) {
	col := make([]float64, len(es))
	for i, e := range es {
		fs := e.Record.Decision.Features
		if fs == nil {
			return nil, false
		}
		v, ok := fs[f.Name]
		col[i] = math.NaN()
		if !ok {
			continue
		}
		if x, ok := v.Number(); ok && f.Type != models.Categorical {
			col[i] = x
		} else if l, ok := v.Level(); ok && f.Type == models.Categorical {
			if j := slices.Index(f.Levels, l); j >= 0 {
				col[i] = float64(j)
			}
		}
	}
	return col, true
}

// Bin returns the reference bin of value v under h (a categorical value
// as its level index; the missing bin last).
func Bin(h *models.Histogram, categorical bool, v float64) int {
	switch {
	case math.IsNaN(v):
		return len(h.Counts)
	case categorical:
		return int(v)
	}
	return audit.Bin(h.Edges, v)
}

func stability(name string, h *models.Histogram, levels []string, values []float64) Stability {
	s := Stability{Name: name, Edges: h.Edges, Levels: levels, Reference: h.WithMissing(), Actual: make([]int, len(h.Counts)+1)}
	for _, v := range values {
		s.Actual[Bin(h, levels != nil, v)]++
	}
	if psi, err := audit.PSI(s.Reference, s.Actual); err == nil {
		s.PSI = &psi
	}
	return s
}

func performance(es []Entry, dist *models.Distribution, outcomes map[string]bool) (*Performance, error) {
	var pd, score []float64
	var bad []bool
	for _, e := range es {
		b, ok := outcomes[e.ID]
		if !ok {
			continue
		}
		pd = append(pd, e.Record.Decision.ProbabilityOfDefault)
		score = append(score, e.Record.Decision.Score)
		bad = append(bad, b)
	}
	p := &Performance{Matured: len(pd)}
	for _, b := range bad {
		if b {
			p.Bad++
		}
	}
	if p.Bad == 0 || p.Bad == p.Matured {
		return nil, nil
	}
	var err error
	if p.AUC, err = audit.AUC(pd, bad); err != nil {
		return nil, err
	}
	if p.KS, err = audit.KS(pd, bad); err != nil {
		return nil, err
	}
	if c, err := audit.Calibrate(pd, bad, 10); err == nil {
		p.Calibration = &c
	}
	if dist != nil {
		edges := dist.Score.Edges
		bands := make([]BandRate, len(edges)+1)
		for i := range edges {
			bands[i].Upper = &edges[i]
		}
		for i, s := range score {
			b := &bands[audit.Bin(edges, s)]
			b.N++
			if bad[i] {
				b.Bad++
			}
		}
		for i := range bands {
			if bands[i].N > 0 {
				r := float64(bands[i].Bad) / float64(bands[i].N)
				bands[i].Rate = &r
			}
		}
		p.BadRateByBand = bands
	}
	return p, nil
}

func findings(seg Segment, opt Options) []Finding {
	var out []Finding
	for _, s := range append([]Stability{seg.Score}, seg.Features...) {
		if s.PSI != nil && *s.PSI > opt.PSIThreshold {
			out = append(out, Finding{
				Kind: "psi", ModelID: seg.ModelID, PolicyRevision: seg.PolicyRevision, Variable: s.Name, Value: *s.PSI, Threshold: opt.PSIThreshold,
				Message: fmt.Sprintf("population stability index of %s is %.4f, above the threshold %v: the population has shifted from the model's training data", s.Name, *s.PSI, opt.PSIThreshold),
			})
		}
	}
	if p := seg.Performance; p != nil && p.Calibration != nil && p.Calibration.PValue < opt.CalibrationAlpha {
		out = append(out, Finding{
			Kind: "calibration", ModelID: seg.ModelID, PolicyRevision: seg.PolicyRevision, Value: p.Calibration.PValue, Threshold: opt.CalibrationAlpha,
			Message: fmt.Sprintf("Hosmer–Lemeshow %.2f on %d df (p = %.3g) over %d matured decisions: predicted default rates do not match observed ones at level %v", p.Calibration.HL, p.Calibration.DF, p.Calibration.PValue, p.Matured, opt.CalibrationAlpha),
		})
	}
	return out
}

// latestTime is the latest timestamp of the prefix's records: "now" for
// overdue referrals, without reading the clock.
func latestTime(p *Prefix) time.Time {
	var t time.Time
	for _, e := range p.Entries {
		if e.Record.Timestamp.After(t) {
			t = e.Record.Timestamp
		}
	}
	for _, e := range p.Events {
		if e.Timestamp.After(t) {
			t = e.Timestamp
		}
	}
	return t
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
