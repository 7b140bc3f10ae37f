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
		Policy: transparency.PolicyRef{Revision: rev},
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
			// The reference applicants reasons are measured against are
			// part of what was admitted.
			"reference_sha256": m.ReferenceSHA256,
			// So is the validation evidence admission gated on (absent
			// from records written before it existed, which keep their
			// bytes: empty details are dropped below).
			"evidence_sha256": m.EvidenceSHA256,
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
		sealed, err := r.Seal()
		if err != nil {
			return fmt.Errorf("api: encoding %s record: %w", r.Type, err)
		}
		rc, err := s.ledger.AppendSealed(ctx, sealed)
		if err != nil {
			return fmt.Errorf("api: logging %s: %w", r.Type, err)
		}
		s.log.InfoContext(ctx, "governance record", slog.String("type", string(r.Type)),
			slog.String("id", rc.ID.String()), slog.Bool("already_logged", rc.Duplicate))
	}
	return nil
}

// ledgerRecordFields checks the policy's ledger field list against the
// decision record's vocabulary. A name the record does not have is an
// error: a policy that asks for a field nobody writes, or misspells one,
// must not start a service that silently logs something else.
func ledgerRecordFields(policyFields []string) ([]string, error) {
	known := transparency.DecisionFields()
	var unknown []string
	for _, f := range policyFields {
		if !slices.Contains(known, f) {
			unknown = append(unknown, f)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("api: policy ledger fields %q are not decision record fields (known: %q)", unknown, known)
	}
	return slices.Clone(policyFields), nil
}
