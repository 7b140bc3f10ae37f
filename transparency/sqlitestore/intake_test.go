package sqlitestore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// openSmall opens a Provider at path whose intake starts a new segment
// every few records, so tests see several segments.
func openSmall(tb testing.TB, path string) *Provider {
	tb.Helper()
	p, err := OpenWith(context.Background(), path, nil, Options{SegmentBytes: 2048})
	if err != nil {
		tb.Fatalf("open %q: %v", path, err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
	})
	return p
}

// crash leaves p as a killed process would: the intake is neither drained
// nor closed cleanly. (Closing the database handles only releases them;
// what SQLite committed is what a crash would have left.)
func crash(tb testing.TB, p *Provider) {
	tb.Helper()
	p.intake.abandon()
	p.closeOnce.Do(func() {})
	_ = p.log.ws.close()
	_ = p.log.rs.close()
	_ = p.reader.Close()
	_ = p.writer.Close()
}

func segments(tb testing.TB, dbPath string) []string {
	tb.Helper()
	names, err := filepath.Glob(filepath.Join(dbPath+intakeSuffix, "*"+segmentExt))
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(names)
	return names
}

func wantPending(tb testing.TB, p *Provider, want int) {
	tb.Helper()
	if n := len(p.intake.snapshot()); n != want {
		tb.Fatalf("%d intake entries pending, want %d", n, want)
	}
}

func countRows(ctx context.Context, tb testing.TB, p *Provider, table string, treeID int64) int {
	tb.Helper()
	var n int
	if err := p.reader.QueryRowContext(ctx, "SELECT count(*) FROM "+table+" WHERE TreeId = ?", treeID).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestIntakeSurvivesCrash queues leaves, integrates some, queues more and
// crashes. After reopening, every acknowledged leaf is integrated exactly
// once and the root matches an independent computation.
func TestIntakeSurvivesCrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	p := openSmall(t, path)
	tr := newLog(ctx, t, p)
	first := newLeaves("first", 40)
	queue(ctx, t, p.LogStorage(), tr, first)
	if got := integrate(ctx, t, p.LogStorage(), tr, 16); got != len(first) {
		t.Fatalf("integrated %d, want %d", got, len(first))
	}
	second := newLeaves("second", 25)
	for i := 0; i < len(second); i += 5 {
		queue(ctx, t, p.LogStorage(), tr, second[i:i+5])
	}
	if n := len(segments(t, path)); n < 2 {
		t.Fatalf("%d segments; the test wants several", n)
	}
	crash(t, p)

	p = openSmall(t, path)
	ls := p.LogStorage()
	// Only what was not yet in the database is read back.
	wantPending(t, p, len(second))
	if got := integrate(ctx, t, ls, tr, 16); got != len(second) {
		t.Fatalf("integrated %d leaves after the crash, want %d", got, len(second))
	}
	leaves := sequenced(ctx, t, ls, tr, int64(len(first)+len(second)))
	if !sameLeaves(leaves[:len(first)], first) || !sameLeaves(leaves[len(first):], second) {
		t.Fatal("integrated leaves differ from the queued ones")
	}
	if root := latestRoot(ctx, t, ls, tr); !bytes.Equal(root.RootHash, rootOf(t, leaves)) || root.TreeSize != uint64(len(leaves)) {
		t.Errorf("root %d/%x, want %d/%x", root.TreeSize, root.RootHash, len(leaves), rootOf(t, leaves))
	}
	// Re-queueing after the crash finds every leaf.
	for _, r := range queue(ctx, t, ls, tr, append(slices.Clone(first[:2]), second[:2]...)) {
		if r.Status == nil || r.Status.Code == 0 {
			t.Errorf("leaf %q queued again after the crash", r.Leaf.LeafValue)
		}
	}
	// Wholly moved segments are deleted; the newest stays.
	if n := len(segments(t, path)); n != 1 {
		t.Errorf("%d segments left after integrating everything, want 1", n)
	}
}

