package audit

import (
	"fmt"
	"slices"
)

// GroupFigures is what one group of a protected attribute looks like
// against the most favoured group.
type GroupFigures struct {
	Impact
	// ScoreMean is the group's mean score; ScoreSMD the standardized mean
	// difference of its scores against the favoured group's (nil for the
	// favoured group itself, or where either side is too small).
	ScoreMean float64  `json:"score_mean"`
	ScoreSMD  *float64 `json:"score_smd"`
}

// AttributeFigures compares the groups of one protected attribute.
type AttributeFigures struct {
	Attribute string         `json:"attribute"`
	Groups    []GroupFigures `json:"groups"`
	// ReferenceMinN is the smallest group that may be the most favoured.
	ReferenceMinN int `json:"reference_min_n"`
	// Unlabelled counts the decisions the group file gives no label for
	// this attribute; they are left out of every figure.
	Unlabelled int `json:"unlabelled"`
}

// CompareGroups computes, per group of one attribute, the approval rate,
// the adverse impact ratio against the most favoured group (95% Katz
// interval; the favoured group chosen among groups of at least minRef
// decisions) and the standardized mean difference of scores. labels[i] is
// decision i's group ("" for none), approved[i] whether it was approved
// and score[i] its score (higher is safer).
func CompareGroups(attribute string, labels []string, approved []bool, score []float64, minRef int) (AttributeFigures, error) {
	if len(labels) != len(approved) || len(labels) != len(score) {
		return AttributeFigures{}, fmt.Errorf("%w: %d labels, %d outcomes, %d scores", ErrInput, len(labels), len(approved), len(score))
	}
	af := AttributeFigures{Attribute: attribute, ReferenceMinN: minRef}
	byGroup := map[string]*GroupRate{}
	scores := map[string][]float64{}
	for i, l := range labels {
		if l == "" {
			af.Unlabelled++
			continue
		}
		g, ok := byGroup[l]
		if !ok {
			g = &GroupRate{Group: l}
			byGroup[l] = g
		}
		g.N++
		if approved[i] {
			g.Approved++
		}
		scores[l] = append(scores[l], score[i])
	}
	rates := make([]GroupRate, 0, len(byGroup))
	for _, g := range byGroup {
		rates = append(rates, *g)
	}
	slices.SortFunc(rates, func(a, b GroupRate) int {
		if a.Group < b.Group {
			return -1
		}
		return 1
	})
	impacts, err := AdverseImpact(rates, minRef, Z95)
	if err != nil {
		return af, fmt.Errorf("attribute %q: %w", attribute, err)
	}
	var fav string
	for _, im := range impacts {
		if im.Favoured {
			fav = im.Group
		}
	}
	for _, im := range impacts {
		gf := GroupFigures{Impact: im}
		gf.ScoreMean, _ = MeanSD(scores[im.Group])
		if !im.Favoured {
			if d, err := SMD(scores[im.Group], scores[fav]); err == nil {
				gf.ScoreSMD = &d
			}
		}
		af.Groups = append(af.Groups, gf)
	}
	return af, nil
}

// Lowest returns the non-favoured group with the lowest adverse impact
// ratio among those with at least minN decisions; ok is false if there is
// none.
func (af AttributeFigures) Lowest(minN int) (g GroupFigures, ok bool) {
	for _, x := range af.Groups {
		if x.Favoured || x.N < minN {
			continue
		}
		if !ok || x.Ratio < g.Ratio {
			g, ok = x, true
		}
	}
	return g, ok
}
