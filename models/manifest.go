// Package models holds glassbox's model packages and the code that reads them.
//
// A model package is a folder with a LightGBM text model (model.txt) and a
// manifest (manifest.json) that describes every feature, the model's
// provenance, its approval and its score scale. The default package is
// embedded in the binary so that glassbox runs with no files around it.
package models

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/glassbox-ledger/glassbox/internal/ijson"
)

// ManifestFile and ModelFile are the fixed file names inside a package folder.
const (
	ManifestFile = "manifest.json"
	ModelFile    = "model.txt"
)

// Feature types.
const (
	Numeric     = "numeric"
	Categorical = "categorical"
)

// Manifest describes one model package. Its JSON form is documented in
// docs/model-packages.md.
type Manifest struct {
	ID          string `json:"id"`
	Version     string `json:"version"`
	Description string `json:"description"`
	// Objective is the LightGBM objective; glassbox serves "binary" only,
	// where the model's raw score is the log-odds of default.
	Objective   string     `json:"objective"`
	ModelSHA256 string     `json:"model_sha256"`
	Features    []Feature  `json:"features"`
	Provenance  Provenance `json:"provenance"`
	Approval    Approval   `json:"approval"`
	ScoreScale  ScoreScale `json:"score_scale"`
	// Constraints relate features that recourse may change together
	// (Amount <= Price): a suggestion must satisfy every one of them.
	Constraints []Constraint `json:"constraints,omitempty"`
}

// FeatureRecourse is a feature's recourse configuration.
type FeatureRecourse struct {
	// Actionable says the applicant can change the value. Features that are
	// immutable or describe the past (age, seniority, credit records) are
	// not actionable.
	Actionable bool `json:"actionable"`
	// Direction is "increase", "decrease" or "any" (default): the ways a
	// suggestion may move the value.
	Direction string `json:"direction,omitempty"`
	// Min and Max bound suggested values (inclusive). They come from the
	// training data, so that no suggestion leaves the observed range.
	// Required for actionable numeric features.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Step is the granularity in which suggested bounds are written
	// (amounts in hundreds, terms in months) and the floor of the cost's
	// denominator; 0 means (Max-Min)/100.
	Step float64 `json:"step,omitempty"`
	// MaxRelativeChange caps a suggested change relative to the current
	// value (0.5: at most 50% up or down); 0 means no cap.
	MaxRelativeChange float64 `json:"max_relative_change,omitempty"`
}

// Constraint is a cross-feature constraint: Feature <= AtMost.
type Constraint struct {
	Feature string `json:"feature"`
	AtMost  string `json:"at_most"`
}

// Feature describes one model input, in model order.
type Feature struct {
	Name string `json:"name"`
	// Meaning is the feature's declared meaning in a controlled vocabulary
	// (e.g. "income", "marital_status", "age"); governance matches
	// prohibited bases on it as well as on the name.
	Meaning     string   `json:"meaning"`
	Type        string   `json:"type"`
	Levels      []string `json:"levels,omitempty"`
	Unit        string   `json:"unit,omitempty"`
	Description string   `json:"description"`
	// Min and Max bound valid numeric values (inclusive). Unused for
	// categorical features.
	Min            *float64 `json:"min,omitempty"`
	Max            *float64 `json:"max,omitempty"`
	MissingAllowed bool     `json:"missing_allowed"`
	// Monotone is the declared direction of the effect of the feature on
	// the probability of default: +1 raises it, -1 lowers it, 0 none
	// declared. It mirrors LightGBM's monotone_constraints.
	Monotone int `json:"monotone"`
	// Recourse says whether and how recourse may suggest changing this
	// feature; nil means never (immutable or historical features).
	Recourse *FeatureRecourse `json:"recourse,omitempty"`
	Reason   Reason           `json:"reason"`
	// Justification is required by policy for features that are restricted
	// bases (age): the legal basis under which the feature is used.
	Justification string `json:"justification,omitempty"`
	// Source and Display are described in display.go.
	Source  string  `json:"source,omitempty"`
	Display Display `json:"display,omitempty"`
}

