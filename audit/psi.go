package audit

import (
	"fmt"
	"math"
	"slices"
)

// PSIFloor replaces a bin proportion of zero in the PSI, where ln(0)
// would make it infinite: an empty bin counts as holding 0.01% of its
// population. The floor is the one commonly used in credit scoring; it
// bounds what a single empty bin can add.
const PSIFloor = 1e-4

// PSI is the population stability index of actual against expected, two
// distributions over the same bins given as counts:
//
//	PSI = Σ_i (a_i − e_i) · ln(a_i / e_i)
//
// with a_i and e_i the proportions count_i / total, each floored at
// PSIFloor. It is 0 for identical distributions and grows with the shift;
// by convention below 0.1 is stable, 0.1–0.25 a moderate shift and above
// 0.25 a significant one.
func PSI(expected, actual []int) (float64, error) {
	if len(expected) != len(actual) || len(expected) == 0 {
		return 0, fmt.Errorf("%w: %d expected bins for %d actual", ErrInput, len(expected), len(actual))
	}
	te, ta := total(expected), total(actual)
	if te == 0 || ta == 0 {
		return 0, fmt.Errorf("%w: an empty distribution (%d expected, %d actual)", ErrInput, te, ta)
	}
	var psi float64
	for i := range expected {
		e := max(float64(expected[i])/float64(te), PSIFloor)
		a := max(float64(actual[i])/float64(ta), PSIFloor)
		psi += (a - e) * math.Log(a/e)
	}
	return psi, nil
}

func total(counts []int) int {
	n := 0
	for _, c := range counts {
		if c < 0 {
			return 0
		}
		n += c
	}
	return n
}

// Bin returns the bin of x under upper edges: the first i with
// x <= edges[i], or len(edges) above them all. Bins are right-closed:
// (−∞, e₀], (e₀, e₁], …, (e_{k−1}, +∞).
func Bin(edges []float64, x float64) int {
	i, _ := slices.BinarySearch(edges, x)
	return i
}

// QuantileEdges returns the upper edges of (at most) k bins of roughly
// equal count over values: the distinct values among the order
// statistics at ranks ⌈j·n/k⌉ (1-based), j = 1…k−1, less any equal to the
// largest value (so the last bin is never empty). Equal values always fall
// in one bin, so heavily tied data gets fewer bins. NaNs are ignored.
func QuantileEdges(values []float64, k int) []float64 {
	s := make([]float64, 0, len(values))
	for _, v := range values {
		if !math.IsNaN(v) {
			s = append(s, v)
		}
	}
	if len(s) == 0 || k < 2 {
		return []float64{}
	}
	slices.Sort(s)
	n := len(s)
	edges := []float64{}
	for j := 1; j < k; j++ {
		r := (j*n + k - 1) / k // ⌈j·n/k⌉
		v := s[r-1]
		if v == s[n-1] {
			break
		}
		if len(edges) == 0 || v > edges[len(edges)-1] {
			edges = append(edges, v)
		}
	}
	return edges
}

// Counts bins values under edges, one count per bin (len(edges)+1).
// NaNs are not counted; the second result is how many there were.
func Counts(edges []float64, values []float64) ([]int, int) {
	out := make([]int, len(edges)+1)
	missing := 0
	for _, v := range values {
		if math.IsNaN(v) {
			missing++
			continue
		}
		out[Bin(edges, v)]++
	}
	return out, missing
}
