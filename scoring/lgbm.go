package scoring

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Limits bound what the LightGBM parser accepts, so that a hostile or
// corrupt model file costs at most a bounded amount of memory and time.
type Limits struct {
	MaxFileBytes      int
	MaxTrees          int
	MaxLeavesPerTree  int
	MaxFeatures       int
	MaxCatBitsetWords int
}

// DefaultLimits accept every model glassbox ships (the largest, 1,000 trees
// of 63 leaves, is 5.5 MB) with a wide margin.
func DefaultLimits() Limits {
	return Limits{
		MaxFileBytes:      256 << 20,
		MaxTrees:          20000,
		MaxLeavesPerTree:  1 << 16,
		MaxFeatures:       10000,
		MaxCatBitsetWords: 1 << 12,
	}
}

// Decision-type bits of a LightGBM split (include/LightGBM/tree.h).
const (
	catMask         = 1
	defaultLeftMask = 2
)

// Missing-value handling of a numerical split, bits 2–3 of decision_type.
const (
	MissingNone = 0
	MissingZero = 1
	MissingNaN  = 2
)

// zeroThreshold is LightGBM's kZeroThreshold: values this close to zero are
// treated as zero by splits whose missing type is "zero".
const zeroThreshold = 1e-35

// Ensemble is a parsed LightGBM binary model: the one parse of the text
// format in glassbox. Prediction runs through leaves; explanation walks
// these trees, which keep what leaves drops (data counts, raw splits).
type Ensemble struct {
	FeatureNames []string
	// Monotone holds LightGBM's monotone_constraints (may be nil).
	Monotone []int
	// Sigmoid is the binary objective's sigmoid parameter.
	Sigmoid float64
	Trees   []Tree
}

// Tree is one LightGBM tree in array form. Internal nodes are 0..N-2;
// a negative child c refers to leaf ^c (LightGBM's encoding).
type Tree struct {
	NumLeaves     int
	SplitFeature  []int
	Threshold     []float64
	DecisionType  []uint8
	LeftChild     []int
	RightChild    []int
	LeafValue     []float64
	LeafCount     []float64
	InternalCount []float64
	InternalValue []float64
	CatBoundaries []int
	CatThreshold  []uint32
	Shrinkage     float64
}

// IsCategorical reports whether internal node n splits on categories.
func (t *Tree) IsCategorical(n int) bool { return t.DecisionType[n]&catMask != 0 }

// DefaultLeft reports whether missing values go left at numerical node n.
func (t *Tree) DefaultLeft(n int) bool { return t.DecisionType[n]&defaultLeftMask != 0 }

// MissingType returns the missing-value handling of node n.
func (t *Tree) MissingType(n int) int { return int(t.DecisionType[n]>>2) & 3 }

// Next returns the child of internal node n that a row with value fval
// for the node's split feature goes to, exactly as LightGBM decides.
func (t *Tree) Next(n int, fval float64) int {
	if t.GoesLeft(n, fval) {
		return t.LeftChild[n]
	}
	return t.RightChild[n]
}

// GoesLeft reports whether fval follows the left branch of node n.
func (t *Tree) GoesLeft(n int, fval float64) bool {
	if t.IsCategorical(n) {
		// Like LightGBM (and leaves), the category is fval truncated to a
		// 32-bit int: NaN, values that truncate below zero and values beyond
		// int32 never match, and -1 < fval < 0 is category 0. Checking the
		// range before converting also keeps huge values from wrapping.
		if math.IsNaN(fval) || fval <= -1 || fval >= 1<<31 {
			return false
		}
		c := int(fval)
		idx := int(t.Threshold[n])
		lo, hi := t.CatBoundaries[idx], t.CatBoundaries[idx+1]
		word := c / 32
		if word >= hi-lo {
			return false
		}
		return t.CatThreshold[lo+word]>>(uint(c)%32)&1 == 1
	}
	mt := t.MissingType(n)
	if math.IsNaN(fval) && mt != MissingNaN {
		fval = 0
	}
	if (mt == MissingZero && math.Abs(fval) <= zeroThreshold) || (mt == MissingNaN && math.IsNaN(fval)) {
		return t.DefaultLeft(n)
	}
	return fval <= t.Threshold[n]
}

// Leaf returns the leaf index that row x reaches.
func (t *Tree) Leaf(x []float64) int {
	if t.NumLeaves == 1 {
		return 0
	}
	n := 0
	for n >= 0 {
		n = t.Next(n, x[t.SplitFeature[n]])
	}
	return ^n
}

// Raw is the ensemble's raw score for x, computed from the parsed trees.
// glassbox predicts through leaves; this is the cross-check that the
// parsed form matches what leaves executes.
func (e *Ensemble) Raw(x []float64) float64 {
	var s float64
	for i := range e.Trees {
		s += e.Trees[i].LeafValue[e.Trees[i].Leaf(x)]
	}
	return s
}

