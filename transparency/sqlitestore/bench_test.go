package sqlitestore

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/log"
	"github.com/google/trillian/monitoring"
	"github.com/google/trillian/quota"
	"github.com/google/trillian/storage"
	"github.com/google/trillian/util/clock"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// benchLeaf returns a distinct leaf with a 600-byte value, about the size
// of a glassbox decision record.
func benchLeaf(n uint64) *trillian.LogLeaf {
	value := make([]byte, 600)
	binary.BigEndian.PutUint64(value, n)
	id := sha256.Sum256(value)
	return &trillian.LogLeaf{
		LeafIdentityHash: id[:],
		MerkleLeafHash:   rfc6962.DefaultHasher.HashLeaf(value),
		LeafValue:        value,
	}
}

func benchLeaves(next *atomic.Uint64, n int) []*trillian.LogLeaf {
	out := make([]*trillian.LogLeaf, n)
	for i := range out {
		out[i] = benchLeaf(next.Add(1))
	}
	return out
}

func leavesPerSecond(b *testing.B, leaves int) {
	b.ReportMetric(float64(leaves)/b.Elapsed().Seconds(), "leaves/s")
}

// BenchmarkQueueLeaves measures durable (fsynced) queueing.
func BenchmarkQueueLeaves(b *testing.B) {
	for _, bc := range []struct {
		name        string
		concurrency int // goroutines calling QueueLeaves
		perCall     int
	}{
		{name: "serial/64-per-call", concurrency: 1, perCall: 64},
		{name: "concurrent64/1-per-call", concurrency: 64, perCall: 1},
		{name: "concurrent64/64-per-call", concurrency: 64, perCall: 64},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			p := openTest(b)
			ls := p.LogStorage()
			tr := newLog(ctx, b, p)
			var next atomic.Uint64
			var calls atomic.Int64
			calls.Store(int64(b.N))
			b.ResetTimer()
			var wg sync.WaitGroup
			for range bc.concurrency {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for calls.Add(-1) >= 0 {
						if _, err := ls.QueueLeaves(ctx, tr, benchLeaves(&next, bc.perCall), time.Now()); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			leavesPerSecond(b, b.N*bc.perCall)
		})
	}
}

// BenchmarkSequencingPass measures one sequencing transaction over 1000
// queued leaves: the storage part alone (dequeue, assign indices, update)
// and Trillian's full IntegrateBatch (which also updates Merkle tiles and
// stores a new root).
func BenchmarkSequencingPass(b *testing.B) {
	const batch = 1000
	log.InitMetrics(monitoring.InertMetricFactory{})
	for _, bc := range []struct {
		name string
		pass func(ctx context.Context, ls storage.LogStorage, tr *trillian.Tree, size *int64) (int, error)
	}{
		{name: "dequeue+update", pass: func(ctx context.Context, ls storage.LogStorage, tr *trillian.Tree, size *int64) (int, error) {
			n := 0
			err := ls.ReadWriteTransaction(ctx, tr, func(ctx context.Context, tx storage.LogTreeTX) error {
				leaves, err := tx.DequeueLeaves(ctx, batch, time.Now())
				if err != nil {
					return err
				}
				now := timestamppb.Now()
				for i, l := range leaves {
					l.LeafIndex = *size + int64(i)
					l.IntegrateTimestamp = now
				}
				n = len(leaves)
				return tx.UpdateSequencedLeaves(ctx, leaves)
			})
			*size += int64(n)
			return n, err
		}},
		{name: "IntegrateBatch", pass: func(ctx context.Context, ls storage.LogStorage, tr *trillian.Tree, _ *int64) (int, error) {
			return log.IntegrateBatch(ctx, tr, batch, 0, time.Hour, clock.System, ls, quota.Noop())
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			p := openTest(b)
			ls := p.LogStorage()
			tr := newLog(ctx, b, p)
			var next atomic.Uint64
			var size int64
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				if _, err := ls.QueueLeaves(ctx, tr, benchLeaves(&next, batch), time.Now()); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				n, err := bc.pass(ctx, ls, tr, &size)
				if err != nil {
					b.Fatal(err)
				}
				if n != batch {
					b.Fatalf("pass sequenced %d leaves, want %d", n, batch)
				}
			}
			b.StopTimer()
			leavesPerSecond(b, b.N*batch)
		})
	}
}

// BenchmarkLedgerLoad approximates the ledger's target workload: 64
// concurrent single-leaf QueueLeaves calls while Trillian's sequencer
// integrates batches of up to 1000 leaves every 10ms. The clock stops once
// every queued leaf is integrated into a stored root.
func BenchmarkLedgerLoad(b *testing.B) {
	const (
		concurrency = 64
		batch       = 1000
		interval    = 10 * time.Millisecond
	)
	log.InitMetrics(monitoring.InertMetricFactory{})
	ctx := context.Background()
	p := openTest(b)
	ls := p.LogStorage()
	tr := newLog(ctx, b, p)
	var next atomic.Uint64
	var calls atomic.Int64
	calls.Store(int64(b.N))

	integrated := make(chan int, 1)
	stop := make(chan struct{})
	b.ResetTimer()
	go func() {
		total := 0
		for {
			n, err := log.IntegrateBatch(ctx, tr, batch, 0, time.Hour, clock.System, ls, quota.Noop())
			if err != nil {
				b.Error(err)
				break
			}
			total += n
			if total >= b.N {
				break
			}
			select {
			case <-stop:
			case <-time.After(interval):
			}
		}
		integrated <- total
	}()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for calls.Add(-1) >= 0 {
				if _, err := ls.QueueLeaves(ctx, tr, benchLeaves(&next, 1), time.Now()); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	queued := b.Elapsed()
	close(stop)
	if got := <-integrated; got != b.N {
		b.Fatalf("integrated %d leaves, want %d", got, b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/queued.Seconds(), "queued/s")
	leavesPerSecond(b, b.N)
}
