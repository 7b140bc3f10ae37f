package explain

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"math/bits"
	"slices"

	"github.com/glassbox-ledger/glassbox/scoring"
)

// Baseline Shapley (Sundararajan & Najmi 2020) measures an applicant
// against a reference point r instead of the training data: the game is
// v(S) = f(x_S, r_{not S}), the model's raw score with the features in S
// taken from the applicant and the rest from r, and the values sum to
// f(x) − f(r). Averaged over a reference set it is the interventional
// (marginal) Shapley value of Lundberg et al. (2020).
//
// For one tree and one reference row the game is exact and cheap. Walk the
// tree from the root carrying two disjoint feature sets: A, the features
// whose split sent the walk the applicant's way where the reference went
// the other, and B, those that sent it the reference's way. A split on a
// feature where x and r agree follows both; a split on a feature already in
// A (or B) follows x (or r) again; any other split where they differ
// branches into both, putting the feature into A on one side and into B on
// the other. A leaf reached with sets (A, B) is the value of exactly the
// coalitions S with A ⊆ S and S ∩ B = ∅, so with a = |A| and b = |B| it
// gives each i ∈ A its value times
//
//	Σ_{S ⊇ A∖{i}, S ∌ i, S ∩ B = ∅} |S|!(n−|S|−1)!/n! = (a−1)!·b!/(a+b)!
//
// and each j ∈ B minus its value times a!·(b−1)!/(a+b)! (the other n−a−b
// features sum out, whatever n is). Every (x, r) pair walks each tree once,
// so the cost is the trees' nodes times the reference rows.

// MaxReferenceRows bounds a reference set: the cost of a baseline
// explanation grows linearly with it.
const MaxReferenceRows = 64

// Baseline computes exact baseline (interventional) Shapley values against
// a fixed reference set. It is safe for concurrent use.
type Baseline struct {
	model *scoring.Model
	rows  [][]float64
	// refRaw is the mean raw score of the reference rows: the values of a
	// row x sum to Raw(x) − refRaw.
	refRaw float64
	// coef[a][b] = a!·b!/(a+b+1)!, the weight of a leaf reached with a+1
	// features on one side and b on the other.
	coef [][]float64
	// Every reference row's way at every split, computed once: tree i's
	// internal node n sends row k left iff bit n of
	// left[off[i] + k·words[i] : …] is set. A walk then only tests bits.
	left  []uint64
	off   []int
	words []int
	// maxWords is the most words any tree needs.
	maxWords int
	// xOff[i] is where tree i's split bits start in the bits of one row
	// over all trees, xWords long in all.
	xOff   []int
	xWords int
	// treesOn[f] are the trees with a split on feature f.
	treesOn [][]int32
	// leaves[i] is tree i in leaf form (see baselineLeaf); nil for a
	// constant tree and for the rare tree with more distinct features on
	// a path than a mask holds, which is walked instead.
	leaves [][]baselineLeaf
	// nodeBit[i][n] is the mask bit of internal node n's feature on the
	// paths through n of tree i (in leaf form).
	nodeBit [][]uint64
	// hot[i], for a tree i in leaf form whose split bits fit one word,
	// is each leaf's part leafValues reads for every row, packed; nil
	// for a tree with more internal nodes.
	hot [][]leafHot
	// slab[i] is the tables of tree i's leaves, one after the other.
	slab [][]float64
	// islab[i], for a tree with hot leaves, is its leaves' tables in
	// integer form (see hotDenominator), one after the other: a quarter
	// of slab's size, so that the tables of all trees fit a core's cache,
	// where slab's do not.
	islab [][]int16
	// prop[i], for a tree with hot leaves, is its internal nodes in
	// depth-first order as leafValues propagates the features x fails
	// from each node to its children (see propStep).
	prop [][]propStep
	// xLeaf[i][li] is what changeLowers needs when x reaches tree i's
	// leaf li (in leaf form): its index and its path's features.
	xLeaf [][]leafPath
	// splits[i] is tree i's internal nodes in the form xWays tests, and
	// slow[i] those of its nodes that only GoesLeft decides.
	splits [][]baselineSplit
	slow   [][]int32
}

// baselineSplit is an internal node reduced to what decides most rows
// without a call: a numerical threshold test, and where a missing value
// goes (which is fixed per node unless the node treats zero as missing).
// Categorical nodes and nodes that treat zero as missing go through
// scoring.Tree.GoesLeft, which is LightGBM's rule.
type baselineSplit struct {
	threshold float64
	feature   int32
	// nanLeft: where a missing value goes at a split that is not slow
	// (GoesLeft's answer for NaN, the same for every row). A slow split
	// is a categorical one or one whose missing type is zero, always
	// decided by GoesLeft (see Baseline.slow).
	nanLeft bool
	// slow: the node is one of Baseline.slow.
	slow bool
}

