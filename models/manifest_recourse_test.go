package models

import (
	"strings"
	"testing"
)

func TestManifestRecourseValidation(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	f64 := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name   string
		edit   func(m *Manifest)
		errHas string
	}{
		{"shipped manifest", func(*Manifest) {}, ""},
		{"actionable numeric without bounds", func(m *Manifest) { m.Features[m.FeatureIndex("Amount")].Recourse.Min = nil }, "needs min <= max"},
		{"bounds outside the valid range", func(m *Manifest) { m.Features[m.FeatureIndex("Amount")].Recourse.Max = f64(1e9) }, "outside the valid range"},
		{"unknown direction", func(m *Manifest) { m.Features[m.FeatureIndex("Amount")].Recourse.Direction = "sideways" }, "direction"},
		{"negative step", func(m *Manifest) { m.Features[m.FeatureIndex("Amount")].Recourse.Step = -1 }, "negative"},
		{"constraint on an unknown feature", func(m *Manifest) {
			m.Constraints = append(m.Constraints, Constraint{Feature: "Amount", AtMost: "Nope"})
		}, `"Nope" is not a numeric feature`},
		{"constraint on a categorical feature", func(m *Manifest) { m.Constraints = append(m.Constraints, Constraint{Feature: "Home", AtMost: "Price"}) }, `"Home" is not a numeric feature`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A deep enough copy: features and their recourse objects.
			m := *p.Manifest
			m.Features = append([]Feature(nil), m.Features...)
			for i := range m.Features {
				if r := m.Features[i].Recourse; r != nil {
					c := *r
					m.Features[i].Recourse = &c
				}
			}
			m.Constraints = append([]Constraint(nil), m.Constraints...)
			tc.edit(&m)
			err := m.Validate()
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("Validate() = %v, want an error with %q", err, tc.errHas)
			}
		})
	}
	// Immutable and historical features are never actionable.
	for _, name := range []string{"Seniority", "Home", "Records", "Job"} {
		if r := p.Manifest.Features[p.Manifest.FeatureIndex(name)].Recourse; r != nil && r.Actionable {
			t.Errorf("%s is actionable", name)
		}
	}
}
