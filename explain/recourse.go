package explain

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// Approver says whether a (modified) application would be approved. The
// api layer backs it with the real policy, so every suggestion is checked
// through the same scoring and policy path as a real decision.
type Approver interface {
	Approves(ctx context.Context, x []float64, p scoring.Prediction) (bool, error)
}

// Change is one feature change of a counterfactual.
type Change struct {
	Feature string  `json:"feature"`
	From    float64 `json:"from"`
	To      float64 `json:"to"`
	// Direction is "decrease" or "increase": the suggestion holds for To
	// and anything further in that direction that the model treats alike.
	Direction string `json:"direction"`
}

// Counterfactual is a verified set of changes that turns the decision into
// an approval.
type Counterfactual struct {
	Changes []Change `json:"changes"`
	// Cost is the sum over changes of |To-From| in units of each feature's
	// recourse step (manifest recourse_step, or its range / 100).
	Cost                 float64 `json:"cost"`
	ProbabilityOfDefault float64 `json:"probability_of_default"`
	Score                float64 `json:"score"`
	Text                 string  `json:"text"`
}

// RecourseOptions bound the search.
type RecourseOptions struct {
	MaxAlternatives int // default 3
	MaxChanges      int // 1 or 2; default 2
	// Candidates is how many candidate values per feature, nearest first,
	// enter two-feature combinations (default 24).
	Candidates int
}

// Recourse finds the smallest changes to applicant-changeable features
// that make the approver approve the application x.
//
// The model is piecewise constant between its split thresholds, so the
// only values worth trying for a feature are those just across each
// threshold, in the direction the manifest allows and within the valid
// range. Each candidate is rounded to the feature's recourse step in the
// favourable direction, so the text can say "1,200 or less" rather than
// "1,299.0000000000002 or less", and is then re-scored. Single changes are
// preferred to pairs, cheaper to dearer; at most one alternative per set
// of features is returned. Features whose value is missing, immutable
// features and features not marked changeable are never touched. An empty
// result means no allowed change of at most MaxChanges features succeeds.
func Recourse(ctx context.Context, m *scoring.Model, x []float64, ap Approver, o RecourseOptions) ([]Counterfactual, error) {
	if m.Manifest == nil {
		return nil, scoring.ErrNoManifest
	}
	if o.MaxAlternatives <= 0 {
		o.MaxAlternatives = 3
	}
	if o.MaxChanges <= 0 || o.MaxChanges > 2 {
		o.MaxChanges = 2
	}
	if o.Candidates <= 0 {
		o.Candidates = 24
	}
	cands := candidates(m, x)
	var found []Counterfactual
	try := func(changes []Change) (bool, error) {
		y := slices.Clone(x)
		for _, c := range changes {
			y[m.Manifest.FeatureIndex(c.Feature)] = c.To
		}
		p := m.Predict(y)
		ok, err := ap.Approves(ctx, y, p)
		if err != nil || !ok {
			return false, err
		}
		found = append(found, counterfactual(m, changes, p))
		return true, nil
	}
	// One feature: the cheapest approving value of each feature.
	for _, fc := range cands {
		for _, c := range fc {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			ok, err := try([]Change{c})
			if err != nil {
				return nil, err
			}
			if ok {
				break
			}
		}
	}
	if o.MaxChanges >= 2 {
		single := map[string]bool{}
		for _, f := range found {
			single[f.Changes[0].Feature] = true
		}
		for i := range cands {
			for j := i + 1; j < len(cands); j++ {
				a, b := cands[i], cands[j]
				if len(a) == 0 || len(b) == 0 || single[a[0].Feature] || single[b[0].Feature] {
					// A pair containing a feature that suffices alone is
					// never the smallest change.
					continue
				}
				pairs := make([][]Change, 0, o.Candidates*o.Candidates)
				for _, ca := range a[:min(len(a), o.Candidates)] {
					for _, cb := range b[:min(len(b), o.Candidates)] {
						pairs = append(pairs, []Change{ca, cb})
					}
				}
				sort.SliceStable(pairs, func(p, q int) bool { return changeCost(m, pairs[p]) < changeCost(m, pairs[q]) })
				for _, pc := range pairs {
					if err := ctx.Err(); err != nil {
						return nil, err
					}
					ok, err := try(pc)
					if err != nil {
						return nil, err
					}
					if ok {
						break
					}
				}
			}
		}
	}
	sort.SliceStable(found, func(i, j int) bool {
		if len(found[i].Changes) != len(found[j].Changes) {
			return len(found[i].Changes) < len(found[j].Changes)
		}
		return found[i].Cost < found[j].Cost
	})
	if len(found) > o.MaxAlternatives {
		found = found[:o.MaxAlternatives]
	}
	return found, nil
}