// ParseLightGBM parses a LightGBM text model (format v3 or v4), accepting
// only binary models without linear trees, within lim.
func ParseLightGBM(data []byte, lim Limits) (*Ensemble, error) {
	if len(data) > lim.MaxFileBytes {
		return nil, fmt.Errorf("lightgbm: model is %d bytes, limit %d", len(data), lim.MaxFileBytes)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), lim.MaxFileBytes+1)

	header, err := readBlock(sc)
	if err != nil {
		return nil, fmt.Errorf("lightgbm: header: %w", err)
	}
	if len(header.lines) == 0 || header.lines[0] != "tree" {
		return nil, errors.New("lightgbm: not a LightGBM text model (first line is not \"tree\")")
	}
	e, nTrees, err := parseHeader(header.kv, lim)
	if err != nil {
		return nil, fmt.Errorf("lightgbm: header: %w", err)
	}
	e.Trees = make([]Tree, 0, nTrees)
	for i := 0; i < nTrees; i++ {
		b, err := readBlock(sc)
		if err != nil {
			return nil, fmt.Errorf("lightgbm: tree %d: %w", i, err)
		}
		if len(b.lines) == 0 || b.lines[0] != "Tree="+strconv.Itoa(i) {
			return nil, fmt.Errorf("lightgbm: tree %d: missing \"Tree=%d\" line", i, i)
		}
		t, err := parseTree(b.kv, len(e.FeatureNames), lim)
		if err != nil {
			return nil, fmt.Errorf("lightgbm: tree %d: %w", i, err)
		}
		e.Trees = append(e.Trees, t)
	}
	b, err := readBlock(sc)
	if err != nil || len(b.lines) == 0 || b.lines[0] != "end of trees" {
		return nil, fmt.Errorf("lightgbm: expected \"end of trees\" after %d trees", nTrees)
	}
	return e, nil
}

type block struct {
	lines []string
	kv    map[string]string
}

// readBlock reads lines up to the next blank line (skipping leading blanks).
func readBlock(sc *bufio.Scanner) (block, error) {
	b := block{kv: map[string]string{}}
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			if len(b.lines) == 0 {
				continue
			}
			return b, nil
		}
		b.lines = append(b.lines, line)
		if k, v, ok := strings.Cut(line, "="); ok {
			if _, dup := b.kv[k]; dup {
				return b, fmt.Errorf("duplicate key %q", k)
			}
			b.kv[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return b, err
	}
	if len(b.lines) == 0 {
		return b, errors.New("unexpected end of file")
	}
	return b, nil
}

func parseHeader(kv map[string]string, lim Limits) (*Ensemble, int, error) {
	switch kv["version"] {
	case "v3", "v4":
	default:
		return nil, 0, fmt.Errorf("unsupported format version %q (want v3 or v4)", kv["version"])
	}
	if kv["num_class"] != "1" || kv["num_tree_per_iteration"] != "1" {
		return nil, 0, fmt.Errorf("only binary models are served (num_class=%q)", kv["num_class"])
	}
	if _, ok := kv["average_output"]; ok {
		return nil, 0, errors.New("random-forest models (average_output) are not supported")
	}
	e := &Ensemble{Sigmoid: 1}
	obj := strings.Fields(kv["objective"])
	if len(obj) == 0 || obj[0] != "binary" {
		return nil, 0, fmt.Errorf("objective %q is not binary", kv["objective"])
	}
	for _, p := range obj[1:] {
		if v, ok := strings.CutPrefix(p, "sigmoid:"); ok {
			s, err := strconv.ParseFloat(v, 64)
			if err != nil || !(s > 0) || math.IsInf(s, 0) {
				return nil, 0, fmt.Errorf("bad sigmoid %q", v)
			}
			e.Sigmoid = s
		}
	}
	maxIdx, err := strconv.Atoi(kv["max_feature_idx"])
	if err != nil || maxIdx < 0 || maxIdx >= lim.MaxFeatures {
		return nil, 0, fmt.Errorf("bad max_feature_idx %q", kv["max_feature_idx"])
	}
	e.FeatureNames = strings.Fields(kv["feature_names"])
	if len(e.FeatureNames) != maxIdx+1 {
		return nil, 0, fmt.Errorf("feature_names lists %d names, max_feature_idx says %d", len(e.FeatureNames), maxIdx+1)
	}
	if mc, ok := kv["monotone_constraints"]; ok {
		m, err := parseInts(mc, maxIdx+1)
		if err != nil {
			return nil, 0, fmt.Errorf("monotone_constraints: %w", err)
		}
		e.Monotone = m
	}
	sizes := strings.Fields(kv["tree_sizes"])
	if len(sizes) == 0 || len(sizes) > lim.MaxTrees {
		return nil, 0, fmt.Errorf("model has %d trees (tree_sizes), limit 1..%d", len(sizes), lim.MaxTrees)
	}
	return e, len(sizes), nil
}