// Reason is the adverse-action reason code tied to a feature.
type Reason struct {
	Code string `json:"code"`
	// Text is the feature's general wording, shown where no direction
	// applies.
	Text string `json:"text"`
	// Texts are the approved texts per direction (Direction*): the change
	// of the feature that would lower the risk. A feature is a reason only
	// in a direction that has a text here; without texts a feature with a
	// declared monotone direction has Text in that one direction.
	Texts map[string]string `json:"texts,omitempty"`
}

// Directions of a reason: the change of the feature that lowers the risk.
const (
	DirIncrease = "increase"
	DirDecrease = "decrease"
	// DirOther is a different level of a categorical feature.
	DirOther = "other"
	// DirProvide is a missing value: providing it lowers the risk.
	DirProvide = "provide"
)

// Directions lists the directions a reason text may be given for.
func Directions() []string { return []string{DirIncrease, DirDecrease, DirOther, DirProvide} }

// TextFor returns f's approved reason text for direction dir, or "" if f
// may not be a reason in that direction.
func (f *Feature) TextFor(dir string) string {
	if len(f.Reason.Texts) > 0 {
		return f.Reason.Texts[dir]
	}
	// A manifest without per-direction texts: the one text says what a
	// declared monotone direction implies, and nothing else.
	switch {
	case f.Type == Numeric && f.Monotone == 1 && dir == DirDecrease,
		f.Type == Numeric && f.Monotone == -1 && dir == DirIncrease:
		return f.Reason.Text
	}
	return ""
}

// Provenance records where a model came from.
type Provenance struct {
	Dataset        string  `json:"dataset"`
	DatasetSource  string  `json:"dataset_source"`
	DatasetLicense string  `json:"dataset_license"`
	TrainSHA256    string  `json:"train_sha256"`
	TestSHA256     string  `json:"test_sha256"`
	TrainRows      int     `json:"train_rows"`
	TestRows       int     `json:"test_rows"`
	Trainer        string  `json:"trainer"`
	TrainerVersion string  `json:"trainer_version"`
	TrainingConfig string  `json:"training_config"`
	TestAUC        float64 `json:"test_auc"`
}

// Approval is the model-risk sign-off of a package.
type Approval struct {
	Status   string `json:"status"` // "approved", "pending" or "rejected"
	Approver string `json:"approver"`
	Date     string `json:"date"`
}

// ScoreScale maps the probability of default to points: BasePoints at
// good:bad odds BaseOdds, PDO points to double the odds, clamped to
// [Min, Max]. Higher is safer.
type ScoreScale struct {
	BasePoints float64 `json:"base_points"`
	BaseOdds   float64 `json:"base_odds"`
	PDO        float64 `json:"pdo"`
	Min        float64 `json:"min"`
	Max        float64 `json:"max"`
}

// DefaultScoreScale is 600 points at 50:1, 20 points to double, 300–850.
func DefaultScoreScale() ScoreScale {
	return ScoreScale{BasePoints: 600, BaseOdds: 50, PDO: 20, Min: 300, Max: 850}
}

// Points converts a raw log-odds of default to the score scale.
func (s ScoreScale) Points(rawLogOdds float64) float64 {
	// good:bad odds = exp(-raw); points = base + pdo*log2(odds/baseOdds).
	p := s.BasePoints + s.PDO*(-rawLogOdds-math.Log(s.BaseOdds))/math.Ln2
	return math.Max(s.Min, math.Min(s.Max, p))
}

// FeatureIndex returns the position of the named feature, or -1.
func (m *Manifest) FeatureIndex(name string) int {
	for i := range m.Features {
		if m.Features[i].Name == name {
			return i
		}
	}
	return -1
}