// xWays sets bit n of dst for every internal node n of tree t (in the
// form splits, with the slow ones listed in slow) that sends row x left:
// goesLeftBits without a call per node. The threshold test is made at
// every node, without a branch or a call, and the slow nodes' bits are
// then set by GoesLeft: a call in the first loop would make it keep its
// state in memory.
func xWays(t *scoring.Tree, splits []baselineSplit, slow []int32, x []float64, dst []uint64) {
	for j := range dst {
		lo := min(j*64, len(splits))
		dst[j] = xWord(splits[lo:min(lo+64, len(splits))], x)
	}
	for _, n := range slow {
		bit := uint64(1) << (n % 64)
		if t.GoesLeft(int(n), x[t.SplitFeature[n]]) {
			dst[n/64] |= bit
		} else {
			dst[n/64] &^= bit
		}
	}
}

// xWord is the threshold tests of (at most 64) splits, built in a
// register.
func xWord(splits []baselineSplit, x []float64) uint64 {
	var w uint64
	for k := range splits {
		sp := &splits[k]
		v := x[sp.feature]
		// v <= threshold is false for NaN, so the inequality is "or":
		// no branch on the data.
		left := (v <= sp.threshold) != (v != v && sp.nanLeft)
		w |= uint64(b2u(left)) << (k % 64)
	}
	return w
}

// b2u is 1 for true and 0 for false, without a branch.
func b2u(b bool) uint8 {
	var u uint8
	if b {
		u = 1
	}
	return u
}

// The leaf form. A leaf is reached by the hybrid of x and r for coalition
// S exactly when, for every distinct feature k on its path, the row the
// hybrid takes k from follows the path through all the splits on k. Let
// X and R be the sets of features that x and r follow that way. A leaf
// with a feature in neither is never reached; otherwise it is the walk's
// leaf with A = X∖R and B = R∖X (the features in both are free). So a
// leaf needs, per reference row, only R as a bit mask over its path's
// features, and rows with the same mask count once with their multiplicity.

// maxLeafFeatures is the most distinct features on a path the leaf form
// takes (a bit per feature in a uint64).
const maxLeafFeatures = 64

// baselineLeaf is one leaf in leaf form.
type baselineLeaf struct {
	index int // the leaf's index in its tree
	value float64
	feats []int          // the path's distinct features; bit k of a mask is feats[k]
	steps []baselineStep // the path's splits
	// onPath has bit n set for the internal nodes n on the path, and
	// pathLeft for those where the path goes left: the splits x fails
	// are (x's bits ^ pathLeft) & onPath.
	onPath, pathLeft []uint64
	refs             []baselineRefs // the reference rows' masks R, with multiplicities
	all              uint64         // the mask of all the path's features
	// table, for a path of at most maxTableFeatures distinct features,
	// holds the leaf's contributions summed over the reference rows for
	// every possible mask X with a nonzero value: len(feats) values per
	// mask, in the order of the masks, so mask X's are from
	// popcount(nonzero below bit X)·len(feats) on. The per-row work is
	// then one lookup per leaf.
	table []float64
	// nonzero has bit X set when the table's values for mask X are not
	// all zero: most masks reach no reference row's hybrid, and skipping
	// them spares a cache miss into the table.
	nonzero uint64
}

// leafHot is what leafValues reads of a leaf of a tree with one word of
// split bits, packed together so that a row's pass over the leaves reads
// memory in order: the leaves' tables are far larger than a cache.
type leafHot struct {
	all, nonzero uint64
	// value is the leaf's value.
	value float64
	// table: the leaf has a table, which starts at islab[i][at], over
	// the u features in feats (the leaf's feats, which fit a byte each
	// when hot is used, then hotDummy+k at each position k past them).
	table bool
	u     uint8
	feats [maxTableFeatures]uint8
	at    int32
}

// propStep is an internal node of a tree with hot leaves: the features
// x fails on the way to its children are those it fails to reach it
// (fail[node]) plus the node's own bit on the side x does not take, and
// go to the slots left and right of leafValues' fail array (a node's
// index for an internal node, NumLeaves−1 plus the leaf's position in
// leaf form for a leaf).
type propStep struct {
	bit               uint64
	node, left, right uint8
}

// leafPath is a leaf as xPaths has it (^index, the child pointer to it)
// and, for a model of at most 64
// features, the set of model features split on along its path (all bits
// set for a wider model).
type leafPath struct {
	leaf  int
	feats uint64
}

