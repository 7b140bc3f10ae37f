package models

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDistributionAndEvidenceRefused: a distribution or evidence file
// that does not belong to the package, or whose bins do not add up, stops
// the package from loading.
func TestDistributionAndEvidenceRefused(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	if p.Distribution == nil || p.Evidence == nil || p.EvidenceSHA256 == "" || p.DistributionSHA256 == "" {
		t.Fatal("the default package ships no distribution or evidence")
	}
	good, err := json.Marshal(p.Distribution)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseDistribution(good, p.Manifest); err != nil {
		t.Fatalf("shipped distribution: %v", err)
	}
	edit := func(f func(d *Distribution)) []byte {
		var d Distribution
		if err := json.Unmarshal(good, &d); err != nil {
			t.Fatal(err)
		}
		f(&d)
		b, _ := json.Marshal(&d)
		return b
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"other model":      {edit(func(d *Distribution) { d.ModelID = "x" }), "model_id"},
		"other file":       {edit(func(d *Distribution) { d.ModelSHA256 = strings.Repeat("0", 64) }), "model_sha256"},
		"counts off":       {edit(func(d *Distribution) { d.Score.Counts[0]++ }), "counts sum"},
		"edges unsorted":   {edit(func(d *Distribution) { d.Score.Edges[0], d.Score.Edges[1] = d.Score.Edges[1], d.Score.Edges[0] }), "ascending"},
		"edges vs counts":  {edit(func(d *Distribution) { d.Score.Edges = d.Score.Edges[1:] }), "counts for"},
		"level count":      {edit(func(d *Distribution) { d.Features["Home"].Counts = d.Features["Home"].Counts[1:] }), "levels"},
		"feature missing":  {edit(func(d *Distribution) { delete(d.Features, "Income") }), "Income"},
		"negative missing": {edit(func(d *Distribution) { d.Score.Missing = -1 }), "counts sum"},
		"unknown member":   {[]byte(`{"model_id":"credit-risk-v1","extra":1}`), "unknown field"},
	} {
		if _, err := ParseDistribution(c.data, p.Manifest); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", name, err, c.want)
		}
	}
	ev, _ := json.Marshal(p.Evidence)
	if _, err := ParseEvidence(ev, p.Manifest); err != nil {
		t.Fatalf("shipped evidence: %v", err)
	}
	for name, data := range map[string]string{
		"other model":    strings.Replace(string(ev), `"model_id":"credit-risk-v1"`, `"model_id":"x"`, 1),
		"other file":     strings.Replace(string(ev), p.Manifest.ModelSHA256, strings.Repeat("0", 64), 1),
		"unknown member": strings.Replace(string(ev), `{"model_id"`, `{"extra":1,"model_id"`, 1),
		"no decisions":   `{"model_id":"credit-risk-v1","model_sha256":"` + p.Manifest.ModelSHA256 + `"}`,
	} {
		if data == string(ev) {
			t.Fatalf("%s: edit did not apply", name)
		}
		if _, err := ParseEvidence([]byte(data), p.Manifest); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