// candidates lists, per changeable feature, the values just across each of
// the model's thresholds in an allowed direction, nearest first.
func candidates(m *scoring.Model, x []float64) [][]Change {
	thresholds := make([][]float64, len(x))
	for ti := range m.Ensemble.Trees {
		t := &m.Ensemble.Trees[ti]
		for n := 0; n < t.NumLeaves-1; n++ {
			if !t.IsCategorical(n) {
				f := t.SplitFeature[n]
				thresholds[f] = append(thresholds[f], t.Threshold[n])
			}
		}
	}
	var out [][]Change
	for i := range m.Manifest.Features {
		f := &m.Manifest.Features[i]
		if !f.Changeable || f.Type != models.Numeric || math.IsNaN(x[i]) || len(thresholds[i]) == 0 {
			continue
		}
		step := stepOf(f)
		seen := map[float64]bool{}
		var cs []Change
		for _, th := range thresholds[i] {
			var to float64
			var dir string
			switch {
			case th < x[i] && f.ChangeDirection != "increase":
				// Left of the split is value <= th.
				to, dir = math.Floor(th/step)*step, "decrease"
			case th >= x[i] && f.ChangeDirection != "decrease":
				to, dir = (math.Floor(th/step)+1)*step, "increase"
			default:
				continue
			}
			if math.IsInf(to, 0) || to < *f.Min || to > *f.Max || to == x[i] || seen[to] {
				continue
			}
			seen[to] = true
			cs = append(cs, Change{Feature: f.Name, From: x[i], To: to, Direction: dir})
		}
		sort.Slice(cs, func(a, b int) bool { return math.Abs(cs[a].To-x[i]) < math.Abs(cs[b].To-x[i]) })
		if len(cs) > 0 {
			out = append(out, cs)
		}
	}
	return out
}

func stepOf(f *models.Feature) float64 {
	if f.RecourseStep > 0 {
		return f.RecourseStep
	}
	return (*f.Max - *f.Min) / 100
}

func changeCost(m *scoring.Model, cs []Change) float64 {
	var c float64
	for _, ch := range cs {
		f := &m.Manifest.Features[m.Manifest.FeatureIndex(ch.Feature)]
		c += math.Abs(ch.To-ch.From) / stepOf(f)
	}
	return c
}

func counterfactual(m *scoring.Model, cs []Change, p scoring.Prediction) Counterfactual {
	parts := make([]string, len(cs))
	for i, c := range cs {
		f := &m.Manifest.Features[m.Manifest.FeatureIndex(c.Feature)]
		bound := "or less"
		if c.Direction == "increase" {
			bound = "or more"
		}
		unit := ""
		if f.Unit != "" {
			unit = " " + f.Unit
		}
		parts[i] = fmt.Sprintf("%s were %s%s %s", lowerFirst(f.Description), formatAmount(c.To), unit, bound)
	}
	return Counterfactual{
		Changes:              cs,
		Cost:                 changeCost(m, cs),
		ProbabilityOfDefault: p.PD,
		Score:                p.Score,
		Text:                 "If " + strings.Join(parts, " and ") + ", the application would be approved.",
	}
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	return "the " + strings.ToLower(s[:1]) + s[1:]
}

// formatAmount writes 1200 as "1,200" and keeps fractions short.
func formatAmount(v float64) string {
	s := strconv.FormatFloat(math.Abs(v), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if frac != "" {
		b.WriteString("." + frac)
	}
	return b.String()
}