// hotDummy+k is the slot of leafValues' accumulator that takes the value
// read past a leaf's row at position k: reading every row as
// maxTableFeatures values, whatever the leaf's number of features, spares
// a loop whose length changes from leaf to leaf (and its mispredicted
// exit), and a slot per position keeps the additions to the slots from
// becoming one long chain. A model in hot form has fewer features than
// hotDummy.
const hotDummy = 256 - maxTableFeatures

// maxTableFeatures bounds the paths whose leaves get a table: 2^6·6
// values per leaf at most, and one nonzero bit per mask.
const maxTableFeatures = 6

// hotDenominator times the weight a!·b!/(a+b+1)! of a leaf reached with
// a+b+1 <= maxTableFeatures features is an integer (1/((a+b+1)·C(a+b, a))
// with (a+b+1)·C(a+b, a) at most 60 and dividing 60). So a leaf's value
// for a mask, summed over the reference rows, is its leaf value times an
// integer numerator over hotDenominator, and at most MaxReferenceRows·60
// in magnitude: an int16. The hot tables hold those numerators, which are
// exact where the float tables' sums are rounded; the value times the
// numerator is rounded once, and the division by hotDenominator is made
// once per feature at the end.
const hotDenominator = 60

// hotWeight is hotDenominator·a!·b!/(a+b+1)!, for a+b+1 <=
// maxTableFeatures (TestHotWeights checks that it is exact).
func hotWeight(a, b int) int64 {
	c := 1 // C(a+b, a)
	for i := 1; i <= b; i++ {
		c = c * (a + i) / i
	}
	return int64(hotDenominator / ((a + b + 1) * c))
}

// addNumerators adds the leaf's numerators (see hotDenominator) for a row
// following the path's features in mask x to dst[k] for the feature of
// bit k, as add adds the values. The leaf has at most maxTableFeatures
// features.
func (l *baselineLeaf) addNumerators(x uint64, dst []int64) {
	all := uint64(1)<<len(l.feats) - 1
	for _, rf := range l.refs {
		if ^(x|rf.mask)&all != 0 {
			continue
		}
		a, bb := x&^rf.mask, rf.mask&^x
		na, nb := bits.OnesCount64(a), bits.OnesCount64(bb)
		if na+nb == 0 {
			continue
		}
		n := int64(rf.count)
		if na > 0 {
			for m, w := a, n*hotWeight(na-1, nb); m != 0; m &= m - 1 {
				dst[bits.TrailingZeros64(m)] += w
			}
		}
		if nb > 0 {
			for m, w := bb, n*hotWeight(nb-1, na); m != 0; m &= m - 1 {
				dst[bits.TrailingZeros64(m)] -= w
			}
		}
	}
}

// baselineStep is one split on a leaf's path: the node, whether the path
// goes left there, and the split feature's bit.
type baselineStep struct {
	node int
	left bool
	bit  uint64
}

type baselineRefs struct {
	mask  uint64
	count float64
}

// followed is the mask of the path's features whose splits all send the
// row with split bits dst (goesLeftBits) the path's way.
func (l *baselineLeaf) followed(bits []uint64) uint64 {
	all := uint64(1)<<len(l.feats) - 1
	if len(l.feats) == maxLeafFeatures {
		all = ^uint64(0)
	}
	for _, st := range l.steps {
		if (bits[st.node/64]>>(st.node%64)&1 != 0) != st.left {
			all &^= st.bit
		}
	}
	return all
}

// leafForm returns tree t in leaf form, leaves in depth-first order left
// child first, with each internal node's feature bit, or nil if a path has
// more than maxLeafFeatures distinct features. rowBits(k) are reference
// row k's split bits.
func leafForm(t *scoring.Tree, rows int, rowBits func(k int) []uint64) ([]baselineLeaf, []uint64) {
	var out []baselineLeaf
	nodeBit := make([]uint64, t.NumLeaves-1)
	words := (t.NumLeaves - 1 + 63) / 64
	ok := true
	var walk func(c int, feats []int, steps []baselineStep)
	walk = func(c int, feats []int, steps []baselineStep) {
		if !ok {
			return
		}
		if c < 0 {
			l := baselineLeaf{index: ^c, value: t.LeafValue[^c], feats: slices.Clone(feats), steps: slices.Clone(steps)}
			l.onPath, l.pathLeft = make([]uint64, words), make([]uint64, words)
			for _, st := range steps {
				l.onPath[st.node/64] |= 1 << (st.node % 64)
				if st.left {
					l.pathLeft[st.node/64] |= 1 << (st.node % 64)
				}
			}
			l.all = uint64(1)<<len(feats) - 1
			if len(feats) == maxLeafFeatures {
				l.all = ^uint64(0)
			}
			counts := map[uint64]int{}
			for k := range rows {
				counts[l.followed(rowBits(k))]++
			}
			for _, m := range slices.Sorted(maps.Keys(counts)) {
				l.refs = append(l.refs, baselineRefs{m, float64(counts[m])})
			}
			out = append(out, l)
			return
		}
		f := t.SplitFeature[c]
		k := slices.Index(feats, f)
		if k < 0 {
			if len(feats) == maxLeafFeatures {
				ok = false
				return
			}
			k = len(feats)
			feats = append(feats[:len(feats):len(feats)], f)
		}
		bit := uint64(1) << k
		nodeBit[c] = bit
		walk(t.LeftChild[c], feats, append(steps[:len(steps):len(steps)], baselineStep{c, true, bit}))
		walk(t.RightChild[c], feats, append(steps[:len(steps):len(steps)], baselineStep{c, false, bit}))
	}
	walk(0, nil, nil)
	if !ok {
		return nil, nil
	}
	return out, nodeBit
}

