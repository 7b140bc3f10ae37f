package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// calibrationGroups is the number of bands of the calibration table and
// the Hosmer–Lemeshow test: deciles of the probability of default.
const calibrationGroups = 10

// referenceMinN is the smallest group that may be the most favoured, the
// benchmark of adverse impact ratios.
const referenceMinN = 30

// decisionPath describes evaluateApplication for the evidence file.
const decisionPath = "scoring (leaves), TreeSHAP attributions, baseline Shapley reasons and the decision policy: the path every served decision takes (decision.Evaluate)"

// evaluateApplication is the one place the validation run meets the
// decision path, so that moving it (into a decision package) is a
// one-line change.
func evaluateApplication(ctx context.Context, pol decision.Decider, m *scoring.Model, ex *decision.Explainers, x []float64) (*decision.Evaluation, error) {
	return decision.Evaluate(ctx, pol, m, ex, x)
}

// validationRun is what the decision path made of a labelled data set.
type validationRun struct {
	ids      []string // application id per decided row
	pd       []float64
	score    []float64
	bad      []bool
	approved []bool
	refused  int
}

// runValidation decides every row of a labelled CSV (a "label" column, 1
// for a bad outcome; an optional application_id column, else the 1-based
// row number is the id) through the real decision path.
func runValidation(ctx context.Context, pol decision.Decider, m *scoring.Model, raw []byte) (*validationRun, error) {
	rows, err := scoring.ReadCSV(bytes.NewReader(raw), m.Ensemble.FeatureNames)
	if err != nil {
		return nil, err
	}
	labels, err := scoring.ReadCSV(bytes.NewReader(raw), []string{"label"})
	if err != nil {
		return nil, err
	}
	ids, err := applicationIDs(raw, len(rows))
	if err != nil {
		return nil, err
	}
	ex, err := decision.NewExplainers(m)
	if err != nil {
		return nil, err
	}
	run := &validationRun{}
	for i, x := range rows {
		l := labels[i][0]
		if l != 0 && l != 1 {
			return nil, fmt.Errorf("row %d: label %v is neither 0 nor 1", i+1, l)
		}
		ev, err := evaluateApplication(ctx, pol, m, ex, x)
		if err != nil {
			if _, ok := policy.AsViolation(err); ok {
				run.refused++
				continue
			}
			return nil, fmt.Errorf("row %d: %w", i+1, err)
		}
		run.ids = append(run.ids, ids[i])
		run.pd = append(run.pd, ev.Prediction.PD)
		run.score = append(run.score, ev.Prediction.Score)
		run.bad = append(run.bad, l == 1)
		run.approved = append(run.approved, ev.Outcome.Decision == policy.Approve)
	}
	return run, nil
}

// applicationIDs returns the CSV's application_id column, or the row
// numbers when it has none.
func applicationIDs(raw []byte, n int) ([]string, error) {
	cr := csv.NewReader(bytes.NewReader(raw))
	header, err := cr.Read()
	if err != nil {
		return nil, err
	}
	col := -1
	for j, h := range header {
		if strings.TrimSpace(h) == "application_id" {
			col = j
		}
	}
	ids := make([]string, 0, n)
	if col < 0 {
		for i := range n {
			ids = append(ids, strconv.Itoa(i+1))
		}
		return ids, nil
	}
	recs, err := cr.ReadAll()
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		ids = append(ids, strings.TrimSpace(r[col]))
	}
	return ids, nil
}

