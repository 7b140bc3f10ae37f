// Package explain attributes every glassbox score to the model's features
// with exact path-dependent TreeSHAP, the attribution LightGBM's
// pred_contrib computes (Lundberg, Erion & Lee 2018, weighted by the
// training-data counts stored in the model), and turns attributions into
// adverse-action reason codes.
//
// Two exact algorithms live here. Reference is the paper's Algorithm 2,
// kept plain as the test oracle. Explainer is the serving path, in the
// family of Linear TreeShap (Yu et al. 2022): a leaf's share for a feature
// is the integral over [0, 1] of a polynomial whose factors are linear in
// t, so every tree is explained by one pass down and one pass up its nodes
// carrying those polynomials as their values at Gauss–Legendre points,
// which integrate them exactly. Every explanation is checked against the
// score leaves computes: contributions plus expected value must add up to
// it.
package explain

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/glassbox-ledger/glassbox/scoring"
)

// ErrInconsistent means an explanation does not add up to the model's raw
// score. No decision may be issued with such an explanation.
var ErrInconsistent = errors.New("explanation does not add up to the model's raw score")

// Tolerance is the largest absolute difference allowed between the sum of
// the contributions plus the expected value and leaves' raw score.
const Tolerance = 1e-9

// The fast path, derived from the definition. A leaf l of value v adds
// v·Π_{k∈U}(k∈S ? o_k : z_k) to the path-dependent expectation given the
// features S, where U are the distinct features on its path, z_k the share
// of training data that follows the path through the splits on k and o_k
// whether the row does (0 or 1). With the Shapley weights written as Beta
// integrals, |S|!(d−|S|−1)!/d! = ∫₀¹ t^|S| (1−t)^(d−1−|S|) dt, the leaf's
// share for feature i ∈ U sums to
//
//	φ_i(l) = v·(o_i − z_i)·∫₀¹ Π_{k∈U, k≠i} p_k(t) dt,  p_k(t) = (1−t)·z_k + t·o_k.
//
// Summing over leaves, write q_i = (o_i − z_i)/p_i and telescope q_i
// along the splits on i of each path: the split at node n (into child c)
// contributes ∫ (q_i(c) − q_i(n))·C(c)·D(c) dt, where C(c) is the product
// of the p_k of the path down to c and D(c) = Σ_{leaves l under c}
// v_l·C(l)/C(c). So one pass down the tree computes C, one pass up
// computes D and the contributions. A split on a feature the row already
// failed higher up changes nothing (q stays −1/(1−t)) and passes its data
// share down unchanged. Every integrand is a polynomial of degree below the
// number of distinct features on a path, so m Gauss–Legendre points, m
// half that number rounded up, integrate it exactly; each polynomial is
// carried as its m values.

// maxQuadrature bounds the Gauss–Legendre points of a tree, and so the
// distinct features on its paths (2·maxQuadrature, which the general
// kernel's 64-bit masks also need); deeper trees are
// explained by the recursion of Reference instead, exact but slower.
const maxQuadrature = 32

// Node flags.
const (
	// flagOther marks categorical and zero-as-missing splits, decided by
	// scoring.Tree.GoesLeft; others send non-missing x left iff x <= thr.
	flagOther = 1 << iota
	// flagCat marks categorical splits, whose answers for the categories
	// 0..32·w−1 are copied to Explainer.cats at aux: the node's index in
	// the scoring.Tree, w, then w words of bits.
	flagCat
	// flagNaNLeft: a missing value goes left (GoesLeft's answer for NaN).
	flagNaNLeft
	// flagRepeat marks a split on a feature already split on higher up
	// the path; such nodes have data in Explainer.rep.
	flagRepeat
)

// maxFastFeature is the largest feature index a fast-path node can hold.
const maxFastFeature = math.MaxUint16

