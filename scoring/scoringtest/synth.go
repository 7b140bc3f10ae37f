// Package scoringtest generates random LightGBM binary models for tests.
//
// LightGBM cannot run on glassbox's build machines, so besides the three
// shipped models with LightGBM's own reference outputs, tests use models
// generated here: valid LightGBM text with numerical splits of every
// missing-value type, categorical splits whose category sets span several
// 32-bit words, and consistent data counts. Each generated model carries
// its own evaluator, written from LightGBM's documented decision rules on
// the generator's node structure, as an independent reference.
package scoringtest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Options shape a random model.
type Options struct {
	Features    int // number of features
	Categorical int // how many of them (the last ones) are categorical
	Levels      int // categories per categorical feature (e.g. 100)
	Trees       int
	MaxLeaves   int // per tree, at least 2
	// Unused is a feature index that no split uses (-1 for none).
	Unused int
	Seed   uint64
}

// Model is a generated model.
type Model struct {
	Text    []byte
	Options Options
	trees   []*node
}

type node struct {
	leaf        bool
	value       float64 // leaf value
	count       int
	feature     int
	threshold   float64
	missingType int // 0 none, 1 zero, 2 NaN
	defaultLeft bool
	cats        map[int]bool // categorical split: categories going left
	left, right *node
}

// Random generates a model.
func Random(o Options) *Model {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	m := &Model{Options: o}
	for range o.Trees {
		leaves := 2 + rng.IntN(o.MaxLeaves-1)
		m.trees = append(m.trees, grow(rng, o, leaves, 1000+rng.IntN(4000)))
	}
	m.Text = m.render()
	return m
}

func (o Options) isCat(f int) bool { return f >= o.Features-o.Categorical }

func grow(rng *rand.Rand, o Options, leaves, count int) *node {
	if leaves == 1 || count < 2 {
		return &node{leaf: true, value: rng.NormFloat64() * 0.3, count: count}
	}
	n := &node{count: count}
	for {
		n.feature = rng.IntN(o.Features)
		if n.feature != o.Unused {
			break
		}
	}
	if o.isCat(n.feature) {
		n.cats = map[int]bool{}
		for len(n.cats) == 0 {
			for c := range o.Levels {
				if rng.IntN(3) == 0 {
					n.cats[c] = true
				}
			}
		}
		n.missingType = 2
	} else {
		n.threshold = math.Round(rng.Float64()*1000) / 100
		n.missingType = rng.IntN(3)
		n.defaultLeft = rng.IntN(2) == 0
	}
	ll := 1 + rng.IntN(leaves-1)
	lc := 1 + rng.IntN(count-1)
	n.left = grow(rng, o, ll, lc)
	n.right = grow(rng, o, leaves-ll, count-lc)
	return n
}

// Raw evaluates the model on x following LightGBM's rules.
func (m *Model) Raw(x []float64) float64 {
	var s float64
	for _, t := range m.trees {
		n := t
		for !n.leaf {
			if goLeft(n, x[n.feature]) {
				n = n.left
			} else {
				n = n.right
			}
		}
		s += n.value
	}
	return s
}

func goLeft(n *node, v float64) bool {
	if n.cats != nil {
		// Categories are integers; NaN and negatives match no set.
		if math.IsNaN(v) || v < 0 {
			return false
		}
		return n.cats[int(v)]
	}
	switch {
	case n.missingType == 2 && math.IsNaN(v):
		return n.defaultLeft
	case math.IsNaN(v):
		v = 0
	}
	if n.missingType == 1 && math.Abs(v) <= 1e-35 {
		return n.defaultLeft
	}
	return v <= n.threshold
}

// Row draws a random input: ordinary values, exact zeros, NaN (missing),
// values beyond every threshold, and categories never seen in a split.
func (m *Model) Row(rng *rand.Rand) []float64 {
	o := m.Options
	x := make([]float64, o.Features)
	for f := range x {
		switch r := rng.IntN(10); {
		case r == 0:
			x[f] = math.NaN()
		case r == 1:
			x[f] = 0
		case o.isCat(f):
			x[f] = float64(rng.IntN(o.Levels + 5))
		case r == 2:
			x[f] = 1e6
		default:
			x[f] = math.Round(rng.Float64()*1100-50) / 100
		}
	}
	return x
}

