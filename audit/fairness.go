package audit

import (
	"cmp"
	"fmt"
	"math"
	"slices"
)

// Z95 is the standard normal quantile of a two-sided 95% interval.
const Z95 = 1.959963984540054

// GroupRate is one group's approvals among its decisions.
type GroupRate struct {
	Group    string `json:"group"`
	N        int    `json:"n"`
	Approved int    `json:"approved"`
}

// Rate is Approved/N.
func (g GroupRate) Rate() float64 { return float64(g.Approved) / float64(g.N) }

// Impact is a group's adverse impact ratio against the most favoured
// group, with a 95% confidence interval.
type Impact struct {
	Group        string  `json:"group"`
	N            int     `json:"n"`
	Approved     int     `json:"approved"`
	ApprovalRate float64 `json:"approval_rate"`
	// Ratio is this group's approval rate over the most favoured group's.
	Ratio float64 `json:"adverse_impact_ratio"`
	// CILow and CIHigh bound Ratio (Katz log method); nil for the
	// favoured group itself and where a count of zero leaves the log
	// undefined.
	CILow  *float64 `json:"ci_low"`
	CIHigh *float64 `json:"ci_high"`
	// Favoured marks the most favoured group (Ratio 1).
	Favoured bool `json:"favoured"`
}

// Favoured returns the index of the group with the highest approval rate
// among those with at least minN decisions (among all non-empty groups if
// none has that many): a handful of approvals in a tiny group would
// otherwise set the benchmark. Among equal rates, the label that sorts
// first wins; -1 if every group is empty.
func Favoured(groups []GroupRate, minN int) int {
	if !slices.ContainsFunc(groups, func(g GroupRate) bool { return g.N >= max(minN, 1) }) {
		minN = 1
	}
	best := -1
	for i, g := range groups {
		if g.N < max(minN, 1) {
			continue
		}
		if best < 0 {
			best = i
			continue
		}
		// Compare a/n with b/m exactly: a·m against b·n.
		l, r := g.Approved*groups[best].N, groups[best].Approved*g.N
		if l > r || (l == r && g.Group < groups[best].Group) {
			best = i
		}
	}
	return best
}

// AdverseImpact returns every group's adverse impact ratio against the
// most favoured group (Favoured with minN), in label order. The confidence interval of a ratio
// of two proportions a/n over c/m is Katz's log interval:
//
//	exp( ln(RR) ± z · sqrt(1/a − 1/n + 1/c − 1/m) ),
//
// undefined (nil) when a or c is zero.
func AdverseImpact(groups []GroupRate, minN int, z float64) ([]Impact, error) {
	for _, g := range groups {
		if g.N < 0 || g.Approved < 0 || g.Approved > g.N {
			return nil, fmt.Errorf("%w: group %q has %d approved of %d", ErrInput, g.Group, g.Approved, g.N)
		}
	}
	f := Favoured(groups, minN)
	if f < 0 || groups[f].Approved == 0 {
		return nil, fmt.Errorf("%w: no group has an approval", ErrInput)
	}
	ref := groups[f]
	out := make([]Impact, 0, len(groups))
	for i, g := range groups {
		if g.N == 0 {
			continue
		}
		im := Impact{Group: g.Group, N: g.N, Approved: g.Approved, ApprovalRate: g.Rate(), Ratio: g.Rate() / ref.Rate(), Favoured: i == f}
		if i != f && g.Approved > 0 {
			se := math.Sqrt(1/float64(g.Approved) - 1/float64(g.N) + 1/float64(ref.Approved) - 1/float64(ref.N))
			lo, hi := math.Exp(math.Log(im.Ratio)-z*se), math.Exp(math.Log(im.Ratio)+z*se)
			im.CILow, im.CIHigh = &lo, &hi
		}
		out = append(out, im)
	}
	slices.SortFunc(out, func(a, b Impact) int { return cmp.Compare(a.Group, b.Group) })
	return out, nil
}

// MeanSD returns the mean and the sample standard deviation (n − 1) of x.
func MeanSD(x []float64) (mean, sd float64) {
	if len(x) == 0 {
		return math.NaN(), math.NaN()
	}
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	if len(x) < 2 {
		return mean, math.NaN()
	}
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	return mean, math.Sqrt(ss / float64(len(x)-1))
}

