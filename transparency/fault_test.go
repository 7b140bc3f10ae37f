package transparency

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/trillian"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCheckpointStoreFault: while a signed checkpoint cannot be stored
// (the disk under checkpoints.db is full), Ready says so and appends are
// refused as not recorded; once storing works again the ledger signs,
// accepts appends and proves the earlier records, without a restart.
func TestCheckpointStoreFault(t *testing.T) {
	ctx := context.Background()
	l := openTestLedger(t, t.TempDir())
	first, err := l.Append(ctx, newDecisionBytes(t, "before"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.WaitIntegrated(ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	before, _ := l.LatestCheckpoint(ctx)

	l.signer.mu.Lock()
	store := l.signer.store
	var calls int
	l.signer.store = func(ctx context.Context, size uint64, root, note []byte) error {
		// The first attempt is stored although it reports failure, as a
		// commit whose fsync fails can be; the rest find the disk full.
		if calls++; calls == 1 {
			if err := store(ctx, size, root, note); err != nil {
				t.Error(err)
			}
			return syscall.EIO
		}
		return syscall.ENOSPC
	}
	l.signer.mu.Unlock()
	// Queued before the fault shows: it is in the log, awaiting a checkpoint.
	during, err := l.Append(ctx, newDecisionBytes(t, "during"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "Ready to report the checkpoint fault", func() bool { return l.Ready(ctx) != nil })
	if err := l.Ready(ctx); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "checkpoints cannot be stored") ||
		!errors.Is(err, syscall.EIO) && !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("Ready() = %v, want the cause", err)
	}
	refused := newDecisionBytes(t, "refused")
	if _, err := l.Append(ctx, refused); !errors.Is(err, ErrNotRecorded) {
		t.Errorf("Append during the fault = %v, want ErrNotRecorded", err)
	}
	if cp, _ := l.LatestCheckpoint(ctx); cp.Size != before.Size {
		t.Errorf("checkpoint moved to %d without being stored", cp.Size)
	}

	l.signer.mu.Lock()
	l.signer.store = store
	l.signer.mu.Unlock()
	waitFor(t, "Ready after the fault cleared", func() bool { return l.Ready(ctx) == nil })
	after, err := l.Append(ctx, newDecisionBytes(t, "after"))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []ID{during.ID, after.ID} {
		p, err := l.WaitIntegrated(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		verifyInclusion(t, l, p)
	}
	cp, _ := l.LatestCheckpoint(ctx)
	verifyConsistency(t, l, before.Note, cp.Note)
	if _, err := l.GetEntry(ctx, RecordID(refused)); !errors.Is(err, ErrNotFound) {
		t.Errorf("refused record: GetEntry = %v, want ErrNotFound", err)
	}
	if cp.Size != before.Size+2 {
		t.Errorf("tree has %d leaves, want %d", cp.Size, before.Size+2)
	}
}

// flakyLog is a Trillian client whose QueueLeaf fails as a network can: the
// request either never reaches the server or reaches it and the answer is
// lost. The first failFirst calls fail (every call if it is negative).
type flakyLog struct {
	trillian.TrillianLogClient
	forward   bool  // pass the request on before failing
	err       error // what the caller sees
	failFirst int32
	calls     atomic.Int32
}

func (f *flakyLog) QueueLeaf(ctx context.Context, in *trillian.QueueLeafRequest, opts ...grpc.CallOption) (*trillian.QueueLeafResponse, error) {
	if n := f.calls.Add(1); f.failFirst >= 0 && n > f.failFirst {
		return f.TrillianLogClient.QueueLeaf(ctx, in, opts...)
	}
	if f.forward {
		if _, err := f.TrillianLogClient.QueueLeaf(ctx, in, opts...); err != nil {
			return nil, err
		}
	}
	return nil, f.err
}

// TestRemoteAppendOutcome: on a remote Trillian, an error that proves the
// leaf was refused is ErrNotRecorded; a lost answer is ErrOutcomeUnknown,
// and rightly so: the leaf can be in the log.
func TestRemoteAppendOutcome(t *testing.T) {
	ctx := context.Background()
	embedded := openTestLedger(t, t.TempDir())
	for _, tc := range []struct {
		name      string
		forward   bool
		err       error
		failFirst int32
		want      error // nil: the resend settled it
	}{
		{"rejected", false, status.Error(codes.InvalidArgument, "bad leaf"), -1, ErrNotRecorded},
		{"quota", false, status.Error(codes.ResourceExhausted, "quota"), -1, ErrNotRecorded},
		{"deadline after queueing", true, status.Error(codes.DeadlineExceeded, "deadline"), -1, ErrOutcomeUnknown},
		{"connection lost after queueing", true, status.Error(codes.Unavailable, "transport is closing"), -1, ErrOutcomeUnknown},
		{"unavailable before sending", false, status.Error(codes.Unavailable, "connection refused"), -1, ErrOutcomeUnknown},
		{"answer lost once, resent", true, status.Error(codes.Unavailable, "transport is closing"), 1, nil},
		{"unavailable once, resent", false, status.Error(codes.Unavailable, "connection refused"), 1, nil},
		{"rejected once is not resent", false, status.Error(codes.InvalidArgument, "bad leaf"), 1, ErrNotRecorded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := &flakyLog{TrillianLogClient: embedded.log, forward: tc.forward, err: tc.err, failFirst: tc.failFirst}
			remote, err := OpenRemote(ctx, RemoteConfig{
				Client: client, TreeID: embedded.TreeID(), DataDir: t.TempDir(),
				CheckpointInterval: 20 * time.Millisecond, Logger: quietLogger(),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer remote.Close()
			rec := newDecisionBytes(t, "remote-"+tc.name)
			_, err = remote.Append(ctx, rec)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("Append = %v, want the resend to succeed", err)
			case tc.want != nil && (!errors.Is(err, tc.want) || !errors.Is(err, ErrUnavailable)):
				t.Fatalf("Append = %v, want %v", err, tc.want)
			}
			// What the answer claims holds: a forwarded or acknowledged
			// leaf is integrated (once), a refused one is not.
			if tc.forward || tc.want == nil {
				if _, err := embedded.WaitIntegrated(ctx, RecordID(rec)); err != nil {
					t.Fatal(err)
				}
				if n := countLeaf(t, embedded, RecordID(rec)); n != 1 {
					t.Errorf("the leaf is in the log %d times", n)
				}
			} else {
				wctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
				if _, err := embedded.WaitIntegrated(wctx, RecordID(rec)); err == nil {
					t.Error("a refused leaf is in the log")
				}
			}
		})
	}
}

// countLeaf counts the leaves of the whole signed tree with the given id.
func countLeaf(t *testing.T, l *Ledger, id ID) int {
	t.Helper()
	cp, _ := l.LatestCheckpoint(context.Background())
	n := 0
	for start := uint64(0); start < cp.Size; {
		entries, err := l.Entries(context.Background(), start, MaxEntriesPerRequest)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.ID == id {
				n++
			}
		}
		start += uint64(len(entries))
	}
	return n
}
