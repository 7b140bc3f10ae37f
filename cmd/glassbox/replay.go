package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// runReplay re-runs every logged decision in a range with the model the
// record pins (by SHA-256) and the policy revision it names, and compares
// score, PD, decision, reasons and attributions bit for bit.
func runReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("audit replay", stderr)
	server := fs.String("server", "", "glassbox base URL")
	key := fs.String("key", "", "the ledger's note verifier key")
	apiKey := fs.String("api-key", os.Getenv("GLASSBOX_API_KEY"), "API key sent with the reads, if any (default $GLASSBOX_API_KEY); the tile API itself is public")
	from := fs.Uint64("from", 0, "first entry index")
	to := fs.Uint64("to", 0, "end of the range, exclusive (default: the checkpoint's tree size)")
	modelsDir := fs.String("models", "", "model packages besides the embedded default")
	policyDir := fs.String("policy", "", "policy folder (default: the embedded policy)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *server == "" || *key == "" {
		return fmt.Errorf("%w: --server and --key are required", errUsage)
	}
	c := &apiClient{base: strings.TrimRight(*server, "/"), key: *apiKey, http: &http.Client{Timeout: 60 * time.Second}}
	// The range and the tiles that prove it against the signed
	// checkpoint, fetched from the public tile API: O(range + log n).
	// Replay judges the logged bytes, not whatever the server chooses to
	// show.
	lr := &tileLogReader{c: c}
	cp, err := lr.checkpoint(ctx, *key)
	if err != nil {
		return err
	}
	end := cp.Size
	if *to != 0 {
		end = *to
	}
	if end > cp.Size || *from > end {
		return fmt.Errorf("%w: range %d..%d is outside the signed tree of size %d", errUsage, *from, end, cp.Size)
	}
	entries, err := lr.verifiedEntries(ctx, cp, *from, end)
	if err != nil {
		return err
	}
	// Format 2 leaves open only with the records the server keeps beside
	// them (regulator reads). They are looked up by the id of the
	// tile-verified leaf, so the server cannot substitute a leaf.
	committed := map[transparency.ID]committedRecord{}
	if *apiKey != "" {
		if _, committed, err = fetchLeaves(ctx, c, *from, end); err != nil {
			return err
		}
	}
	r, err := newReplayer(ctx, *modelsDir, *policyDir)
	if err != nil {
		return err
	}
	// Format 2 leaves are checked against the ledger's key and opened
	// with the records the server gave beside them.
	if r.verifier, err = transparency.NewLeafVerifier(*key); err != nil {
		return err
	}
	r.committed, r.withRecords = committed, *apiKey != ""
	rep := r.replay(ctx, entries)
	for _, p := range rep.problems {
		fmt.Fprintln(stdout, p)
	}
	for _, n := range rep.erasedNotes() {
		fmt.Fprintln(stdout, n)
	}
	life, err := r.lifecycleOfRange(ctx, lr, c, cp, entries, *from, end, *apiKey != "")
	if err != nil {
		return err
	}
	for _, p := range life.lines {
		fmt.Fprintln(stdout, p)
	}
	fmt.Fprintf(stdout, "checked %d lifecycle records: %d problems, %d not checked, %d contests awaiting an answer\n", life.checked, life.problems, life.refused, life.unanswered)
	fmt.Fprintf(stdout, "recomputed %d recourse records\n", rep.recourse)
	if rep.foreign > 0 || rep.erased > 0 || rep.missing > 0 {
		fmt.Fprintf(stdout, "%d foreign leaves (not written by this ledger), %d erased records, %d records missing from the store\n", rep.foreign, rep.erased, rep.missing)
	}
	fmt.Fprintf(stdout, "replayed %d decisions in entries %d..%d of the signed tree of size %d (policy revision %s): %d mismatches, %d not replayable\n",
		rep.replayed, *from, end, cp.Size, r.pol.Revision(), rep.mismatches, rep.refused)
	fmt.Fprintf(stdout, "fetched %d bytes in %d requests\n", c.fetched, c.requests)
	if rep.mismatches > 0 || rep.refused > 0 || rep.foreign > 0 || rep.missing > 0 || life.problems > 0 || life.refused > 0 {
		return errors.New("replay found differences")
	}
	return nil
}

// committedRecord is what the server gave beside a format 2 leaf: the
// record it commits to and the salt, or that it was erased.
type committedRecord struct {
	record, salt []byte
	erased       bool
}

