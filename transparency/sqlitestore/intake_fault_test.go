package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/trillian"

	"github.com/glassbox-ledger/glassbox/transparency/sqlitestore/faultfs"
)

// waitWritable polls until the intake accepts appends again.
func waitWritable(tb testing.TB, p *Provider) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for p.Writable() != nil {
		if time.Now().After(deadline) {
			tb.Fatalf("intake still refusing appends: %v", p.Writable())
		}
		time.Sleep(probeInterval / 2)
	}
}

// TestIntakeFaults drives each kind of fault into appends and checks the
// promise the intake makes: a QueueLeaves that returned an error wrapping
// ErrNotRecorded never has its leaves come back, not after the fault is
// cleared and not after a crash and recovery; every acknowledged leaf
// does; and the intake resumes by itself once the cause is gone.
func TestIntakeFaults(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		faults []faultfs.Fault
		// crashWhileFailing restarts before the cause is cleared.
		crashWhileFailing bool
	}{
		{name: "ENOSPC part-way through a write", faults: []faultfs.Fault{{Op: faultfs.Write, Err: syscall.ENOSPC, Partial: 0.5, Skip: 2, Count: -1}}},
		{name: "EIO on write", faults: []faultfs.Fault{{Op: faultfs.Write, Err: syscall.EIO, Partial: 0.3, Skip: 3, Count: 2}}},
		{name: "EIO on fsync", faults: []faultfs.Fault{{Op: faultfs.Sync, Err: syscall.EIO, Skip: 2, Count: 1}}},
		{name: "EIO on fsync, restart while failing", faults: []faultfs.Fault{{Op: faultfs.Sync, Err: syscall.EIO, Skip: 2, Count: -1}}, crashWhileFailing: true},
		{name: "read-only directory", faults: []faultfs.Fault{{Op: faultfs.Create, Err: syscall.EROFS, Count: -1}}},
		{name: "fsync and the cut both fail", faults: []faultfs.Fault{
			{Op: faultfs.Sync, Err: syscall.EIO, Skip: 1, Count: 1},
			{Op: faultfs.Truncate, Err: syscall.EIO, Count: 3},
		}},
		{name: "fsync and the cut both fail, restart while failing", faults: []faultfs.Fault{
			{Op: faultfs.Sync, Err: syscall.EIO, Skip: 1, Count: 1},
			{Op: faultfs.Truncate, Err: syscall.EIO, Count: -1},
		}, crashWhileFailing: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "fault.db")
			fsys := faultfs.New()
			p, err := OpenWith(ctx, path, nil, Options{FS: fsys, SegmentBytes: 2048})
			if err != nil {
				t.Fatal(err)
			}
			tr := newLog(ctx, t, p)
			var acked, refused []*trillian.LogLeaf
			try := func(prefix string, n int) error {
				for i := range n {
					leaf := newLeaf(fmt.Sprintf("%s-%d", prefix, i))
					_, err := p.LogStorage().QueueLeaves(ctx, tr, []*trillian.LogLeaf{leaf}, time.Now())
					switch {
					case err == nil:
						acked = append(acked, leaf)
					case errors.Is(err, ErrNotRecorded):
						refused = append(refused, leaf)
					default:
						return fmt.Errorf("QueueLeaves(%s-%d) = %v, want nil or ErrNotRecorded", prefix, i, err)
					}
				}
				return nil
			}
			if err := try("before", 3); err != nil || len(refused) > 0 {
				t.Fatalf("before the fault: %v, %d refused", err, len(refused))
			}
			for _, f := range tc.faults {
				fsys.Arm(f)
			}
			// Enough appends to reach the armed operation, including a
			// segment rotation for the read-only directory.
			if err := try("during", 40); err != nil {
				t.Fatal(err)
			}
			if len(refused) == 0 || fsys.Injected() == 0 {
				t.Fatalf("no append refused (%d faults injected)", fsys.Injected())
			}
			if tc.crashWhileFailing {
				if p.Writable() == nil {
					t.Fatal("Writable() = nil while the fault persists")
				}
				crash(t, p)
			} else {
				fsys.Clear()
				waitWritable(t, p)
				if err := try("after", 5); err != nil {
					t.Fatal(err)
				}
				crash(t, p)
			}
			p = openSmall(t, path)
			got := integrate(ctx, t, p.LogStorage(), tr, 100)
			leaves := sequenced(ctx, t, p.LogStorage(), tr, int64(got))
			in := map[string]bool{}
			for _, l := range leaves {
				in[string(l.LeafValue)] = true
			}
			for _, l := range refused {
				if in[string(l.LeafValue)] {
					t.Errorf("refused leaf %q is in the log after recovery", l.LeafValue)
				}
			}
			for _, l := range acked {
				if !in[string(l.LeafValue)] {
					t.Errorf("acknowledged leaf %q is missing after recovery", l.LeafValue)
				}
			}
			if got != len(acked) {
				t.Errorf("%d leaves in the log, want the %d acknowledged", got, len(acked))
			}
			var marks int
			if err := p.reader.QueryRowContext(ctx, "SELECT count(*) FROM IntakeVoid").Scan(&marks); err != nil || marks != 0 {
				t.Errorf("%d void marks left after recovery (%v)", marks, err)
			}
		})
	}
}

