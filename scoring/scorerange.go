package scoring

import (
	"container/heap"
	"math"
	"math/bits"
	"slices"
	"sync"

	"github.com/glassbox-ledger/glassbox/models"
)

// RawRange returns the loosest bound on the raw score (log-odds of
// default): for each tree its lowest and its highest leaf value, summed
// over the trees. No input, valid or not, can score outside it; for a
// boosted ensemble it is far wider than what any one input reaches,
// because one input cannot sit in every tree's extreme leaf at once.
func (e *Ensemble) RawRange() (lo, hi float64) {
	for i := range e.Trees {
		t := &e.Trees[i]
		lo += slices.Min(t.LeafValue)
		hi += slices.Max(t.LeafValue)
	}
	return lo, hi
}

// Domain is the set of values one feature may take, for the range search.
type Domain struct {
	// Categorical features take the integer codes 0..Levels-1.
	Categorical bool
	Levels      int
	// Numeric features take values in [Min, Max].
	Min, Max float64
	// Missing says whether the value may be missing (NaN).
	Missing bool
}

// Domains reads the features' valid values from a manifest; a bare model
// (nil manifest) gets every value.
func Domains(m *models.Manifest, n int) []Domain {
	out := make([]Domain, n)
	for i := range out {
		out[i] = Domain{Min: math.Inf(-1), Max: math.Inf(1), Missing: true}
		if m == nil || i >= len(m.Features) {
			continue
		}
		f := m.Features[i]
		out[i].Missing = f.MissingAllowed
		if f.Type == models.Categorical {
			out[i] = Domain{Categorical: true, Levels: len(f.Levels), Missing: f.MissingAllowed}
		} else if f.Min != nil && f.Max != nil {
			out[i].Min, out[i].Max = *f.Min, *f.Max
		}
	}
	return out
}

// DefaultRangeWork bounds the range search: boxes expanded per bound times
// trees. Boosted ensembles of hundreds of trees rarely close the gap
// within any affordable budget (the problem is NP-hard in general); at
// this budget the search takes about a second for the shipped model (1,000
// boxes of 300 trees) and cuts the leaf bound's width by a fifth. The
// result is always a valid bound.
const DefaultRangeWork = 300000

// rangeBudget is the number of boxes the search may expand per bound.
func (e *Ensemble) rangeBudget() int { return max(50, DefaultRangeWork/max(1, len(e.Trees))) }

// RangeResult is the outcome of the range search.
type RangeResult struct {
	// Lo and Hi bound the raw score of every input of the domain.
	Lo, Hi float64
	// Exact says that inputs reaching Lo and Hi were found; otherwise the
	// search ran out of budget and Lo, Hi are still valid outer bounds.
	Exact bool
}

// RawRangeOver finds the smallest and largest raw score of any input in
// the domains, by best-first branch and bound over the cells the trees'
// splits cut each feature into: a box of cells is bounded by summing each
// tree's extreme leaf among those the box can reach, and the box with the
// best bound is split until it is a single cell per feature, at which
// point its bound is an actual score and, being the best, the extreme.
func (e *Ensemble) RawRangeOver(domains []Domain, budget int) RangeResult {
	s := newRangeSearch(e, domains)
	hi, hiExact := s.search(1, budget)
	lo, loExact := s.search(-1, budget)
	return RangeResult{Lo: -lo, Hi: hi, Exact: hiExact && loExact}
}

// ScoreRange returns the range of points the model can report for valid
// applications (the manifest's domains): the raw range through the score
// scale, clamped by it like every score. A higher raw score (more risk)
// means fewer points, so the lowest score comes from the highest raw
// score. No valid application scores outside the range; exact says the
// ends are reached by some application (otherwise the search ran out of
// budget and the true range is narrower). It is computed once per model.
func (m *Model) ScoreRange() (lo, hi float64, exact bool) {
	compute := func(c *rangeCache) {
		r := m.Ensemble.RawRangeOver(Domains(m.Manifest, m.NumFeatures()), m.Ensemble.rangeBudget())
		s := m.Ensemble.Sigmoid
		c.lo, c.hi = m.scale.Points(s*r.Hi), m.scale.Points(s*r.Lo)
		c.exact = r.Exact
	}
	c := m.scoreRange
	if c == nil {
		c = &rangeCache{}
		compute(c)
		return c.lo, c.hi, c.exact
	}
	c.once.Do(func() { compute(c) })
	return c.lo, c.hi, c.exact
}

// rangeCache holds a model's score range once computed.
type rangeCache struct {
	once   sync.Once
	lo, hi float64
	exact  bool
}

// bitset over a feature's candidate values.
type bitset []uint64

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

func (b bitset) and(c bitset) bool {
	for i := range b {
		if b[i]&c[i] != 0 {
			return true
		}
	}
	return false
}

func (b bitset) andNot(c bitset) bool {
	for i := range b {
		if b[i]&^c[i] != 0 {
			return true
		}
	}
	return false
}

type rangeSearch struct {
	e *Ensemble
	// cands[f] are feature f's representative values, one per cell.
	cands [][]float64
	// left[t][n] is the set of f's candidates going left at node n of
	// tree t (f being the node's split feature).
	left [][]bitset
}

