package decision

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// thresholdSource is the part of *policy.Engine that gives recourse the
// decision policy's thresholds; a policy without it gets recourse that
// tries model thresholds only (still checked by Decide).
type thresholdSource interface {
	DecisionThresholds(ctx context.Context, modelID string) (policy.Thresholds, error)
}

// NewRecourser prepares recourse for m under the decision thresholds of
// pol (when it can give them, as *policy.Engine does).
func NewRecourser(ctx context.Context, pol any, m *scoring.Model) (*explain.Recourser, error) {
	var rules explain.Rules
	if ts, ok := pol.(thresholdSource); ok {
		th, err := ts.DecisionThresholds(ctx, m.Manifest.ID)
		if err != nil {
			return nil, err
		}
		rules.MaxPD = th.ApproveBelow - th.ApproveMargin
		if th.AmountFeature != "" && m.Manifest.FeatureIndex(th.AmountFeature) >= 0 {
			rules.Limits = map[string]float64{th.AmountFeature: th.AmountLimit}
		}
	}
	return explain.NewRecourser(m, rules)
}

// Recourse computes the counterfactuals for the feature vector x exactly
// as the server shows them, every suggestion checked through Evaluate,
// and returns them with their canonical JSON and its SHA-256 (hex): the
// digest a "recourse" record carries. `glassbox audit replay` recomputes
// recorded recourse with it.
func Recourse(ctx context.Context, pol Decider, m *scoring.Model, ex *Explainers, rc *explain.Recourser, x []float64) (cfs []explain.Counterfactual, canonical []byte, digest string, err error) {
	cfs, err = rc.Find(ctx, x, policyApprover{pol: pol, m: m, ex: ex})
	if err != nil {
		return nil, nil, "", err
	}
	raw, err := json.Marshal(cfs)
	if err != nil {
		return nil, nil, "", fmt.Errorf("encoding recourse: %w", err)
	}
	canonical, err = transparency.Canonicalize(raw)
	if err != nil {
		return nil, nil, "", fmt.Errorf("canonicalising recourse: %w", err)
	}
	sum := sha256.Sum256(canonical)
	return cfs, canonical, hex.EncodeToString(sum[:]), nil
}
