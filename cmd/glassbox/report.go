package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/audit"
	"github.com/glassbox-ledger/glassbox/audit/report"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/transparency"
)

const (
	reportUsage   = "glassbox audit report --server URL --key KEY --api-key REGULATOR_KEY [--from-time T --to-time T] [--model ID] [--models DIR] --out DIR | --verify report.json"
	fairnessUsage = "glassbox audit fairness --groups FILE --server URL --key KEY --api-key REGULATOR_KEY [--from-time T --to-time T] [--model ID] [--models DIR] --out DIR | --verify fairness.json"
)

// errMismatch makes --verify exit non-zero after saying why.
var errMismatch = errors.New("the report does NOT match its recomputation")

// reportFlags are the flags `audit report` and `audit fairness` share.
type reportFlags struct {
	server, key, apiKey, from, to, model, modelsDir, out, verify, policyDir *string
	psi, alpha                                                              *float64
	failOnFindings                                                          *bool
}

func newReportFlags(fs *flag.FlagSet) *reportFlags {
	return &reportFlags{
		server:         fs.String("server", "", "glassbox base URL"),
		key:            fs.String("key", "", "the ledger's note verifier key"),
		apiKey:         fs.String("api-key", os.Getenv("GLASSBOX_API_KEY"), "regulator API key (default $GLASSBOX_API_KEY)"),
		from:           fs.String("from-time", "", "first decision time (RFC 3339), inclusive"),
		to:             fs.String("to-time", "", "last decision time (RFC 3339), exclusive"),
		model:          fs.String("model", "", "only this model id's decisions"),
		modelsDir:      fs.String("models", "", "model packages besides the embedded default"),
		out:            fs.String("out", "", "folder to write the report into"),
		verify:         fs.String("verify", "", "recompute this report from the log prefix it names and say whether it matches exactly"),
		psi:            fs.Float64("psi-threshold", 0, "PSI above which a drift finding is raised (default: the policy's monitoring.psi_threshold)"),
		alpha:          fs.Float64("calibration-alpha", 0, "Hosmer–Lemeshow p-value below which a calibration finding is raised (default: the policy's monitoring.calibration_alpha)"),
		policyDir:      fs.String("policy", "", "policy folder whose monitoring thresholds apply (default: the embedded policy)"),
		failOnFindings: fs.Bool("fail-on-findings", false, "exit 1 when the report raises a drift or calibration finding (for alarms run from cron)"),
	}
}

func (f *reportFlags) options(ctx context.Context) (report.Options, error) {
	opt := report.Options{ModelID: *f.model, PSIThreshold: *f.psi, CalibrationAlpha: *f.alpha}
	if opt.PSIThreshold == 0 || opt.CalibrationAlpha == 0 {
		th, err := monitoringThresholds(ctx, *f.policyDir)
		if err != nil {
			return opt, err
		}
		opt.PSIThreshold = cmp.Or(opt.PSIThreshold, th.PSIThreshold)
		opt.CalibrationAlpha = cmp.Or(opt.CalibrationAlpha, th.CalibrationAlpha)
	}
	var err error
	if *f.from != "" {
		if opt.From, err = time.Parse(time.RFC3339Nano, *f.from); err != nil {
			return opt, fmt.Errorf("%w: --from-time: %v", errUsage, err)
		}
	}
	if *f.to != "" {
		if opt.To, err = time.Parse(time.RFC3339Nano, *f.to); err != nil {
			return opt, fmt.Errorf("%w: --to-time: %v", errUsage, err)
		}
	}
	return opt, nil
}

// monitoringThresholds reads data.config.monitoring of the policy in dir
// (the embedded policy if empty).
func monitoringThresholds(ctx context.Context, dir string) (policy.Monitoring, error) {
	eng, err := policy.New(ctx, dir)
	if err != nil {
		return policy.Monitoring{}, err
	}
	return eng.MonitoringThresholds(ctx)
}

