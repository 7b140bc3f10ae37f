package policy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
)

// minCoverage is the line coverage the Rego unit tests must reach on the
// policy files (tests excluded).
const minCoverage = 90.0

// TestRego runs policy/rego/*_test.rego through OPA's test runner against
// the embedded policy and data, and checks line coverage of the policy.
func TestRego(t *testing.T) {
	ctx := context.Background()
	files, err := EmbeddedFiles()
	if err != nil {
		t.Fatal(err)
	}
	modules, store, err := Compile(files)
	if err != nil {
		t.Fatal(err)
	}
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Abort(ctx, txn)

	cov := cover.New()
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithEnablePrintStatements(true)).
		SetStore(store).
		SetModules(modules).
		SetCoverageQueryTracer(cov).
		SetParallel(1).
		// The exhaustive fast-path tests evaluate thousands of inputs;
		// under the race detector that exceeds OPA's default 5 s per test.
		SetTimeout(2*time.Minute).
		RunTests(ctx, txn)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	for r := range ch {
		n++
		if !r.Pass() {
			t.Errorf("%s.%s: %s\n%s", r.Package, r.Name, r.String(), r.Output)
		}
	}
	if n < 40 {
		t.Errorf("ran %d Rego tests; expected the full suite", n)
	}

	policyModules := map[string]*ast.Module{}
	for name, m := range modules {
		if !strings.HasSuffix(name, "_test.rego") {
			policyModules[name] = m
		}
	}
	report := cov.Report(policyModules)
	// Report also lists files it saw executing; keep only the policy files.
	var covered, notCovered int
	for name, fr := range report.Files {
		if _, ok := policyModules[name]; !ok {
			continue
		}
		covered += fr.CoveredLines
		notCovered += fr.NotCoveredLines
		for _, rng := range fr.NotCovered {
			t.Logf("not covered: %s:%d-%d", name, rng.Start.Row, rng.End.Row)
		}
	}
	pct := 100 * float64(covered) / float64(covered+notCovered)
	t.Logf("Rego tests: %d run; policy line coverage %.1f%% (%d/%d lines)", n, pct, covered, covered+notCovered)
	if pct < minCoverage {
		t.Errorf("policy line coverage %.1f%% < %.0f%%", pct, minCoverage)
	}
}
