package models

import (
	"fmt"
	"maps"
	"slices"
)

// Feature sources: where a feature's value comes from. A feature from a
// consumer report makes every adverse-action notice of the model carry
// the FCRA §615(a) elements.
const (
	SourceApplication    = "application"
	SourceConsumerReport = "consumer_report"
)

// DisplayLanguages are the languages display texts may be given in.
func DisplayLanguages() []string { return []string{"en", "es"} }

// FallbackLanguage is used for any text missing in the requested language.
const FallbackLanguage = "en"

// Display holds a feature's consumer-facing texts by language ("en",
// "es"). Notices and the applicant page use them instead of the
// feature's internal name, unit and level names.
type Display map[string]DisplayText

// DisplayText is a feature's texts in one language.
type DisplayText struct {
	// Name is the feature's name in plain words ("Monthly income").
	Name string `json:"name"`
	// Unit follows a number ("dollars a month"); empty for none.
	Unit string `json:"unit,omitempty"`
	// Levels maps each level of a categorical feature to plain words.
	Levels map[string]string `json:"levels,omitempty"`
	// Reason is the reason text in this language, for languages other
	// than the one of the feature's reason object; it stands for records
	// whose reasons carry no direction (format before verified reasons).
	Reason string `json:"reason,omitempty"`
	// Reasons are the reason texts per direction in this language, like
	// the reason object's texts: a verified reason is worded only by the
	// text of its own direction.
	Reasons map[string]string `json:"reasons,omitempty"`
}

// UsesConsumerReport reports whether any feature comes from a consumer
// report.
func (m *Manifest) UsesConsumerReport() bool {
	return slices.ContainsFunc(m.Features, func(f Feature) bool { return f.Source == SourceConsumerReport })
}

// text returns the feature's texts in lang, then in the fallback language.
func (f *Feature) text(lang string) (DisplayText, DisplayText) {
	return f.Display[lang], f.Display[FallbackLanguage]
}

// DisplayName is the feature's plain name in lang; the description, then
// the internal name, when the manifest gives none.
func (f *Feature) DisplayName(lang string) string {
	t, fb := f.text(lang)
	return first(t.Name, fb.Name, f.Description, f.Name)
}

// DisplayUnit is the unit in lang (the manifest's unit when none given).
func (f *Feature) DisplayUnit(lang string) string {
	t, fb := f.text(lang)
	return first(t.Unit, fb.Unit, f.Unit)
}

// DisplayLevel is a level's plain name in lang (the level itself when
// none is given).
func (f *Feature) DisplayLevel(lang, level string) string {
	t, fb := f.text(lang)
	return first(t.Levels[level], fb.Levels[level], level)
}

// DisplayReason is the reason text in lang, or "" when the manifest has
// none in that language (the caller then uses the recorded text).
//
// A reason with a direction takes only that direction's text: a general
// text could claim a direction the verification did not show.
func (f *Feature) DisplayReason(lang, direction string) string {
	t := f.Display[lang]
	if direction != "" {
		return t.Reasons[direction]
	}
	return t.Reason
}

func first(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (f *Feature) validateDisplay() []error {
	var errs []error
	switch f.Source {
	case "", SourceApplication, SourceConsumerReport:
	default:
		errs = append(errs, fmt.Errorf("feature %q: source %q is neither %q nor %q", f.Name, f.Source, SourceApplication, SourceConsumerReport))
	}
	for _, lang := range slices.Sorted(maps.Keys(f.Display)) {
		t := f.Display[lang]
		if !slices.Contains(DisplayLanguages(), lang) {
			errs = append(errs, fmt.Errorf("feature %q: display language %q (supported: %v)", f.Name, lang, DisplayLanguages()))
		}
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("feature %q: display %q needs a name", f.Name, lang))
		}
		for _, l := range slices.Sorted(maps.Keys(t.Levels)) {
			if !slices.Contains(f.Levels, l) {
				errs = append(errs, fmt.Errorf("feature %q: display %q names level %q, which the feature does not have", f.Name, lang, l))
			}
		}
		for _, dir := range slices.Sorted(maps.Keys(t.Reasons)) {
			if _, ok := f.Reason.Texts[dir]; !ok || t.Reasons[dir] == "" {
				errs = append(errs, fmt.Errorf("feature %q: display %q has a reason text for direction %q, which the reason object has none for", f.Name, lang, dir))
			}
		}
		if f.Type == Categorical && len(t.Levels) > 0 && len(t.Levels) != len(f.Levels) {
			errs = append(errs, fmt.Errorf("feature %q: display %q names %d of %d levels", f.Name, lang, len(t.Levels), len(f.Levels)))
		}
	}
	return errs
}
