package main

import (
	"context"
	"errors"
	"fmt"
	"io"

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
	if len(args) == 0 || args[0] != "check" {
		return fmt.Errorf("%w: glassbox models check [--policy DIR] DIR | %s", errUsage, referenceUsage)
	}
	fs := newFlags("models check", stderr)
	policyDir := fs.String("policy", "", "policy folder (default: the embedded policies)")
	if err := parseFlags(fs, args[1:], 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("%w: glassbox models check [--policy DIR] DIR", errUsage)
	}
	pkg, err := models.LoadDir(fs.Arg(0))
	if err != nil {
		return err
	}
	eng, err := policy.New(ctx, *policyDir)
	if err != nil {
		return err
	}
	adm, err := eng.AdmitPackage(ctx, pkg.Manifest, pkg.SHA256, pkg.Reference)
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