// Explainer computes exact TreeSHAP values for one model. It is safe for
// concurrent use; build it once per model with New.
type Explainer struct {
	model    *scoring.Model
	nf       int
	expected float64
	trees    []linTree
	used     []bool // features the model splits on at least once

	// All trees' nodes, and the data of nodes that repeat a feature, in
	// one array each so that a row streams through them in order.
	nodes  []linNode
	rep    []float64
	leaves []float64 // leaf values
	cats   []uint32  // categorical splits' category sets

	// rules[m] is the m-point Gauss–Legendre rule on [0, 1].
	rules [maxQuadrature + 1]quadrature

	// branchy selects the fixed-width kernels that branch on a node's
	// kind (see lanes.go).
	branchy bool

	// Sizes of the per-call scratch.
	maxNodes, maxM      int
	recDepth, recUnique int

	pool sync.Pool // *workspace
}

// quadrature holds the nodes t, 1−t and weights of one rule.
type quadrature struct {
	t, om, w []float64
}

// linTree is one tree in the form the fast path walks.
type linTree struct {
	src *scoring.Tree
	// fallback trees are explained by the Algorithm 2 recursion.
	fallback      bool
	depth, unique int
	m             int       // quadrature points
	nodes         []linNode // internal nodes in preorder
	leaves        []float64 // leaf values
	// Explainer.rep[rep0:rep1] holds a record (see appendRecord) for each
	// flagRepeat node in preorder, after, for the fixed-width kernels, a
	// base record standing for first splits. The kernels walk it with a
	// running offset.
	rep0, rep1 int
	// width is the kernel's lanes: 2, 3 or 4 for m <= 4, else m.
	width int
	rule  paddedRule
}

// linNode is an internal node, 48 bytes: the fast path is bound by how
// much node data a row streams through, so it is packed. Each path's
// distinct features are numbered in the order they first appear from the
// root; every path through a node shares that prefix, so loc, the node's
// feature's number in that order, is the same for all of them.
type linNode struct {
	thr    float64
	zL, zR float64 // children's share of this node's training data
	// Children: the preorder index of an internal node, or n + leaf
	// index for a leaf (n internal nodes).
	left, right int32
	// parent is 2·(the parent's preorder index) + (1 if this is its right
	// child); the root's parent is 2·(2n+1), a slot of the kernels'
	// scratch set up per row.
	parent int32
	// aux is the node's index in the scoring.Tree, for GoesLeft, or for a
	// categorical split the offset of its category set in Explainer.cats.
	aux   int32
	feat  uint16
	loc   uint8
	flags uint8
}

// workspace is the per-call scratch; pooled so Explain does not allocate.
type workspace struct {
	// The general kernel's per-node state: m values per node for c, fl,
	// fr, d; leaves' d after the internal nodes'.
	bits      []uint64
	ol        []float64
	c, fl, fr []float64
	d         []float64
	// The fixed-width kernels' per-node state.
	lanes2 []lane2
	lanes3 []lane3
	lanes4 []lane4
	rec    recursion
}

// New validates m's trees for TreeSHAP and prepares them for the fast
// path. Path-dependent TreeSHAP weighs each branch by its share of the
// parent's training data, so every count must be positive and a node's
// count must equal its children's sum; LightGBM's models satisfy this.
func New(m *scoring.Model) (*Explainer, error) {
	if m == nil || m.Ensemble == nil {
		return nil, errors.New("explain: no model")
	}
	ens := m.Ensemble
	e := &Explainer{model: m, nf: len(ens.FeatureNames), used: make([]bool, len(ens.FeatureNames))}
	e.trees = make([]linTree, len(ens.Trees))
	internal := 0
	for i := range ens.Trees {
		internal += ens.Trees[i].NumLeaves - 1
	}
	// Exact capacity: the trees' slices share these arrays.
	e.nodes = make([]linNode, 0, internal)
	e.leaves = make([]float64, 0, internal+len(ens.Trees))

	for i := range ens.Trees {
		t := &ens.Trees[i]
		if err := checkCounts(t); err != nil {
			return nil, fmt.Errorf("explain: tree %d: %w", i, err)
		}
		e.expected += treeExpected(t)
		for _, f := range t.SplitFeature {
			e.used[f] = true
		}
		e.build(&e.trees[i], t)
	}
	e.branchy = len(e.nodes) <= branchyMaxNodes
	e.pool.New = func() any { return e.newWorkspace() }
	return e, nil
}

