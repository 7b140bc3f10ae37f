package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// Approver says whether a (modified) application would be approved. The
// api layer backs it with the real decision path (scoring, TreeSHAP and
// the decision policy), so every stated suggestion is checked exactly as a
// real application would be.
type Approver interface {
	Approves(ctx context.Context, x []float64, p scoring.Prediction) (bool, error)
}

// Rules are the decision policy's conditions for an approval, as read from
// the policy's data: the search screens candidates with them and uses
// their limits as candidate values. They never replace the Approver, which
// has the last word on every suggestion.
type Rules struct {
	// MaxPD: an approval needs a probability of default below MaxPD (the
	// approval cut-off less the borderline margin). 0 means 1.
	MaxPD float64
	// Limits maps a feature to the largest value approved automatically
	// (the amount limit).
	Limits map[string]float64
}

// Change is one feature change of a counterfactual: a numeric feature in
// [Low, High] (both included), or a categorical feature at one of Levels.
// From is the applicant's value: a number, a level, or nil when the value
// was missing (the suggestion is then to provide it).
type Change struct {
	Feature string   `json:"feature"`
	From    any      `json:"from"`
	Low     *float64 `json:"low,omitempty"`
	High    *float64 `json:"high,omitempty"`
	Levels  []string `json:"levels,omitempty"`
}

// Counterfactual is a verified set of changes under which the application
// would have been approved: every value combination it states was checked.
type Counterfactual struct {
	Changes []Change `json:"changes"`
	Text    string   `json:"text"`
	// ProbabilityOfDefault is at the verified point nearest the applicant.
	ProbabilityOfDefault float64 `json:"probability_of_default"`
	Decision             string  `json:"decision"`
	// Cost is the ranking cost, see docs/recourse.md: the sum over changes
	// of |nearest stated value - current value| / max(|current value|,
	// step), 1 for providing a missing value or switching a level.
	Cost float64 `json:"cost"`
}

// MaxAlternatives is how many counterfactuals Find returns at most.
const MaxAlternatives = 3

// pairFeatures is how many features (those that come closest to approval
// alone) enter two-feature combinations, and pairCells how many of the
// first feature's cells, nearest first, each combination tries.
const (
	pairFeatures = 5
	pairCells    = 16
)

// screenMargin is how far below the PD cut-off the screen requires a
// cell's PD to be: far above floating-point noise, far below any
// difference that matters.
const screenMargin = 1e-12

// Recourser finds recourse for one model. It is built once per model and
// is safe for concurrent use.
type Recourser struct {
	m     *scoring.Model
	maxPD float64
	feats []*actionable
	byIdx map[int]*actionable
	// limits are the policy's upper limits by feature index.
	limits map[int]float64
	// constraints are x[a] <= x[b] pairs by feature index.
	constraints [][2]int
}

// actionable is what the search knows about one actionable feature.
type actionable struct {
	idx    int
	f      *models.Feature
	dir    string
	lo, hi float64
	step   float64
	maxRel float64
	// breaks are the model's split thresholds on the feature and the
	// policy's limit, sorted and unique: the model and the policy are
	// constant for values between two of them (x <= t goes left).
	breaks []float64
	// trees are the trees that split on the feature: only they change
	// when the feature does.
	trees []int
	// levels are the category codes of a categorical feature.
	levels []float64
}

