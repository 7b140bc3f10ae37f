package api

import (
	"math"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// FuzzDecodeApplication drives the request decoder (parseJSON, then
// parseApplication) with arbitrary bytes, without a server around it, so
// the fuzzer runs fast: it must never panic, and whatever it accepts must
// be a complete, finite feature vector for the model.
func FuzzDecodeApplication(f *testing.F) {
	for _, s := range []string{
		`{"application_id":"f-1","features":{"Seniority":3,"Home":"rent","Time":48,"Records":"no","Job":"fixed","Expenses":60,"Income":130,"Assets":2000,"Debt":0,"Amount":1000,"Price":1400}}`,
		`{"application_id":"f-2","model":"credit-risk-v1","features":{"Seniority":0,"Home":null,"Time":6,"Records":"yes","Job":null,"Expenses":35,"Income":null,"Assets":null,"Debt":null,"Amount":100,"Price":105}}`,
		`{"application_id":"f-3","features":{"Seniority":1e400}}`,
		`{"application_id":"x","features":{"Home":"castle"},"extra":1}`,
		`[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]`,
		`{"application_id":"\ud800","features":{}}`,
		`{"a":1,"a":2}`, `null`, ``, `{"a":`,
	} {
		f.Add([]byte(s))
	}
	pkg, err := models.Default()
	if err != nil {
		f.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		f.Fatal(err)
	}
	s := &Server{models: map[string]*servedModel{m.Manifest.ID: {model: m}}, modelIDs: []string{m.Manifest.ID}, defaultModel: m.Manifest.ID}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := parseJSON(data)
		if err != nil {
			return
		}
		checkNoInventedReplacement(t, data, v)
		app, errs := s.parseApplication(v, "")
		if len(errs) > 0 {
			for _, e := range errs {
				if e.Message == "" {
					t.Fatalf("problem without a message: %+v", e)
				}
			}
			return
		}
		if app.ID == "" || len(app.X) != m.NumFeatures() {
			t.Fatalf("accepted an incomplete application: %+v", app)
		}
		for i, x := range app.X {
			f := m.Manifest.Features[i]
			if math.IsInf(x, 0) || (math.IsNaN(x) && !f.MissingAllowed) {
				t.Fatalf("accepted %s = %v", f.Name, x)
			}
		}
	})
}
