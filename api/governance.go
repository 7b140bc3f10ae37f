package api

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// governanceTime stamps governance records. They must be content-addressed
// (the same model admitted under the same policy always gives the same
// bytes, so a restart or a second replica re-appends a duplicate that the
// log deduplicates), which rules out the wall clock. The Unix epoch says
// plainly that the timestamp carries no information; the log's checkpoint
// history dates the entry.
var governanceTime = time.Unix(0, 0).UTC()

// recordGovernance appends one policy_activated record for the policy in
// force and one model_admitted record per served model.
func (s *Server) recordGovernance(ctx context.Context) error {
	rev := s.policy.Revision()
	recs := []*transparency.Record{}
	pa, err := transparency.NewRecord(governanceTime, &transparency.PolicyActivated{
		Policy: transparency.PolicyRef{SHA256: rev},
	})
	if err != nil {
		return fmt.Errorf("api: policy activation record: %w", err)
	}
	recs = append(recs, pa)
	for _, id := range s.modelIDs {
		m := s.models[id].model
		pv := m.Manifest.Provenance
		details := map[string]string{
			"model_version":   m.Manifest.Version,
			"policy_revision": rev,
			"train_sha256":    pv.TrainSHA256,
			"test_sha256":     pv.TestSHA256,
			"approval_status": m.Manifest.Approval.Status,
			"approval_date":   m.Manifest.Approval.Date,
		}
		for k, v := range details {
			if v == "" {
				delete(details, k)
			}
		}
		ma, err := transparency.NewRecord(governanceTime, &transparency.ModelAdmitted{
			Model:   transparency.ModelRef{ID: id, SHA256: m.SHA256},
			Details: details,
		})
		if err != nil {
			return fmt.Errorf("api: model admission record for %q: %w", id, err)
		}
		recs = append(recs, ma)
	}
	for _, r := range recs {
		data, err := r.Encode()
		if err != nil {
			return fmt.Errorf("api: encoding %s record: %w", r.Type, err)
		}
		rc, err := s.ledger.Append(ctx, data)
		if err != nil {
			return fmt.Errorf("api: logging %s: %w", r.Type, err)
		}
		s.log.InfoContext(ctx, "governance record", slog.String("type", string(r.Type)),
			slog.String("id", rc.ID.String()), slog.Bool("already_logged", rc.Duplicate))
	}
	return nil
}

// ledgerRecordFields translates the policy's ledger field list into the
// record's decision fields. decision_id and created_at are the record's
// id and envelope timestamp, always present; the model and policy
// references are single record members.
func ledgerRecordFields(policyFields []string) (fields, unknown []string) {
	known := transparency.DecisionFields()
	aliases := map[string]string{
		"model_id": "model", "model_version": "model", "model_sha256": "model",
		"policy_revision": "policy",
	}
	var out []string
	for _, f := range policyFields {
		switch {
		case f == "decision_id" || f == "created_at":
			continue
		case slices.Contains(known, f):
		case aliases[f] != "":
			f = aliases[f]
		default:
			unknown = append(unknown, f)
			continue
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, unknown
}
