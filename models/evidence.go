package models

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/glassbox-ledger/glassbox/audit"
)

// EvidenceFile is the file of a package that holds its validation
// evidence: the figures `glassbox models check --validation` measured by
// running the model through the decision path on a labelled data set.
// Admission gates on these measured figures, not on what the manifest
// says about itself, and the model_admitted record carries the file's
// SHA-256.
const EvidenceFile = "evidence.json"

// Evidence is a package's evidence.json (documented in docs/monitoring.md).
type Evidence struct {
	ModelID     string `json:"model_id"`
	ModelSHA256 string `json:"model_sha256"`
	// PolicyRevision is the policy the validation decisions were taken
	// under; DecisionPath says in words what decided them.
	PolicyRevision string `json:"policy_revision"`
	DecisionPath   string `json:"decision_path"`
	// Validation identifies the labelled data set.
	Validation DataSet `json:"validation"`
	// Decided counts the rows policy decided, Approved those approved,
	// Refused those policy would not decide at all (no decision, so in no
	// figure).
	Decided  int `json:"decided"`
	Approved int `json:"approved"`
	Refused  int `json:"refused"`
	// AUC and KS measure how well the probability of default separates
	// the bad outcomes from the good; Calibration compares it with the
	// observed default rate per band.
	AUC         float64           `json:"auc"`
	KS          float64           `json:"ks"`
	Calibration audit.Calibration `json:"calibration"`
	// Fairness is present when a group file was given.
	Fairness *EvidenceFairness `json:"fairness,omitempty"`
}

// DataSet identifies a data set by hash and size.
type DataSet struct {
	SHA256 string `json:"sha256"`
	Rows   int    `json:"rows"`
	Bad    int    `json:"bad"`
}

// EvidenceFairness is the fair-lending part of the evidence: per protected
// attribute of the group file, the groups compared.
type EvidenceFairness struct {
	// GroupsSHA256 is the SHA-256 of the group file; the labels themselves
	// stay out of the package.
	GroupsSHA256 string                   `json:"groups_sha256"`
	Attributes   []audit.AttributeFigures `json:"attributes"`
}

// ParseEvidence decodes an evidence.json and checks that it is about the
// model m describes.
func ParseEvidence(data []byte, m *Manifest) (*Evidence, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var e Evidence
	if err := dec.Decode(&e); err != nil {
		return nil, fmt.Errorf("evidence: %w", err)
	}
	var errs []error
	if e.ModelID != m.ID {
		errs = append(errs, fmt.Errorf("model_id %q is not the manifest's %q", e.ModelID, m.ID))
	}
	if e.ModelSHA256 != m.ModelSHA256 {
		errs = append(errs, fmt.Errorf("model_sha256 %q is not the manifest's", e.ModelSHA256))
	}
	if e.Validation.SHA256 == "" || e.Decided <= 0 {
		errs = append(errs, errors.New("no validation data set or no decisions"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("evidence for %q: %w", m.ID, errors.Join(errs...))
	}
	return &e, nil
}