// goesLeftBits sets bit n of dst for every internal node n of t that
// sends row x left.
func goesLeftBits(t *scoring.Tree, x []float64, dst []uint64) {
	clear(dst)
	for n := range t.NumLeaves - 1 {
		if t.GoesLeft(n, x[t.SplitFeature[n]]) {
			dst[n/64] |= 1 << (n % 64)
		}
	}
}

// NewBaseline prepares baseline Shapley values of model m against the
// reference rows (at least one, at most MaxReferenceRows, each with one
// value per model feature; missing values are allowed).
func NewBaseline(m *scoring.Model, rows [][]float64) (*Baseline, error) {
	if m == nil || m.Ensemble == nil {
		return nil, errors.New("explain: baseline: no model")
	}
	if len(rows) == 0 || len(rows) > MaxReferenceRows {
		return nil, fmt.Errorf("explain: baseline: %d reference rows, need 1 to %d", len(rows), MaxReferenceRows)
	}
	nf := m.NumFeatures()
	b := &Baseline{model: m, rows: make([][]float64, len(rows))}
	for i, r := range rows {
		if len(r) != nf {
			return nil, fmt.Errorf("explain: baseline: reference row %d has %d values, model has %d features", i, len(r), nf)
		}
		b.rows[i] = append([]float64(nil), r...)
		b.refRaw += m.Raw(r)
	}
	b.refRaw /= float64(len(rows))
	depth := 0
	trees := m.Ensemble.Trees
	b.off, b.words = make([]int, len(trees)), make([]int, len(trees))
	b.xOff = make([]int, len(trees))
	b.treesOn = make([][]int32, nf)
	for i := range trees {
		for n := range trees[i].NumLeaves - 1 {
			f := trees[i].SplitFeature[n]
			if k := len(b.treesOn[f]); k == 0 || b.treesOn[f][k-1] != int32(i) {
				b.treesOn[f] = append(b.treesOn[f], int32(i))
			}
		}
		d, _ := treeShape(&trees[i])
		depth = max(depth, d)
		b.off[i] = len(b.left)
		b.words[i] = (trees[i].NumLeaves - 1 + 63) / 64
		b.xOff[i] = b.xWords
		b.xWords += b.words[i]
		b.maxWords = max(b.maxWords, b.words[i])
		b.left = append(b.left, make([]uint64, b.words[i]*len(rows))...)
		w := b.words[i]
		for k, r := range b.rows {
			goesLeftBits(&trees[i], r, b.left[b.off[i]+k*w:b.off[i]+(k+1)*w])
		}
	}
	// A path has at most depth distinct features, so a+b <= depth.
	b.coef = make([][]float64, depth+1)
	for a := range b.coef {
		b.coef[a] = make([]float64, depth+1)
		for k := range b.coef[a] {
			b.coef[a][k] = factorialRatio(a, k)
		}
	}
	b.leaves = make([][]baselineLeaf, len(trees))
	b.nodeBit = make([][]uint64, len(trees))
	b.splits = make([][]baselineSplit, len(trees))
	b.slow = make([][]int32, len(trees))
	b.hot = make([][]leafHot, len(trees))
	b.slab = make([][]float64, len(trees))
	b.islab = make([][]int16, len(trees))
	b.prop = make([][]propStep, len(trees))
	b.xLeaf = make([][]leafPath, len(trees))
	for i := range trees {
		t := &trees[i]
		if t.NumLeaves == 1 {
			continue
		}
		b.splits[i] = make([]baselineSplit, t.NumLeaves-1)
		for n := range b.splits[i] {
			b.splits[i][n] = baselineSplit{
				threshold: t.Threshold[n], feature: int32(t.SplitFeature[n]),
				nanLeft: t.GoesLeft(n, math.NaN()),
			}
			if t.IsCategorical(n) || t.MissingType(n) == scoring.MissingZero {
				b.slow[i] = append(b.slow[i], int32(n))
				b.splits[i][n].slow = true
			}
		}
		w := b.words[i]
		b.leaves[i], b.nodeBit[i] = leafForm(&trees[i], len(rows), func(k int) []uint64 { return b.left[b.off[i]+k*w : b.off[i]+(k+1)*w] })
		for li := range b.leaves[i] {
			l := &b.leaves[i][li]
			u := len(l.feats)
			if u > maxTableFeatures {
				continue
			}
			// Only the rows of masks with a nonzero value are kept, one
			// after the other: the tables of all leaves are far larger
			// than a cache, and most of their rows would be zeros.
			l.table = make([]float64, 0, u)
			row := make([]float64, u)
			for x := range uint64(1) << u {
				clear(row)
				l.add(b.coef, x, row, nil)
				if slices.ContainsFunc(row, func(v float64) bool { return v != 0 }) {
					l.nonzero |= 1 << x
					l.table = append(l.table, row...)
				}
			}
		}
		// The tables of a tree's leaves side by side, as they are read.
		var slab []float64
		for _, l := range b.leaves[i] {
			slab = append(slab, l.table...)
		}
		// Padding, so that a leaf's row can always be read as
		// maxTableFeatures values (see leafValues).
		b.slab[i] = append(slab, make([]float64, maxTableFeatures)...)
		for li := range b.leaves[i] {
			if l := &b.leaves[i][li]; l.table != nil {
				l.table = slab[:len(l.table):len(l.table)]
				slab = slab[len(l.table):]
			}
		}
		if b.leaves[i] != nil {
			b.xLeaf[i] = make([]leafPath, len(b.leaves[i]))
			for li, l := range b.leaves[i] {
				lp := leafPath{leaf: ^l.index, feats: ^uint64(0)}
				if nf <= 64 {
					lp.feats = 0
					for _, f := range l.feats {
						lp.feats |= 1 << f
					}
				}
				b.xLeaf[i][li] = lp
			}
		}
		if b.leaves[i] != nil && w == 1 && nf < hotDummy {
			b.prop[i] = propSteps(t, b.leaves[i], b.nodeBit[i])
			var islab []int16
			num := make([]int64, maxTableFeatures)
			for _, l := range b.leaves[i] {
				h := leafHot{all: l.all, value: l.value, table: l.table != nil}
				if h.table {
					u := len(l.feats)
					h.u, h.at = uint8(u), int32(len(islab))
					for k := range h.feats {
						h.feats[k] = uint8(hotDummy + k)
					}
					for k, f := range l.feats {
						h.feats[k] = uint8(f)
					}
					for x := range uint64(1) << u {
						clear(num)
						l.addNumerators(x, num)
						if slices.ContainsFunc(num, func(v int64) bool { return v != 0 }) {
							h.nonzero |= 1 << x
							for _, v := range num[:u] {
								islab = append(islab, int16(v)) // |v| <= 64·60
							}
						}
					}
				}
				b.hot[i] = append(b.hot[i], h)
			}
			b.islab[i] = append(islab, make([]int16, maxTableFeatures)...)
		}
	}
	return b, nil
}

