package audit

import (
	"fmt"
	"math"
)

// Band is one group of a calibration table.
type Band struct {
	// Lower and Upper are the smallest and largest probability of default
	// in the band.
	Lower float64 `json:"lower"`
	Upper float64 `json:"upper"`
	N     int     `json:"n"`
	// Expected is the sum of the predicted probabilities, Observed the
	// number of bad outcomes.
	Expected float64 `json:"expected_bad"`
	Observed int     `json:"observed_bad"`
	// Predicted is Expected/N, ObservedRate Observed/N.
	Predicted    float64 `json:"predicted_rate"`
	ObservedRate float64 `json:"observed_rate"`
}

// Calibration is a calibration table with its Hosmer–Lemeshow test.
type Calibration struct {
	Bands []Band `json:"bands"`
	// HL is the Hosmer–Lemeshow statistic, DF its degrees of freedom and
	// PValue the chi-square upper tail probability of HL on DF.
	HL     float64 `json:"hosmer_lemeshow"`
	DF     int     `json:"df"`
	PValue float64 `json:"p_value"`
}

// Calibrate groups the cases into (at most) groups bands of roughly equal
// size by ascending pd — a band closes at the first position ≥ its share
// of n where pd changes, so equal values share a band — and computes the
// Hosmer–Lemeshow statistic
//
//	HL = Σ_g (O_g − E_g)² / (E_g · (1 − E_g/n_g))
//
// with O_g the bad outcomes and E_g the sum of pd in band g, on G − 2
// degrees of freedom (G the number of bands). A band whose variance term
// is zero adds nothing when O_g = E_g and makes HL infinite otherwise.
func Calibrate(pd []float64, bad []bool, groups int) (Calibration, error) {
	idx, _, err := sortedPairs(pd, bad)
	if err != nil {
		return Calibration{}, err
	}
	if groups < 3 {
		return Calibration{}, fmt.Errorf("%w: %d groups; Hosmer–Lemeshow needs at least 3", ErrInput, groups)
	}
	n := len(idx)
	var c Calibration
	start := 0
	for start < n {
		g := len(c.Bands)
		end := start + 1
		target := (g + 1) * n / groups
		for end < n && (end < target || pd[idx[end]] == pd[idx[end-1]]) {
			end++
		}
		b := Band{Lower: pd[idx[start]], Upper: pd[idx[end-1]], N: end - start}
		for _, k := range idx[start:end] {
			b.Expected += pd[k]
			if bad[k] {
				b.Observed++
			}
		}
		b.Predicted = b.Expected / float64(b.N)
		b.ObservedRate = float64(b.Observed) / float64(b.N)
		c.Bands = append(c.Bands, b)
		start = end
	}
	for _, b := range c.Bands {
		v := b.Expected * (1 - b.Expected/float64(b.N))
		d := float64(b.Observed) - b.Expected
		switch {
		case v > 0:
			c.HL += d * d / v
		case d != 0:
			c.HL = math.Inf(1)
		}
	}
	c.DF = len(c.Bands) - 2
	if c.DF < 1 {
		return c, fmt.Errorf("%w: only %d distinct bands", ErrInput, len(c.Bands))
	}
	c.PValue = ChiSquareSF(c.HL, float64(c.DF))
	return c, nil
}

// ChiSquareSF is the upper tail probability P(X > x) of a chi-square
// variable with df degrees of freedom: the regularized upper incomplete
// gamma function Q(df/2, x/2).
func ChiSquareSF(x, df float64) float64 {
	if math.IsInf(x, 1) {
		return 0
	}
	if x <= 0 {
		return 1
	}
	return GammaQ(df/2, x/2)
}

// GammaQ is the regularized upper incomplete gamma function
// Q(a, x) = Γ(a, x)/Γ(a) for a > 0, x ≥ 0. Below x = a+1 it is 1 − P(a, x)
// with P from its power series
//
//	P(a, x) = x^a e^−x / Γ(a+1) · Σ_{n≥0} x^n / ((a+1)(a+2)…(a+n)),
//
// above it Q comes from the continued fraction
//
//	Q(a, x) = x^a e^−x / Γ(a) · 1/(x+1−a− 1(1−a)/(x+3−a− 2(2−a)/(x+5−a− …)))
//
// evaluated by the modified Lentz method. Both converge fast where used.
func GammaQ(a, x float64) float64 {
	switch {
	case math.IsNaN(a) || math.IsNaN(x) || a <= 0 || x < 0:
		return math.NaN()
	case x == 0:
		return 1
	case math.IsInf(x, 1):
		return 0
	}
	lga, _ := math.Lgamma(a)
	logPrefix := a*math.Log(x) - x - lga // log(x^a e^−x / Γ(a))
	const eps = 1e-16
	if x < a+1 {
		// Series for P, with the 1/a of Γ(a+1) = aΓ(a) in the first term.
		term := 1 / a
		sum := term
		for n := 1; n < 10000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*eps {
				break
			}
		}
		return 1 - sum*math.Exp(logPrefix)
	}
	// Continued fraction b0 + a1/(b1 + a2/(b2 + …)) with b_n = x+2n+1−a,
	// a_n = −n(n−a), by modified Lentz.
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	h := d
	for n := 1; n < 10000; n++ {
		an := -float64(n) * (float64(n) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		h *= delta
		if math.Abs(delta-1) < eps {
			break
		}
	}
	return math.Exp(logPrefix) * h
}