// fetchLeaves reads the leaves in [start, end) and, by leaf id, the
// records beside the format 2 ones.
func fetchLeaves(ctx context.Context, c *apiClient, start, end uint64) ([][]byte, map[transparency.ID]committedRecord, error) {
	var out [][]byte
	committed := map[transparency.ID]committedRecord{}
	for next := start; next < end; {
		n := min(end-next, transparency.MaxEntriesPerRequest)
		raw, err := c.get(ctx, "/v1/ledger/entries", url.Values{
			"start": {strconv.FormatUint(next, 10)}, "count": {strconv.FormatUint(n, 10)}})
		if err != nil {
			return nil, nil, err
		}
		var page struct {
			Entries []struct {
				Index           uint64
				Data            string
				CommittedRecord []byte `json:"committed_record"`
				Salt            string
				Erased          bool
			}
		}
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, nil, fmt.Errorf("entries: %w", err)
		}
		if len(page.Entries) == 0 {
			return nil, nil, fmt.Errorf("entries: none returned at %d", next)
		}
		for _, e := range page.Entries {
			if e.Index != next {
				return nil, nil, fmt.Errorf("entries: got index %d, want %d", e.Index, next)
			}
			data, err := base64.StdEncoding.DecodeString(e.Data)
			if err != nil {
				return nil, nil, fmt.Errorf("entry %d: %w", e.Index, err)
			}
			if e.CommittedRecord != nil || e.Erased {
				salt, err := hex.DecodeString(e.Salt)
				if err != nil {
					return nil, nil, fmt.Errorf("entry %d: salt: %w", e.Index, err)
				}
				committed[transparency.RecordID(data)] = committedRecord{record: e.CommittedRecord, salt: salt, erased: e.Erased}
			}
			out = append(out, data)
			next++
		}
	}
	return out, committed, nil
}

// checkRoot recomputes the RFC 6962 root of the entries and compares it
// with the signed checkpoint.
func checkRoot(entries [][]byte, cp *transparency.Checkpoint) error {
	rf := compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}
	r := rf.NewEmptyRange(0)
	for _, e := range entries {
		if err := r.Append(rfc6962.DefaultHasher.HashLeaf(e), nil); err != nil {
			return err
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	if len(entries) == 0 {
		root = rfc6962.DefaultHasher.EmptyRoot()
	}
	if !bytes.Equal(root, cp.Root) {
		return fmt.Errorf("the entries served do not hash to the signed checkpoint's root (size %d): %w", cp.Size, errInconsistent)
	}
	return nil
}

// lifecycleOfRange checks the lifecycle records in [from, end). They refer
// to decisions anywhere before them, so only when the range holds one is
// the prefix [0, from) read as well (through the same verified tiles);
// a range of decisions alone stays O(range + log n).
func (r *replayer) lifecycleOfRange(ctx context.Context, lr *tileLogReader, c *apiClient, cp *transparency.Checkpoint, entries [][]byte, from, end uint64, withRecords bool) (lifecycleReport, error) {
	linked := false
	for _, data := range entries {
		if rec, err := r.open(data); err == nil && rec.LinkedDecision() != "" {
			linked = true
			break
		}
	}
	if !linked {
		return lifecycleReport{}, nil
	}
	all := entries
	if from > 0 {
		earlier, err := lr.verifiedEntries(ctx, cp, 0, from)
		if err != nil {
			return lifecycleReport{}, err
		}
		if withRecords {
			_, committed, err := fetchLeaves(ctx, c, 0, from)
			if err != nil {
				return lifecycleReport{}, err
			}
			for id, cr := range committed {
				r.committed[id] = cr
			}
		}
		all = append(earlier, entries...)
	}
	return r.checkLifecycle(ctx, all, from, end), nil
}

// replayer holds what re-deciding needs: the policy and the models at hand.
type replayer struct {
	pol    *policy.Engine
	models map[string]*scoring.Model // by SHA-256
	byID   map[string][]string       // id → available SHA-256s
	ex     map[string]*decision.Explainers
	// recourse is prepared on first use, by SHA-256.
	recourse map[string]*explain.Recourser
	// verifier checks format 2 leaves' authenticators; committed holds
	// their records by leaf id (fetchLeaves).
	verifier  note.Verifier
	committed map[transparency.ID]committedRecord
	// withRecords: committed was read (with an API key), so a format 2
	// leaf without its record is a missing record, not an unread one.
	withRecords bool
}

func newReplayer(ctx context.Context, modelsDir, policyDir string) (*replayer, error) {
	pol, err := policy.New(ctx, policyDir)
	if err != nil {
		return nil, err
	}
	pkgs := []*models.Package{}
	def, err := models.Default()
	if err != nil {
		return nil, err
	}
	pkgs = append(pkgs, def)
	if modelsDir != "" {
		more, err := models.LoadAll(modelsDir)
		if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, more...)
	}
	r := &replayer{pol: pol, models: map[string]*scoring.Model{}, byID: map[string][]string{}, ex: map[string]*decision.Explainers{}, recourse: map[string]*explain.Recourser{}}
	for _, p := range pkgs {
		m, err := scoring.Load(p)
		if err != nil {
			return nil, err
		}
		ex, err := decision.NewExplainers(m)
		if err != nil {
			return nil, err
		}
		r.models[m.SHA256], r.ex[m.SHA256] = m, ex
		r.byID[m.Manifest.ID] = append(r.byID[m.Manifest.ID], m.SHA256)
	}
	return r, nil
}

