package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"

	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/audit/report"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// What the monitor finds among the entries a check newly covers.
var (
	// errForeignLeaves marks a log that holds leaves the ledger did not
	// write.
	errForeignLeaves = errors.New("the log holds FOREIGN leaves")
	// errMissingRecords marks genuine format 2 leaves whose records the
	// server does not return and that are not erased.
	errMissingRecords = errors.New("records are MISSING from the record store")
	// errDrift marks a score distribution that shifted from the model's
	// reference beyond the policy's PSI threshold.
	errDrift = errors.New("score DRIFT above the threshold")
)

// newEntryChecks is what `audit monitor` judges of the entries a check
// newly covers, read with their records (a regulator's API key): foreign
// leaves, records missing from the store, and the score drift of the new
// decisions against each model's reference distribution.
type newEntryChecks struct {
	modelsDir, policyDir *string
	psi                  *float64
	driftMin             *int
}

func newEntryCheckFlags(fs *flag.FlagSet) *newEntryChecks {
	return &newEntryChecks{
		modelsDir: fs.String("models", "", "model packages besides the embedded default (their reference distributions judge drift)"),
		policyDir: fs.String("policy", "", "policy folder whose monitoring.psi_threshold applies (default: the embedded policy)"),
		psi:       fs.Float64("psi-threshold", 0, "score PSI above which a drift finding is raised (default: the policy's monitoring.psi_threshold)"),
		driftMin:  fs.Int("drift-min", 100, "fewest new decisions of a model for its score PSI to be judged"),
	}
}

// preparedChecks is what the checks need, loaded once per monitor run.
type preparedChecks struct {
	verifier  note.Verifier
	models    map[string]*report.Model
	threshold float64
	driftMin  int
}

func (f *newEntryChecks) prepare(ctx context.Context, key string) (*preparedChecks, error) {
	v, err := transparency.NewLeafVerifier(key)
	if err != nil {
		return nil, err
	}
	pkgs, err := reportModels(*f.modelsDir)
	if err != nil {
		return nil, err
	}
	threshold := *f.psi
	if threshold == 0 {
		th, err := monitoringThresholds(ctx, *f.policyDir)
		if err != nil {
			return nil, err
		}
		threshold = th.PSIThreshold
	}
	if threshold <= 0 || *f.driftMin < 1 {
		return nil, fmt.Errorf("%w: --psi-threshold must be positive and --drift-min at least 1", errUsage)
	}
	return &preparedChecks{verifier: v, models: pkgs, threshold: threshold, driftMin: *f.driftMin}, nil
}

// check reads the entries [from, to) with their records and prints every
// finding; findings names the kinds found, err is a failure to read.
func (p *preparedChecks) check(ctx context.Context, c *apiClient, from, to uint64, stdout io.Writer) (findings []error, err error) {
	if from >= to {
		return nil, nil
	}
	leaves, committed, err := fetchLeaves(ctx, c, from, to)
	if err != nil {
		return nil, err
	}
	var foreign, missing int
	var decisions []*transparency.Record
	for i, leaf := range leaves {
		rec, err := openCommitted(leaf, committed, p.verifier)
		switch {
		case errors.Is(err, transparency.ErrForeign):
			foreign++
			fmt.Fprintf(stdout, "FOREIGN leaf %d (%s): %v\n", from+uint64(i), transparency.RecordID(leaf), err)
		case errors.Is(err, errRecordMissing):
			missing++
			fmt.Fprintf(stdout, "MISSING RECORD: leaf %d (%s): %v\n", from+uint64(i), transparency.RecordID(leaf), err)
		case err == nil && rec.Type == transparency.TypeDecision:
			decisions = append(decisions, rec)
		}
	}
	drifted := p.drift(decisions, stdout)
	if foreign > 0 {
		findings = append(findings, fmt.Errorf("%w: %d in entries %d..%d", errForeignLeaves, foreign, from, to))
	}
	if missing > 0 {
		findings = append(findings, fmt.Errorf("%w: %d in entries %d..%d", errMissingRecords, missing, from, to))
	}
	if drifted > 0 {
		findings = append(findings, fmt.Errorf("%w: %d models in entries %d..%d", errDrift, drifted, from, to))
	}
	return findings, nil
}

// drift computes, per model, the PSI of the new decisions' scores against
// the model's reference score distribution, binned exactly as `audit
// report` bins them (report.Bin, audit.PSI), and prints a DRIFT finding
// for each above the threshold. It returns how many there were.
func (p *preparedChecks) drift(decisions []*transparency.Record, stdout io.Writer) int {
	type modelScores struct {
		id     string
		scores []float64
	}
	by := map[string]*modelScores{}
	for _, r := range decisions {
		d := r.Decision
		if slices.Contains(r.Omitted(), "score") {
			continue
		}
		m := by[d.Model.SHA256]
		if m == nil {
			m = &modelScores{id: d.Model.ID}
			by[d.Model.SHA256] = m
		}
		m.scores = append(m.scores, d.Score)
	}
	shas := make([]string, 0, len(by))
	for sha := range by {
		shas = append(shas, sha)
	}
	slices.SortFunc(shas, func(a, b string) int { return cmp.Or(cmp.Compare(by[a].id, by[b].id), cmp.Compare(a, b)) })
	found := 0
	for _, sha := range shas {
		m := by[sha]
		pkg := p.models[sha]
		switch {
		case pkg == nil:
			fmt.Fprintf(stdout, "drift: %d new decisions of model %s (SHA-256 %s), which is not at hand (--models): not judged\n", len(m.scores), m.id, sha)
			continue
		case pkg.Distribution == nil:
			fmt.Fprintf(stdout, "drift: model %s ships no reference distribution: not judged\n", m.id)
			continue
		case len(m.scores) < p.driftMin:
			fmt.Fprintf(stdout, "drift: %d new decisions of model %s, fewer than %d (--drift-min): not judged\n", len(m.scores), m.id, p.driftMin)
			continue
		}
		h := pkg.Distribution.Score
		actual := make([]int, len(h.Counts)+1)
		for _, s := range m.scores {
			actual[report.Bin(h, false, s)]++
		}
		psi, err := audit.PSI(h.WithMissing(), actual)
		if err != nil {
			fmt.Fprintf(stdout, "drift: model %s: %v\n", m.id, err)
			continue
		}
		if psi > p.threshold {
			found++
			fmt.Fprintf(stdout, "DRIFT: model %s: score PSI %.4f over %d new decisions, above the threshold %v: the population has shifted from the model's reference distribution\n", m.id, psi, len(m.scores), p.threshold)
			continue
		}
		fmt.Fprintf(stdout, "drift: model %s: score PSI %.4f over %d new decisions (threshold %v)\n", m.id, psi, len(m.scores), p.threshold)
	}
	return found
}