// ParseManifest decodes and checks a manifest.
func ParseManifest(data []byte) (*Manifest, error) {
	// The manifest's names and levels go into the ledger's model_admitted
	// record; encoding/json would turn a lone surrogate into U+FFFD.
	if at := ijson.LoneSurrogate(data); at >= 0 {
		return nil, fmt.Errorf("manifest: %w", ijson.Error(data, at))
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.ScoreScale == (ScoreScale{}) {
		m.ScoreScale = DefaultScoreScale()
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks the manifest's internal consistency.
func (m *Manifest) Validate() error {
	var errs []error
	if m.ID == "" {
		errs = append(errs, errors.New("id is empty"))
	}
	if len(m.ModelSHA256) != 64 {
		errs = append(errs, errors.New("model_sha256 must be 64 hex characters"))
	}
	if len(m.Features) == 0 {
		errs = append(errs, errors.New("no features"))
	}
	seen := map[string]bool{}
	for i, f := range m.Features {
		switch {
		case f.Name == "":
			errs = append(errs, fmt.Errorf("feature %d: empty name", i))
		case seen[f.Name]:
			errs = append(errs, fmt.Errorf("feature %q: duplicate", f.Name))
		}
		seen[f.Name] = true
		switch f.Type {
		case Numeric:
			if f.Min == nil || f.Max == nil || *f.Min > *f.Max {
				errs = append(errs, fmt.Errorf("feature %q: numeric features need min <= max", f.Name))
			}
		case Categorical:
			if len(f.Levels) == 0 {
				errs = append(errs, fmt.Errorf("feature %q: categorical features need levels", f.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("feature %q: type %q is neither numeric nor categorical", f.Name, f.Type))
		}
		if f.Monotone < -1 || f.Monotone > 1 {
			errs = append(errs, fmt.Errorf("feature %q: monotone must be -1, 0 or 1", f.Name))
		}
		if err := f.Recourse.validate(&f); err != nil {
			errs = append(errs, fmt.Errorf("feature %q: recourse: %w", f.Name, err))
		}
		if f.Reason.Code == "" || f.Reason.Text == "" {
			errs = append(errs, fmt.Errorf("feature %q: reason code and text are required", f.Name))
		}
		for dir, text := range f.Reason.Texts {
			if !slices.Contains(Directions(), dir) || strings.TrimSpace(text) == "" {
				errs = append(errs, fmt.Errorf("feature %q: reason texts: direction %q must be one of %v with a text", f.Name, dir, Directions()))
			}
		}
		errs = append(errs, f.validateDisplay()...)
	}
	for _, c := range m.Constraints {
		for _, name := range []string{c.Feature, c.AtMost} {
			if i := m.FeatureIndex(name); i < 0 || m.Features[i].Type != Numeric {
				errs = append(errs, fmt.Errorf("constraint %s <= %s: %q is not a numeric feature", c.Feature, c.AtMost, name))
			}
		}
	}
	s := m.ScoreScale
	if s.BaseOdds <= 0 || s.PDO <= 0 || s.Min >= s.Max {
		errs = append(errs, errors.New("score_scale: base_odds and pdo must be positive and min < max"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("manifest %q: %w", m.ID, errors.Join(errs...))
	}
	return nil
}

func (r *FeatureRecourse) validate(f *Feature) error {
	if r == nil {
		return nil
	}
	switch r.Direction {
	case "", "increase", "decrease", "any":
	default:
		return fmt.Errorf("direction %q is none of increase, decrease, any", r.Direction)
	}
	if r.Step < 0 || r.MaxRelativeChange < 0 {
		return errors.New("step and max_relative_change may not be negative")
	}
	if !r.Actionable || f.Type != Numeric {
		return nil
	}
	if r.Min == nil || r.Max == nil || *r.Min > *r.Max {
		return errors.New("an actionable numeric feature needs min <= max")
	}
	if f.Min != nil && f.Max != nil && (*r.Min < *f.Min || *r.Max > *f.Max) {
		return fmt.Errorf("[%v, %v] is outside the valid range [%v, %v]", *r.Min, *r.Max, *f.Min, *f.Max)
	}
	return nil
}
