package models

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestDefaultShipsReference(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("credit-risk-v1/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(raw)
	if p.Reference == nil || p.ReferenceSHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("reference %v, hash %q", p.Reference != nil, p.ReferenceSHA256)
	}
	for _, m := range []string{MethodCutoff, MethodApproved} {
		meth := p.Reference.Methods[m]
		if meth == nil || len(meth.Rows) != MaxReferenceRows || meth.Population < len(meth.Rows) {
			t.Fatalf("method %s: %+v", m, meth)
		}
		point, err := meth.Point(p.Manifest)
		if err != nil || len(point) != len(p.Manifest.Features) {
			t.Fatalf("method %s: point %v, %v", m, point, err)
		}
	}
}

func TestParseReferenceRefuses(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("credit-risk-v1/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(doc map[string]any)) []byte {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		f(doc)
		b, _ := json.Marshal(doc)
		return b
	}
	cutoff := func(doc map[string]any) map[string]any {
		return doc["methods"].(map[string]any)["cutoff"].(map[string]any)
	}
	cases := map[string]struct {
		data []byte
		want string
	}{
		"other model":    {edit(func(d map[string]any) { d["model_id"] = "x" }), "model_id"},
		"other hash":     {edit(func(d map[string]any) { d["model_sha256"] = "00" }), "model_sha256"},
		"unknown method": {edit(func(d map[string]any) { d["methods"].(map[string]any)["median"] = cutoff(d) }), `method "median"`},
		"missing value":  {edit(func(d map[string]any) { delete(cutoff(d)["values"].(map[string]any), "Income") }), `"Income" has no reference value`},
		"bad level":      {edit(func(d map[string]any) { cutoff(d)["values"].(map[string]any)["Home"] = "castle" }), "not one of its levels"},
		"out of range":   {edit(func(d map[string]any) { cutoff(d)["values"].(map[string]any)["Income"] = 1e9 }), "not a number in"},
		"no rows":        {edit(func(d map[string]any) { cutoff(d)["rows"] = []any{} }), "0 rows"},
		"row lacks":      {edit(func(d map[string]any) { delete(cutoff(d)["rows"].([]any)[0].(map[string]any), "Time") }), "row 0"},
		"too many rows": {edit(func(d map[string]any) {
			rows := cutoff(d)["rows"].([]any)
			cutoff(d)["rows"] = append(rows, rows[0])
		}), "65 rows"},
		"unknown field": {edit(func(d map[string]any) { d["extra"] = 1 }), "unknown field"},
	}
	for name, tc := range cases {
		_, err := ParseReference(tc.data, p.Manifest)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
	}
	if _, err := ParseReference(raw, p.Manifest); err != nil {
		t.Errorf("shipped reference: %v", err)
	}
}

func TestTextFor(t *testing.T) {
	f := Feature{Type: Numeric, Monotone: -1, Reason: Reason{Code: "R1", Text: "Income too low"}}
	// Without per-direction texts, the one text goes to the direction the
	// monotone constraint implies, and only there.
	if f.TextFor(DirIncrease) != "Income too low" || f.TextFor(DirDecrease) != "" || f.TextFor(DirProvide) != "" {
		t.Errorf("legacy texts: %q %q %q", f.TextFor(DirIncrease), f.TextFor(DirDecrease), f.TextFor(DirProvide))
	}
	f.Monotone = 0
	if f.TextFor(DirIncrease) != "" {
		t.Error("an unconstrained feature's one text claims a direction")
	}
	f.Reason.Texts = map[string]string{DirDecrease: "Too high"}
	if f.TextFor(DirDecrease) != "Too high" || f.TextFor(DirIncrease) != "" {
		t.Error("per-direction texts not used")
	}
}

func TestManifestRefusesUnknownDirection(t *testing.T) {
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	m := *p.Manifest
	m.Features = append([]Feature(nil), m.Features...)
	m.Features[0].Reason.Texts = map[string]string{"sideways": "x"}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), `direction "sideways"`) {
		t.Errorf("err %v", err)
	}
	m.Features[0].Reason.Texts = map[string]string{DirIncrease: " "}
	if err := m.Validate(); err == nil {
		t.Error("blank text accepted")
	}
}
