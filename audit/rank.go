package audit

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// ErrInput reports input a figure cannot be computed from: mismatched
// lengths, NaN, or a class with no members.
var ErrInput = errors.New("audit: unusable input")

// sortedPairs returns the indices of pd in ascending order of pd, ties in
// input order, after checking the input.
func sortedPairs(pd []float64, bad []bool) ([]int, int, error) {
	if len(pd) != len(bad) {
		return nil, 0, fmt.Errorf("%w: %d scores for %d labels", ErrInput, len(pd), len(bad))
	}
	nBad := 0
	for i, p := range pd {
		if math.IsNaN(p) {
			return nil, 0, fmt.Errorf("%w: score %d is NaN", ErrInput, i)
		}
		if bad[i] {
			nBad++
		}
	}
	if nBad == 0 || nBad == len(pd) {
		return nil, 0, fmt.Errorf("%w: %d bad of %d; both classes are needed", ErrInput, nBad, len(pd))
	}
	idx := make([]int, len(pd))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		switch {
		case pd[a] < pd[b]:
			return -1
		case pd[a] > pd[b]:
			return 1
		}
		return 0
	})
	return idx, nBad, nil
}

// AUC is the area under the ROC curve of pd as a predictor of bad: the
// Mann–Whitney probability that a bad case has a higher pd than a good
// one, ties counting one half. It is computed from mid-ranks:
// AUC = (R_bad − n_bad(n_bad+1)/2) / (n_bad·n_good), R_bad the sum of the
// bad cases' ranks with tied values given their average rank.
func AUC(pd []float64, bad []bool) (float64, error) {
	idx, nBad, err := sortedPairs(pd, bad)
	if err != nil {
		return 0, err
	}
	n := len(idx)
	var rankSum float64
	for i := 0; i < n; {
		j := i
		for j < n && pd[idx[j]] == pd[idx[i]] {
			j++
		}
		// Positions i..j-1 (ranks i+1..j) share the mid-rank.
		mid := float64(i+1+j) / 2
		for k := i; k < j; k++ {
			if bad[idx[k]] {
				rankSum += mid
			}
		}
		i = j
	}
	nb, ng := float64(nBad), float64(n-nBad)
	return (rankSum - nb*(nb+1)/2) / (nb * ng), nil
}

// KS is the Kolmogorov–Smirnov statistic: the largest distance between
// the empirical distribution functions of pd among bad and among good
// cases, max over t of |F_bad(t) − F_good(t)|, evaluated at every
// distinct value of pd (ties step together).
func KS(pd []float64, bad []bool) (float64, error) {
	idx, nBad, err := sortedPairs(pd, bad)
	if err != nil {
		return 0, err
	}
	n := len(idx)
	nb, ng := float64(nBad), float64(n-nBad)
	var cb, cg, best float64
	for i := 0; i < n; {
		j := i
		for j < n && pd[idx[j]] == pd[idx[i]] {
			if bad[idx[j]] {
				cb++
			} else {
				cg++
			}
			j++
		}
		best = max(best, math.Abs(cb/nb-cg/ng))
		i = j
	}
	return best, nil
}