func parseTree(kv map[string]string, nFeatures int, lim Limits) (Tree, error) {
	var t Tree
	if v, ok := kv["is_linear"]; ok && v != "0" {
		return t, errors.New("linear trees are not supported")
	}
	nl, err := strconv.Atoi(kv["num_leaves"])
	if err != nil || nl < 1 || nl > lim.MaxLeavesPerTree {
		return t, fmt.Errorf("num_leaves %q outside 1..%d", kv["num_leaves"], lim.MaxLeavesPerTree)
	}
	t.NumLeaves = nl
	t.Shrinkage = 1
	if s, ok := kv["shrinkage"]; ok {
		if t.Shrinkage, err = strconv.ParseFloat(s, 64); err != nil {
			return t, fmt.Errorf("shrinkage: %w", err)
		}
	}
	if t.LeafValue, err = parseFloats(kv["leaf_value"], nl); err != nil {
		return t, fmt.Errorf("leaf_value: %w", err)
	}
	if nl == 1 {
		// A constant tree; LightGBM may omit its counts.
		t.LeafCount = []float64{0}
		if lc, ok := kv["leaf_count"]; ok {
			if t.LeafCount, err = parseFloats(lc, 1); err != nil {
				return t, fmt.Errorf("leaf_count: %w", err)
			}
		}
		return t, nil
	}
	ni := nl - 1
	fields := []struct {
		name string
		dst  *[]int
	}{
		{"split_feature", &t.SplitFeature},
		{"left_child", &t.LeftChild},
		{"right_child", &t.RightChild},
	}
	for _, f := range fields {
		if *f.dst, err = parseInts(kv[f.name], ni); err != nil {
			return t, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	dt, err := parseInts(kv["decision_type"], ni)
	if err != nil {
		return t, fmt.Errorf("decision_type: %w", err)
	}
	t.DecisionType = make([]uint8, ni)
	for i, d := range dt {
		if d < 0 || d > 15 || (d>>2)&3 == 3 {
			return t, fmt.Errorf("decision_type[%d]=%d is invalid", i, d)
		}
		t.DecisionType[i] = uint8(d)
	}
	if t.Threshold, err = parseFloatsInf(kv["threshold"], ni, true); err != nil {
		return t, fmt.Errorf("threshold: %w", err)
	}
	if t.LeafCount, err = parseFloats(kv["leaf_count"], nl); err != nil {
		return t, fmt.Errorf("leaf_count: %w", err)
	}
	if t.InternalCount, err = parseFloats(kv["internal_count"], ni); err != nil {
		return t, fmt.Errorf("internal_count: %w", err)
	}
	if t.InternalValue, err = parseFloats(kv["internal_value"], ni); err != nil {
		return t, fmt.Errorf("internal_value: %w", err)
	}
	nCat, err := strconv.Atoi(kv["num_cat"])
	if err != nil || nCat < 0 || nCat > ni {
		return t, fmt.Errorf("num_cat %q is invalid", kv["num_cat"])
	}
	if nCat > 0 {
		if t.CatBoundaries, err = parseInts(kv["cat_boundaries"], nCat+1); err != nil {
			return t, fmt.Errorf("cat_boundaries: %w", err)
		}
		words := t.CatBoundaries[nCat]
		if t.CatBoundaries[0] != 0 || words > lim.MaxCatBitsetWords*nCat {
			return t, errors.New("cat_boundaries out of range")
		}
		for i := 0; i < nCat; i++ {
			if t.CatBoundaries[i+1] <= t.CatBoundaries[i] {
				return t, errors.New("cat_boundaries must increase")
			}
		}
		ct, err := parseInts(kv["cat_threshold"], words)
		if err != nil {
			return t, fmt.Errorf("cat_threshold: %w", err)
		}
		t.CatThreshold = make([]uint32, words)
		for i, w := range ct {
			if w < 0 || w > math.MaxUint32 {
				return t, fmt.Errorf("cat_threshold[%d] out of range", i)
			}
			t.CatThreshold[i] = uint32(w)
		}
	}
	for n := 0; n < ni; n++ {
		if f := t.SplitFeature[n]; f < 0 || f >= nFeatures {
			return t, fmt.Errorf("node %d splits on feature %d of %d", n, f, nFeatures)
		}
		if t.IsCategorical(n) {
			c := t.Threshold[n]
			if c != math.Trunc(c) || c < 0 || int(c) >= nCat {
				return t, fmt.Errorf("node %d: category set %v out of range", n, c)
			}
			lo, hi := t.CatBoundaries[int(c)], t.CatBoundaries[int(c)+1]
			any := false
			for _, w := range t.CatThreshold[lo:hi] {
				any = any || w != 0
			}
			if !any {
				return t, fmt.Errorf("node %d: empty category set", n)
			}
		} else if math.IsNaN(t.Threshold[n]) {
			return t, fmt.Errorf("node %d: NaN threshold", n)
		}
	}
	if err := checkShape(&t); err != nil {
		return t, err
	}
	return t, nil
}

// checkShape verifies that the child arrays form one binary tree rooted
// at node 0 that reaches every internal node and every leaf exactly once,
// so that walking it always terminates.
func checkShape(t *Tree) error {
	ni := t.NumLeaves - 1
	seenNode := make([]bool, ni)
	seenLeaf := make([]bool, t.NumLeaves)
	seenNode[0] = true
	stack := []int{0}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, c := range [2]int{t.LeftChild[n], t.RightChild[n]} {
			switch {
			case c >= 0:
				if c >= ni || seenNode[c] {
					return fmt.Errorf("node %d: child %d is out of range or reached twice", n, c)
				}
				seenNode[c] = true
				stack = append(stack, c)
			default:
				l := ^c
				if l >= t.NumLeaves || seenLeaf[l] {
					return fmt.Errorf("node %d: leaf %d is out of range or reached twice", n, l)
				}
				seenLeaf[l] = true
			}
		}
	}
	for n, ok := range seenNode {
		if !ok {
			return fmt.Errorf("node %d is unreachable", n)
		}
	}
	for l, ok := range seenLeaf {
		if !ok {
			return fmt.Errorf("leaf %d is unreachable", l)
		}
	}
	return nil
}

func parseFloats(s string, n int) ([]float64, error) { return parseFloatsInf(s, n, false) }

// parseFloatsInf parses n floats; LightGBM writes split thresholds beyond
// every seen value as inf, so thresholds may be infinite, values may not.
func parseFloatsInf(s string, n int, allowInf bool) ([]float64, error) {
	f := strings.Fields(s)
	if len(f) != n {
		return nil, fmt.Errorf("want %d values, got %d", n, len(f))
	}
	out := make([]float64, n)
	for i, v := range f {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
		if math.IsInf(x, 0) && !allowInf {
			return nil, fmt.Errorf("value %d is infinite", i)
		}
		out[i] = x
	}
	return out, nil
}

func parseInts(s string, n int) ([]int, error) {
	f := strings.Fields(s)
	if len(f) != n {
		return nil, fmt.Errorf("want %d values, got %d", n, len(f))
	}
	out := make([]int, n)
	for i, v := range f {
		x, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
		out[i] = int(x)
	}
	return out, nil
}

// leavesText renders the ensemble in the v3 text form that leaves reads.
// glassbox hands leaves this re-rendering of its own validated parse, never
// the original bytes, so leaves only ever sees well-formed input; floats
// are written in shortest round-trip form and so reach leaves unchanged.
func (e *Ensemble) leavesText() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n")
	fmt.Fprintf(&b, "max_feature_idx=%d\nobjective=binary sigmoid:1\n", len(e.FeatureNames)-1)
	fmt.Fprintf(&b, "feature_names=%s\ntree_sizes=", strings.Join(e.FeatureNames, " "))
	for i := range e.Trees {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('0')
	}
	b.WriteString("\n\n")
	for i := range e.Trees {
		t := &e.Trees[i]
		fmt.Fprintf(&b, "Tree=%d\nnum_leaves=%d\nnum_cat=%d\n", i, t.NumLeaves, max(len(t.CatBoundaries)-1, 0))
		writeFloats(&b, "leaf_value", t.LeafValue)
		if t.NumLeaves > 1 {
			writeInts(&b, "split_feature", t.SplitFeature)
			writeFloats(&b, "threshold", t.Threshold)
			dt := make([]int, len(t.DecisionType))
			for j, d := range t.DecisionType {
				dt[j] = int(d)
			}
			writeInts(&b, "decision_type", dt)
			writeInts(&b, "left_child", t.LeftChild)
			writeInts(&b, "right_child", t.RightChild)
			if len(t.CatBoundaries) > 0 {
				writeInts(&b, "cat_boundaries", t.CatBoundaries)
				ct := make([]int, len(t.CatThreshold))
				for j, w := range t.CatThreshold {
					ct[j] = int(w)
				}
				writeInts(&b, "cat_threshold", ct)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("end of trees\n")
	return b.Bytes()
}

func writeFloats(b *bytes.Buffer, key string, v []float64) {
	b.WriteString(key)
	b.WriteByte('=')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
	}
	b.WriteByte('\n')
}

func writeInts(b *bytes.Buffer, key string, v []int) {
	b.WriteString(key)
	b.WriteByte('=')
	for i, x := range v {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(strconv.Itoa(x))
	}
	b.WriteByte('\n')
}
