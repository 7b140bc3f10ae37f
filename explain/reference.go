package explain

import (
	"github.com/glassbox-ledger/glassbox/scoring"
)

// This file holds the plain path-dependent TreeSHAP of Lundberg, Erion &
// Lee (2018), Algorithm 2, written from the paper. It is the test oracle
// for the fast path and also serves the rare trees the fast path declines
// (see New). It walks every root-to-leaf path once, carrying the
// Shapley weights of the path's unique features.
//
// Notation. A path holds n unique features; feature k has a zero fraction
// z_k (share of the training data, by count, that flows down the path
// through the splits on k) and a one fraction o_k (1 if the row follows
// the path through every split on k, else 0). The path's weights are
//
//	W[s] = s!(n-s)!/(n+1)! · Σ_{|S|=s} Π_{k∈S} o_k Π_{k∉S} z_k,  s = 0..n.
//
// Extending the path by (z, o) and unwinding a feature from it are the
// two recurrences below, derived from that definition; at a leaf of value
// v, feature i receives v·(o_i − z_i)·Σ_s W_{−i}[s], where W_{−i} are the
// weights with i unwound: exactly the Shapley weights |S|!(n−|S|−1)!/n!.

// pathElem is one unique feature on the current root-to-node path.
type pathElem struct {
	feature int
	zero    float64
	one     float64
}

// recursion is Algorithm 2's state for one tree: a copy of the path at
// every depth, as the paper's copy-on-extend prescribes, kept in flat
// buffers so that a reused recursion does not allocate.
type recursion struct {
	tree   *scoring.Tree
	x      []float64
	phi    []float64
	stride int // room for one path: max unique features on a path, plus one
	elems  []pathElem
	w      []float64
}

// treeShape returns a tree's depth (edges on its longest root-to-leaf path)
// and the largest number of distinct features on any such path.
func treeShape(t *scoring.Tree) (depth, unique int) {
	if t.NumLeaves == 1 {
		return 0, 0
	}
	type frame struct {
		node, depth int
		feats       []int
	}
	stack := []frame{{0, 0, nil}}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		feats := f.feats
		if !containsInt(feats, t.SplitFeature[f.node]) {
			feats = append(feats[:len(feats):len(feats)], t.SplitFeature[f.node])
		}
		for _, c := range [2]int{t.LeftChild[f.node], t.RightChild[f.node]} {
			if c < 0 {
				depth = max(depth, f.depth+1)
				unique = max(unique, len(feats))
				continue
			}
			stack = append(stack, frame{c, f.depth + 1, feats})
		}
	}
	return depth, unique
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// reset prepares r for tree t, growing its buffers only when needed.
func (r *recursion) reset(t *scoring.Tree, depth, unique int) {
	r.tree = t
	r.stride = unique + 1
	need := (depth + 1) * r.stride
	if cap(r.elems) < need {
		r.elems = make([]pathElem, need)
		r.w = make([]float64, need)
	}
	r.elems = r.elems[:need]
	r.w = r.w[:need]
}

// dataCount is the training-data count of child c (LightGBM's encoding).
func dataCount(t *scoring.Tree, c int) float64 {
	if c < 0 {
		return t.LeafCount[^c]
	}
	return t.InternalCount[c]
}

// run adds tree r.tree's TreeSHAP values for r.x into r.phi.
func (r *recursion) run() {
	if r.tree.NumLeaves == 1 {
		return // a constant tree moves no feature
	}
	r.w[0] = 1
	r.visit(0, 0, 0, 1, 1, -1)
}

