package models

import (
	"errors"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/internal/ijson"
)

// TestParseManifestRefusesLoneSurrogates: a manifest's strings go into
// the ledger's model_admitted record, so one holding an escaped lone
// surrogate is refused instead of being read as U+FFFD; the same manifest
// with a complete pair, or without the escape, parses.
func TestParseManifestRefusesLoneSurrogates(t *testing.T) {
	raw, err := embedded.ReadFile(DefaultID + "/" + ManifestFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseManifest(raw); err != nil {
		t.Fatalf("the default manifest: %v", err)
	}
	const name = `"name": "Seniority"`
	if !strings.Contains(string(raw), name) {
		t.Fatalf("default manifest lacks %s", name)
	}
	for _, esc := range []string{`\ud800`, `\uDFFF`, `\ude00\ud83d`, `\ud800x`} {
		bad := strings.Replace(string(raw), name, `"name": "Senior`+esc+`ity"`, 1)
		if _, err := ParseManifest([]byte(bad)); !errors.Is(err, ijson.ErrLoneSurrogate) {
			t.Errorf("manifest with %s in a feature name: %v", esc, err)
		}
	}
	paired := strings.Replace(string(raw), name, `"name": "Senior\ud83d\ude00ity"`, 1)
	m, err := ParseManifest([]byte(paired))
	if errors.Is(err, ijson.ErrLoneSurrogate) {
		t.Fatalf("a complete pair refused: %v", err)
	}
	if err == nil && m.Features[0].Name != "Senior\U0001F600ity" {
		t.Errorf("feature name %q", m.Features[0].Name)
	}
}
