// Package policy is glassbox's governance layer: an embedded Open Policy
// Agent that decides who may call which endpoint, which model packages may
// serve, how a probability of default becomes approve, refer or decline,
// and which decision fields may enter the verifiable ledger.
//
// The rules are Rego files (policy/rego/*.rego) with their parameters in
// policy/rego/data.json, compiled into the binary and replaceable at start
// with a directory of the same layout. Go code here holds no policy of its
// own: it converts typed requests into policy input, evaluates queries that
// were prepared once at start, and converts the answers back. The one
// exception is the reason plan (reasonplan.go), the reason rules of an
// adverse outcome restated over a model's policy parameters, used only with
// the embedded Rego files and tested equal to their evaluation. Every rule
// that can fire carries an OPA METADATA annotation with a stable id and the
// regulation or internal rule it implements; the citations reported to
// callers are read from those annotations by the policy itself.
//
// Policy refusals are returned as a *Violation that wraps ErrDenied (the
// caller may not do this: HTTP 403) or ErrRejected (the request breaks a
// rule: HTTP 422), so that a caller that only checks the error fails closed.
package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// The embedded tree includes the Rego unit tests so that the Go tests run
// exactly the files that ship; the engine itself skips them.
//
//go:embed rego
var embedded embed.FS

// DataFile is the name of the policy data document in a policy directory.
const DataFile = "data.json"

// Queries the engine prepares. They are part of the contract between the Go
// side and the Rego files: an override directory must define them.
const (
	// rulebookRoot is the top-level data document Compile fills from the
	// policy's METADATA: {id: {"title", "citation"}} for every rule with a
	// custom id, so hot-path rules can cite rules they restate.
	rulebookRoot = "rulebook"

	// admittedRoot is the top-level data document the engine writes: one
	// entry per admitted model.
	admittedRoot = "admitted"

	queryAccess    = "data.glassbox.access.decision"
	queryAdmission = "data.glassbox.admission.result"
	queryDecision  = "data.glassbox.decision.outcome"
	queryReasons   = "data.glassbox.decision.reasons_outcome"
	queryLedger    = "data.glassbox.ledger.result"
	queryFields    = "data.glassbox.ledger.fields"
	// queryLifecycle and queryLifecycleSettings are the final-action
	// policy (lifecycle.go).
	queryLifecycle         = "data.glassbox.lifecycle.result"
	queryLifecycleSettings = "data.glassbox.lifecycle.settings"
)

// Engine evaluates glassbox policy. All queries are prepared in New; an
// Engine is safe for concurrent use. Its only change after New is the
// record AdmitModel keeps of admitted models (in policy data and as reason
// plans), which makes later decisions for them cheaper but never
// different.
type Engine struct {
	revision string
	workers  *evaluator
	// store holds data.json and, under admittedRoot, what admission found
	// about each admitted model (see AdmitModel); nothing else is written.
	store        storage.Store
	access       rego.PreparedEvalQuery
	admission    rego.PreparedEvalQuery
	decision     rego.PreparedEvalQuery
	reasons      rego.PreparedEvalQuery
	ledger       rego.PreparedEvalQuery
	ledgerFields []string
	lifecycle    lifecycleQueries
	// accessMemo remembers access grants; nil when the policy calls a
	// non-deterministic built-in and every request must be evaluated.
	accessMemo *accessMemo
	terms      *inputTerms
	// useReasonPlans: the Rego files are the embedded ones, whose
	// reasons_outcome the reason plans restate (see reasonplan.go);
	// reasonPlans are those of the admitted models.
	useReasonPlans bool
	reasonPlans    reasonPlans
}

// File is one policy source file.
type File struct {
	Path string
	Data []byte
}

// New compiles the policy and prepares every query. dir is a directory
// holding *.rego files and data.json (the --policy flag); "" selects the
// policy embedded in the binary. Files ending in _test.rego are Rego unit
// tests and are not loaded.
func New(ctx context.Context, dir string) (*Engine, error) {
	files, err := readPolicy(dir)
	if err != nil {
		return nil, err
	}
	return newEngine(ctx, files)
}

// readPolicy returns the policy files (without tests) of dir, or of the
// embedded policy when dir is "".
func readPolicy(dir string) ([]File, error) {
	var fsys fs.FS
	if dir == "" {
		sub, err := fs.Sub(embedded, "rego")
		if err != nil {
			return nil, fmt.Errorf("policy: embedded files: %w", err)
		}
		fsys = sub
	} else {
		fsys = os.DirFS(dir)
	}
	files, err := ReadFiles(fsys, false)
	if err != nil {
		where := dir
		if where == "" {
			where = "embedded policy"
		}
		return nil, fmt.Errorf("policy: %s: %w", where, err)
	}
	return files, nil
}