// propSteps returns tree t's internal nodes (fewer than 64) in depth-first
// order as propagation steps, for its leaves in leaf form with the
// nodes' feature bits nodeBit.
func propSteps(t *scoring.Tree, leaves []baselineLeaf, nodeBit []uint64) []propStep {
	slot := make(map[int]uint8, len(leaves)) // leaf index → slot
	for li, l := range leaves {
		slot[l.index] = uint8(t.NumLeaves - 1 + li)
	}
	to := func(c int) uint8 {
		if c < 0 {
			return slot[^c]
		}
		return uint8(c)
	}
	var out []propStep
	var walk func(c int)
	walk = func(c int) {
		if c < 0 {
			return
		}
		out = append(out, propStep{bit: nodeBit[c], node: uint8(c), left: to(t.LeftChild[c]), right: to(t.RightChild[c])})
		walk(t.LeftChild[c])
		walk(t.RightChild[c])
	}
	walk(0)
	return out
}

// factorialRatio is a!·b!/(a+b+1)!, computed as 1/((a+b+1)·C(a+b, a)) so
// that it stays exact to rounding for any depth a tree can have.
func factorialRatio(a, b int) float64 {
	c := 1.0 // C(a+b, a), built up as a product of ratios
	for i := 1; i <= b; i++ {
		c = c * float64(a+i) / float64(i)
	}
	return 1 / (float64(a+b+1) * c)
}