func (e *Explainer) newWorkspace() *workspace {
	n, m := e.maxNodes, e.maxM
	ws := &workspace{
		bits: make([]uint64, n), ol: make([]float64, n),
		c: make([]float64, n*m), fl: make([]float64, n*m), fr: make([]float64, n*m),
		d:      make([]float64, (2*n+1)*m),
		lanes2: make([]lane2, 2*n+2),
		lanes3: make([]lane3, 2*n+2),
		lanes4: make([]lane4, 2*n+2),
	}
	if e.recDepth > 0 {
		ws.rec.reset(nil, e.recDepth, e.recUnique)
	}
	return ws
}

// checkCounts verifies the data counts TreeSHAP weighs branches with.
func checkCounts(t *scoring.Tree) error {
	if t.NumLeaves == 1 {
		return nil
	}
	ok := func(c float64) bool { return c > 0 && !math.IsInf(c, 0) }
	for n := range t.NumLeaves - 1 {
		nc := t.InternalCount[n]
		l, r := dataCount(t, t.LeftChild[n]), dataCount(t, t.RightChild[n])
		if !ok(nc) || !ok(l) || !ok(r) {
			return fmt.Errorf("node %d: data counts %g (children %g, %g) must be positive", n, nc, l, r)
		}
		if math.Abs(l+r-nc) > 1e-12*nc {
			return fmt.Errorf("node %d: data count %g is not the sum of its children's (%g + %g)", n, nc, l, r)
		}
	}
	return nil
}

// ExpectedValue is the model's expected raw score over the training data:
// the explanation of every row adds its contributions to it.
func (e *Explainer) ExpectedValue() float64 { return e.expected }

// NumFeatures is the number of model features; an explanation has one
// more value (the expected value, last).
func (e *Explainer) NumFeatures() int { return e.nf }

// Uses reports whether the model splits on feature i at least once; a
// feature it never splits on always gets exactly 0.
func (e *Explainer) Uses(i int) bool { return i >= 0 && i < e.nf && e.used[i] }

// Explain writes the TreeSHAP values of row x into out, which must have
// length NumFeatures()+1: one contribution per feature in model order, then
// the expected value. It checks that they add up to leaves' raw score and
// returns an error wrapping ErrInconsistent if not.
func (e *Explainer) Explain(x []float64, out []float64) error {
	if err := e.contributions(x, out); err != nil {
		return err
	}
	return e.check(e.model.Raw(x), out)
}

// ExplainScored is Explain for a row already scored: raw must be the raw
// score leaves returned for x (the score the decision is made on), and
// the explanation is checked against it, sparing a second prediction.
func (e *Explainer) ExplainScored(x []float64, raw float64, out []float64) error {
	if err := e.contributions(x, out); err != nil {
		return err
	}
	return e.check(raw, out)
}

func (e *Explainer) check(raw float64, out []float64) error {
	var sum float64
	for _, v := range out {
		sum += v
	}
	// Written so that a NaN anywhere fails the check.
	if !(math.Abs(sum-raw) <= Tolerance) {
		return fmt.Errorf("explain: %w: contributions sum to %.17g, raw score is %.17g", ErrInconsistent, sum, raw)
	}
	return nil
}