// scopeOptions turns a report's recorded scope back into options.
func scopeOptions(s report.Scope) (report.Options, error) {
	opt := report.Options{ModelID: s.ModelID, PSIThreshold: s.PSIThreshold, CalibrationAlpha: s.CalibrationAlpha}
	var err error
	if s.FromTime != "" {
		if opt.From, err = time.Parse(time.RFC3339Nano, s.FromTime); err != nil {
			return opt, err
		}
	}
	if s.ToTime != "" {
		if opt.To, err = time.Parse(time.RFC3339Nano, s.ToTime); err != nil {
			return opt, err
		}
	}
	return opt, nil
}

func (f *reportFlags) check(usage string) error {
	if *f.server == "" || *f.key == "" || *f.apiKey == "" || (*f.out == "") == (*f.verify == "") {
		return fmt.Errorf("%w: %s", errUsage, usage)
	}
	return nil
}

// ledgerPrefix is the verified log as the audit commands read it: every
// entry up to the latest signed checkpoint, checked against its root.
type ledgerPrefix struct {
	cp      *transparency.Checkpoint
	entries [][]byte
	// committed holds the records beside format 2 leaves, opened with
	// verifier (the ledger's key).
	committed map[transparency.ID]committedRecord
	verifier  note.Verifier
}

func readLedger(ctx context.Context, c *apiClient, key string) (*ledgerPrefix, error) {
	body, err := c.get(ctx, "/v1/ledger/checkpoint", nil)
	if err != nil {
		return nil, err
	}
	cp, err := transparency.OpenCheckpoint(body, key, "")
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	entries, committed, err := fetchLeaves(ctx, c, 0, cp.Size)
	if err != nil {
		return nil, err
	}
	if err := checkRoot(entries, cp); err != nil {
		return nil, err
	}
	v, err := transparency.NewLeafVerifier(key)
	if err != nil {
		return nil, err
	}
	return &ledgerPrefix{cp: cp, entries: entries, committed: committed, verifier: v}, nil
}

// prefix decodes the first size entries and computes their root. Entries
// that are not records this build knows (newer record types) are left
// out of every figure; the root still covers them.
func (l *ledgerPrefix) prefix(size uint64) (*report.Prefix, int, error) {
	if size > uint64(len(l.entries)) {
		return nil, 0, fmt.Errorf("the report covers %d entries, the signed log holds %d", size, len(l.entries))
	}
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	p := &report.Prefix{Size: size}
	skipped := 0
	for i, data := range l.entries[:size] {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(data), nil); err != nil {
			return nil, 0, err
		}
		// A format 2 leaf is read through the record it commits to; an
		// erased or foreign one is left out of every figure.
		body := data
		if transparency.LeafFormat(data) == transparency.EnvelopeFormat {
			c, ok := l.committed[transparency.RecordID(data)]
			if _, err := openCommitted(data, l.committed, l.verifier); !ok || err != nil {
				skipped++
				continue
			}
			body = c.record
		}
		// Lifecycle records are read from their JSON form, whether or not
		// this build decodes their type.
		if ev, ok := report.ParseEvent(uint64(i), body); ok {
			p.Events = append(p.Events, ev)
			continue
		}
		rec, err := transparency.DecodeRecord(body)
		if err != nil {
			skipped++
			continue
		}
		p.Entries = append(p.Entries, report.Entry{Index: uint64(i), ID: transparency.RecordID(data).String(), Record: rec})
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, 0, err
	}
	if size == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	p.Root = root
	return p, skipped, nil
}

