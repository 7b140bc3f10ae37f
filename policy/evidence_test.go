package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/models"
)

// shippedEvidence is the validation evidence credit-risk-v1 ships.
func shippedEvidence(t testing.TB) *models.Evidence {
	t.Helper()
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	if p.Evidence == nil {
		t.Fatal("the default package ships no evidence")
	}
	return p.Evidence
}

// admitWithEvidence admits m with the shipped model's evidence, so that a
// test of a manifest rule is not refused for lack of evidence.
func admitWithEvidence(t testing.TB, e *Engine, m *models.Manifest, sha string) (Admission, error) {
	return e.AdmitEvidence(context.Background(), m, sha, nil, shippedEvidence(t))
}

// dataEngine is the embedded policy with data.json's admission settings
// changed.
func dataEngine(t *testing.T, admission map[string]any) *Engine {
	t.Helper()
	return engineWithFile(t, "data.json", func(b []byte) []byte {
		var doc map[string]map[string]map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		for k, v := range admission {
			doc["config"]["admission"][k] = v
		}
		out, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		return out
	})
}

// engineWithFile is the embedded policy with one file edited; the edit
// must change it.
func engineWithFile(t *testing.T, path string, edit func([]byte) []byte) *Engine {
	t.Helper()
	files, err := readPolicy("")
	if err != nil {
		t.Fatal(err)
	}
	edited := false
	for i, f := range files {
		if f.Path == path {
			out := edit(f.Data)
			edited = !bytes.Equal(out, f.Data)
			files[i].Data = out
		}
	}
	if !edited {
		t.Fatalf("the edit did not change %s", path)
	}
	e, err := newEngine(context.Background(), files)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestAdmitMeasuredAdverseImpact: the shipped model is admitted with its
// evidence; a policy floor just above its lowest measured adverse impact
// ratio (among groups the gate covers) refuses it, naming the group and
// the figure.
func TestAdmitMeasuredAdverseImpact(t *testing.T) {
	ctx := context.Background()
	p, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := testEngine(t).AdmitEvidence(ctx, p.Manifest, p.SHA256, p.Reference, p.Evidence); err != nil {
		t.Fatalf("shipped model with its evidence refused: %v", err)
	}
	// The lowest gated ratio, found from the evidence's counts.
	const minN = 30
	var worst struct {
		attr, group string
		ratio       float64
	}
	worst.ratio = math.Inf(1)
	for _, a := range p.Evidence.Fairness.Attributes {
		var fav struct{ n, approved int }
		for _, g := range a.Groups {
			if g.Favoured {
				fav.n, fav.approved = g.N, g.Approved
			}
		}
		for _, g := range a.Groups {
			r := (float64(g.Approved) / float64(g.N)) / (float64(fav.approved) / float64(fav.n))
			if math.Abs(r-g.Ratio) > 1e-12 {
				t.Errorf("%s=%s: evidence ratio %v, counts give %v", a.Attribute, g.Group, g.Ratio, r)
			}
			if !g.Favoured && g.N >= minN && r < worst.ratio {
				worst.attr, worst.group, worst.ratio = a.Attribute, g.Group, r
			}
		}
	}
	floor := math.Ceil(worst.ratio*100) / 100
	e := dataEngine(t, map[string]any{"min_adverse_impact_ratio": floor, "fairness_min_group_size": minN})
	a, err := e.AdmitEvidence(ctx, p.Manifest, p.SHA256, p.Reference, p.Evidence)
	if !errors.Is(err, ErrRejected) || a.Admitted {
		t.Fatalf("floor %v above the measured %v: admitted (%v)", floor, worst.ratio, err)
	}
	if len(a.Violations) != 1 || a.Violations[0].ID != "ADM-ADVERSE-IMPACT" {
		t.Fatalf("violations %+v, want only ADM-ADVERSE-IMPACT", a.Violations)
	}
	msg := a.Violations[0].Message
	for _, want := range []string{worst.attr + ` group "` + worst.group + `"`, strings.TrimRight(strings.TrimRight(fmtRatio(worst.ratio), "0"), ".")} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not name %q", msg, want)
		}
	}
	t.Logf("floor %v: %s", floor, msg)

	// Without evidence the same model is refused: the gate reads nothing
	// the manifest says about itself.
	a, err = testEngine(t).AdmitPackage(ctx, p.Manifest, p.SHA256, p.Reference)
	if !errors.Is(err, ErrRejected) || len(a.Violations) != 1 || a.Violations[0].ID != "ADM-EVIDENCE" {
		t.Fatalf("no evidence: %+v, %v; want only ADM-EVIDENCE", a.Violations, err)
	}
	// A measured AUC below the floor refuses it.
	e = dataEngine(t, map[string]any{"min_auc": math.Ceil(p.Evidence.AUC*100) / 100})
	a, err = e.AdmitEvidence(ctx, p.Manifest, p.SHA256, p.Reference, p.Evidence)
	if !errors.Is(err, ErrRejected) || len(a.Violations) != 1 || a.Violations[0].ID != "ADM-AUC" {
		t.Fatalf("AUC floor above the measured AUC: %+v, %v", a.Violations, err)
	}
}

func fmtRatio(r float64) string {
	b, _ := json.Marshal(math.Round(r*1000) / 1000)
	return string(b)
}

func TestMonitoringThresholds(t *testing.T) {
	ctx := context.Background()
	th, err := testEngine(t).MonitoringThresholds(ctx)
	if err != nil || th.PSIThreshold != 0.25 || th.CalibrationAlpha != 0.05 {
		t.Errorf("embedded policy: %+v %v, want 0.25 and 0.05", th, err)
	}
	e := engineWithFile(t, "data.json", func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"psi_threshold": 0.25`), []byte(`"psi_threshold": 0.1`), 1)
	})
	if th, err := e.MonitoringThresholds(ctx); err != nil || th.PSIThreshold != 0.1 {
		t.Errorf("edited policy: %+v %v, want 0.1", th, err)
	}
	e = engineWithFile(t, "data.json", func(b []byte) []byte {
		return bytes.Replace(b, []byte(`"calibration_alpha": 0.05`), []byte(`"calibration_alpha": 2`), 1)
	})
	if _, err := e.MonitoringThresholds(ctx); err == nil {
		t.Error("calibration_alpha 2 accepted")
	}
}