// NewRecourser prepares the search for m under the policy rules.
func NewRecourser(m *scoring.Model, rules Rules) (*Recourser, error) {
	if m.Manifest == nil {
		return nil, scoring.ErrNoManifest
	}
	r := &Recourser{m: m, maxPD: rules.MaxPD, byIdx: map[int]*actionable{}, limits: map[int]float64{}}
	if r.maxPD <= 0 {
		r.maxPD = 1
	}
	man := m.Manifest
	for name, lim := range rules.Limits {
		i := man.FeatureIndex(name)
		if i < 0 {
			return nil, fmt.Errorf("recourse: policy limit on unknown feature %q", name)
		}
		r.limits[i] = lim
	}
	for _, c := range man.Constraints {
		a, b := man.FeatureIndex(c.Feature), man.FeatureIndex(c.AtMost)
		if a < 0 || b < 0 {
			return nil, fmt.Errorf("recourse: constraint %s <= %s names an unknown feature", c.Feature, c.AtMost)
		}
		r.constraints = append(r.constraints, [2]int{a, b})
	}
	thresholds := make([][]float64, len(man.Features))
	uses := make([]map[int]bool, len(man.Features))
	// Zero-as-missing splits send 0 the default way whatever the
	// threshold, which the cells (x <= t goes left) do not describe.
	zeroMissing := make([]bool, len(man.Features))
	for ti := range m.Ensemble.Trees {
		t := &m.Ensemble.Trees[ti]
		for n := 0; n < t.NumLeaves-1; n++ {
			f := t.SplitFeature[n]
			if uses[f] == nil {
				uses[f] = map[int]bool{}
			}
			uses[f][ti] = true
			if !t.IsCategorical(n) {
				thresholds[f] = append(thresholds[f], t.Threshold[n])
				if t.MissingType(n) == scoring.MissingZero {
					zeroMissing[f] = true
				}
			}
		}
	}
	for i := range man.Features {
		f := &man.Features[i]
		if f.Recourse == nil || !f.Recourse.Actionable || len(uses[i]) == 0 {
			continue
		}
		a := &actionable{idx: i, f: f, dir: f.Recourse.Direction, maxRel: f.Recourse.MaxRelativeChange}
		if a.dir == "" {
			a.dir = "any"
		}
		for ti := range uses[i] {
			a.trees = append(a.trees, ti)
		}
		slices.Sort(a.trees)
		if f.Type == models.Categorical {
			for code := range f.Levels {
				a.levels = append(a.levels, float64(code))
			}
		} else {
			if zeroMissing[i] {
				return nil, fmt.Errorf("recourse: feature %q has zero-as-missing splits, which recourse does not support", f.Name)
			}
			if f.Recourse.Min == nil || f.Recourse.Max == nil {
				return nil, fmt.Errorf("recourse: actionable feature %q has no bounds", f.Name)
			}
			a.lo, a.hi = *f.Recourse.Min, *f.Recourse.Max
			a.step = f.Recourse.Step
			if a.step <= 0 {
				a.step = (a.hi - a.lo) / 100
			}
			bs := thresholds[i]
			if lim, ok := r.limits[i]; ok {
				bs = append(bs, lim)
			}
			slices.Sort(bs)
			a.breaks = slices.Compact(bs)
		}
		r.feats = append(r.feats, a)
		r.byIdx[i] = a
	}
	return r, nil
}

// cell is a range of one numeric feature over which the model and the
// policy limits are constant: (lo, hi], or [lo, hi] when closed.
type cell struct {
	lo, hi float64
	closed bool
}

// stated rounds a run of cells (lo of the first, hi of the last) inward
// to a round granularity, so the text can say "between 300 and 1,000"
// rather than "between 300.0000001 and 1,037.5". The granularity is the
// feature's step or a finer round one (step/2, step/10 and powers of ten
// down to step/10), the coarsest that keeps at least three quarters of
// the widest interval any of them gives. ok is false when no value of
// the finest granularity lies in the run.
func (a *actionable) stated(lo, hi float64, closed bool) (low, high float64, ok bool) {
	type span struct{ low, high float64 }
	var spans []span
	for _, g := range granularities(a.step) {
		l := math.Floor(lo/g)*g + g
		if closed && math.Ceil(lo/g)*g == lo {
			l = lo
		}
		if closed && l-g < lo && lo < l && lo == a.lo {
			// The run starts at the bottom of the range: lo itself is
			// stated exactly rather than rounded up.
			l = lo
		}
		h := math.Floor(hi/g) * g
		if hi == a.hi && h < hi {
			h = hi
		}
		if l <= h {
			spans = append(spans, span{roundShort(l), roundShort(h)})
		}
	}
	if len(spans) == 0 {
		return 0, 0, false
	}
	widest := 0.0
	for _, sp := range spans {
		widest = max(widest, sp.high-sp.low)
	}
	for _, sp := range spans {
		if sp.high-sp.low >= 0.75*widest {
			return sp.low, sp.high, true
		}
	}
	return spans[0].low, spans[0].high, true
}

