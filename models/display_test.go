package models

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDefaultManifestDisplay(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	m := p.Manifest
	for _, f := range m.Features {
		for _, lang := range DisplayLanguages() {
			if f.Display[lang].Name == "" {
				t.Errorf("feature %s has no %s display name", f.Name, lang)
			}
			for _, l := range f.Levels {
				if f.DisplayLevel(lang, l) == l {
					t.Errorf("feature %s level %q shown raw in %s", f.Name, l, lang)
				}
			}
		}
	}
	job := m.Features[m.FeatureIndex("Job")]
	if got := job.DisplayLevel("es", "partime"); got != "Medio tiempo" {
		t.Errorf("Spanish partime: %q", got)
	}
	if got := job.DisplayLevel("fr", "partime"); got != "Part-time" {
		t.Errorf("unknown language falls back to English: %q", got)
	}
	if m.UsesConsumerReport() {
		t.Error("the default model marks no consumer-report feature")
	}
}

func TestManifestDisplayValidation(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	base, err := json.Marshal(p.Manifest)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, old, new, wantErr string
	}{
		{"consumer report source", `"name":"Records"`, `"name":"Records","source":"consumer_report"`, ""},
		{"unknown source", `"name":"Records"`, `"name":"Records","source":"bureau"`, `source "bureau"`},
		{"unknown language", `"display":{"en":{"name":"Years at your current job"`, `"display":{"fr":{"name":"x"},"en":{"name":"Years at your current job"`, `display language "fr"`},
		{"unknown level", `"partime":"Part-time"`, `"partime":"Part-time","night":"Night"`, `level "night"`},
		{"missing level", `,"partime":"Part-time"`, ``, `names 3 of 4 levels`},
		{"Spanish text for a direction without an English one", `"reasons":{"decrease":"Gastos del mes muy altos"}`, `"reasons":{"decrease":"Gastos del mes muy altos","provide":"No indicó sus gastos"}`, `direction "provide"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := string(base)
			if !strings.Contains(s, tc.old) {
				t.Fatalf("fixture lacks %q", tc.old)
			}
			m, err := ParseManifest([]byte(strings.Replace(s, tc.old, tc.new, 1)))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !m.UsesConsumerReport() {
					t.Error("consumer-report feature not seen")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestDisplayReasonByDirection: a verified reason is worded in Spanish by
// its own direction's text only, for every direction the reason object
// has a text for; a reason without a direction (records before verified
// reasons) keeps the general text.
func TestDisplayReasonByDirection(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range p.Manifest.Features {
		for dir := range f.Reason.Texts {
			if f.DisplayReason("es", dir) == "" {
				t.Errorf("feature %s: no Spanish text for direction %q", f.Name, dir)
			}
		}
	}
	income := p.Manifest.Features[p.Manifest.FeatureIndex("Income")]
	for _, tc := range []struct{ dir, want string }{
		{"provide", "No indicó su ingreso"},
		{"increase", "Ingreso muy bajo para la suma pedida"},
		{"decrease", ""},
		{"", income.Display["es"].Reason},
	} {
		if got := income.DisplayReason("es", tc.dir); got != tc.want {
			t.Errorf("Income, direction %q: %q, want %q", tc.dir, got, tc.want)
		}
	}
}