// reportModels maps model SHA-256s to the packages at hand.
func reportModels(dir string) (map[string]*report.Model, error) {
	pkgs, err := packages(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*report.Model{}
	for _, p := range pkgs {
		out[p.SHA256] = &report.Model{Manifest: p.Manifest, Distribution: p.Distribution}
	}
	return out, nil
}

// reportJSON is the byte form of a report file: indented JSON and a
// newline. --verify compares these bytes.
func reportJSON(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit report", stderr)
	f := newReportFlags(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if err := f.check(reportUsage); err != nil {
		return err
	}
	pkgs, err := reportModels(*f.modelsDir)
	if err != nil {
		return err
	}
	return produce(ctx, f, stdout, reportKind{
		name: "report",
		kind: transparency.ReportMonitoring,
		compute: func(p *report.Prefix, opt report.Options) (any, error) {
			return report.Compute(p, pkgs, opt)
		},
		html: func(w io.Writer, v any) error { return report.WriteHTML(w, v.(*report.Report)) },
		summary: func(w io.Writer, v any) {
			rep := v.(*report.Report)
			fmt.Fprintf(w, "%d segments, %d findings\n", len(rep.Segments), len(rep.Findings))
			for _, fd := range rep.Findings {
				fmt.Fprintf(w, "FINDING %s %s: %s\n", fd.Kind, fd.ModelID, fd.Message)
			}
		},
	})
}

func runFairness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit fairness", stderr)
	f := newReportFlags(fs)
	groupsFile := fs.String("groups", "", "group file: application_id or decision_id, then one column per protected attribute (never sent to the server)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if err := f.check(fairnessUsage); err != nil {
		return err
	}
	if *groupsFile == "" {
		return fmt.Errorf("%w: %s", errUsage, fairnessUsage)
	}
	raw, err := os.ReadFile(*groupsFile)
	if err != nil {
		return err
	}
	groups, err := audit.ReadGroups(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	pkgs, err := reportModels(*f.modelsDir)
	if err != nil {
		return err
	}
	return produce(ctx, f, stdout, reportKind{
		name: "fairness",
		kind: transparency.ReportFairness,
		compute: func(p *report.Prefix, opt report.Options) (any, error) {
			return report.ComputeFairness(p, pkgs, groups, raw, opt)
		},
		html: func(w io.Writer, v any) error { return report.WriteFairnessHTML(w, v.(*report.Fairness)) },
		summary: func(w io.Writer, v any) {
			for _, m := range v.(*report.Fairness).Models {
				for _, a := range m.Attributes {
					for _, g := range a.Groups {
						fmt.Fprintf(w, "  %s %s=%s: %d of %d approved, adverse impact ratio %.3f\n", m.ModelID, a.Attribute, g.Group, g.Approved, g.N, g.Ratio)
					}
				}
			}
		},
	})
}

// reportKind is what differs between the monitoring and the fair-lending
// report.
type reportKind struct {
	name    string // file stem: NAME.json, NAME.html
	kind    string // report record kind (transparency.Report*)
	compute func(*report.Prefix, report.Options) (any, error)
	html    func(io.Writer, any) error
	summary func(io.Writer, any)
}

// produce reads and verifies the ledger, then either recomputes the
// report --verify names or computes a new one over the whole signed log
// and writes it.
func produce(ctx context.Context, f *reportFlags, stdout io.Writer, k reportKind) error {
	c := &apiClient{base: strings.TrimRight(*f.server, "/"), key: *f.apiKey, http: &http.Client{Timeout: 60 * time.Second}}
	led, err := readLedger(ctx, c, *f.key)
	if err != nil {
		return err
	}
	compute := func(p *report.Prefix, opt report.Options) (any, error) {
		opt.Outcomes = report.Outcomes(p)
		return k.compute(p, opt)
	}
	if *f.verify != "" {
		return verifyReport(led, *f.verify, stdout, compute)
	}
	opt, err := f.options(ctx)
	if err != nil {
		return err
	}
	p, skipped, err := led.prefix(led.cp.Size)
	if err != nil {
		return err
	}
	v, err := compute(p, opt)
	if err != nil {
		return err
	}
	sum, err := writeReport(*f.out, k.name, v, func(w io.Writer) error { return k.html(w, v) })
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s of the first %d entries of the signed log (root %x, %d entries of record types this build does not read): %s (SHA-256 %s)\n",
		k.name, p.Size, p.Root, skipped, filepath.Join(*f.out, k.name+".json"), sum)
	k.summary(stdout, v)
	// The report's digest and the prefix it covers go into the ledger, so
	// that the report itself is on record without its contents.
	var rec struct {
		ReportRecord string `json:"report_record"`
	}
	if err := c.postJSON(ctx, "/v1/reports", transparency.Report{Kind: k.kind, SHA256: sum, LogSize: p.Size, LogRoot: hex.EncodeToString(p.Root)}, &rec); err != nil {
		return fmt.Errorf("appending the report record: %w", err)
	}
	fmt.Fprintf(stdout, "report record %s appended to the ledger\n", rec.ReportRecord)
	if r, ok := v.(*report.Report); ok && *f.failOnFindings && len(r.Findings) > 0 {
		return fmt.Errorf("%w: %d", errFindings, len(r.Findings))
	}
	return nil
}

// errFindings makes --fail-on-findings exit non-zero.
var errFindings = errors.New("findings raised")

// postJSON posts v as JSON and decodes a 201 answer into out.
func (c *apiClient) postJSON(ctx context.Context, path string, v, out any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s: %s: %s", path, resp.Status, bytes.TrimSpace(answer))
	}
	return json.Unmarshal(answer, out)
}