// granularities are the rounding units tried for a step, coarsest first.
func granularities(step float64) []float64 {
	out := []float64{step}
	p := math.Pow(10, math.Floor(math.Log10(step)))
	for _, g := range []float64{step / 2, p, p / 2, p / 10} {
		if g < step && g >= step/10 && g != out[len(out)-1] {
			out = append(out, g)
		}
	}
	return out
}

// roundShort drops floating-point noise from step arithmetic (0.1*3).
func roundShort(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if err != nil {
		return v
	}
	return r
}

// search is one Find call's state.
type search struct {
	r  *Recourser
	x  []float64
	y  []float64
	ap Approver
	// cur holds each tree's leaf value at y, sum their total: re-scoring
	// a change re-walks only the trees of the changed features.
	cur []float64
	sum float64
}

// leafAt is tree ti's output at y.
func (s *search) leafAt(ti int) float64 {
	t := &s.r.m.Ensemble.Trees[ti]
	return t.LeafValue[t.Leaf(s.y)]
}

// rawWith is the raw score at y, where y differs from the state cur
// describes only in feature a's value.
func (s *search) rawWith(a *actionable) float64 {
	raw := s.sum
	for _, ti := range a.trees {
		raw += s.leafAt(ti) - s.cur[ti]
	}
	return raw
}

// commit makes cur describe y after feature a changed.
func (s *search) commit(a *actionable) {
	for _, ti := range a.trees {
		v := s.leafAt(ti)
		s.sum += v - s.cur[ti]
		s.cur[ti] = v
	}
}

// screen applies the policy rules and the manifest's constraints to y
// with raw score raw: the necessary conditions for an approval.
func (s *search) screen(raw float64) bool {
	// The incremental raw score sums the trees in another order than the
	// predictor, which can move it by a few ulps; a cell that close to the
	// cut-off is refused rather than claimed.
	if s.r.m.Probability(raw) >= s.r.maxPD-screenMargin {
		return false
	}
	for i, lim := range s.r.limits {
		if s.y[i] > lim {
			return false
		}
	}
	for _, c := range s.r.constraints {
		if s.y[c[0]] > s.y[c[1]] {
			return false
		}
	}
	return true
}

// bounds is the range recourse may suggest for numeric feature a, given
// the applicant's value, the relative cap and the constraints against the
// other features' values in y.
func (s *search) bounds(a *actionable) (lo, hi float64) {
	lo, hi = a.lo, a.hi
	if v := s.x[a.idx]; !math.IsNaN(v) && a.maxRel > 0 {
		lo, hi = math.Max(lo, v-a.maxRel*math.Abs(v)), math.Min(hi, v+a.maxRel*math.Abs(v))
	}
	for _, c := range s.r.constraints {
		if c[0] == a.idx && !math.IsNaN(s.y[c[1]]) {
			hi = math.Min(hi, s.y[c[1]])
		}
		if c[1] == a.idx && !math.IsNaN(s.y[c[0]]) {
			lo = math.Max(lo, s.y[c[0]])
		}
	}
	return lo, hi
}

