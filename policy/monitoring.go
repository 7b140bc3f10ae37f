package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/storage"
)

// Monitoring is data.config.monitoring: when `glassbox audit report`
// raises a finding.
type Monitoring struct {
	// PSIThreshold is the population stability index above which a
	// drift finding is raised.
	PSIThreshold float64 `json:"psi_threshold"`
	// CalibrationAlpha is the Hosmer–Lemeshow p-value below which a
	// calibration finding is raised.
	CalibrationAlpha float64 `json:"calibration_alpha"`
}

// MonitoringThresholds returns the policy's monitoring thresholds; a
// policy without a monitoring section gets the conventional 0.25 and 0.05.
func (e *Engine) MonitoringThresholds(ctx context.Context) (Monitoring, error) {
	out := Monitoring{PSIThreshold: 0.25, CalibrationAlpha: 0.05}
	v, err := storage.ReadOne(ctx, e.store, storage.Path{"config", "monitoring"})
	if err != nil {
		var se *storage.Error
		if errors.As(err, &se) && se.Code == storage.NotFoundErr {
			return out, nil
		}
		return out, fmt.Errorf("policy: monitoring thresholds: %w", err)
	}
	if av, ok := v.(ast.Value); ok {
		if v, err = ast.JSON(av); err != nil {
			return out, fmt.Errorf("policy: monitoring thresholds: %w", err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out, fmt.Errorf("policy: monitoring thresholds: %w", err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		return out, fmt.Errorf("policy: monitoring thresholds: %w", err)
	}
	if out.PSIThreshold <= 0 || out.CalibrationAlpha <= 0 || out.CalibrationAlpha >= 1 {
		return out, fmt.Errorf("policy: monitoring thresholds %+v: psi_threshold must be positive and calibration_alpha in (0, 1)", out)
	}
	return out, nil
}