// ReferenceRaw is the mean raw score of the reference rows.
func (b *Baseline) ReferenceRaw() float64 { return b.refRaw }

// Rows returns the number of reference rows.
func (b *Baseline) Rows() int { return len(b.rows) }

// Shapley writes the baseline Shapley values of row x (one per model
// feature, in log-odds of default) into phi and checks that they add up to
// Raw(x) − ReferenceRaw(), returning an error wrapping ErrInconsistent if
// not. raw is the raw score already computed for x.
func (b *Baseline) Shapley(x []float64, raw float64, phi []float64) error {
	return b.shapley(x, raw, phi, make([]uint64, b.xWords), nil)
}

// shapley is Shapley leaving x's split bits in xl (xWords long, tree i's
// from xOff[i]) and, unless p is nil, x's paths in p, for rescoring
// changes of x (see changeLowers): the leaf form finds x's leaf on the
// way, sparing another walk of every tree.
func (b *Baseline) shapley(x []float64, raw float64, phi []float64, xl []uint64, p *xPaths) error {
	nf := b.model.NumFeatures()
	if len(x) != nf || len(phi) != nf {
		return fmt.Errorf("explain: baseline: row has %d values and output room for %d, model has %d features", len(x), len(phi), nf)
	}
	clear(phi)
	w := baselineWalk{
		coef:  b.coef,
		phi:   phi,
		state: make([]int8, nf),
		a:     make([]int, 0, len(b.coef)),
		b:     make([]int, 0, len(b.coef)),
	}
	path := make([]uint64, b.maxWords)
	trees := b.model.Ensemble.Trees
	// The trees in hot form add here: an index of a byte needs no bounds
	// check.
	var acc [256]float64
	var fail [256]uint64 // leafValues' room
	if p != nil {
		p.leaf, p.feats = slices.Grow(p.leaf[:0], len(trees))[:len(trees)], slices.Grow(p.feats[:0], len(trees))[:len(trees)]
	}
	for i := range trees {
		t := &trees[i]
		if t.NumLeaves == 1 {
			if p != nil {
				p.leaf[i], p.feats[i] = b.pathOf(i, nil)
			}
			continue // a constant: the same for every coalition
		}
		wn := b.words[i]
		w.t, w.xl = t, xl[b.xOff[i]:b.xOff[i]+wn]
		xWays(t, b.splits[i], b.slow[i], x, w.xl)
		if b.leaves[i] != nil {
			li := b.leafValues(i, w.xl, phi, &acc, &fail)
			if p != nil {
				lp := b.xLeaf[i][li]
				p.leaf[i], p.feats[i] = lp.leaf, lp.feats
			}
			continue
		}
		if p != nil {
			p.leaf[i], p.feats[i] = b.pathOf(i, xl)
		}
		// The splits on x's own path: a reference row that goes x's way
		// at all of them reaches x's leaf, puts no feature in A or B, and
		// adds nothing, so it is not walked.
		p := path[:wn]
		clear(p)
		for c := 0; c >= 0; {
			p[c/64] |= 1 << (c % 64)
			if w.xl[c/64]&(1<<(c%64)) != 0 {
				c = t.LeftChild[c]
			} else {
				c = t.RightChild[c]
			}
		}
	rows:
		for k := range b.rows {
			w.rl = b.left[b.off[i]+k*wn : b.off[i]+(k+1)*wn]
			for j := range p {
				if (w.xl[j]^w.rl[j])&p[j] != 0 {
					w.visit(0)
					continue rows
				}
			}
		}
	}
	inv := 1 / float64(len(b.rows))
	var sum float64
	for i := range phi {
		phi[i] = (phi[i] + acc[i]/hotDenominator) * inv
		sum += phi[i]
	}
	if want := raw - b.refRaw; !(math.Abs(sum-want) <= Tolerance) {
		return fmt.Errorf("explain: baseline: %w: values sum to %.17g, raw score minus reference is %.17g", ErrInconsistent, sum, want)
	}
	return nil
}

// xPaths is what rescoring a change of one feature of row x needs about
// x's paths, found once per row: per tree the leaf x reaches and, for a
// model of at most 64 features, the set of features split on along the
// way (a change of any other feature leaves the tree's leaf as it is).
type xPaths struct {
	leaf  []int
	feats []uint64
}

// paths fills p for the row with split bits xl (as shapley leaves them),
// walking every tree; shapley finds the same on its way.
func (b *Baseline) paths(xl []uint64, p *xPaths) {
	trees := b.model.Ensemble.Trees
	p.leaf, p.feats = slices.Grow(p.leaf[:0], len(trees)), slices.Grow(p.feats[:0], len(trees))
	for i := range trees {
		c, fs := b.pathOf(i, xl)
		p.leaf, p.feats = append(p.leaf, c), append(p.feats, fs)
	}
}