type replayReport struct {
	replayed, mismatches, refused int
	// recourse counts the recourse records recomputed (their decision in
	// the range); recourse mismatches and refusals count in mismatches
	// and refused.
	recourse int
	// foreign counts leaves the ledger did not write; erased, format 2
	// leaves whose records were erased (not replayable, not an error);
	// missing, genuine format 2 leaves whose record the server does not
	// return and that are not erased (a finding).
	foreign, erased, missing int
	problems                 []string
	// erasedIDs are the erased decisions, in log order; erasures the
	// erasure records in the range, by decision id.
	erasedIDs []string
	erasures  map[string]erasureNote
}

type erasureNote struct {
	id    string
	basis string
}

// erasedNotes says, for every erased decision, which erasure record
// erased it: erased decisions are reported as erased, not as missing.
func (rep *replayReport) erasedNotes() []string {
	var out []string
	for _, id := range rep.erasedIDs {
		if n, ok := rep.erasures[id]; ok {
			out = append(out, fmt.Sprintf("%s: erased (erasure record %s, legal basis %q): not replayable, not a failure", id, n.id, n.basis))
		} else {
			out = append(out, fmt.Sprintf("%s: erased; its erasure record is not in the replayed range", id))
		}
	}
	return out
}

func (r *replayer) replay(ctx context.Context, entries [][]byte) replayReport {
	var rep replayReport
	decisions := map[string]*transparency.Record{}
	for _, data := range entries {
		rec, err := r.open(data)
		id := transparency.RecordID(data).String()
		switch {
		case errors.Is(err, transparency.ErrForeign):
			rep.foreign++
			rep.problems = append(rep.problems, fmt.Sprintf("%s: FOREIGN leaf, not a decision: %v", id, err))
			continue
		case errors.Is(err, transparency.ErrErased):
			rep.erased++
			rep.erasedIDs = append(rep.erasedIDs, id)
			continue
		case errors.Is(err, errRecordMissing) && r.withRecords:
			rep.missing++
			rep.problems = append(rep.problems, fmt.Sprintf("%s: MISSING RECORD: %v", id, err))
			continue
		case errors.Is(err, errRecordMissing):
			rep.refused++
			rep.problems = append(rep.problems, fmt.Sprintf("%s: NOT REPLAYED: a format 2 leaf, and its record is read only with a regulator's --api-key", id))
			continue
		}
		if err != nil {
			rep.refused++
			rep.problems = append(rep.problems, fmt.Sprintf("%s: record does not decode: %v", id, err))
			continue
		}
		if rec.Type == transparency.TypeRecourse {
			d, ok := decisions[rec.Recourse.DecisionID]
			if !ok {
				continue // its decision is outside the range
			}
			rep.recourse++
			diffs, err := r.replayRecourse(ctx, rec.Recourse, d)
			switch {
			case err != nil:
				rep.refused++
				rep.problems = append(rep.problems, fmt.Sprintf("%s: recourse NOT RECOMPUTED: %v", id, err))
			case len(diffs) > 0:
				rep.mismatches++
				rep.problems = append(rep.problems, fmt.Sprintf("%s: recourse MISMATCH: %s", id, strings.Join(diffs, "; ")))
			}
			continue
		}
		if rec.Type == transparency.TypeErasure {
			if rep.erasures == nil {
				rep.erasures = map[string]erasureNote{}
			}
			rep.erasures[rec.Erasure.DecisionID] = erasureNote{id: id, basis: rec.Erasure.LegalBasis}
		}
		if rec.Type != transparency.TypeDecision {
			continue
		}
		decisions[id] = rec
		diffs, err := r.replayOne(ctx, rec)
		switch {
		case err != nil:
			rep.refused++
			rep.problems = append(rep.problems, fmt.Sprintf("%s: NOT REPLAYED: %v", id, err))
		case len(diffs) > 0:
			rep.replayed++
			rep.mismatches++
			rep.problems = append(rep.problems, fmt.Sprintf("%s: MISMATCH: %s", id, strings.Join(diffs, "; ")))
		default:
			rep.replayed++
		}
	}
	return rep
}