func (e *Explainer) contributions(x []float64, out []float64) error {
	if len(x) != e.nf {
		return fmt.Errorf("explain: row has %d values, model has %d features", len(x), e.nf)
	}
	if len(out) != e.nf+1 {
		return fmt.Errorf("explain: output has room for %d values, need %d", len(out), e.nf+1)
	}
	ws := e.pool.Get().(*workspace)
	clear(out)
	phi := out[:e.nf]
	for i := range e.trees {
		lt := &e.trees[i]
		switch {
		case lt.src.NumLeaves == 1:
		case lt.fallback:
			ws.rec.tree, ws.rec.x, ws.rec.phi = lt.src, x, phi
			ws.rec.run()
		case lt.width == 2 && e.branchy:
			e.explainTreeBranchy2(lt, x, phi, ws.lanes2)
		case lt.width == 3 && e.branchy:
			e.explainTreeBranchy3(lt, x, phi, ws.lanes3)
		case lt.width == 4 && e.branchy:
			e.explainTreeBranchy4(lt, x, phi, ws.lanes4)
		case lt.width == 2:
			e.explainTree2(lt, x, phi, ws.lanes2)
		case lt.width == 3:
			e.explainTree3(lt, x, phi, ws.lanes3)
		case lt.width == 4:
			e.explainTree4(lt, x, phi, ws.lanes4)
		default:
			e.explainTree(lt, x, phi, ws)
		}
	}
	ws.rec.x, ws.rec.phi, ws.rec.tree = nil, nil, nil
	e.pool.Put(ws)
	out[e.nf] = e.expected
	return nil
}

// explainTree adds one tree's contributions for x into phi (see the
// derivation above); explainTree4 is the same for m <= 4, faster.
func (e *Explainer) explainTree(lt *linTree, x []float64, phi []float64, ws *workspace) {
	m := lt.m
	rule := &e.rules[m]
	t, om := rule.t[:m], rule.om[:m]
	nodes := lt.nodes
	n := len(nodes)
	bits, ols := ws.bits[:n], ws.ol[:n]
	C, FL, FR, D := ws.c[:n*m], ws.fl[:n*m], ws.fr[:n*m], ws.d[:(2*n+1)*m]
	for l, v := range lt.leaves {
		d := D[(n+l)*m : (n+l+1)*m]
		for k := range d {
			d[k] = v
		}
	}

	// Down: decide each node, then its children's factors and C. The
	// quadrature weights ride in the root's C.
	bits[0] = 0
	copy(C[:m], rule.w)
	ro := lt.rep0
	for i := range nodes {
		nd := &nodes[i]
		ol := 0.0
		if e.goesLeft(lt, nd, x[nd.feat]) {
			ol = 1
		}
		ols[i] = ol
		b := bits[i]
		loc := uint64(1) << nd.loc
		ci, fl, fr := C[i*m:i*m+m], FL[i*m:i*m+m], FR[i*m:i*m+m]
		var r []float64
		if nd.flags&flagRepeat != 0 {
			r = e.rep[ro : ro+1+m]
			ro += 1 + m
		}
		switch {
		case r == nil:
			for k := range fl {
				fl[k] = om[k]*nd.zL + t[k]*ol
				fr[k] = om[k]*nd.zR + t[k]*(1-ol)
			}
		case b&loc != 0:
			// The row failed a split on this feature higher up: o stays 0
			// below, and each branch just keeps its share of the data.
			for k := range fl {
				fl[k], fr[k] = nd.zL, nd.zR
			}
		default:
			// p(child)/p(node) for the feature's merged fractions.
			zPrev, u := r[0], r[1:]
			for k := range fl {
				fl[k] = (om[k]*zPrev*nd.zL + t[k]*ol) * u[k]
				fr[k] = (om[k]*zPrev*nd.zR + t[k]*(1-ol)) * u[k]
			}
		}
		bl, br := b, b|loc
		if ol == 0 {
			bl, br = br, bl
		}
		if j := int(nd.left); j < n {
			bits[j] = bl
			cj := C[j*m : j*m+m]
			for k := range cj {
				cj[k] = ci[k] * fl[k]
			}
		}
		if j := int(nd.right); j < n {
			bits[j] = br
			cj := C[j*m : j*m+m]
			for k := range cj {
				cj[k] = ci[k] * fr[k]
			}
		}
	}

	// Up: D from the children's, and each split's contribution.
	ro = lt.rep1
	for i := n - 1; i >= 0; i-- {
		nd := &nodes[i]
		var r []float64
		if nd.flags&flagRepeat != 0 {
			ro -= 1 + m
			r = e.rep[ro : ro+1+m]
		}
		ci, fl, fr, di := C[i*m:i*m+m], FL[i*m:i*m+m], FR[i*m:i*m+m], D[i*m:i*m+m]
		dl := D[int(nd.left)*m : int(nd.left)*m+m]
		dr := D[int(nd.right)*m : int(nd.right)*m+m]
		for k := range di {
			di[k] = fl[k]*dl[k] + fr[k]*dr[k]
		}
		ol := ols[i]
		switch {
		case r == nil:
			// q(node) = 0, q(child) = (o − z)/p and C(child) = C(node)·p.
			var al, ar float64
			for k := range ci {
				al += ci[k] * dl[k]
				ar += ci[k] * dr[k]
			}
			phi[nd.feat] += (ol-nd.zL)*al + (1-ol-nd.zR)*ar
		case bits[i]&(1<<nd.loc) == 0:
			// (q(child) − q(node))·F(child) = u·((o − zPrev·z) − (1 − zPrev)·F(child)),
			// with u = 1/p(node). (With the row already off the feature's
			// path, q is the same on both sides and nothing is added.)
			zPrev, u := r[0], r[1:]
			var acc float64
			for k := range ci {
				hl := (ol - zPrev*nd.zL) - (1-zPrev)*fl[k]
				hr := (1 - ol - zPrev*nd.zR) - (1-zPrev)*fr[k]
				acc += ci[k] * u[k] * (hl*dl[k] + hr*dr[k])
			}
			phi[nd.feat] += acc
		}
	}
}