// render writes the model in LightGBM's v4 text format.
func (m *Model) render() []byte {
	o := m.Options
	var b strings.Builder
	names := make([]string, o.Features)
	for i := range names {
		names[i] = "f" + strconv.Itoa(i)
	}
	sizes := make([]string, len(m.trees))
	for i := range sizes {
		sizes[i] = "1"
	}
	fmt.Fprintf(&b, "tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\nmax_feature_idx=%d\n", o.Features-1)
	fmt.Fprintf(&b, "objective=binary sigmoid:1\nfeature_names=%s\ntree_sizes=%s\n\n", strings.Join(names, " "), strings.Join(sizes, " "))
	for i, t := range m.trees {
		renderTree(&b, i, t, o)
	}
	b.WriteString("end of trees\n\nfeature_importances:\n\nparameters:\n[boosting: gbdt]\nend of parameters\n\npandas_categorical:null\n")
	return []byte(b.String())
}

func renderTree(b *strings.Builder, idx int, root *node, o Options) {
	var internal []*node
	var leaves []*node
	// LightGBM numbers internal nodes 0.. and encodes leaf i as ^i.
	number := func(n *node) int {
		if n.leaf {
			leaves = append(leaves, n)
			return ^(len(leaves) - 1)
		}
		internal = append(internal, n)
		return len(internal) - 1
	}
	ids := map[*node]int{}
	queue := []*node{root}
	ids[root] = number(root)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, c := range []*node{n.left, n.right} {
			if c == nil {
				continue
			}
			ids[c] = number(c)
			if !c.leaf {
				queue = append(queue, c)
			}
		}
	}
	var feat, thr, dt, lc, rc, ic, iv, lv, lcount []string
	var catBounds = []string{"0"}
	var catWords []string
	nCat := 0
	for _, n := range internal {
		feat = append(feat, strconv.Itoa(n.feature))
		lc = append(lc, strconv.Itoa(ids[n.left]))
		rc = append(rc, strconv.Itoa(ids[n.right]))
		ic = append(ic, strconv.Itoa(n.count))
		iv = append(iv, "0")
		d := n.missingType << 2
		if n.cats != nil {
			d |= 1
			words := make([]uint32, (o.Levels+31)/32)
			for c := range n.cats {
				words[c/32] |= 1 << (c % 32)
			}
			for _, w := range words {
				catWords = append(catWords, strconv.FormatUint(uint64(w), 10))
			}
			thr = append(thr, strconv.Itoa(nCat))
			nCat++
			catBounds = append(catBounds, strconv.Itoa(len(catWords)))
		} else {
			if n.defaultLeft {
				d |= 2
			}
			thr = append(thr, strconv.FormatFloat(n.threshold, 'g', 17, 64))
		}
		dt = append(dt, strconv.Itoa(d))
	}
	for _, l := range leaves {
		lv = append(lv, strconv.FormatFloat(l.value, 'g', 17, 64))
		lcount = append(lcount, strconv.Itoa(l.count))
	}
	fmt.Fprintf(b, "Tree=%d\nnum_leaves=%d\nnum_cat=%d\n", idx, len(leaves), nCat)
	if len(internal) > 0 {
		fmt.Fprintf(b, "split_feature=%s\nsplit_gain=%s\nthreshold=%s\ndecision_type=%s\nleft_child=%s\nright_child=%s\n",
			j(feat), j(iv), j(thr), j(dt), j(lc), j(rc))
	}
	fmt.Fprintf(b, "leaf_value=%s\nleaf_weight=%s\nleaf_count=%s\n", j(lv), j(lcount), j(lcount))
	if len(internal) > 0 {
		fmt.Fprintf(b, "internal_value=%s\ninternal_weight=%s\ninternal_count=%s\n", j(iv), j(ic), j(ic))
	}
	if nCat > 0 {
		fmt.Fprintf(b, "cat_boundaries=%s\ncat_threshold=%s\n", j(catBounds), j(catWords))
	}
	b.WriteString("is_linear=0\nshrinkage=1\n\n\n")
}

func j(s []string) string { return strings.Join(s, " ") }
