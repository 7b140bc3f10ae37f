package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// ReferenceFile is the optional file of a package that describes the
// reference applicants reasons are measured against.
const ReferenceFile = "reference.json"

// Reference methods: the two methods of Regulation B's comment 9(b)(2)-5.
const (
	// MethodCutoff measures against the approved applicants whose scores
	// are just above the approval cut-off.
	MethodCutoff = "cutoff"
	// MethodApproved measures against all approved applicants.
	MethodApproved = "approved"
)

// MaxReferenceRows bounds a method's reference set.
const MaxReferenceRows = 64

// Reference is a package's reference.json: per method, the profile of the
// reference applicants. Its JSON form is documented in
// docs/explanations.md.
type Reference struct {
	ModelID     string                      `json:"model_id"`
	ModelSHA256 string                      `json:"model_sha256"`
	Methods     map[string]*ReferenceMethod `json:"methods"`
}

// ReferenceMethod is the reference population of one method.
type ReferenceMethod struct {
	// Description says how the population was chosen, in words.
	Description string `json:"description"`
	// DataSHA256 is the SHA-256 of the data set it was built from.
	DataSHA256 string `json:"data_sha256"`
	// Population is the number of applicants in the reference population;
	// Values and Rows summarise them.
	Population int `json:"population"`
	// Values is, per feature, the reference value: the median of a number,
	// the most frequent level of a category.
	Values map[string]any `json:"values"`
	// Rows is the reference set for baseline Shapley, at most
	// MaxReferenceRows rows of feature values (numbers, level names, null
	// for missing).
	Rows []map[string]any `json:"rows"`
}

// ParseReference decodes a reference.json and checks it against manifest m.
func ParseReference(data []byte, m *Manifest) (*Reference, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	dec.UseNumber()
	var r Reference
	if err := dec.Decode(&r); err != nil {
		return nil, fmt.Errorf("reference: %w", err)
	}
	// Numbers were read as json.Number so that nothing is rounded before
	// the check; they are float64 from here on.
	for _, meth := range r.Methods {
		if meth == nil {
			continue
		}
		normalise(meth.Values)
		for _, row := range meth.Rows {
			normalise(row)
		}
	}
	if err := r.Validate(m); err != nil {
		return nil, err
	}
	return &r, nil
}

func normalise(values map[string]any) {
	for k, v := range values {
		if n, ok := v.(json.Number); ok {
			if f, err := n.Float64(); err == nil {
				values[k] = f
			}
		}
	}
}

// Validate checks that r belongs to the model m describes and that every
// value is one the model accepts.
func (r *Reference) Validate(m *Manifest) error {
	var errs []error
	if r.ModelID != m.ID {
		errs = append(errs, fmt.Errorf("model_id %q is not the manifest's %q", r.ModelID, m.ID))
	}
	if r.ModelSHA256 != m.ModelSHA256 {
		errs = append(errs, fmt.Errorf("model_sha256 %q is not the manifest's", r.ModelSHA256))
	}
	if len(r.Methods) == 0 {
		errs = append(errs, errors.New("no methods"))
	}
	for _, name := range slices.Sorted(maps.Keys(r.Methods)) {
		meth := r.Methods[name]
		if name != MethodCutoff && name != MethodApproved {
			errs = append(errs, fmt.Errorf("method %q is neither %q nor %q", name, MethodCutoff, MethodApproved))
			continue
		}
		if meth == nil {
			errs = append(errs, fmt.Errorf("method %q: null", name))
			continue
		}
		if _, err := meth.Point(m); err != nil {
			errs = append(errs, fmt.Errorf("method %q: %w", name, err))
		}
		if len(meth.Rows) == 0 || len(meth.Rows) > MaxReferenceRows {
			errs = append(errs, fmt.Errorf("method %q: %d rows, need 1 to %d", name, len(meth.Rows), MaxReferenceRows))
		}
		if _, err := meth.Vectors(m); err != nil {
			errs = append(errs, fmt.Errorf("method %q: %w", name, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("reference for %q: %w", m.ID, errors.Join(errs...))
	}
	return nil
}

// Point returns the reference values in model order, in the model's
// encoding (a category as its level index). Every feature needs a value:
// a reason compares the applicant's value with it.
func (meth *ReferenceMethod) Point(m *Manifest) ([]float64, error) {
	out := make([]float64, len(m.Features))
	for i := range m.Features {
		f := &m.Features[i]
		v, ok := meth.Values[f.Name]
		if !ok || v == nil {
			return nil, fmt.Errorf("values: feature %q has no reference value", f.Name)
		}
		x, err := f.Encode(v)
		if err != nil {
			return nil, fmt.Errorf("values: %w", err)
		}
		out[i] = x
	}
	if len(meth.Values) != len(m.Features) {
		return nil, fmt.Errorf("values: %d values for %d features", len(meth.Values), len(m.Features))
	}
	return out, nil
}

// Vectors returns the reference rows in model order and encoding, a
// missing value as NaN.
func (meth *ReferenceMethod) Vectors(m *Manifest) ([][]float64, error) {
	out := make([][]float64, len(meth.Rows))
	for k, row := range meth.Rows {
		if len(row) != len(m.Features) {
			return nil, fmt.Errorf("row %d: %d values for %d features", k, len(row), len(m.Features))
		}
		x := make([]float64, len(m.Features))
		for i := range m.Features {
			f := &m.Features[i]
			v, ok := row[f.Name]
			if !ok {
				return nil, fmt.Errorf("row %d: no value for feature %q", k, f.Name)
			}
			if v == nil {
				x[i] = math.NaN()
				continue
			}
			var err error
			if x[i], err = f.Encode(v); err != nil {
				return nil, fmt.Errorf("row %d: %w", k, err)
			}
		}
		out[k] = x
	}
	return out, nil
}

// Encode turns a value as reference.json writes it (a number, or a level
// name for a category) into the model's encoding.
func (f *Feature) Encode(v any) (float64, error) {
	switch f.Type {
	case Categorical:
		s, ok := v.(string)
		if i := slices.Index(f.Levels, s); ok && i >= 0 {
			return float64(i), nil
		}
		return 0, fmt.Errorf("feature %q: %v is not one of its levels", f.Name, v)
	default:
		x, ok := v.(float64)
		if !ok || math.IsNaN(x) || math.IsInf(x, 0) || x < *f.Min || x > *f.Max {
			return 0, fmt.Errorf("feature %q: %v is not a number in [%v, %v]", f.Name, v, *f.Min, *f.Max)
		}
		return x, nil
	}
}

// Decode is Encode's inverse: a model value as reference.json and the
// reasons write it (nil for missing).
func (f *Feature) Decode(x float64) any {
	if math.IsNaN(x) {
		return nil
	}
	if f.Type == Categorical && x == math.Trunc(x) && x >= 0 && x < float64(len(f.Levels)) {
		return f.Levels[int(x)]
	}
	return x
}