func newRangeSearch(e *Ensemble, domains []Domain) *rangeSearch {
	nf := len(e.FeatureNames)
	s := &rangeSearch{e: e, cands: make([][]float64, nf)}
	thresholds := make([][]float64, nf)
	for i := range e.Trees {
		t := &e.Trees[i]
		for n := range t.SplitFeature {
			if !t.IsCategorical(n) {
				f := t.SplitFeature[n]
				thresholds[f] = append(thresholds[f], t.Threshold[n])
			}
		}
	}
	for f := range nf {
		d := domains[f]
		var c []float64
		if d.Missing {
			c = append(c, math.NaN())
		}
		if d.Categorical {
			for l := range d.Levels {
				c = append(c, float64(l))
			}
		} else {
			// One value per cell: the domain's ends, each threshold (the
			// largest value going left) and the next value up, and zero,
			// which zero-as-missing splits treat apart.
			c = append(c, d.Min, d.Max)
			if d.Min <= 0 && 0 <= d.Max {
				c = append(c, 0)
			}
			for _, th := range thresholds[f] {
				for _, v := range []float64{th, math.Nextafter(th, math.Inf(1))} {
					if v >= d.Min && v <= d.Max {
						c = append(c, v)
					}
				}
			}
			nan := d.Missing
			num := c[btoi(nan):]
			slices.Sort(num)
			c = append(c[:btoi(nan)], slices.Compact(num)...)
		}
		if len(c) == 0 {
			c = []float64{math.NaN()}
		}
		s.cands[f] = c
	}
	s.left = make([][]bitset, len(e.Trees))
	for i := range e.Trees {
		t := &e.Trees[i]
		s.left[i] = make([]bitset, len(t.SplitFeature))
		for n := range t.SplitFeature {
			f := t.SplitFeature[n]
			b := make(bitset, (len(s.cands[f])+63)/64)
			for k, v := range s.cands[f] {
				if t.GoesLeft(n, v) {
					b[k/64] |= 1 << (k % 64)
				}
			}
			s.left[i][n] = b
		}
	}
	return s
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// box is one search node: a set of candidates per feature, and its bound.
type box struct {
	sets  []bitset
	bound float64
}

type boxHeap []*box

func (h boxHeap) Len() int           { return len(h) }
func (h boxHeap) Less(i, j int) bool { return h[i].bound > h[j].bound }
func (h boxHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *boxHeap) Push(x any)        { *h = append(*h, x.(*box)) }
func (h *boxHeap) Pop() any {
	old := *h
	b := old[len(old)-1]
	*h = old[:len(old)-1]
	return b
}

// bound is the sum over trees of sign*leaf maximised over the leaves the
// box can reach.
func (s *rangeSearch) bound(sets []bitset, sign float64) float64 {
	var sum float64
	var stack []int
	for i := range s.e.Trees {
		t := &s.e.Trees[i]
		if t.NumLeaves == 1 {
			sum += sign * t.LeafValue[0]
			continue
		}
		best := math.Inf(-1)
		stack = append(stack[:0], 0)
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n < 0 {
				best = max(best, sign*t.LeafValue[^n])
				continue
			}
			set, l := sets[t.SplitFeature[n]], s.left[i][n]
			if set.and(l) {
				stack = append(stack, t.LeftChild[n])
			}
			if set.andNot(l) {
				stack = append(stack, t.RightChild[n])
			}
		}
		sum += best
	}
	return sum
}

// search returns the maximum of sign*raw over the domains, and whether it
// is exact (the budget was not exhausted).
func (s *rangeSearch) search(sign float64, budget int) (float64, bool) {
	root := &box{sets: make([]bitset, len(s.cands))}
	for f, c := range s.cands {
		b := make(bitset, (len(c)+63)/64)
		for k := range c {
			b[k/64] |= 1 << (k % 64)
		}
		root.sets[f] = b
	}
	root.bound = s.bound(root.sets, sign)
	h := &boxHeap{root}
	for expanded := 0; ; expanded++ {
		top := heap.Pop(h).(*box)
		// Split the feature with the most candidates left; a box with one
		// candidate per feature is a single input, its bound its score,
		// and being the best bound, the extreme.
		f, most := -1, 1
		for g, set := range top.sets {
			if n := set.count(); n > most {
				f, most = g, n
			}
		}
		if f < 0 {
			return top.bound, true
		}
		if expanded >= budget {
			return top.bound, false
		}
		lower, upper := splitSet(top.sets[f], most/2)
		for _, half := range []bitset{lower, upper} {
			sets := slices.Clone(top.sets)
			sets[f] = half
			heap.Push(h, &box{sets: sets, bound: s.bound(sets, sign)})
		}
	}
}

// splitSet divides set into its first k members and the rest, so that
// numeric cells stay contiguous ranges of values.
func splitSet(set bitset, k int) (bitset, bitset) {
	a, b := make(bitset, len(set)), make(bitset, len(set))
	seen := 0
	for i := range len(set) * 64 {
		if set[i/64]>>(i%64)&1 == 0 {
			continue
		}
		if seen < k {
			a[i/64] |= 1 << (i % 64)
		} else {
			b[i/64] |= 1 << (i % 64)
		}
		seen++
	}
	return a, b
}