// ReadFiles reads the top level of a policy directory: every *.rego file
// and data.json, sorted by path. Rego unit tests (*_test.rego) are included
// only when withTests is set.
func ReadFiles(fsys fs.FS, withTests bool) ([]File, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var files []File
	var haveData, haveRego bool
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() {
			continue
		}
		switch {
		case name == DataFile:
			haveData = true
		case strings.HasSuffix(name, "_test.rego"):
			if !withTests {
				continue
			}
		case path.Ext(name) == ".rego":
			haveRego = true
		default:
			continue
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		files = append(files, File{Path: name, Data: b})
	}
	if !haveRego {
		return nil, errors.New("no .rego files")
	}
	if !haveData {
		return nil, fmt.Errorf("no %s", DataFile)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].Path < files[j].Path })
	return files, nil
}

// EmbeddedFiles returns the embedded policy including its Rego unit tests,
// for `glassbox policy test`-style tooling and the package's own tests.
func EmbeddedFiles() ([]File, error) {
	sub, err := fs.Sub(embedded, "rego")
	if err != nil {
		return nil, err
	}
	return ReadFiles(sub, true)
}

// Revision is the lowercase hex SHA-256 over the policy files in path
// order. Each path and content is length-prefixed so that no two different
// file sets (say, bytes moved from one file's end to the next file's name)
// hash alike.
func Revision(files []File) string {
	sorted := slices.Clone(files)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	h := sha256.New()
	var n [8]byte
	for _, f := range sorted {
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Path)))
		h.Write(n[:])
		h.Write([]byte(f.Path))
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Data)))
		h.Write(n[:])
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Compile parses the Rego files (with METADATA annotations) and loads
// data.json into a fresh store. It is shared by the engine and by tooling
// that runs the Rego unit tests over the same inputs.
func Compile(files []File) (map[string]*ast.Module, storage.Store, error) {
	modules := map[string]*ast.Module{}
	var data map[string]any
	for _, f := range files {
		if f.Path == DataFile {
			if err := util.UnmarshalJSON(f.Data, &data); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", f.Path, err)
			}
			continue
		}
		m, err := ast.ParseModuleWithOpts(f.Path, string(f.Data), ast.ParserOptions{
			ProcessAnnotation: true,
			RegoVersion:       ast.RegoV1,
		})
		if err != nil {
			return nil, nil, err
		}
		modules[f.Path] = m
	}
	if data == nil {
		return nil, nil, fmt.Errorf("%s must be a JSON object", DataFile)
	}
	for _, root := range []string{admittedRoot, rulebookRoot} {
		if _, ok := data[root]; ok {
			return nil, nil, fmt.Errorf("%s: %q is written by the engine and may not be set", DataFile, root)
		}
	}
	data[admittedRoot] = map[string]any{}
	book, err := rulebook(modules)
	if err != nil {
		return nil, nil, err
	}
	data[rulebookRoot] = book
	// AST values on read: data is converted once here instead of on every
	// evaluation.
	store := inmem.NewFromObjectWithOpts(data, inmem.OptReturnASTValuesOnRead(true))
	return modules, store, nil
}

// rulebook collects the title and citation of every rule whose METADATA
// gives it a custom id. Rules may share an id (one rule written as several
// definitions) only if they also share the title and citation.
func rulebook(modules map[string]*ast.Module) (map[string]any, error) {
	book := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(modules)) {
		for _, a := range modules[name].Annotations {
			id, ok := a.Custom["id"].(string)
			if !ok || id == "" {
				continue
			}
			citation, _ := a.Custom["citation"].(string)
			// A rule whose outcome is itself a reason for the applicant
			// (an amount limit, an incomplete application) carries the
			// reason's code and text.
			code, _ := a.Custom["reason_code"].(string)
			text, _ := a.Custom["reason_text"].(string)
			entry := map[string]any{"title": a.Title, "citation": citation, "reason_code": code, "reason_text": text}
			if prev, ok := book[id]; ok && !maps.Equal(prev.(map[string]any), entry) {
				return nil, fmt.Errorf("%s: rule id %s has two different titles or citations", name, id)
			}
			book[id] = entry
		}
	}
	return book, nil
}