// visit is RECURSE of Algorithm 2: node c is reached at recursion depth
// level with the parent's path of n features stored at level-1; the edge
// into c contributes (zero, one) for feature (or no feature at the root).
func (r *recursion) visit(c, level, n int, zero, one float64, feature int) {
	base := level * r.stride
	elems := r.elems[base : base+r.stride]
	w := r.w[base : base+r.stride]
	if level > 0 {
		prev := base - r.stride
		copy(elems[:n], r.elems[prev:prev+n])
		copy(w[:n+1], r.w[prev:prev+n+1])
	}
	if feature >= 0 {
		extend(w, n, zero, one)
		elems[n] = pathElem{feature, zero, one}
		n++
	}
	t := r.tree
	if c < 0 {
		v := t.LeafValue[^c]
		for i := 0; i < n; i++ {
			e := elems[i]
			r.phi[e.feature] += unwoundSum(w, n, e.zero, e.one) * (e.one - e.zero) * v
		}
		return
	}
	f := t.SplitFeature[c]
	hot, cold := t.LeftChild[c], t.RightChild[c]
	if !t.GoesLeft(c, r.x[f]) {
		hot, cold = cold, hot
	}
	// A feature met again on the path is merged with its earlier split:
	// unwind the earlier element and re-extend with the product of the
	// fractions (the row must follow both splits to keep o = 1).
	iz, io := 1.0, 1.0
	for k := 0; k < n; k++ {
		if elems[k].feature == f {
			iz, io = elems[k].zero, elems[k].one
			unwind(w, n, iz, io)
			copy(elems[k:n-1], elems[k+1:n])
			n--
			break
		}
	}
	nc := t.InternalCount[c]
	r.visit(hot, level+1, n, iz*dataCount(t, hot)/nc, io, f)
	r.visit(cold, level+1, n, iz*dataCount(t, cold)/nc, 0, f)
}

// extend turns the weights w[0..n] of an n-feature path into those of the
// path extended by one feature with fractions (zero, one):
//
//	W'[s] = zero·W[s]·(n+1−s)/(n+2) + one·W[s−1]·s/(n+2).
//
// Going from the top down lets it work in place.
func extend(w []float64, n int, zero, one float64) {
	d := float64(n + 2)
	w[n+1] = one * w[n] * float64(n+1) / d
	for s := n; s >= 1; s-- {
		w[s] = zero*w[s]*float64(n+1-s)/d + one*w[s-1]*float64(s)/d
	}
	w[0] = zero * w[0] * float64(n+1) / d
}

// unwind inverts extend in place: from the weights w[0..n] of an n-feature
// path it recovers w[0..n-1] of the path without a feature of fractions
// (zero, one). With one = 1 the recurrence is solved from the top; with
// one = 0 each weight follows from its own equation.
func unwind(w []float64, n int, zero, one float64) {
	d := float64(n + 1)
	if one != 0 {
		next, cur := w[n], 0.0
		for s := n; s >= 1; s-- {
			orig := w[s-1]
			cur = (next - zero*cur*float64(n-s)/d) * d / (one * float64(s))
			w[s-1] = cur
			next = orig
		}
		return
	}
	for s := 0; s < n; s++ {
		w[s] = w[s] * d / (zero * float64(n-s))
	}
}

// unwoundSum is Σ of the weights unwind would leave, without writing them.
func unwoundSum(w []float64, n int, zero, one float64) float64 {
	d := float64(n + 1)
	total := 0.0
	if one != 0 {
		next, cur := w[n], 0.0
		for s := n; s >= 1; s-- {
			cur = (next - zero*cur*float64(n-s)/d) * d / (one * float64(s))
			total += cur
			next = w[s-1]
		}
		return total
	}
	for s := 0; s < n; s++ {
		total += w[s] * d / (zero * float64(n-s))
	}
	return total
}

// treeExpected is LightGBM's expected value of one tree: its leaf values
// weighted by their share of the training data.
func treeExpected(t *scoring.Tree) float64 {
	if t.NumLeaves == 1 {
		return t.LeafValue[0]
	}
	total := t.InternalCount[0]
	var e float64
	for l, v := range t.LeafValue {
		e += t.LeafCount[l] / total * v
	}
	return e
}

// Reference returns the path-dependent TreeSHAP values of row x computed
// by the plain Algorithm 2 of Lundberg, Erion & Lee (2018): one value per
// model feature, then the expected value, in LightGBM's pred_contrib
// layout. It is the oracle the fast path is tested against; it allocates
// and is several times slower than Explain. It does not validate the
// model's counts (New does); with a zero or inconsistent count the result
// is meaningless, as LightGBM's would be.
func Reference(m *scoring.Model, x []float64) []float64 {
	e := m.Ensemble
	nf := len(e.FeatureNames)
	out := make([]float64, nf+1)
	r := recursion{x: x, phi: out[:nf]}
	for i := range e.Trees {
		t := &e.Trees[i]
		out[nf] += treeExpected(t)
		depth, unique := treeShape(t)
		r.reset(t, depth, unique)
		r.run()
	}
	return out
}