// TestIntakeTornTail appends half a record to the newest segment, as a
// crash during an unacknowledged append would: Open cuts it off and keeps
// everything before it.
func TestIntakeTornTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "torn.db")
	p := openSmall(t, path)
	tr := newLog(ctx, t, p)
	leaves := newLeaves("torn", 3)
	queue(ctx, t, p.LogStorage(), tr, leaves)
	crash(t, p)

	segs := segments(t, path)
	newest := segs[len(segs)-1]
	before, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	whole := appendRecord(nil, intakeEntry{seq: 99, treeID: tr.TreeId, leaf: withTime(newLeaf("never acknowledged"))})
	f, err := os.OpenFile(newest, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(whole[:len(whole)/2]); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	p = openSmall(t, path)
	after, err := os.Stat(newest)
	if err != nil {
		t.Fatal(err)
	}
	if after.Size() != before.Size() {
		t.Errorf("newest segment is %d bytes after recovery, want %d", after.Size(), before.Size())
	}
	if got := integrate(ctx, t, p.LogStorage(), tr, 10); got != len(leaves) {
		t.Errorf("integrated %d, want %d", got, len(leaves))
	}
}

// TestIntakeRefusesDamage: a damaged record in a closed segment, or a
// missing segment, is not a torn append; Open must stop rather than drop
// acknowledged leaves.
func TestIntakeRefusesDamage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, segs []string)
		want   string
	}{
		{"flipped byte in a closed segment", func(t *testing.T, segs []string) {
			b, err := os.ReadFile(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			b[len(intakeMagic)+recordHeader+30] ^= 0xff
			if err := os.WriteFile(segs[0], b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "damaged record"},
		{"oldest segment deleted", func(t *testing.T, segs []string) {
			if err := os.Remove(segs[0]); err != nil {
				t.Fatal(err)
			}
		}, "missing"},
		{"not a segment", func(t *testing.T, segs []string) {
			if err := os.WriteFile(segs[0], []byte("something else entirely, and long enough"), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not an intake segment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "damaged.db")
			p := openSmall(t, path)
			tr := newLog(ctx, t, p)
			for i := range 12 {
				queue(ctx, t, p.LogStorage(), tr, newLeaves(strings.Repeat("x", i+1), 4))
			}
			crash(t, p)
			segs := segments(t, path)
			if len(segs) < 2 {
				t.Fatalf("%d segments; the test wants several", len(segs))
			}
			tc.damage(t, segs)
			_, err := OpenWith(ctx, path, nil, Options{SegmentBytes: 2048})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open() = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestIntakeDrainsWithoutSequencer: with no dequeuing transaction, queued
// leaves still reach the database, and a clean Close leaves nothing behind.
func TestIntakeDrainsWithoutSequencer(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "idle.db")
	p := openSmall(t, path)
	tr := newLog(ctx, t, p)
	queue(ctx, t, p.LogStorage(), tr, newLeaves("idle", 7))
	deadline := time.Now().Add(10 * drainAfter)
	for countRows(ctx, t, p, "Unsequenced", tr.TreeId) != 7 {
		if time.Now().After(deadline) {
			t.Fatalf("leaves not drained after %v", 10*drainAfter)
		}
		time.Sleep(drainAfter / 5)
	}

	queue(ctx, t, p.LogStorage(), tr, newLeaves("at close", 3))
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = openSmall(t, path)
	if n := countRows(ctx, t, p, "Unsequenced", tr.TreeId); n != 10 {
		t.Errorf("%d leaves queued in the database after Close, want 10", n)
	}
	wantPending(t, p, 0)
}

// TestIntakeDropsDeletedTree: leaves pending for a tree that is then hard
// deleted are discarded without failing the drain for other trees.
func TestIntakeDropsDeletedTree(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	gone, kept := newLog(ctx, t, p), newLog(ctx, t, p)
	queue(ctx, t, p.LogStorage(), gone, newLeaves("gone", 3))
	queue(ctx, t, p.LogStorage(), kept, newLeaves("kept", 2))
	if _, err := storage.SoftDeleteTree(ctx, p.AdminStorage(), gone.TreeId); err != nil {
		t.Fatal(err)
	}
	if err := storage.HardDeleteTree(ctx, p.AdminStorage(), gone.TreeId); err != nil {
		t.Fatal(err)
	}
	if got := integrate(ctx, t, p.LogStorage(), kept, 10); got != 2 {
		t.Errorf("integrated %d leaves of the kept tree, want 2", got)
	}
	if n := countRows(ctx, t, p, "Leaves", gone.TreeId); n != 0 {
		t.Errorf("deleted tree has %d leaves", n)
	}
	wantPending(t, p, 0)
}

func withTime(l *trillian.LogLeaf) *trillian.LogLeaf {
	l.QueueTimestamp = timestamppb.New(time.Unix(1700000000, 123))
	return l
}

// FuzzIntakeRecord: a record decodes to the entry it was encoded from, and
// arbitrary bytes never make the decoder panic.
func FuzzIntakeRecord(f *testing.F) {
	f.Add(uint64(1), int64(7), []byte("value"), []byte(nil), false, int64(0))
	f.Add(uint64(1<<40), int64(-3), []byte{}, []byte{}, true, int64(-1))
	f.Fuzz(func(t *testing.T, seq uint64, tree int64, value, extra []byte, hasExtra bool, nanos int64) {
		l := newLeaf(string(value))
		l.LeafValue = value
		if hasExtra && extra == nil {
			extra = []byte{}
		}
		if !hasExtra {
			extra = nil
		}
		l.ExtraData = extra
		l.QueueTimestamp = timestamppb.New(time.Unix(0, nanos))
		e := intakeEntry{seq: seq, treeID: tree, leaf: l}
		rec := appendRecord(nil, e)
		body, ok := record(rec)
		if !ok {
			t.Fatal("record does not check")
		}
		got, err := decodeEntry(body)
		if err != nil {
			t.Fatal(err)
		}
		if got.seq != seq || got.treeID != tree || !proto.Equal(got.leaf, l) || (got.leaf.ExtraData == nil) != (extra == nil) {
			t.Fatalf("round trip: got %+v, want %+v", got, e)
		}
		// Every truncation and the raw input must be refused or decoded,
		// never panic.
		for i := range rec {
			if b, ok := record(rec[:i]); ok {
				_, _ = decodeEntry(b)
			}
		}
		_, _ = decodeEntry(value)
	})
}

// TestDequeueMergesStoredAndHeld: leaves already in Unsequenced and leaves
// moved from the intake in the dequeuing transaction come out as one queue
// in (timestamp, identity) order under the cutoff, and leaves handed out
// but not sequenced stay queued after the commit.
func TestDequeueMergesStoredAndHeld(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	ls := p.LogStorage()
	tr := newLog(ctx, t, p)
	at := func(sec int64) time.Time { return time.Unix(1700000000+sec, 0) }
	stored := []*trillian.LogLeaf{newLeaf("t10"), newLeaf("t30")}
	if _, err := ls.QueueLeaves(ctx, tr, stored[:1], at(10)); err != nil {
		t.Fatal(err)
	}
	if _, err := ls.QueueLeaves(ctx, tr, stored[1:], at(30)); err != nil {
		t.Fatal(err)
	}
	if err := p.intake.drainOwn(ctx); err != nil { // into Unsequenced
		t.Fatal(err)
	}
	for _, l := range []struct {
		name string
		sec  int64
	}{{"t20", 20}, {"t40", 40}, {"t35", 35}} {
		if _, err := ls.QueueLeaves(ctx, tr, []*trillian.LogLeaf{newLeaf(l.name)}, at(l.sec)); err != nil {
			t.Fatal(err)
		}
	}
	wantPending(t, p, 3)

	dequeue := func(limit int, cutoff time.Time, commit bool) []string {
		t.Helper()
		var got []string
		err := ls.ReadWriteTransaction(ctx, tr, func(ctx context.Context, tx storage.LogTreeTX) error {
			// Two calls, as a sequencer may make: the second resumes
			// after the first.
			for _, n := range []int{limit / 2, limit - limit/2} {
				leaves, err := tx.DequeueLeaves(ctx, n, cutoff)
				if err != nil {
					return err
				}
				for _, l := range leaves {
					got = append(got, strconv.FormatInt(l.QueueTimestamp.AsTime().Unix()-1700000000, 10))
				}
			}
			if !commit {
				return errRollback
			}
			return nil
		})
		if err != nil && err != errRollback {
			t.Fatal(err)
		}
		return got
	}
	// Rolled back: the intake still holds its entries.
	if got := dequeue(4, at(36), false); !slices.Equal(got, []string{"10", "20", "30", "35"}) {
		t.Errorf("dequeued %v, want 10 20 30 35", got)
	}
	wantPending(t, p, 3)
	// Committed without sequencing: everything is in Unsequenced now.
	if got := dequeue(3, at(36), true); !slices.Equal(got, []string{"10", "20", "30"}) {
		t.Errorf("dequeued %v, want 10 20 30", got)
	}
	wantPending(t, p, 0)
	if n := countRows(ctx, t, p, "Unsequenced", tr.TreeId); n != 5 {
		t.Errorf("%d leaves in Unsequenced, want 5", n)
	}
	if got := dequeue(10, at(100), true); !slices.Equal(got, []string{"10", "20", "30", "35", "40"}) {
		t.Errorf("dequeued %v, want all five in order", got)
	}
}

var errRollback = errors.New("roll back")
