package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// errRefused makes `models check` exit non-zero without repeating the verdict.
var errRefused = errors.New("model refused by policy")

func runModels(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "reference" {
		return runModelsReference(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "distribution" {
		return runModelsDistribution(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: %s | %s | %s", errUsage, checkUsage, referenceUsage, distributionUsage)
	}
	fs := newFlags("models check", stderr)
	policyDir := fs.String("policy", "", "policy folder (default: the embedded policies)")
	validation := fs.String("validation", "", "labelled validation CSV: measure the model on it through the decision path and write the evidence")
	groups := fs.String("groups", "", "group file (application_id, then one column per protected attribute) for the validation set's fair-lending figures")
	out := fs.String("out", "", "where to write the evidence (default: DIR/"+models.EvidenceFile+")")
	if err := parseFlags(fs, reorderFlags(args[1:]), 1); err != nil {
		return err
	}
	if fs.NArg() != 1 || (*groups != "" && *validation == "") || (*out != "" && *validation == "") {
		return fmt.Errorf("%w: %s", errUsage, checkUsage)
	}
	dir := fs.Arg(0)
	pkg, err := models.LoadDir(dir)
	if err != nil {
		return err
	}
	eng, err := policy.New(ctx, *policyDir)
	if err != nil {
		return err
	}
	if *validation != "" {
		path := *out
		if path == "" {
			path = filepath.Join(dir, models.EvidenceFile)
		}
		if err := measure(ctx, eng, pkg, *validation, *groups, path, stdout); err != nil {
			return err
		}
	}
	adm, err := eng.AdmitEvidence(ctx, pkg.Manifest, pkg.SHA256, pkg.Reference, pkg.Evidence)
	fmt.Fprint(stdout, policy.FormatAdmission(adm))
	if err != nil {
		if _, ok := policy.AsViolation(err); ok {
			return errRefused
		}
		return err
	}
	// An admitted package must also load: policy judged the manifest,
	// this checks that the model file is what the manifest says it is.
	if _, err := scoring.Load(pkg); err != nil {
		return fmt.Errorf("admitted by policy but does not load: %w", err)
	}
	return nil
}
