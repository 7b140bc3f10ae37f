package scoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/glassbox-ledger/glassbox/models"
)

// Problem is one thing wrong with an application, tied to its field.
type Problem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in an application.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Field + ": " + p.Message
	}
	return "invalid application: " + strings.Join(parts, "; ")
}

// ErrNoManifest means a bare model file cannot validate named features.
var ErrNoManifest = errors.New("model has no manifest to validate applications against")

// Vectorize validates an application's features against the manifest and
// returns the model's feature vector (NaN for missing). Values are JSON
// decoded: float64 or json.Number for numbers, string for categorical
// levels, nil for missing. Every problem is reported, not just the first.
func (m *Model) Vectorize(features map[string]any) ([]float64, error) {
	if m.Manifest == nil {
		return nil, ErrNoManifest
	}
	x := make([]float64, len(m.Manifest.Features))
	var probs []Problem
	for name := range features {
		if m.Manifest.FeatureIndex(name) < 0 {
			probs = append(probs, Problem{Field: name, Message: "unknown feature"})
		}
	}
	for i := range m.Manifest.Features {
		f := &m.Manifest.Features[i]
		v, present := features[f.Name]
		val, msg := featureValue(f, v, present)
		if msg != "" {
			probs = append(probs, Problem{Field: f.Name, Message: msg})
		}
		x[i] = val
	}
	if len(probs) > 0 {
		sort.SliceStable(probs, func(i, j int) bool { return probs[i].Field < probs[j].Field })
		return nil, &ValidationError{Problems: probs}
	}
	return x, nil
}

// featureValue converts one JSON value; msg is empty when it is valid.
func featureValue(f *models.Feature, v any, present bool) (val float64, msg string) {
	if !present || v == nil {
		if f.MissingAllowed {
			return math.NaN(), ""
		}
		return 0, "required"
	}
	if f.Type == models.Categorical {
		s, ok := v.(string)
		if !ok {
			return 0, fmt.Sprintf("must be one of the levels %s", strings.Join(f.Levels, ", "))
		}
		for i, l := range f.Levels {
			if l == s {
				return float64(i), ""
			}
		}
		return 0, fmt.Sprintf("unknown level %q; allowed: %s", s, strings.Join(f.Levels, ", "))
	}
	var x float64
	switch n := v.(type) {
	case float64:
		x = n
	case json.Number:
		var err error
		if x, err = strconv.ParseFloat(string(n), 64); err != nil {
			return 0, "number out of range"
		}
	case int:
		x = float64(n)
	default:
		return 0, "must be a number"
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, "must be a finite number"
	}
	if x < *f.Min || x > *f.Max {
		return 0, fmt.Sprintf("%s is outside the valid range %s to %s", fmtNum(x), fmtNum(*f.Min), fmtNum(*f.Max))
	}
	return x, ""
}

func fmtNum(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }

// FeatureValues turns a validated vector back into the application's
// feature map (level names for categories, nil for missing), for records.
func (m *Model) FeatureValues(x []float64) map[string]any {
	out := make(map[string]any, len(x))
	for i, f := range m.Manifest.Features {
		switch {
		case math.IsNaN(x[i]):
			out[f.Name] = nil
		case f.Type == models.Categorical:
			out[f.Name] = f.Levels[int(x[i])]
		default:
			out[f.Name] = x[i]
		}
	}
	return out
}