// pathOf is the leaf of tree i that the row with split bits xl reaches
// and the set of features split on along its path (all bits set for a
// model of more than 64 features).
func (b *Baseline) pathOf(i int, xl []uint64) (int, uint64) {
	t := &b.model.Ensemble.Trees[i]
	var fs uint64
	c := 0
	if t.NumLeaves > 1 {
		xb := xl[b.xOff[i]:]
		for c >= 0 {
			fs |= 1 << (t.SplitFeature[c] % 64)
			if xb[c/64]>>(c%64)&1 != 0 {
				c = t.LeftChild[c]
			} else {
				c = t.RightChild[c]
			}
		}
	}
	if b.model.NumFeatures() > 64 {
		fs = ^uint64(0)
	}
	return c, fs
}

// changeLowers reports whether row x (raw score raw, split bits xl as
// shapley leaves them, paths p) with feature f set to v has a lower raw
// score. Only the trees whose path for x splits on f can change, and only
// at those splits, so the change of score is their leaves' differences.
// When that sum is so close to zero that the order of the additions could
// decide its sign, the whole changed row is scored by the model instead:
// the answer is always the model's.
func (b *Baseline) changeLowers(x []float64, raw float64, xl []uint64, p *xPaths, f int, v float64, z []float64) bool {
	trees := b.model.Ensemble.Trees
	var delta, scale float64
	for _, i := range b.treesOn[f] {
		if p.feats[i]>>(f%64)&1 == 0 {
			continue
		}
		t := &trees[i]
		xb, splits := xl[b.xOff[i]:], b.splits[i]
		// x's way at every split but those on f, decided there as xWays
		// decides (GoesLeft's rule): the splits are read from the compact
		// form, not from the tree's separate arrays.
		cz := 0
		for cz >= 0 {
			left := xb[cz/64]>>(cz%64)&1 != 0
			if sp := &splits[cz]; int(sp.feature) == f {
				if sp.slow {
					left = t.GoesLeft(cz, v)
				} else {
					left = (v <= sp.threshold) != (v != v && sp.nanLeft)
				}
			}
			// Both children read, one chosen by index: no branch the
			// data decides.
			cz = [2]int{t.RightChild[cz], t.LeftChild[cz]}[b2u(left)]
		}
		if c := p.leaf[i]; c != cz {
			delta += t.LeafValue[^cz] - t.LeafValue[^c]
			scale += math.Abs(t.LeafValue[^cz]) + math.Abs(t.LeafValue[^c])
		}
	}
	if math.Abs(delta) > 1e-9*(1+scale+math.Abs(raw)) {
		return delta < 0
	}
	copy(z, x)
	z[f] = v
	return b.model.Raw(z) < raw
}

// leafValues adds tree i's values for the row with split bits xl, in
// leaf form, summed over the reference rows (Shapley divides by their
// number). Each leaf's mask X is its features less those of the splits
// on its path that xl fails.
// It returns the position in leaf form of the leaf x reaches.
// A tree in hot form adds to acc instead, by feature, in units of
// 1/hotDenominator.
// fail is room for its pass over the tree, whose slots it need not clear:
// each is written before it is read.
func (b *Baseline) leafValues(i int, xl []uint64, phi []float64, acc *[256]float64, fail *[256]uint64) int {
	nodeBit := b.nodeBit[i]
	xLeaf := -1
	if hot := b.hot[i]; hot != nil {
		xw, slab := xl[0], b.islab[i]
		// fail[s] is the mask of the features x fails on the way to
		// slot s (see propStep), computed top down without a branch.
		fail[0] = 0
		for _, st := range b.prop[i] {
			f := fail[st.node]
			onLeft := -(xw >> st.node & 1) // all ones when x goes left
			fail[st.left] = f | st.bit&^onLeft
			fail[st.right] = f | st.bit&onLeft
		}
		leafFail := fail[len(b.splits[i]):]
		for li := range hot {
			h := &hot[li]
			fl := leafFail[li]
			if fl == 0 {
				xLeaf = li
			}
			x := h.all &^ fl
			if !h.table {
				b.leaves[i][li].add(b.coef, x, phi, b.leaves[i][li].feats)
				continue
			}
			if h.nonzero>>x&1 == 0 {
				continue
			}
			// addTo, inlined and unrolled by hand: this is the innermost
			// loop. The values past the leaf's u go to acc[hotDummy:].
			r := int(h.at) + bits.OnesCount64(h.nonzero&(1<<x-1))*int(h.u)
			row := (*[maxTableFeatures]int16)(slab[r : r+maxTableFeatures])
			v := h.value
			acc[h.feats[0]] += v * float64(row[0])
			acc[h.feats[1]] += v * float64(row[1])
			acc[h.feats[2]] += v * float64(row[2])
			acc[h.feats[3]] += v * float64(row[3])
			acc[h.feats[4]] += v * float64(row[4])
			acc[h.feats[5]] += v * float64(row[5])
		}
		return xLeaf
	}
	for li := range b.leaves[i] {
		l := &b.leaves[i][li]
		var fail uint64
		for j, on := range l.onPath {
			for m := (xl[j] ^ l.pathLeft[j]) & on; m != 0; m &= m - 1 {
				fail |= nodeBit[j*64+bits.TrailingZeros64(m)]
			}
		}
		if fail == 0 {
			xLeaf = li
		}
		x := l.all &^ fail
		if l.table != nil && l.nonzero>>x&1 == 0 {
			continue
		}
		l.addTo(b.coef, x, phi)
	}
	return xLeaf
}

