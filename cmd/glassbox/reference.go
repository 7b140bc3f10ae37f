package main

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
)

const referenceUsage = "glassbox models reference --model DIR --data CSV --method cutoff|approved [--policy DIR]"

// cutoffShare is the share of the approved applicants, those with the
// highest probability of default (the scores just above the approval
// cut-off), that form the cutoff method's population; at least
// models.MaxReferenceRows of them when there are that many.
const cutoffShare = 0.2

// runModelsReference builds (or updates) a package's reference.json: the
// data set is scored through the real model and decided by the real
// policy, the approved applicants chosen as the method says, and their
// reference values and reference set written for that method. Other
// methods already in the file are kept.
func runModelsReference(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	flags := newFlags("models reference", stderr)
	dir := flags.String("model", "", "model package folder (reference.json is written there)")
	data := flags.String("data", "", "CSV data set (header with the model's feature names; categories as integer codes)")
	method := flags.String("method", "", `reference method: "cutoff" or "approved"`)
	policyDir := flags.String("policy", "", "policy folder (default: the embedded policies)")
	if err := parseFlags(flags, args, 0); err != nil {
		return err
	}
	if *dir == "" || *data == "" || (*method != models.MethodCutoff && *method != models.MethodApproved) {
		return fmt.Errorf("%w: %s", errUsage, referenceUsage)
	}
	m, raw, rows, err := loadPackageData(*dir, *data)
	if err != nil {
		return err
	}
	eng, err := policy.New(ctx, *policyDir)
	if err != nil {
		return err
	}
	meth, err := buildReference(ctx, eng, m, rows, *method)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(raw)
	meth.DataSHA256 = hex.EncodeToString(sum[:])

	ref := &models.Reference{ModelID: m.Manifest.ID, ModelSHA256: m.Manifest.ModelSHA256, Methods: map[string]*models.ReferenceMethod{}}
	path := filepath.Join(*dir, models.ReferenceFile)
	switch old, err := os.ReadFile(path); {
	case err == nil:
		prev, err := models.ParseReference(old, m.Manifest)
		if err != nil {
			return fmt.Errorf("existing %s: %w", path, err)
		}
		ref.Methods = prev.Methods
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	ref.Methods[*method] = meth.ReferenceMethod
	out, err := json.MarshalIndent(ref, "", "  ")
	if err != nil {
		return err
	}
	out = append(out, '\n')
	// Check what is written reads back, before replacing the file.
	if _, err := models.ParseReference(out, m.Manifest); err != nil {
		return fmt.Errorf("built reference does not validate: %w", err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: method %s: %d of %d applicants approved, population %d, %d reference rows\n",
		path, *method, meth.approved, len(rows), meth.Population, len(meth.Rows))
	return nil
}

// builtMethod is a method with what the report says about it.
type builtMethod struct {
	*models.ReferenceMethod
	approved int
}

// buildReference decides every row and summarises the approved ones the
// method selects.
func buildReference(ctx context.Context, pol *policy.Engine, m *scoring.Model, rows [][]float64, method string) (builtMethod, error) {
	type scored struct {
		x  []float64
		pd float64
	}
	var approved []scored
	for i, x := range rows {
		p := m.Predict(x)
		out, err := pol.Decide(ctx, policy.DecisionInput{
			ModelID: m.Manifest.ID, ProbabilityOfDefault: p.PD, Score: p.Score, Features: m.FeatureValues(x),
		})
		if err != nil {
			if _, ok := policy.AsViolation(err); ok {
				continue // not a decision policy would issue
			}
			return builtMethod{}, fmt.Errorf("row %d: %w", i+1, err)
		}
		if out.Decision == policy.Approve {
			approved = append(approved, scored{x, p.PD})
		}
	}
	if len(approved) == 0 {
		return builtMethod{}, errors.New("no applicant in the data set is approved: there is no reference population")
	}
	// Highest probability of default first: nearest the cut-off. Ties keep
	// data order, so the result is reproducible.
	slices.SortStableFunc(approved, func(a, b scored) int { return cmp.Compare(b.pd, a.pd) })
	pop := approved
	desc := "all approved applicants of the data set (comment 9(b)(2)-5: the average of all applicants scored)"
	if method == models.MethodCutoff {
		n := min(len(approved), max(models.MaxReferenceRows, int(math.Ceil(cutoffShare*float64(len(approved))))))
		pop = approved[:n]
		desc = fmt.Sprintf("the %d approved applicants of the data set with the highest probability of default, scores just above the approval cut-off (comment 9(b)(2)-5: applicants at or slightly above the minimum passing score)", n)
	}
	man := m.Manifest
	meth := &models.ReferenceMethod{Description: desc, Population: len(pop), Values: map[string]any{}}
	for i := range man.Features {
		f := &man.Features[i]
		var vals []float64
		for _, s := range pop {
			if !math.IsNaN(s.x[i]) {
				vals = append(vals, s.x[i])
			}
		}
		if len(vals) == 0 {
			return builtMethod{}, fmt.Errorf("feature %q is missing for every applicant of the population", f.Name)
		}
		meth.Values[f.Name] = f.Decode(typical(f, vals))
	}
	// The reference set: evenly spaced through the population in score
	// order, so it spans it.
	k := min(len(pop), models.MaxReferenceRows)
	for j := range k {
		x := pop[j*len(pop)/k].x
		row := make(map[string]any, len(man.Features))
		for i := range man.Features {
			row[man.Features[i].Name] = man.Features[i].Decode(x[i])
		}
		meth.Rows = append(meth.Rows, row)
	}
	return builtMethod{ReferenceMethod: meth, approved: len(approved)}, nil
}

// typical is the median of a number (the mean of the middle two for an
// even count) or the most frequent level of a category (the first level
// among equals).
func typical(f *models.Feature, vals []float64) float64 {
	if f.Type == models.Categorical {
		counts := map[float64]int{}
		for _, v := range vals {
			counts[v]++
		}
		best, bestN := 0.0, -1
		for _, v := range slices.Sorted(maps.Keys(counts)) {
			if counts[v] > bestN {
				best, bestN = v, counts[v]
			}
		}
		return best
	}
	s := slices.Clone(vals)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
