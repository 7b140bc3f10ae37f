package transparency

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures the embedded ledger with its default settings
// (SQLite storage, 100 ms integration interval, batch 1000): durable
// appends per second at concurrency 64, and the time from an append's
// acknowledgement to a verified inclusion proof under a signed checkpoint.
// Use a fixed count, e.g. -benchtime=20000x.
func BenchmarkAppend(b *testing.B) {
	const concurrency = 64
	l := openTestLedger(b, b.TempDir(), func(c *EmbeddedConfig) { c.IntegrationInterval = 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	records := make([][]byte, b.N)
	for i := range records {
		records[i] = newDecisionBytes(b, fmt.Sprintf("bench-%d", i))
	}
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var appenders, waiters sync.WaitGroup
	var failed atomic.Value

	b.ResetTimer()
	start := time.Now()
	for range concurrency {
		appenders.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= b.N {
					return
				}
				rc, err := l.Append(ctx, records[i])
				if err != nil {
					failed.Store(err)
					return
				}
				acked := time.Now()
				waiters.Go(func() {
					if _, err := l.WaitIntegrated(ctx, rc.ID); err != nil {
						failed.Store(err)
						return
					}
					latencies[i] = time.Since(acked)
				})
			}
		})
	}
	appenders.Wait()
	appendTime := time.Since(start)
	waiters.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}

	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/appendTime.Seconds(), "appends/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(pct(1)-0, "max-ms")
}