func newEngine(ctx context.Context, files []File) (*Engine, error) {
	modules, store, err := Compile(files)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	// One strict compile shared by all prepared queries: strict mode turns
	// unused variables and similar slips in an override policy into start-up
	// errors instead of silently different decisions.
	compiler := ast.NewCompiler().WithStrict(true)
	if compiler.Compile(modules); compiler.Failed() {
		return nil, fmt.Errorf("policy: compile: %w", compiler.Errors)
	}
	e := &Engine{
		revision: Revision(files), store: store, workers: newEvaluator(), terms: newInputTerms(),
		useReasonPlans: embeddedRules(files), reasonPlans: reasonPlans{plans: map[string]*reasonPlan{}},
	}
	if deterministic(compiler.Modules) {
		e.accessMemo = newAccessMemo()
	}
	for _, q := range []struct {
		query string
		dst   *rego.PreparedEvalQuery
	}{
		{queryAccess, &e.access},
		{queryAdmission, &e.admission},
		{queryDecision, &e.decision},
		{queryReasons, &e.reasons},
		{queryLedger, &e.ledger},
		{queryLifecycle, &e.lifecycle.action},
		{queryLifecycleSettings, &e.lifecycle.settings},
	} {
		pq, err := rego.New(
			rego.Query(q.query),
			rego.Compiler(compiler),
			rego.Store(store),
			rego.GenerateJSON(rawResult),
		).PrepareForEval(ctx)
		if err != nil {
			return nil, fmt.Errorf("policy: prepare %s: %w", q.query, err)
		}
		*q.dst = pq
	}
	fields, err := e.readLedgerFields(ctx, compiler, store)
	if err != nil {
		return nil, err
	}
	// A policy that would put identifiers into an append-only log must not
	// start at all.
	if err := e.CheckLedgerFields(ctx, fields); err != nil {
		return nil, fmt.Errorf("policy: ledger fields: %w", err)
	}
	e.ledgerFields = fields
	return e, nil
}

func (e *Engine) readLedgerFields(ctx context.Context, c *ast.Compiler, store storage.Store) ([]string, error) {
	rs, err := rego.New(rego.Query(queryFields), rego.Compiler(c), rego.Store(store), rego.GenerateJSON(rawResult)).Eval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", queryFields, err)
	}
	v, err := single(rs, queryFields)
	if err != nil {
		return nil, err
	}
	t, ok := v.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("policy: %s: unexpected result %T", queryFields, v)
	}
	fields := asStrings(t.Value)
	if len(fields) == 0 {
		return nil, fmt.Errorf("policy: %s: no ledger fields", queryFields)
	}
	return fields, nil
}

// Revision identifies the policy in force (see the package function
// Revision); the API records it with every decision.
func (e *Engine) Revision() string { return e.revision }

// LedgerFields lists the fields of a decision record that go into the
// ledger, in policy order. It is read once at start.
func (e *Engine) LedgerFields() []string { return slices.Clone(e.ledgerFields) }

// single returns the value of a query that must produce exactly one result.
func single(rs rego.ResultSet, query string) (any, error) {
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, fmt.Errorf("policy: %s: %w", query, ErrUndefined)
	}
	return rs[0].Expressions[0].Value, nil
}

// eval runs evalOn on one of the engine's evaluation workers (see
// evaluator). A panic in the evaluation is re-raised on the caller's
// goroutine, where the caller's recovery can see it.
func (e *Engine) eval(ctx context.Context, pq rego.PreparedEvalQuery, query string, input ast.Value) (res map[string]ast.Value, err error) {
	var panicked any
	e.workers.do(func() {
		defer func() { panicked = recover() }()
		res, err = evalOn(ctx, pq, query, input)
	})
	if panicked != nil {
		panic(panicked)
	}
	return res, err
}

// evalOn runs a prepared query on a pre-converted input and returns the
// result object. A missing field reads as Null.
func evalOn(ctx context.Context, pq rego.PreparedEvalQuery, query string, input ast.Value) (map[string]ast.Value, error) {
	// Cancellation is wired with context.AfterFunc instead of OPA's default,
	// which starts a goroutine per evaluation to watch ctx: ~1.5 µs, a
	// quarter of a one-rule query. A cancelled ctx still stops the
	// evaluation at its next step.
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	// No-op metrics: OPA otherwise allocates a metrics set and timers per
	// evaluation that nothing here reads.
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input), rego.EvalMetrics(metrics.NoOp()), rego.EvalExternalCancel(cancel))
	if err != nil {
		return nil, fmt.Errorf("policy: %s: %w", query, err)
	}
	v, err := single(rs, query)
	if err != nil {
		return nil, err
	}
	t, ok := v.(*ast.Term)
	if !ok {
		return nil, fmt.Errorf("policy: %s: result is %T, not a term", query, v)
	}
	if _, ok := t.Value.(ast.Object); !ok {
		return nil, fmt.Errorf("policy: %s: result is %v, not an object", query, t.Value)
	}
	out := make(map[string]ast.Value, 4)
	fields(t.Value, func(k string, v ast.Value) { out[k] = v })
	return out, nil
}

// toValue converts a JSON-encodable value to an AST value via JSON, which
// applies the struct tags the policy is written against.
func toValue(x any) (ast.Value, error) {
	b, err := json.Marshal(x)
	if err != nil {
		return nil, err
	}
	return ast.ValueFromReader(bytes.NewReader(b))
}