// open returns the record a leaf is, or commits to.
func (r *replayer) open(data []byte) (*transparency.Record, error) {
	return openCommitted(data, r.committed, r.verifier)
}

// openCommitted decodes a format 1 leaf, or checks a format 2 leaf's
// authenticator with v and opens it with the record the server gave
// beside it (looked up by the leaf's id).
func openCommitted(data []byte, committed map[transparency.ID]committedRecord, v note.Verifier) (*transparency.Record, error) {
	switch transparency.LeafFormat(data) {
	case transparency.RecordFormat:
		return transparency.DecodeRecord(data)
	case 0:
		return nil, fmt.Errorf("%w: the leaf is neither a record nor an envelope", transparency.ErrForeign)
	}
	if v == nil {
		return nil, errors.New("a format 2 leaf, and no verifier key to check it")
	}
	c := committed[transparency.RecordID(data)]
	rec, err := transparency.OpenLeaf(data, c.salt, c.record, v)
	switch {
	case err != nil:
		return nil, err
	case c.erased:
		return nil, transparency.ErrErased
	case rec == nil:
		return nil, errRecordMissing
	}
	return rec, nil
}

// errRecordMissing: the server gave no record for a genuine format 2 leaf
// and does not say it was erased. Read with records (a regulator's API
// key), that is a record missing from the store: every leaf is written
// only once its record is durable, and only erasure removes one.
var errRecordMissing = errors.New("the server gives no record for this format 2 leaf, and it is not erased")

// replayRecourse recomputes the recourse of decision record d and
// compares it with what the recourse record says was shown.
func (r *replayer) replayRecourse(ctx context.Context, rc *transparency.Recourse, d *transparency.Record) ([]string, error) {
	m := r.models[rc.Model.SHA256]
	if m == nil || m.Manifest.ID != rc.Model.ID {
		return nil, fmt.Errorf("model %s (SHA-256 %s) is not available (--models)", rc.Model.ID, rc.Model.SHA256)
	}
	if rc.Policy.Revision != r.pol.Revision() {
		return nil, fmt.Errorf("the recourse was computed under policy revision %s, this is %s (--policy)", rc.Policy.Revision, r.pol.Revision())
	}
	if slices.Contains(d.Omitted(), "features") {
		return nil, errors.New("the decision record withholds its features")
	}
	x, err := m.Vectorize(d.Decision.Inputs())
	if err != nil {
		return nil, fmt.Errorf("logged features do not validate: %w", err)
	}
	recourser := r.recourse[m.SHA256]
	if recourser == nil {
		if recourser, err = decision.NewRecourser(ctx, r.pol, m); err != nil {
			return nil, err
		}
		r.recourse[m.SHA256] = recourser
	}
	cfs, _, digest, err := decision.Recourse(ctx, r.pol, m, r.ex[m.SHA256], recourser, x)
	if err != nil {
		return nil, err
	}
	var diffs []string
	if digest != rc.Digest {
		diffs = append(diffs, fmt.Sprintf("digest logged %s, recomputed %s", rc.Digest, digest))
	}
	if len(cfs) != rc.Suggestions {
		diffs = append(diffs, fmt.Sprintf("%d suggestions logged, %d recomputed", rc.Suggestions, len(cfs)))
	}
	return diffs, nil
}

