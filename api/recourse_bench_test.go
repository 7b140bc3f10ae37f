package api

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/recoursestore"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// Run with: go test ./api/ -run '^$' -bench 'BenchmarkRecourse' -cpu 1
// (see docs/recourse.md). Each reports the median process CPU time per
// operation (getrusage), which, unlike ns/op, does not grow with the
// load other processes put on the machine.

// recourseBench is a server with the real policy, the default model and
// an SQLite recourse store, and the adverse decisions of the test set as
// records.
type recourseBench struct {
	s       *Server
	adverse []*transparency.Record
}

func newRecourseBench(b testing.TB) *recourseBench {
	b.Helper()
	ctx := context.Background()
	pol, err := policy.New(ctx, "")
	if err != nil {
		b.Fatal(err)
	}
	pkg, err := models.Default()
	if err != nil {
		b.Fatal(err)
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := pol.AdmitPackage(ctx, m.Manifest, m.SHA256, m.Reference); err != nil {
		b.Fatal(err)
	}
	ex, err := NewExplainers(m)
	if err != nil {
		b.Fatal(err)
	}
	store, err := recoursestore.Open(ctx, filepath.Join(b.TempDir(), "recourse.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	s := &Server{policy: pol, recourse: store, now: time.Now, log: slog.New(slog.DiscardHandler), models: map[string]*servedModel{}}
	rc, err := s.newRecourser(ctx, m)
	if err != nil {
		b.Fatal(err)
	}
	s.models[m.Manifest.ID] = &servedModel{model: m, explainer: ex, recourse: rc}
	f, err := os.Open("../testdata/credit_test.csv")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	rows, err := scoring.ReadCSV(f, m.Ensemble.FeatureNames)
	if err != nil {
		b.Fatal(err)
	}
	rb := &recourseBench{s: s}
	for _, x := range rows {
		ev, err := Evaluate(ctx, pol, m, ex, x)
		if err != nil {
			b.Fatal(err)
		}
		if ev.Outcome.Decision == policy.Approve {
			continue
		}
		d := &transparency.Decision{Model: transparency.ModelRef{ID: m.Manifest.ID, SHA256: m.SHA256},
			Decision: string(ev.Outcome.Decision), Features: map[string]transparency.FeatureValue{}}
		for i, feat := range m.Manifest.Features {
			switch {
			case math.IsNaN(x[i]):
				d.Features[feat.Name] = transparency.MissingValue()
			case feat.Type == models.Categorical:
				d.Features[feat.Name] = transparency.LevelValue(feat.Levels[int(x[i])])
			default:
				d.Features[feat.Name] = transparency.NumberValue(x[i])
			}
		}
		rec, err := transparency.NewRecord(time.Now(), d)
		if err != nil {
			b.Fatal(err)
		}
		rb.adverse = append(rb.adverse, rec)
	}
	return rb
}

// processCPU is the CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchCPU runs op b.N times and reports the median CPU time per op.
func benchCPU(b *testing.B, op func(i int)) {
	runtime.GC()
	var cpu []time.Duration
	i := 0
	for b.Loop() {
		t0 := processCPU(b)
		op(i)
		cpu = append(cpu, processCPU(b)-t0)
		i++
	}
	slices.Sort(cpu)
	b.ReportMetric(float64(cpu[len(cpu)/2])/1e6, "median-cpu-ms/op")
}

func decisionID(i int) transparency.ID {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	return sha256.Sum256(n[:])
}

// BenchmarkRecourseFirst is the first computation of one decision's
// recourse on credit-risk-v1, as the server runs it: the search, every
// suggestion checked through Evaluate and the real policy, the recourse
// record sealed and the entry written to the SQLite store (appending to
// the ledger is I/O, not measured here). It cycles over the test set's
// adverse decisions.
func BenchmarkRecourseFirst(b *testing.B) {
	rb := newRecourseBench(b)
	ctx := context.Background()
	benchCPU(b, func(i int) {
		rec := rb.adverse[i%len(rb.adverse)]
		if _, err := rb.s.computeRecourse(ctx, decisionID(i).String(), rec); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkRecourseRead is a later read of a decision's recourse: from the
// store, decoded, as recourseFor serves every request after the first.
func BenchmarkRecourseRead(b *testing.B) {
	rb := newRecourseBench(b)
	ctx := context.Background()
	const stored = 50
	for i := range stored {
		id := decisionID(i).String()
		if _, err := rb.s.computeRecourse(ctx, id, rb.adverse[i]); err != nil {
			b.Fatal(err)
		}
		if err := rb.s.recourse.MarkAppended(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
	benchCPU(b, func(i int) {
		k := i % stored
		v := rb.s.recourseFor(ctx, &transparency.Entry{ID: decisionID(k)}, rb.adverse[k])
		if v.RecordID == "" {
			b.Fatalf("decision %d: %+v", k, v)
		}
	})
}

// flakyLedger fails appends while down is set and counts the appends it
// accepted.
type flakyLedger struct {
	Ledger // only the sealing methods and AppendSealed are used here
	down   bool
	got    []transparency.Sealed
}

// Seal, PutRecord and Reseal keep records in clear (format 1), as a
// ledger without a record store does.
func (l *flakyLedger) Seal(r *transparency.Record) (transparency.Sealed, error) { return r.Seal() }

func (l *flakyLedger) PutRecord(context.Context, transparency.Sealed) error { return nil }

// Erasure: nothing is erased here.
func (l *flakyLedger) Erasure(context.Context, transparency.ID) (*transparency.ErasureInfo, error) {
	return nil, transparency.ErrNotFound
}

func (l *flakyLedger) Reseal(_ context.Context, leaf []byte) (transparency.Sealed, error) {
	r, err := transparency.DecodeRecord(leaf)
	if err != nil {
		return transparency.Sealed{}, err
	}
	return r.Seal()
}

func (l *flakyLedger) AppendSealed(_ context.Context, s transparency.Sealed) (transparency.Receipt, error) {
	if l.down {
		return transparency.Receipt{}, errors.New("disk full")
	}
	l.got = append(l.got, s)
	return transparency.Receipt{}, nil
}

// TestRecourseShownOnlyOnceRecorded: while the ledger refuses the
// recourse record nothing is shown; once it accepts, the very record
// stored before the failure is appended (same id), once.
func TestRecourseShownOnlyOnceRecorded(t *testing.T) {
	rb := newRecourseBench(t)
	l := &flakyLedger{down: true}
	rb.s.ledger = l
	ctx := context.Background()
	var rec *transparency.Record
	for i, r := range rb.adverse {
		if e, err := rb.s.computeRecourse(ctx, decisionID(-1-i).String(), r); err == nil && string(e.Counterfactuals) != "[]" {
			rec = r
			break
		}
	}
	if rec == nil {
		t.Fatal("no adverse decision with recourse")
	}
	entry := &transparency.Entry{ID: decisionID(1)}
	v := rb.s.recourseFor(ctx, entry, rec)
	if len(v.Counterfactuals) != 0 || v.RecordID != "" || v.Message != recourseUnrecorded {
		t.Fatalf("shown while unrecorded: %+v", v)
	}
	stored, ok, err := rb.s.recourse.Get(ctx, entry.ID.String())
	if err != nil || !ok || stored.Appended {
		t.Fatalf("store after the failed append: %+v %v %v", stored, ok, err)
	}
	l.down = false
	for range 2 {
		v = rb.s.recourseFor(ctx, entry, rec)
		if len(v.Counterfactuals) == 0 || v.RecordID != stored.RecordID {
			t.Fatalf("after recovery: %+v, stored record %s", v, stored.RecordID)
		}
	}
	if len(l.got) != 1 || l.got[0].ID().String() != stored.RecordID {
		t.Fatalf("appended %d records, want the stored one once", len(l.got))
	}
}