// buildEvidence measures the model on a labelled validation set and, with
// a group file, compares the groups of every attribute it names.
func buildEvidence(ctx context.Context, pol *policy.Engine, m *scoring.Model, validation, groups []byte) (*models.Evidence, error) {
	run, err := runValidation(ctx, pol, m, validation)
	if err != nil {
		return nil, fmt.Errorf("validation set: %w", err)
	}
	ev := &models.Evidence{
		ModelID: m.Manifest.ID, ModelSHA256: m.SHA256, PolicyRevision: pol.Revision(), DecisionPath: decisionPath,
		Validation: models.DataSet{SHA256: hexSHA256(validation), Rows: len(run.pd) + run.refused},
		Decided:    len(run.pd), Refused: run.refused,
	}
	for i := range run.pd {
		if run.bad[i] {
			ev.Validation.Bad++
		}
		if run.approved[i] {
			ev.Approved++
		}
	}
	if ev.AUC, err = audit.AUC(run.pd, run.bad); err != nil {
		return nil, err
	}
	if ev.KS, err = audit.KS(run.pd, run.bad); err != nil {
		return nil, err
	}
	if ev.Calibration, err = audit.Calibrate(run.pd, run.bad, calibrationGroups); err != nil {
		return nil, err
	}
	if groups == nil {
		return ev, nil
	}
	g, err := audit.ReadGroups(bytes.NewReader(groups))
	if err != nil {
		return nil, err
	}
	if g.Key != "application_id" {
		return nil, fmt.Errorf("the validation group file must be keyed by application_id, not %s", g.Key)
	}
	ev.Fairness = &models.EvidenceFairness{GroupsSHA256: hexSHA256(groups)}
	for a, name := range g.Attributes {
		af, err := audit.CompareGroups(name, g.Column(a, run.ids), run.approved, run.score, referenceMinN)
		if err != nil {
			return nil, err
		}
		ev.Fairness.Attributes = append(ev.Fairness.Attributes, af)
	}
	return ev, nil
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// writeEvidence writes ev as the package's evidence file would hold it and
// returns the bytes' SHA-256.
func writeEvidence(path string, ev *models.Evidence) (string, error) {
	out, err := json.MarshalIndent(ev, "", "  ")
	if err != nil {
		return "", err
	}
	out = append(out, '\n')
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return "", err
	}
	return hexSHA256(out), nil
}

// formatEvidence is the human summary `models check` prints.
func formatEvidence(ev *models.Evidence) string {
	var b strings.Builder
	fmt.Fprintf(&b, "measured on %d decisions (%d bad, %d approved, %d refused by policy): AUC %.4f, KS %.4f, Hosmer–Lemeshow %.2f on %d df (p = %.3g)\n",
		ev.Decided, ev.Validation.Bad, ev.Approved, ev.Refused, ev.AUC, ev.KS, ev.Calibration.HL, ev.Calibration.DF, ev.Calibration.PValue)
	if ev.Fairness == nil {
		return b.String()
	}
	for _, a := range ev.Fairness.Attributes {
		for _, g := range a.Groups {
			ci := ""
			if g.CILow != nil {
				ci = fmt.Sprintf(" (95%% CI %.3f–%.3f)", *g.CILow, *g.CIHigh)
			}
			mark := ""
			if g.Favoured {
				mark = " [most favoured]"
			}
			fmt.Fprintf(&b, "  %s=%s: %d of %d approved (%.3f), adverse impact ratio %.3f%s%s\n", a.Attribute, g.Group, g.Approved, g.N, g.ApprovalRate, g.Ratio, ci, mark)
		}
	}
	return b.String()
}

const checkUsage = "glassbox models check [--policy DIR] [--validation CSV [--groups CSV] [--out FILE]] DIR"

// reorderFlags moves the package folder behind the flags, so that
// `models check DIR --validation CSV` parses as the issue writes it.
func reorderFlags(args []string) []string {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return append(slices.Clone(args[1:]), args[0])
	}
	return args
}

// measure runs the candidate through the decision path on the validation
// set, writes the evidence to path and puts it on pkg, so that admission
// judges what was just measured.
func measure(ctx context.Context, eng *policy.Engine, pkg *models.Package, validation, groups, path string, stdout io.Writer) error {
	m, err := scoring.Load(pkg)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(validation)
	if err != nil {
		return err
	}
	var g []byte
	if groups != "" {
		if g, err = os.ReadFile(groups); err != nil {
			return err
		}
	}
	ev, err := buildEvidence(ctx, eng, m, raw, g)
	if err != nil {
		return err
	}
	sum, err := writeEvidence(path, ev)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "evidence %s (SHA-256 %s)\n", path, sum)
	fmt.Fprint(stdout, formatEvidence(ev))
	pkg.Evidence, pkg.EvidenceSHA256 = ev, sum
	return nil
}
