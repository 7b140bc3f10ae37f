package sqlitestore

import (
	"strconv"
	"time"

	"github.com/google/trillian/monitoring"
)

const treeIDLabel = "logid"

// metrics are per Provider so that nothing is shared at package level.
type metrics struct {
	queued          monitoring.Counter
	queuedDup       monitoring.Counter
	dequeued        monitoring.Counter
	queueBatchLeafs monitoring.Histogram
	queueBatchReqs  monitoring.Histogram
	queueCommit     monitoring.Histogram
	intakeFsync     monitoring.Histogram
	sequenceUpdate  monitoring.Histogram
}

func newMetrics(mf monitoring.MetricFactory) *metrics {
	return &metrics{
		queued:          mf.NewCounter("sqlite_queued_leaves", "Number of leaves queued", treeIDLabel),
		queuedDup:       mf.NewCounter("sqlite_queued_dup_leaves", "Number of duplicate leaves queued", treeIDLabel),
		dequeued:        mf.NewCounter("sqlite_dequeued_leaves", "Number of leaves dequeued", treeIDLabel),
		queueBatchLeafs: mf.NewHistogramWithBuckets("sqlite_queue_batch_leaves", "Leaves appended to the intake per write and fsync", monitoring.ExpBuckets(1, 2, 14)),
		queueBatchReqs:  mf.NewHistogramWithBuckets("sqlite_queue_batch_requests", "QueueLeaves calls answered per intake write and fsync", monitoring.ExpBuckets(1, 2, 12)),
		queueCommit:     mf.NewHistogram("sqlite_queue_batch_seconds", "Latency of an intake append (duplicate checks, write and fsync) in seconds"),
		intakeFsync:     mf.NewHistogram("sqlite_intake_fsync_seconds", "Latency of the fsync of an intake segment after an append, in seconds"),
		sequenceUpdate:  mf.NewHistogram("sqlite_update_sequenced_seconds", "Latency of UpdateSequencedLeaves in seconds", treeIDLabel),
	}
}

func treeLabel(treeID int64) string { return strconv.FormatInt(treeID, 10) }

func seconds(start time.Time) float64 { return time.Since(start).Seconds() }
