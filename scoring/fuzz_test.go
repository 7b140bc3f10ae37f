package scoring

import (
	"math"
	"os"
	"strings"
	"testing"
)

// smallModel cuts the default model down to its first n trees, a seed
// small enough for the fuzzer to mutate quickly.
func smallModel(t testing.TB, n int) string {
	t.Helper()
	data, err := os.ReadFile("../models/credit-risk-v1/model.txt")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(data), "\n\n")
	header := blocks[0]
	var sizes []string
	for range n {
		sizes = append(sizes, "1")
	}
	lines := strings.Split(header, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "tree_sizes=") {
			lines[i] = "tree_sizes=" + strings.Join(sizes, " ")
		}
	}
	out := strings.Join(lines, "\n") + "\n\n"
	for i := 1; i <= n; i++ {
		out += strings.TrimLeft(blocks[i], "\n") + "\n\n"
	}
	return out + "end of trees\n"
}

func FuzzLoadModel(f *testing.F) {
	seed := smallModel(f, 3)
	f.Add([]byte(seed))
	f.Add([]byte(strings.Replace(seed, "num_cat=2", "num_cat=0", 1)))
	f.Add([]byte(strings.Replace(seed, "cat_threshold=1 8", "cat_threshold=4294967295 0", 1)))
	f.Add([]byte(strings.Replace(seed, "num_leaves=15", "num_leaves=1", 1)))
	f.Add([]byte("tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nmax_feature_idx=0\nobjective=binary sigmoid:1\nfeature_names=a\ntree_sizes=1\n\nTree=0\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\n\nend of trees\n"))
	f.Add([]byte("tree\nversion=v4\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := FromBytes(data)
		if err != nil {
			return
		}
		// Whatever loads must predict without panicking, and the parsed
		// trees must agree with what leaves executes.
		n := m.NumFeatures()
		for _, fill := range []float64{0, math.NaN(), -1, 1e9, 3} {
			x := make([]float64, n)
			for i := range x {
				x[i] = fill
			}
			raw, own := m.Raw(x), m.Ensemble.Raw(x)
			if !(raw == own || math.Abs(raw-own) <= 1e-9*math.Max(1, math.Abs(raw))) {
				t.Fatalf("fill %v: leaves %v, parsed trees %v", fill, raw, own)
			}
		}
	})
}