// SMD is the standardized mean difference of x against ref, Cohen's d:
// (mean(x) − mean(ref)) / s_p with the pooled standard deviation
// s_p = sqrt(((n_x−1)s_x² + (n_r−1)s_r²) / (n_x + n_r − 2)).
func SMD(x, ref []float64) (float64, error) {
	if len(x) < 2 || len(ref) < 2 {
		return 0, fmt.Errorf("%w: %d and %d values; each side needs two", ErrInput, len(x), len(ref))
	}
	mx, sx := MeanSD(x)
	mr, sr := MeanSD(ref)
	nx, nr := float64(len(x)), float64(len(ref))
	sp := math.Sqrt(((nx-1)*sx*sx + (nr-1)*sr*sr) / (nx + nr - 2))
	if sp == 0 {
		return 0, fmt.Errorf("%w: no spread in either group", ErrInput)
	}
	return (mx - mr) / sp, nil
}

// CramersV is the association of the two categorical variables a
// contingency table crosses: V = sqrt(χ² / (n · (min(r, c) − 1))), χ² the
// Pearson statistic Σ (O − E)²/E with E = row total · column total / n,
// over the r rows and c columns that are not empty. 0 is independence,
// 1 a variable that determines the other.
func CramersV(table [][]int) (float64, error) {
	rows := make([]float64, len(table))
	var cols []float64
	var n float64
	for i, row := range table {
		if len(cols) < len(row) {
			cols = append(cols, make([]float64, len(row)-len(cols))...)
		}
		for j, o := range row {
			if o < 0 {
				return 0, fmt.Errorf("%w: negative count", ErrInput)
			}
			rows[i] += float64(o)
			cols[j] += float64(o)
			n += float64(o)
		}
	}
	r, c := nonzero(rows), nonzero(cols)
	if min(r, c) < 2 {
		return 0, fmt.Errorf("%w: a %d×%d table has no association to measure", ErrInput, r, c)
	}
	var chi2 float64
	for i, row := range table {
		for j := range cols {
			if rows[i] == 0 || cols[j] == 0 {
				continue
			}
			o := 0.0
			if j < len(row) {
				o = float64(row[j])
			}
			e := rows[i] * cols[j] / n
			chi2 += (o - e) * (o - e) / e
		}
	}
	return math.Sqrt(chi2 / (n * float64(min(r, c)-1))), nil
}

func nonzero(x []float64) int {
	k := 0
	for _, v := range x {
		if v > 0 {
			k++
		}
	}
	return k
}

// PointBiserial is the correlation of x with membership (in[i] true):
// r = (M₁ − M₀)/s · sqrt(p·q), M₁ and M₀ the means of members and others,
// s the population standard deviation of x and p, q the shares of
// members and others. It equals Pearson's r with membership coded 1/0.
func PointBiserial(x []float64, in []bool) (float64, error) {
	if len(x) != len(in) {
		return 0, fmt.Errorf("%w: %d values for %d memberships", ErrInput, len(x), len(in))
	}
	var s1, s0 float64
	var n1, n0 int
	for i, v := range x {
		if in[i] {
			s1 += v
			n1++
		} else {
			s0 += v
			n0++
		}
	}
	if n1 == 0 || n0 == 0 {
		return 0, fmt.Errorf("%w: %d members of %d", ErrInput, n1, len(x))
	}
	mean := (s1 + s0) / float64(len(x))
	var ss float64
	for _, v := range x {
		ss += (v - mean) * (v - mean)
	}
	sd := math.Sqrt(ss / float64(len(x)))
	if sd == 0 {
		return 0, fmt.Errorf("%w: x does not vary", ErrInput)
	}
	n := float64(len(x))
	p, q := float64(n1)/n, float64(n0)/n
	return (s1/float64(n1) - s0/float64(n0)) / sd * math.Sqrt(p*q), nil
}

// ColumnMeans averages rows (each of the same width) column by column:
// attributions averaged over a group. nil for no rows.
func ColumnMeans(rows [][]float64) []float64 {
	if len(rows) == 0 {
		return nil
	}
	out := make([]float64, len(rows[0]))
	for _, r := range rows {
		for j, v := range r {
			out[j] += v
		}
	}
	for j := range out {
		out[j] /= float64(len(rows))
	}
	return out
}
