package scoring

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
)

func defaultModel(t testing.TB) *Model {
	t.Helper()
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// validApplication is row 1 of the test set, with level names.
func validApplication() map[string]any {
	return map[string]any{
		"Seniority": 9.0, "Home": "rent", "Time": 60.0, "Records": "no", "Job": "fixed",
		"Expenses": 73.0, "Income": 129.0, "Assets": 0.0, "Debt": 0.0, "Amount": 800.0, "Price": 846.0,
	}
}

func with(changes map[string]any, drop ...string) map[string]any {
	a := validApplication()
	for k, v := range changes {
		a[k] = v
	}
	for _, k := range drop {
		delete(a, k)
	}
	return a
}

func TestVectorizeErrors(t *testing.T) {
	m := defaultModel(t)
	cases := []struct {
		name string
		app  map[string]any
		want []Problem // field and a fragment of the message
	}{
		{"unknown feature", with(map[string]any{"Salary": 1.0}), []Problem{{"Salary", "unknown feature"}}},
		{"missing required", with(nil, "Amount"), []Problem{{"Amount", "required"}}},
		{"null required", with(map[string]any{"Seniority": nil}), []Problem{{"Seniority", "required"}}},
		{"string for number", with(map[string]any{"Income": "130"}), []Problem{{"Income", "must be a number"}}},
		{"bool for number", with(map[string]any{"Debt": true}), []Problem{{"Debt", "must be a number"}}},
		{"number for category", with(map[string]any{"Home": 5.0}), []Problem{{"Home", "must be one of the levels"}}},
		{"unknown level", with(map[string]any{"Job": "astronaut"}), []Problem{{"Job", `unknown level "astronaut"`}}},
		{"level case matters", with(map[string]any{"Records": "Yes"}), []Problem{{"Records", "unknown level"}}},
		{"NaN", with(map[string]any{"Expenses": math.NaN()}), []Problem{{"Expenses", "finite"}}},
		{"+Inf", with(map[string]any{"Price": math.Inf(1)}), []Problem{{"Price", "finite"}}},
		{"below range", with(map[string]any{"Amount": -5.0}), []Problem{{"Amount", "outside the valid range"}}},
		{"above range", with(map[string]any{"Time": 1000.0}), []Problem{{"Time", "outside the valid range"}}},
		{"huge json number", with(map[string]any{"Assets": json.Number("1e400")}), []Problem{{"Assets", "out of range"}}},
		{"object for number", with(map[string]any{"Income": map[string]any{}}), []Problem{{"Income", "must be a number"}}},
		{"every problem listed", with(map[string]any{"Job": "x", "Time": -1.0, "Foo": 1.0}, "Price"), []Problem{
			{"Foo", "unknown feature"}, {"Job", "unknown level"}, {"Price", "required"}, {"Time", "outside"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, err := m.Vectorize(tc.app)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, %v; want a ValidationError", x, err)
			}
			if len(ve.Problems) != len(tc.want) {
				t.Fatalf("problems %+v, want %+v", ve.Problems, tc.want)
			}
			for i, w := range tc.want {
				if ve.Problems[i].Field != w.Field || !strings.Contains(ve.Problems[i].Message, w.Message) {
					t.Errorf("problem %d = %+v, want field %q with %q", i, ve.Problems[i], w.Field, w.Message)
				}
			}
		})
	}
}

func TestVectorizeValid(t *testing.T) {
	m := defaultModel(t)
	x, err := m.Vectorize(with(map[string]any{"Income": nil, "Debt": json.Number("250")}, "Assets"))
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{9, 5, 60, 0, 0, 73, math.NaN(), math.NaN(), 250, 800, 846}
	for i := range want {
		if !(x[i] == want[i] || math.IsNaN(x[i]) && math.IsNaN(want[i])) {
			t.Errorf("x[%d] = %v, want %v", i, x[i], want[i])
		}
	}
	back := m.FeatureValues(x)
	if back["Home"] != "rent" || back["Income"] != nil || back["Debt"] != 250.0 {
		t.Errorf("FeatureValues = %v", back)
	}
	if _, err := m.Vectorize(back); err != nil {
		t.Errorf("FeatureValues does not round-trip: %v", err)
	}
}

func TestScoreScale(t *testing.T) {
	m := defaultModel(t)
	s := m.Scale()
	cases := []struct {
		name string
		raw  float64
		want float64
	}{
		{"odds 50:1 is 600", -math.Log(50), 600},
		{"odds 100:1 is 620", -math.Log(100), 620},
		{"odds 25:1 is 580", -math.Log(25), 580},
		{"very safe clamps to 850", -50, 850},
		{"very risky clamps to 300", 50, 300},
	}
	for _, tc := range cases {
		if got := s.Points(tc.raw); math.Abs(got-tc.want) > 1e-9 {
			t.Errorf("%s: Points(%v) = %v, want %v", tc.name, tc.raw, got, tc.want)
		}
	}
}

func TestLoadRefusesTamperedModel(t *testing.T) {
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{0, len(p.Model) / 2, len(p.Model) - 2} {
		q := *p
		q.Model = append([]byte(nil), p.Model...)
		q.Model[pos] ^= 0x01
		tampered, err := models.LoadFS(fsOf(q.Manifest, q.Model), ".")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(tampered); !errors.Is(err, ErrHashMismatch) {
			t.Errorf("byte %d changed: Load = %v, want ErrHashMismatch", pos, err)
		}
	}
}

func TestLoadRefusesUnsupportedModels(t *testing.T) {
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	base := string(p.Model)
	cases := []struct{ name, from, to, want string }{
		{"linear tree", "is_linear=0", "is_linear=1", "linear trees"},
		{"multiclass", "num_class=1\nnum_tree_per_iteration=1", "num_class=3\nnum_tree_per_iteration=3", "only binary"},
		{"regression", "objective=binary sigmoid:1", "objective=regression", "not binary"},
		{"version", "version=v4", "version=v9", "unsupported format version"},
		{"cyclic tree", "left_child=1 7 5 13", "left_child=0 7 5 13", "reached twice"},
		{"bad child", "left_child=1 7 5 13", "left_child=99 7 5 13", "out of range"},
		{"too many leaves", "num_leaves=15", "num_leaves=999999999", "num_leaves"},
		{"truncated", "end of trees", "", "end of trees"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(base, tc.from, tc.to, 1)
			if data == base {
				t.Fatalf("replacement %q not found", tc.from)
			}
			_, err := FromBytes([]byte(data))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestManifestAgreesWithModel(t *testing.T) {
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range p.Manifest.Features {
		names = append(names, f.Name)
	}
	m := defaultModel(t)
	if !reflect.DeepEqual(names, m.Ensemble.FeatureNames) {
		t.Errorf("manifest features %v, model %v", names, m.Ensemble.FeatureNames)
	}
	// A manifest that contradicts the model's monotone constraints is refused.
	bad := *p.Manifest
	bad.Features = append([]models.Feature(nil), p.Manifest.Features...)
	bad.Features[0].Monotone = 1
	q := *p
	q.Manifest = &bad
	if _, err := Load(&q); err == nil || !strings.Contains(err.Error(), "monotone") {
		t.Errorf("Load with contradicting monotone = %v", err)
	}
}
