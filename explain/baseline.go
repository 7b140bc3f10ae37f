package explain

import (
	"errors"
	"fmt"
	"math"

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
	// maxWords is the most words any tree needs (the scratch for x).
	maxWords int
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
	for i := range trees {
		d, _ := treeShape(&trees[i])
		depth = max(depth, d)
		b.off[i] = len(b.left)
		b.words[i] = (trees[i].NumLeaves - 1 + 63) / 64
		b.maxWords = max(b.maxWords, b.words[i])
		b.left = append(b.left, make([]uint64, b.words[i]*len(rows))...)
		for k, r := range b.rows {
			w := b.words[i]
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
	return b, nil
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
	xl := make([]uint64, b.maxWords)
	path := make([]uint64, b.maxWords)
	for i := range b.model.Ensemble.Trees {
		t := &b.model.Ensemble.Trees[i]
		if t.NumLeaves == 1 {
			continue // a constant: the same for every coalition
		}
		wn := b.words[i]
		w.t, w.xl = t, xl[:wn]
		goesLeftBits(t, x, w.xl)
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
		phi[i] *= inv
		sum += phi[i]
	}
	if want := raw - b.refRaw; !(math.Abs(sum-want) <= Tolerance) {
		return fmt.Errorf("explain: baseline: %w: values sum to %.17g, raw score minus reference is %.17g", ErrInconsistent, sum, want)
	}
	return nil
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