// cells lists a's cells within [lo, hi] that an allowed move reaches, in
// search order: nearest the applicant's value first (for a missing value,
// from the end the direction favours).
func (s *search) cells(a *actionable, lo, hi float64) []cell {
	if lo > hi {
		return nil
	}
	var all []cell
	prev, closed := lo, true
	for _, b := range a.breaks {
		if b < lo || b >= hi {
			continue
		}
		if b == lo {
			// lo itself falls in the segment below it: a cell of its own.
			all = append(all, cell{lo, lo, true})
			closed = false
			continue
		}
		all = append(all, cell{prev, b, closed})
		prev, closed = b, false
	}
	all = append(all, cell{prev, hi, closed})
	v := s.x[a.idx]
	var out []cell
	switch {
	case math.IsNaN(v):
		out = all
		if a.dir == "decrease" {
			slices.Reverse(out)
		}
	default:
		if a.dir != "increase" {
			for i := len(all) - 1; i >= 0; i-- {
				if all[i].hi < v {
					out = append(out, all[i])
				}
			}
		}
		if a.dir != "decrease" {
			for _, c := range all {
				if c.lo >= v && !(c.closed && c.lo == v) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// run is a contiguous set of approving cells of one feature.
type run struct {
	low, high float64 // stated, both included
	near      float64 // the stated value nearest the applicant
}

// profile returns, for each segment k of a.breaks (the values v with
// breaks[k-1] < v <= breaks[k]), the sum over a's trees of their output
// when a's value lies in segment k and the other features are as in y.
// Each tree is walked once, down both sides of its splits on a only, so
// the cost is that of the trees' reachable leaves, not cells × trees.
func (s *search) profile(a *actionable) []float64 {
	n := len(a.breaks)
	d := make([]float64, n+2)
	for _, ti := range a.trees {
		s.walk(&s.r.m.Ensemble.Trees[ti], 0, 0, n, a, d)
	}
	for k := 1; k <= n; k++ {
		d[k] += d[k-1]
	}
	return d[:n+1]
}

func (s *search) walk(t *scoring.Tree, node, kLo, kHi int, a *actionable, d []float64) {
	for node >= 0 && t.SplitFeature[node] != a.idx {
		node = t.Next(node, s.y[t.SplitFeature[node]])
	}
	if node < 0 {
		v := t.LeafValue[^node]
		d[kLo] += v
		d[kHi+1] -= v
		return
	}
	// Values v <= breaks[j] go left: segments up to j.
	j := sort.SearchFloat64s(a.breaks, t.Threshold[node])
	if kLo <= j {
		s.walk(t, t.LeftChild[node], kLo, min(kHi, j), a, d)
	}
	if j+1 <= kHi {
		s.walk(t, t.RightChild[node], max(kLo, j+1), kHi, a, d)
	}
}

// scan walks a's cells nearest first, with the other features as in y
// and cur, and returns the first run of cells that pass the screen, per
// side of the applicant's value, plus the lowest raw score seen (how close
// the feature comes to approval alone). y[a.idx] is restored.
func (s *search) scan(a *actionable) (runs []run, minRaw float64) {
	orig := s.y[a.idx]
	defer func() { s.y[a.idx] = orig }()
	lo, hi := s.bounds(a)
	minRaw = math.Inf(1)
	var cur *run
	var first, last cell
	side := 0 // -1 below the applicant's value, +1 above
	done := map[int]bool{}
	flush := func() {
		if cur == nil {
			return
		}
		// Only the lowest cell of a run can be closed (it starts at lo).
		low, high, ok := a.stated(min(first.lo, last.lo), max(first.hi, last.hi), first.closed || last.closed)
		if ok {
			cur.low, cur.high = low, high
			cur.near = s.nearest(a, low, high)
			runs = append(runs, *cur)
			done[side] = true
		}
		cur = nil
	}
	prof := s.profile(a)
	base := s.sum
	for _, ti := range a.trees {
		base -= s.cur[ti]
	}
	for _, c := range s.cells(a, lo, hi) {
		cs := 1
		if !math.IsNaN(orig) && c.hi < orig {
			cs = -1
		}
		if cs != side {
			flush()
			side = cs
		}
		if done[cs] {
			// This side has its nearest run already.
			continue
		}
		s.y[a.idx] = c.hi // for the screen's limits and constraints
		raw := base + prof[sort.SearchFloat64s(a.breaks, c.hi)]
		minRaw = min(minRaw, raw)
		if s.screen(raw) {
			if cur == nil {
				cur, first = &run{}, c
			}
			last = c
			continue
		}
		flush()
	}
	flush()
	return runs, minRaw
}

// nearest is the point of [low, high] closest to the applicant's value.
func (s *search) nearest(a *actionable, low, high float64) float64 {
	v := s.x[a.idx]
	switch {
	case math.IsNaN(v):
		if a.dir == "decrease" {
			return high
		}
		return low
	case v < low:
		return low
	case v > high:
		return high
	}
	return v
}

// cost of moving feature a to v: the relative change, with the step as
// the floor of the denominator so that a change from 0 is finite; 1 for
// providing a missing value.
func (s *search) cost(a *actionable, v float64) float64 {
	from := s.x[a.idx]
	if math.IsNaN(from) {
		return 1
	}
	return math.Abs(v-from) / math.Max(math.Abs(from), a.step)
}

// candidate is a counterfactual before verification.
type candidate struct {
	parts []part
	cost  float64
}

type part struct {
	a         *actionable
	low, high float64
	near      float64
	levels    []float64
}

// Find returns up to MaxAlternatives counterfactuals for the application
// x, cheapest first. See docs/recourse.md for the algorithm and why it is
// fast. Each returned interval was screened cell by cell (the model is
// constant between split thresholds, the policy between its limits) and
// then confirmed through ap at both ends of every interval (every corner
// of a two-feature rectangle) and at the nearest point, whose PD is
// reported. An empty result means no allowed change of one or two
// features leads to approval.
func (r *Recourser) Find(ctx context.Context, x []float64, ap Approver) ([]Counterfactual, error) {
	if len(x) != r.m.NumFeatures() {
		return nil, errors.New("recourse: feature vector has the wrong length")
	}
	s := &search{r: r, x: x, y: slices.Clone(x), ap: ap, cur: make([]float64, len(r.m.Ensemble.Trees))}
	for ti := range s.cur {
		s.cur[ti] = s.leafAt(ti)
		s.sum += s.cur[ti]
	}
	var cands []candidate
	type closeness struct {
		a   *actionable
		raw float64
	}
	var close []closeness
	for _, a := range r.feats {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if a.levels != nil {
			if c, ok := s.levels(a); ok {
				cands = append(cands, c)
			}
			continue
		}
		runs, minRaw := s.scan(a)
		for _, rn := range runs {
			cands = append(cands, candidate{parts: []part{{a: a, low: rn.low, high: rn.high, near: rn.near}}, cost: s.cost(a, rn.near)})
		}
		if len(runs) == 0 && !math.IsInf(minRaw, 1) {
			close = append(close, closeness{a, minRaw})
		}
	}
	// Pairs of features that do not suffice alone, those that come
	// closest first: a pair with a feature that suffices alone is
	// rarely the cheaper change, and the closest features are where a
	// second change is most likely to tip the balance.
	// Stable: recourse is recomputed by audit replay and must come out
	// the same.
	sort.SliceStable(close, func(i, j int) bool { return close[i].raw < close[j].raw })
	close = close[:min(len(close), pairFeatures)]
	for i := range close {
		for j := i + 1; j < len(close); j++ {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if c, ok := s.pair(close[i].a, close[j].a); ok {
				cands = append(cands, c)
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].cost < cands[j].cost })
	out := []Counterfactual{}
	seen := map[string]bool{}
	for _, c := range cands {
		if len(out) == MaxAlternatives {
			break
		}
		key := c.key()
		if seen[key] {
			continue
		}
		cf, ok, err := s.verify(ctx, c)
		if err != nil {
			return nil, err
		}
		if ok {
			seen[key] = true
			out = append(out, cf)
		}
	}
	return out, nil
}

func (c candidate) key() string {
	names := make([]string, len(c.parts))
	for i, p := range c.parts {
		names[i] = p.a.f.Name
	}
	slices.Sort(names)
	return strings.Join(names, "+")
}

// levels tries every other level of a categorical feature.
func (s *search) levels(a *actionable) (candidate, bool) {
	orig := s.y[a.idx]
	defer func() { s.y[a.idx] = orig }()
	var ok []float64
	for _, l := range a.levels {
		if l == orig {
			continue
		}
		s.y[a.idx] = l
		if s.screen(s.rawWith(a)) {
			ok = append(ok, l)
		}
	}
	if len(ok) == 0 {
		return candidate{}, false
	}
	return candidate{parts: []part{{a: a, levels: ok}}, cost: 1}, true
}

// pair looks for the cheapest change of a and b together: for each of
// a's cells, nearest first, b's nearest approving run with a fixed in
// that cell. A cell of a and a run of b form a rectangle on which the
// model and the policy limits are constant cell by cell, and every cell
// of it was screened. The search stops once a's change alone costs more
// than the best pair found.
func (s *search) pair(a, b *actionable) (candidate, bool) {
	origA := s.y[a.idx]
	defer func() { s.y[a.idx] = origA }()
	savedCur := slices.Clone(s.cur)
	savedSum := s.sum
	defer func() { copy(s.cur, savedCur); s.sum = savedSum }()
	best := candidate{cost: math.Inf(1)}
	bestK := -1
	lo, hi := s.bounds(a)
	cells := s.cells(a, lo, hi)
	for k, c := range cells {
		if k == pairCells {
			break
		}
		low, high, ok := a.stated(c.lo, c.hi, c.closed)
		if !ok {
			continue
		}
		near := s.nearest(a, low, high)
		ca := s.cost(a, near)
		if ca >= best.cost {
			break
		}
		s.y[a.idx] = c.hi
		s.commit(a)
		// Constraints between a and b must hold for every stated value:
		// bound b by a's whole stated interval, not just the cell's end.
		s.y[a.idx] = high
		runs, _ := s.scan(b)
		s.y[a.idx] = c.hi
		if low != high && s.r.linked(a, b) {
			s.y[a.idx] = low
			runsLow, _ := s.scan(b)
			runs = intersectRuns(runs, runsLow)
			s.y[a.idx] = c.hi
		}
		for _, rn := range runs {
			if total := ca + s.cost(b, rn.near); total < best.cost {
				best = candidate{parts: []part{{a: a, low: low, high: high, near: near}, {a: b, low: rn.low, high: rn.high, near: rn.near}}, cost: total}
				bestK = k
			}
		}
	}
	if bestK < 0 {
		return best, false
	}
	if !s.r.linked(a, b) {
		s.widen(&best, cells, bestK)
	}
	return best, true
}

// pairWiden is how many further cells of the first feature widen a pair.
const pairWiden = 8

// widen extends the first feature's interval of a pair cell by cell away
// from the applicant, as long as the second feature's whole run still
// passes the screen with the first feature in the new cell.
func (s *search) widen(c *candidate, cells []cell, k int) {
	a, b := c.parts[0].a, c.parts[1]
	side := func(cl cell) bool { return !math.IsNaN(s.x[a.idx]) && cl.hi < s.x[a.idx] }
	first, last := cells[k], cells[k]
	for j := k + 1; j < len(cells) && j <= k+pairWiden && side(cells[j]) == side(cells[k]); j++ {
		s.y[a.idx] = cells[j].hi
		s.commit(a)
		runs, _ := s.scan(b.a)
		if len(intersectRuns([]run{{low: b.low, high: b.high}}, runs)) == 0 {
			break
		}
		last = cells[j]
	}
	if last == first {
		return
	}
	low, high, ok := a.stated(min(first.lo, last.lo), max(first.hi, last.hi), first.closed || last.closed)
	if !ok {
		return
	}
	near := s.nearest(a, low, high)
	c.parts[0].low, c.parts[0].high, c.parts[0].near = low, high, near
	c.cost = s.cost(a, near) + s.cost(b.a, b.near)
}

// linked says whether a constraint relates a and b.
func (r *Recourser) linked(a, b *actionable) bool {
	for _, c := range r.constraints {
		if (c[0] == a.idx && c[1] == b.idx) || (c[0] == b.idx && c[1] == a.idx) {
			return true
		}
	}
	return false
}

// intersectRuns keeps the runs of x that lie within a run of y on the
// same side: b's interval must hold at both ends of a's.
func intersectRuns(x, y []run) []run {
	var out []run
	for _, p := range x {
		for _, q := range y {
			if q.low <= p.low && p.high <= q.high {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// verify confirms a candidate through the Approver at the ends of every
// interval (all corners for two features; every level) and at the
// nearest point, and writes its text.
func (s *search) verify(ctx context.Context, c candidate) (Counterfactual, bool, error) {
	y := slices.Clone(s.x)
	var points [][]float64
	var grid func(i int)
	grid = func(i int) {
		if i == len(c.parts) {
			points = append(points, slices.Clone(y))
			return
		}
		p := c.parts[i]
		vals := p.levels
		if vals == nil {
			vals = []float64{p.near, p.low, p.high}
			vals = slices.Compact(vals)
		}
		for _, v := range vals {
			y[p.a.idx] = v
			grid(i + 1)
		}
		y[p.a.idx] = s.x[p.a.idx]
	}
	grid(0)
	seen := map[string]bool{}
	var pd float64
	for i, pt := range points {
		key := fmt.Sprint(pt)
		if seen[key] {
			continue
		}
		seen[key] = true
		p := s.r.m.Predict(pt)
		ok, err := s.ap.Approves(ctx, pt, p)
		if err != nil {
			return Counterfactual{}, false, fmt.Errorf("recourse: checking a suggestion: %w", err)
		}
		if !ok {
			return Counterfactual{}, false, nil
		}
		if i == 0 {
			pd = p.PD
		}
	}
	cf := Counterfactual{Decision: "approve", ProbabilityOfDefault: pd, Cost: c.cost}
	texts := make([]string, len(c.parts))
	for i, p := range c.parts {
		ch := Change{Feature: p.a.f.Name, From: s.from(p.a)}
		if p.levels != nil {
			for _, l := range p.levels {
				ch.Levels = append(ch.Levels, p.a.f.Levels[int(l)])
			}
		} else {
			ch.Low, ch.High = ptrTo(p.low), ptrTo(p.high)
		}
		cf.Changes = append(cf.Changes, ch)
		texts[i] = describe(p.a.f, ch, math.IsNaN(s.x[p.a.idx]))
	}
	cf.Text = "Based on our current model and policy, an application with " + strings.Join(texts, " and ") + " would have been approved."
	return cf, true, nil
}

func ptrTo(v float64) *float64 { return &v }

// from is the applicant's value of a as it appears in a Change.
func (s *search) from(a *actionable) any {
	v := s.x[a.idx]
	switch {
	case math.IsNaN(v):
		return nil
	case a.levels != nil:
		return a.f.Levels[int(v)]
	}
	return v
}

// describe words one change: exactly the interval or levels verified.
func describe(f *models.Feature, c Change, provided bool) string {
	name := lowerFirst(f.Description)
	if provided {
		name += " provided"
	}
	if c.Levels != nil {
		return name + " of " + orList(c.Levels)
	}
	unit := ""
	if f.Unit != "" {
		unit = " " + f.Unit
	}
	if *c.Low == *c.High {
		return fmt.Sprintf("%s of exactly %s%s", name, formatAmount(*c.Low), unit)
	}
	return fmt.Sprintf("%s between %s and %s%s", name, formatAmount(*c.Low), formatAmount(*c.High), unit)
}

func orList(s []string) string {
	if len(s) == 1 {
		return `"` + s[0] + `"`
	}
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = `"` + v + `"`
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return "the " + strings.ToLower(s[:1]) + s[1:]
}

// formatAmount writes 1200 as "1,200" and keeps fractions short.
func formatAmount(v float64) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
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
