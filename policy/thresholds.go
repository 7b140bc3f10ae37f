package policy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
)

// Thresholds are the numbers data.config.decision.models[id] gives the
// decision rules for one model. Recourse reads them so that the policy's
// own cut-offs and limits are among the values it tries (a referral for an
// amount over the limit is answered with the limit), while every
// suggestion is still checked by Decide itself.
type Thresholds struct {
	ApproveBelow  float64 `json:"approve_below"`
	DeclineAt     float64 `json:"decline_at"`
	ApproveMargin float64 `json:"approve_margin"`
	AmountFeature string  `json:"amount_feature"`
	AmountLimit   float64 `json:"amount_limit"`
}

// DecisionThresholds returns the decision thresholds policy data holds for
// modelID.
func (e *Engine) DecisionThresholds(ctx context.Context, modelID string) (Thresholds, error) {
	v, err := storage.ReadOne(ctx, e.store, storage.Path{"config", "decision", "models", modelID})
	if err != nil {
		return Thresholds{}, fmt.Errorf("policy: decision thresholds for %q: %w", modelID, err)
	}
	if av, ok := v.(ast.Value); ok {
		if v, err = ast.JSON(av); err != nil {
			return Thresholds{}, fmt.Errorf("policy: decision thresholds for %q: %w", modelID, err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Thresholds{}, fmt.Errorf("policy: decision thresholds for %q: %w", modelID, err)
	}
	var t Thresholds
	if err := json.Unmarshal(b, &t); err != nil {
		return Thresholds{}, fmt.Errorf("policy: decision thresholds for %q: %w", modelID, err)
	}
	return t, nil
}