// TestIntakeDamagedNewestSegment: a record with a bad checksum followed by
// valid records, even in the newest segment, is damage: Open refuses and
// names the file and offset instead of cutting acknowledged entries off.
func TestIntakeDamagedNewestSegment(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "damaged.db")
	p, err := OpenWith(ctx, path, nil, Options{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	tr := newLog(ctx, t, p)
	for i := range 5 {
		queue(ctx, t, p.LogStorage(), tr, newLeaves(fmt.Sprintf("d%d", i), 1))
	}
	crash(t, p)
	segs := segments(t, path)
	if len(segs) != 1 {
		t.Fatalf("%d segments, want 1", len(segs))
	}
	b, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	// Damage the second record's body.
	first := int(len(intakeMagic))
	second := first + recordHeader + int(uint32(b[first])<<24|uint32(b[first+1])<<16|uint32(b[first+2])<<8|uint32(b[first+3]))
	b[second+recordHeader+40] ^= 0x01
	if err := os.WriteFile(segs[0], b, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = OpenWith(ctx, path, nil, Options{SegmentBytes: 1 << 20})
	want := fmt.Sprintf("%s at offset %d", segs[0], second)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "not a torn tail") {
		t.Fatalf("Open() = %v, want an error naming %q", err, want)
	}
	// Nothing was cut.
	after, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(b) {
		t.Errorf("segment cut from %d to %d bytes", len(b), len(after))
	}
}

// TestIntakeZeroFilledTail: a newest segment that ends in zeros (extended
// by a crash before its data reached the disk) is a torn tail: cut, and
// every acknowledged entry kept.
func TestIntakeZeroFilledTail(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "zeros.db")
	p, err := OpenWith(ctx, path, nil, Options{SegmentBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	tr := newLog(ctx, t, p)
	leaves := newLeaves("z", 4)
	queue(ctx, t, p.LogStorage(), tr, leaves)
	crash(t, p)
	segs := segments(t, path)
	b, err := os.ReadFile(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(segs[len(segs)-1], append(b, make([]byte, 4096)...), 0o600); err != nil {
		t.Fatal(err)
	}
	p = openSmall(t, path)
	after, err := os.ReadFile(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(b) {
		t.Errorf("segment is %d bytes after recovery, want %d", len(after), len(b))
	}
	if got := integrate(ctx, t, p.LogStorage(), tr, 10); got != len(leaves) {
		t.Errorf("integrated %d, want %d", got, len(leaves))
	}
}