// addTo adds the leaf's contributions for mask x to phi, from its table
// if it has one.
func (l *baselineLeaf) addTo(coef [][]float64, x uint64, phi []float64) {
	if l.table == nil {
		l.add(coef, x, phi, l.feats)
		return
	}
	u := len(l.feats)
	r := bits.OnesCount64(l.nonzero&(1<<x-1)) * u
	for k, v := range l.table[r : r+u] {
		phi[l.feats[k]] += v
	}
}

// add adds the leaf's contributions, summed over the reference rows, for
// a row following the path's features in mask x: to dst[feats[k]] for
// the feature of bit k, or to dst[k] when feats is nil.
func (l *baselineLeaf) add(coef [][]float64, x uint64, dst []float64, feats []int) {
	all := uint64(1)<<len(l.feats) - 1
	if len(l.feats) == maxLeafFeatures {
		all = ^uint64(0)
	}
	at := func(k int) int {
		if feats == nil {
			return k
		}
		return feats[k]
	}
	for _, rf := range l.refs {
		if ^(x|rf.mask)&all != 0 {
			continue // a feature neither row follows: never reached
		}
		a, bb := x&^rf.mask, rf.mask&^x
		na, nb := bits.OnesCount64(a), bits.OnesCount64(bb)
		if na+nb == 0 {
			continue
		}
		s := l.value * rf.count
		if na > 0 {
			sa := s * coef[na-1][nb]
			for m := a; m != 0; m &= m - 1 {
				dst[at(bits.TrailingZeros64(m))] += sa
			}
		}
		if nb > 0 {
			sb := s * coef[nb-1][na]
			for m := bb; m != 0; m &= m - 1 {
				dst[at(bits.TrailingZeros64(m))] -= sb
			}
		}
	}
}

// Feature states during a walk.
const (
	walkFree int8 = iota
	walkX         // in A: the walk follows the applicant at its splits
	walkR         // in B: the walk follows the reference
)

// baselineWalk is the state of one (x, r) pair's walk of one tree.
type baselineWalk struct {
	coef [][]float64
	t    *scoring.Tree
	// xl and rl are x's and r's ways at the tree's splits (goesLeftBits).
	xl, rl []uint64
	phi    []float64
	state  []int8
	a, b   []int
}

func (w *baselineWalk) visit(c int) {
	t := w.t
	if c < 0 {
		v := t.LeafValue[^c]
		na, nb := len(w.a), len(w.b)
		if na > 0 {
			s := v * w.coef[na-1][nb]
			for _, f := range w.a {
				w.phi[f] += s
			}
		}
		if nb > 0 {
			s := v * w.coef[nb-1][na]
			for _, f := range w.b {
				w.phi[f] -= s
			}
		}
		return
	}
	f := t.SplitFeature[c]
	xc, rc := t.RightChild[c], t.RightChild[c]
	bit := uint64(1) << (c % 64)
	if w.xl[c/64]&bit != 0 {
		xc = t.LeftChild[c]
	}
	if w.rl[c/64]&bit != 0 {
		rc = t.LeftChild[c]
	}
	switch {
	case xc == rc:
		w.visit(xc)
	case w.state[f] == walkX:
		w.visit(xc)
	case w.state[f] == walkR:
		w.visit(rc)
	default:
		w.state[f] = walkX
		w.a = append(w.a, f)
		w.visit(xc)
		w.a = w.a[:len(w.a)-1]
		w.state[f] = walkR
		w.b = append(w.b, f)
		w.visit(rc)
		w.b = w.b[:len(w.b)-1]
		w.state[f] = walkFree
	}
}