// goesLeft is scoring.Tree.GoesLeft for node nd, answered from copies
// of GoesLeft's own answers kept next to the rest of the node data, so
// that a row does not chase pointers into the parsed tree. The kernels
// inline its first line and call it only for a missing value or a split
// other than numerical.
func (e *Explainer) goesLeft(lt *linTree, nd *linNode, v float64) bool {
	switch {
	case v != v:
		return nd.flags&flagNaNLeft != 0
	case nd.flags&flagOther == 0:
		return v <= nd.thr
	}
	return e.goesLeftOther(lt, nd, v)
}

func (e *Explainer) goesLeftOther(lt *linTree, nd *linNode, v float64) bool {
	if nd.flags&flagCat == 0 {
		return lt.src.GoesLeft(int(nd.aux), v)
	}
	set := e.cats[nd.aux:]
	orig, words := set[0], set[1]
	// An integral category the set covers; anything else (fractions,
	// negative or huge values) is GoesLeft's to judge.
	if c := uint64(v); v >= 0 && float64(c) == v && c < 32*uint64(words) {
		return set[2+c/32]>>(c%32)&1 != 0
	}
	return lt.src.GoesLeft(int(orig), v)
}

// ExplainBatch explains rows on runtime.GOMAXPROCS(0) goroutines and
// returns one slice of NumFeatures()+1 values per row. It stops at the
// first error, or when ctx is done.
func (e *Explainer) ExplainBatch(ctx context.Context, rows [][]float64) ([][]float64, error) {
	out := make([][]float64, len(rows))
	backing := make([]float64, len(rows)*(e.nf+1))
	for i := range out {
		out[i] = backing[i*(e.nf+1) : (i+1)*(e.nf+1) : (i+1)*(e.nf+1)]
	}
	workers := min(runtime.GOMAXPROCS(0), len(rows))
	if workers <= 1 {
		for i, x := range rows {
			if i%64 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			if err := e.Explain(x, out[i]); err != nil {
				return nil, fmt.Errorf("row %d: %w", i, err)
			}
		}
		return out, nil
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Rows are handed out in chunks: small enough to balance, large
	// enough that the shared counter is not contended.
	const chunk = 16
	var (
		mu   sync.Mutex
		next int
		wg   sync.WaitGroup
	)
	take := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		lo := next
		next = min(next+chunk, len(rows))
		return lo, next
	}
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				lo, hi := take()
				if lo >= hi {
					return
				}
				for i := lo; i < hi; i++ {
					if err := e.Explain(rows[i], out[i]); err != nil {
						cancel(fmt.Errorf("row %d: %w", i, err))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// build prepares tree t for the fast path, or marks it for the recursion
// when its paths carry too many distinct features.
func (e *Explainer) build(lt *linTree, t *scoring.Tree) {
	lt.src = t
	if t.NumLeaves == 1 {
		return
	}
	lt.depth, lt.unique = treeShape(t)
	if lt.unique > 2*maxQuadrature || len(t.SplitFeature) > 0 && slicesMax(t.SplitFeature) > maxFastFeature {
		lt.fallback = true
		e.recDepth = max(e.recDepth, lt.depth)
		e.recUnique = max(e.recUnique, lt.unique)
		return
	}
	m := (lt.unique + 1) / 2
	lt.m = m
	rule := e.rule(m)
	width := max(m, 2)
	lt.width = width
	if width <= 4 {
		for k := range 4 {
			lt.rule.t[k], lt.rule.om[k] = 0, 1 // padding lanes
			if k < m {
				lt.rule.t[k], lt.rule.om[k], lt.rule.w[k] = rule.t[k], rule.om[k], rule.w[k]
			}
		}
	}
	ni := t.NumLeaves - 1
	e.maxNodes = max(e.maxNodes, ni)
	e.maxM = max(e.maxM, m)
	start := len(e.nodes)
	lt.rep0 = len(e.rep)
	if width <= 4 {
		// The base record, for first splits: zPrev = 1, p = 1.
		e.rep = append(e.rep, 1)
		e.rep = append(e.rep, lt.rule.om[:width]...)
		e.rep = append(e.rep, lt.rule.t[:width]...)
	}

	// Depth first in preorder, carrying the path's distinct features (in
	// order of first appearance) with their merged zero fractions.
	type feat struct {
		f    int
		zero float64
	}
	var walk func(node int, parent int32, path []feat) int32
	walk = func(node int, parent int32, path []feat) int32 {
		i := int32(len(e.nodes) - start)
		f := t.SplitFeature[node]
		k := len(path)
		for j, p := range path {
			if p.f == f {
				k = j
				break
			}
		}
		prev := 1.0 // merged zero fraction of f before this split
		if k < len(path) {
			prev = path[k].zero
		}
		nc := t.InternalCount[node]
		nd := linNode{
			thr:    t.Threshold[node],
			zL:     dataCount(t, t.LeftChild[node]) / nc,
			zR:     dataCount(t, t.RightChild[node]) / nc,
			loc:    uint8(k),
			feat:   uint16(f),
			aux:    int32(node),
			parent: parent,
		}
		switch {
		case t.IsCategorical(node):
			nd.flags |= flagOther | flagCat
			nd.aux = int32(len(e.cats))
			set := int(t.Threshold[node])
			words := t.CatBoundaries[set+1] - t.CatBoundaries[set]
			e.cats = append(e.cats, uint32(node), uint32(words))
			for w := range words {
				var bits uint32
				for b := range 32 {
					if t.GoesLeft(node, float64(32*w+b)) {
						bits |= 1 << uint(b)
					}
				}
				e.cats = append(e.cats, bits)
			}
		case t.MissingType(node) == scoring.MissingZero:
			nd.flags |= flagOther
		}
		if t.GoesLeft(node, math.NaN()) {
			nd.flags |= flagNaNLeft
		}
		if k < len(path) {
			nd.flags |= flagRepeat
			e.appendRecord(lt, prev)
		}
		e.nodes = append(e.nodes, nd)
		for side, c := range [2]int{t.LeftChild[node], t.RightChild[node]} {
			idx := int32(ni + ^c)
			if c >= 0 {
				child := append(path[:len(path):len(path)], feat{f, 1})
				if k < len(path) {
					child = child[:len(path)]
				}
				child[k].zero = prev * dataCount(t, c) / nc
				idx = walk(c, 2*i+int32(side), child)
			}
			if side == 0 {
				e.nodes[start+int(i)].left = idx
			} else {
				e.nodes[start+int(i)].right = idx
			}
		}
		return i
	}
	walk(0, 2*int32(2*ni+1), nil)
	lt.nodes = e.nodes[start:len(e.nodes):len(e.nodes)]
	lt.rep1 = len(e.rep)
	lo := len(e.leaves)
	e.leaves = append(e.leaves, t.LeafValue...)
	lt.leaves = e.leaves[lo:len(e.leaves):len(e.leaves)]
}

// appendRecord appends the Explainer.rep record of a split that repeats a
// feature whose earlier splits keep a share zPrev of the data. With
// p = (1−t)·zPrev + t at each point, it is zPrev then 1/p for the general
// kernel, and zPrev, (1−t)/p, t/p for the fixed-width ones (whose sum is
// 1/p), whose padding lanes use t = 0.
func (e *Explainer) appendRecord(lt *linTree, zPrev float64) {
	e.rep = append(e.rep, zPrev)
	if lt.width > 4 {
		rule := &e.rules[lt.m]
		for q := range lt.m {
			e.rep = append(e.rep, 1/(rule.om[q]*zPrev+rule.t[q]))
		}
		return
	}
	w := lt.width
	r := &lt.rule
	for q := range w {
		e.rep = append(e.rep, r.om[q]/(r.om[q]*zPrev+r.t[q]))
	}
	for q := range w {
		e.rep = append(e.rep, r.t[q]/(r.om[q]*zPrev+r.t[q]))
	}
}

func slicesMax(s []int) int {
	m := s[0]
	for _, v := range s[1:] {
		m = max(m, v)
	}
	return m
}

// rule returns the m-point Gauss–Legendre rule on [0, 1], computing it on
// first use by Newton's method on the Legendre polynomial P_m.
func (e *Explainer) rule(m int) *quadrature {
	r := &e.rules[m]
	if r.t != nil {
		return r
	}
	r.t, r.om, r.w = make([]float64, m), make([]float64, m), make([]float64, m)
	for i := range m {
		x := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(m) + 0.5))
		var dp float64
		for range 100 {
			p0, p1 := 1.0, x
			for k := 2; k <= m; k++ {
				p0, p1 = p1, (float64(2*k-1)*x*p1-float64(k-1)*p0)/float64(k)
			}
			dp = float64(m) * (x*p1 - p0) / (x*x - 1)
			dx := p1 / dp
			x -= dx
			if math.Abs(dx) <= 1e-16 {
				break
			}
		}
		// Recompute the derivative at the converged root for the weight.
		p0, p1 := 1.0, x
		for k := 2; k <= m; k++ {
			p0, p1 = p1, (float64(2*k-1)*x*p1-float64(k-1)*p0)/float64(k)
		}
		dp = float64(m) * (x*p1 - p0) / (x*x - 1)
		// Map [-1, 1] to [0, 1]: t = (1 − x)/2 puts the nodes in
		// increasing order; the weight halves.
		r.t[i] = (1 - x) / 2
		r.om[i] = (1 + x) / 2
		r.w[i] = 1 / ((1 - x*x) * dp * dp)
	}
	return r
}