// replayOne re-decides one record. An error means it could not be
// replayed at all (model or policy not the pinned ones, fields withheld).
func (r *replayer) replayOne(ctx context.Context, rec *transparency.Record) ([]string, error) {
	d := rec.Decision
	for _, f := range rec.Omitted() {
		switch f {
		case "features", "model", "policy", "decision", "probability_of_default", "raw_score", "score", "reasons", "attributions", "expected_value":
			return nil, fmt.Errorf("the record withholds %q", f)
		}
	}
	m := r.models[d.Model.SHA256]
	if m == nil || m.Manifest.ID != d.Model.ID {
		if have := r.byID[d.Model.ID]; len(have) > 0 {
			return nil, fmt.Errorf("refusing to replay with model %s %s: the record pins SHA-256 %s", d.Model.ID, have[0], d.Model.SHA256)
		}
		return nil, fmt.Errorf("model %s (SHA-256 %s) is not available (--models)", d.Model.ID, d.Model.SHA256)
	}
	if d.Policy.Revision != r.pol.Revision() {
		return nil, fmt.Errorf("the record was decided under policy revision %s, this is %s (--policy)", d.Policy.Revision, r.pol.Revision())
	}
	x, err := m.Vectorize(d.Inputs())
	if err != nil {
		return nil, fmt.Errorf("logged features do not validate: %w", err)
	}
	ev, err := decision.Evaluate(ctx, r.pol, m, r.ex[m.SHA256], x)
	if err != nil {
		return []string{fmt.Sprintf("re-deciding fails: %v", err)}, nil
	}
	var diffs []string
	num := func(name string, logged, now float64) {
		if math.Float64bits(logged) != math.Float64bits(now) {
			diffs = append(diffs, fmt.Sprintf("%s logged %v, replayed %v", name, logged, now))
		}
	}
	num("raw_score", d.RawScore, ev.Prediction.Raw)
	num("probability_of_default", d.ProbabilityOfDefault, ev.Prediction.PD)
	num("score", d.Score, ev.Prediction.Score)
	num("expected_value", d.ExpectedValue, ev.Contributions[len(ev.Contributions)-1])
	if d.Decision != string(ev.Outcome.Decision) {
		diffs = append(diffs, fmt.Sprintf("decision logged %q, replayed %q", d.Decision, ev.Outcome.Decision))
	}
	for i, f := range m.Manifest.Features {
		num("attributions."+f.Name, d.Attributions[f.Name], ev.Contributions[i])
	}
	if len(d.Attributions) != m.NumFeatures() {
		diffs = append(diffs, fmt.Sprintf("%d attributions logged, model has %d features", len(d.Attributions), m.NumFeatures()))
	}
	if len(d.Reasons) != len(ev.Reasons) {
		diffs = append(diffs, fmt.Sprintf("%d reasons logged, %d replayed", len(d.Reasons), len(ev.Reasons)))
	} else {
		for i, lr := range d.Reasons {
			er := ev.Reasons[i]
			if lr.Code != er.Code || lr.Feature != er.Feature || lr.Text != er.Text || lr.Rule != er.Rule {
				diffs = append(diffs, fmt.Sprintf("reason %d logged %s/%s, replayed %s/%s", i+1, lr.Code, lr.Feature, er.Code, er.Feature))
			}
			// A legacy reason has no direction or reference to compare.
			if !lr.Legacy && (lr.Direction != er.Direction || !sameValue(lr.Reference, er.Reference)) {
				diffs = append(diffs, fmt.Sprintf("reason %d (%s) logged direction %q reference %v, replayed %q %v", i+1, lr.Code, lr.Direction, lr.Reference, er.Direction, er.Reference))
			}
			switch {
			case lr.Contribution != nil && er.Contribution != nil:
				num(fmt.Sprintf("reasons[%d].contribution", i), *lr.Contribution, *er.Contribution)
			case (lr.Contribution == nil) != (er.Contribution == nil):
				diffs = append(diffs, fmt.Sprintf("reason %d (%s): contribution logged %v, replayed %v", i+1, lr.Code, lr.Contribution, er.Contribution))
			}
		}
	}
	if !slices.Contains(rec.Omitted(), "reason_method") && d.ReasonMethod != ev.ReasonMethod {
		diffs = append(diffs, fmt.Sprintf("reason_method logged %q, replayed %q", d.ReasonMethod, ev.ReasonMethod))
	}
	return diffs, nil
}

// sameValue compares a logged reference value with a replayed one.
func sameValue(logged transparency.FeatureValue, now any) bool {
	switch x := now.(type) {
	case float64:
		v, ok := logged.Number()
		return ok && math.Float64bits(v) == math.Float64bits(x)
	case string:
		l, ok := logged.Level()
		return ok && l == x
	}
	return logged.IsMissing()
}
