package report

import (
	"cmp"
	"encoding/hex"
	"fmt"
	"math"
	"slices"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/models"
)

// ReferenceMinN is the smallest group that may be the most favoured.
const ReferenceMinN = 30

// Fairness is the fair-lending report (fairness.json): aggregates only;
// the group labels it was computed from are not in it.
type Fairness struct {
	Format int    `json:"format"`
	Log    LogRef `json:"log"`
	Scope  Scope  `json:"scope"`
	// GroupsSHA256 is the SHA-256 of the group file; GroupKey whether it
	// mapped application or decision ids.
	GroupsSHA256 string          `json:"groups_sha256"`
	GroupKey     string          `json:"group_key"`
	Models       []ModelFairness `json:"models"`
}

// ModelFairness is one model's fair-lending figures (all policy
// revisions together).
type ModelFairness struct {
	ModelID     string              `json:"model_id"`
	ModelSHA256 string              `json:"model_sha256"`
	Decisions   int                 `json:"decisions"`
	Attributes  []AttributeFairness `json:"attributes"`
}

// AttributeFairness is one protected attribute's figures.
type AttributeFairness struct {
	audit.AttributeFigures
	// AmongGood compares approval rates among the applicants whose
	// outcome turned out good (nil without matured outcomes).
	AmongGood *audit.AttributeFigures `json:"among_good,omitempty"`
	// Proxies screens every model feature for how closely it tracks the
	// attribute and how much of the groups' score difference it carries.
	Proxies []Proxy `json:"proxies"`
}

// Proxy is one feature's association with a protected attribute.
type Proxy struct {
	Feature string `json:"feature"`
	// CramersV is the association of the feature (in its reference bins)
	// with the group label; nil if it cannot be computed.
	CramersV *float64 `json:"cramers_v"`
	// AttributionGap is, per non-favoured group, the group's mean
	// attribution to this feature minus the favoured group's (log-odds of
	// default; positive pushes the group toward refusal). Over all
	// features the gaps sum to the difference in mean raw score.
	AttributionGap map[string]float64 `json:"attribution_gap"`
}

// ComputeFairness builds the fair-lending report of prefix p from the
// out-of-band group file g (raw is its bytes, hashed into the report).
func ComputeFairness(p *Prefix, pkgs map[string]*Model, g *audit.Groups, raw []byte, opt Options) (*Fairness, error) {
	opt.defaults()
	sum := sha256Hex(raw)
	fr := &Fairness{Format: Format, Log: LogRef{Size: p.Size, Root: hex.EncodeToString(p.Root)}, Scope: opt.scope(), GroupsSHA256: sum, GroupKey: g.Key, Models: []ModelFairness{}}
	keys, by := segments(p, opt)
	type modelKey struct{ id, sha string }
	var order []modelKey
	es := map[modelKey][]Entry{}
	for _, k := range keys {
		mk := modelKey{k.id, k.sha}
		if _, ok := es[mk]; !ok {
			order = append(order, mk)
		}
		es[mk] = append(es[mk], by[k]...)
	}
	for _, mk := range order {
		pkg, ok := pkgs[mk.sha]
		if !ok {
			return nil, fmt.Errorf("%w: %s (sha256 %s)", ErrNoModel, mk.id, mk.sha)
		}
		// Ledger order within a model, whatever the policy revisions.
		entries := es[mk]
		slices.SortFunc(entries, func(a, b Entry) int { return cmp.Compare(a.Index, b.Index) })
		mf, err := modelFairness(mk.id, mk.sha, entries, pkg, g, opt.Outcomes)
		if err != nil {
			return nil, err
		}
		fr.Models = append(fr.Models, mf)
	}
	return fr, nil
}

func modelFairness(id, sha string, es []Entry, pkg *Model, g *audit.Groups, outcomes map[string]bool) (ModelFairness, error) {
	mf := ModelFairness{ModelID: id, ModelSHA256: sha, Decisions: len(es), Attributes: []AttributeFairness{}}
	keys := make([]string, len(es))
	approved := make([]bool, len(es))
	score := make([]float64, len(es))
	for i, e := range es {
		d := e.Record.Decision
		keys[i] = e.ID
		if g.Key == "application_id" {
			keys[i] = d.ApplicationID
		}
		approved[i] = d.Decision == "approve"
		score[i] = d.Score
	}
	for a, name := range g.Attributes {
		labels := g.Column(a, keys)
		af, err := audit.CompareGroups(name, labels, approved, score, ReferenceMinN)
		if err != nil {
			return mf, fmt.Errorf("model %s: %w", id, err)
		}
		out := AttributeFairness{AttributeFigures: af, Proxies: []Proxy{}}
		if good := goodOnly(es, labels, outcomes); good != nil {
			if f, err := audit.CompareGroups(name, good, approved, score, ReferenceMinN); err == nil {
				out.AmongGood = &f
			}
		}
		fav := ""
		for _, gf := range af.Groups {
			if gf.Favoured {
				fav = gf.Group
			}
		}
		for i := range pkg.Manifest.Features {
			out.Proxies = append(out.Proxies, proxy(es, labels, &pkg.Manifest.Features[i], pkg.Distribution, fav))
		}
		mf.Attributes = append(mf.Attributes, out)
	}
	return mf, nil
}

// goodOnly blanks the labels of decisions without a good outcome; nil if
// no decision has one.
func goodOnly(es []Entry, labels []string, outcomes map[string]bool) []string {
	out := make([]string, len(labels))
	found := false
	for i, e := range es {
		if bad, ok := outcomes[e.ID]; ok && !bad {
			out[i] = labels[i]
			found = found || labels[i] != ""
		}
	}
	if !found {
		return nil
	}
	return out
}

func proxy(es []Entry, labels []string, f *models.Feature, dist *models.Distribution, fav string) Proxy {
	p := Proxy{Feature: f.Name, AttributionGap: map[string]float64{}}
	if col, ok := FeatureColumn(es, f); ok && dist != nil {
		h := dist.Features[f.Name]
		groups := []string{}
		for _, l := range labels {
			if l != "" && !slices.Contains(groups, l) {
				groups = append(groups, l)
			}
		}
		slices.Sort(groups)
		table := make([][]int, len(groups))
		for i := range table {
			table[i] = make([]int, len(h.Counts)+1)
		}
		for i, v := range col {
			if labels[i] == "" {
				continue
			}
			table[slices.Index(groups, labels[i])][Bin(h, f.Type == models.Categorical, v)]++
		}
		if v, err := audit.CramersV(table); err == nil {
			p.CramersV = &v
		}
	}
	sums, counts := map[string]float64{}, map[string]int{}
	for i, e := range es {
		a, ok := e.Record.Decision.Attributions[f.Name]
		if labels[i] == "" || !ok || math.IsNaN(a) {
			continue
		}
		sums[labels[i]] += a
		counts[labels[i]]++
	}
	if counts[fav] == 0 {
		return p
	}
	ref := sums[fav] / float64(counts[fav])
	for g, n := range counts {
		if g != fav {
			p.AttributionGap[g] = sums[g]/float64(n) - ref
		}
	}
	return p
}