// writeReport writes NAME.json and NAME.html into dir and returns the
// JSON's SHA-256.
func writeReport(dir, name string, v any, html func(io.Writer) error) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := reportJSON(v)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		return "", err
	}
	var page bytes.Buffer
	if err := html(&page); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".html"), page.Bytes(), 0o644); err != nil {
		return "", err
	}
	return hexSHA256(b), nil
}

// verifyReport recomputes the report in file from the log prefix it
// names, checks that prefix against the signed log and compares the bytes.
func verifyReport(led *ledgerPrefix, file string, stdout io.Writer, compute func(*report.Prefix, report.Options) (any, error)) error {
	want, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var head struct {
		Log   report.LogRef `json:"log"`
		Scope report.Scope  `json:"scope"`
	}
	if err := json.Unmarshal(want, &head); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	p, _, err := led.prefix(head.Log.Size)
	if err != nil {
		return fmt.Errorf("%w: %v", errMismatch, err)
	}
	if got := hex.EncodeToString(p.Root); got != head.Log.Root {
		fmt.Fprintf(stdout, "MISMATCH: the first %d entries of the signed log (size %d) have root %s, the report says %s\n", head.Log.Size, led.cp.Size, got, head.Log.Root)
		return errMismatch
	}
	opt, err := scopeOptions(head.Scope)
	if err != nil {
		return fmt.Errorf("%s: scope: %w", file, err)
	}
	v, err := compute(p, opt)
	if err != nil {
		return err
	}
	got, err := reportJSON(v)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		line := 1
		for i := 0; i < min(len(got), len(want)) && got[i] == want[i]; i++ {
			if got[i] == '\n' {
				line++
			}
		}
		fmt.Fprintf(stdout, "MISMATCH: %s differs from its recomputation from the first %d entries (root %s), first at line %d\n", file, head.Log.Size, head.Log.Root, line)
		return errMismatch
	}
	sum := hexSHA256(want)
	fmt.Fprintf(stdout, "verified: %s (SHA-256 %s) is exactly what the first %d entries of the signed log (root %s) give\n", file, sum, head.Log.Size, head.Log.Root)
	// Say whether the ledger holds its report record.
	for i, data := range led.entries {
		if rec, err := transparency.DecodeRecord(data); err == nil && rec.Report != nil && rec.Report.SHA256 == sum &&
			rec.Report.LogSize == head.Log.Size && rec.Report.LogRoot == head.Log.Root {
			fmt.Fprintf(stdout, "the ledger records this report at entry %d (record %s)\n", i, transparency.RecordID(data))
			return nil
		}
	}
	fmt.Fprintln(stdout, "the signed log holds no report record for this report")
	return nil
}
