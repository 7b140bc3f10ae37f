package transparency

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"

	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
)

// RecordStore keeps the full records that format 2 leaves commit to, with
// their salts, beside the log (*recordstore.Store satisfies it). Ids are
// the leaves' ids. Get fails with recordstore.ErrNotFound or
// recordstore.ErrErased.
type RecordStore interface {
	// Put stores a record durably as pending; putting the same bytes
	// again is a no-op.
	Put(ctx context.Context, id [32]byte, salt, record []byte) error
	Get(ctx context.Context, id [32]byte) (salt, record []byte, err error)
	// Commit marks records whose leaves are durably in the log.
	Commit(ctx context.Context, ids ...[32]byte) error
	// Pending lists records put before olderThan and not committed.
	Pending(ctx context.Context, olderThan time.Time) ([][32]byte, error)
	// Discard removes a pending record whose leaf never made it.
	Discard(ctx context.Context, id [32]byte) error
	// Erase destroys a record's data key (crypto-shredding); already is
	// true if it had been erased before.
	Erase(ctx context.Context, id [32]byte) (already bool, err error)
}

// DefaultRecordGrace is how long a record may stay pending before the
// ledger concludes, if its leaf is not in the log, that the leaf never
// made it and discards the record. It must exceed the longest a queued
// leaf can wait to be integrated: Trillian integrates a queued leaf
// within a sequencing pass or a few (100 ms each by default).
const DefaultRecordGrace = 10 * time.Minute

// ErrErased: the record a leaf commits to was erased (crypto-shredded);
// the leaf and its proofs remain. Maps to 410.
var ErrErased = errors.New("record erased")

// ErrForeign: the leaf is in the log but glassbox did not write it (its
// authenticator does not verify, or it is no record at all). It is never
// presented as a record.
var ErrForeign = errors.New("foreign leaf: not written by this ledger")

// records is what a Ledger keeps for format 2 leaves.
type records struct {
	store RecordStore
	grace time.Duration
	// verifier checks authenticators: the ledger's own key.
	verifier note.Verifier
	foreign  prometheus.Counter
}

func newForeignCounter(reg prometheus.Registerer, logger *slog.Logger) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: LedgerMetricsPrefix + "foreign_leaves_total",
		Help: "Leaves found in the log that this ledger did not write (authenticator fails, or not a record).",
	})
	if reg == nil {
		return c
	}
	return register(promFactory{reg: reg, logger: logger}, c)
}

// Seal encodes a record for appending. Decision and recourse records,
// which hold applicant data, become format 2 envelopes committing to the
// record (salt and record go to the record store on append) when the
// ledger has a record store; governance records, and every record of a
// ledger without one, are sealed in clear (format 1).
func (l *Ledger) Seal(r *Record) (Sealed, error) {
	if l.recs.store == nil || !committed(r.Type) {
		return r.Seal()
	}
	return SealCommitted(r, l.signer.signer)
}

// putRecord stores a format 2 leaf's record before its leaf is queued, so
// that no leaf the ledger acknowledges lacks its record.
func (l *Ledger) putRecord(ctx context.Context, s Sealed) error {
	salt, record, ok := s.Committed()
	if !ok {
		return nil
	}
	if l.recs.store == nil {
		return fmt.Errorf("%w: a format 2 leaf needs a record store", ErrInvalidArgument)
	}
	err := l.recs.store.Put(ctx, s.id, salt, record)
	if ctx.Err() == nil {
		// A caller giving up says nothing about the store.
		l.mu.Lock()
		l.recordFault = err
		l.mu.Unlock()
	}
	if err != nil {
		return fmt.Errorf("%w: record store: %w", ErrNotRecorded, err)
	}
	return nil
}

// recordStoreReady reports whether the record store takes writes. After a
// Put failed it writes (and discards) a probe record, so that readiness
// recovers when the store does, without waiting for traffic that a load
// balancer would not send to an unready replica.
func (l *Ledger) recordStoreReady(ctx context.Context) error {
	l.mu.Lock()
	fault := l.recordFault
	l.mu.Unlock()
	if fault == nil || l.recs.store == nil {
		return nil
	}
	var probe [32]byte
	salt, err := NewSalt()
	if err != nil {
		return err
	}
	copy(probe[:], salt)
	if err := l.recs.store.Put(ctx, probe, salt, []byte("{}")); err != nil {
		return fmt.Errorf("the record store refuses writes: %w", err)
	}
	if err := l.recs.store.Discard(ctx, probe); err != nil {
		l.logger.WarnContext(ctx, "discarding the record store probe failed; reconciliation will", "err", err)
	}
	l.mu.Lock()
	if l.recordFault == fault {
		l.recordFault = nil
	}
	l.mu.Unlock()
	return nil
}

// dropRecord discards the record of a leaf known not to be in the log.
// Failing that, reconciliation discards it later.
func (l *Ledger) dropRecord(ctx context.Context, s Sealed) {
	if _, _, ok := s.Committed(); !ok || l.recs.store == nil {
		return
	}
	if err := l.recs.store.Discard(context.WithoutCancel(ctx), s.id); err != nil {
		l.logger.WarnContext(ctx, "discarding the record of an unwritten leaf failed; reconciliation will retry", "id", s.id.String(), "err", err)
	}
}

// commitRecords tells the store that these leaves are in the log. A
// failure is retried by reconciliation, which finds them pending and in
// the log.
func (l *Ledger) commitRecords(ctx context.Context, ids [][32]byte) {
	if len(ids) == 0 || l.recs.store == nil {
		return
	}
	if err := l.recs.store.Commit(ctx, ids...); err != nil {
		l.logger.WarnContext(ctx, "marking records committed failed; reconciliation will retry", "records", len(ids), "err", err)
	}
}

// reconcile settles records pending for longer than the grace period:
// those whose leaf is in the log are committed, the others discarded
// (their leaf never made it, so no decision was acknowledged with them).
// Records this process is still appending are left alone.
func (l *Ledger) reconcile(ctx context.Context) error {
	if l.recs.store == nil {
		return nil
	}
	ids, err := l.recs.store.Pending(ctx, time.Now().Add(-l.recs.grace))
	if err != nil || len(ids) == 0 {
		return err
	}
	// Against Trillian's current tree, not the last checkpoint: a stale
	// checkpoint must not make an integrated leaf look absent.
	resp, err := l.log.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: l.treeID})
	if err != nil {
		return grpcErr("reconciling records: getting latest log root", err)
	}
	var root types.LogRootV1
	if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
		return fmt.Errorf("reconciling records: parsing log root: %w", err)
	}
	// Erasure journals are no leaves: they are completed, not discarded.
	journals, jerr := l.resumeErasures(ctx, ids)
	var commit [][32]byte
	discarded := 0
	for _, id := range ids {
		l.mu.Lock()
		_, busy := l.pending[id]
		l.mu.Unlock()
		if busy || journals[id] {
			continue
		}
		var err error = fmt.Errorf("%w: empty log", ErrNotFound)
		if root.TreeSize > 0 {
			_, err = l.inclusionByHash(ctx, id, root.TreeSize, nil)
		}
		switch {
		case err == nil:
			commit = append(commit, id)
		case errors.Is(err, ErrNotFound):
			if err := l.recs.store.Discard(ctx, id); err != nil {
				return fmt.Errorf("reconciling records: discarding %s: %w", ID(id), err)
			}
			discarded++
		default:
			return fmt.Errorf("reconciling records: %w", err)
		}
	}
	if len(commit) > 0 {
		if err := l.recs.store.Commit(ctx, commit...); err != nil {
			return fmt.Errorf("reconciling records: %w", err)
		}
	}
	l.logger.InfoContext(ctx, "reconciled pending records", "committed", len(commit), "discarded", discarded, "erasures", len(journals))
	if jerr != nil {
		return fmt.Errorf("reconciling records: %w", jerr)
	}
	return nil
}

// open fills in what an entry read from the log holds: its format and
// type and, for a format 2 leaf, the record from the store after checking
// it against the leaf's commitment. A foreign leaf is marked so (the
// refresh loop counts and reports it when it first appears). The error is for a genuine leaf whose record cannot be read or
// does not match.
func (l *Ledger) open(ctx context.Context, e *Entry) error {
	switch LeafFormat(e.Data) {
	case RecordFormat:
		e.Format, e.Record, e.Type = RecordFormat, e.Data, recordType(e.Data)
		return nil
	case EnvelopeFormat:
		env, err := DecodeEnvelope(e.Data)
		if err != nil || !env.Verify(l.recs.verifier) {
			e.Foreign = true
			return nil
		}
		e.Format, e.Type = EnvelopeFormat, env.Type
		if l.recs.store == nil {
			return nil
		}
		salt, record, err := l.recs.store.Get(ctx, e.ID)
		switch {
		case errors.Is(err, recordstore.ErrErased):
			e.Erased, e.ErasureRecord = true, l.erasureOf(ctx, e.ID)
			return nil
		case errors.Is(err, recordstore.ErrNotFound):
			return fmt.Errorf("%w: the record of leaf %s is missing from the record store", ErrInconsistent, e.ID)
		case err != nil:
			return fmt.Errorf("%w: record store: %w", ErrUnavailable, err)
		}
		if _, err := env.Open(salt, record); err != nil {
			return fmt.Errorf("record of leaf %s: %w", e.ID, err)
		}
		e.Record, e.Salt = record, salt
		return nil
	}
	e.Foreign = true
	return nil
}

// verifyLeaf reports whether data is a leaf this ledger could have
// written: a record in clear, or an envelope whose authenticator
// verifies. It does not read the record store.
func (l *Ledger) verifyLeaf(data []byte) bool {
	switch LeafFormat(data) {
	case RecordFormat:
		return true
	case EnvelopeFormat:
		env, err := DecodeEnvelope(data)
		return err == nil && env.Verify(l.recs.verifier)
	}
	return false
}

// reportForeign marks e foreign, counts it and alerts the operator.
func (l *Ledger) reportForeign(ctx context.Context, e Entry) {
	l.recs.foreign.Inc()
	l.logger.ErrorContext(ctx, "FOREIGN LEAF in the log: not written by this ledger (authenticator fails or not a record); someone with access to the Trillian log server queued it",
		"id", e.ID.String(), "leaf_index", e.Index, "status", string(e.Status))
}

// checkNewLeaves looks at leaves a checkpoint newly covers that this
// process did not queue (other replicas', or foreign ones) and reports
// the foreign ones. Leaves this process queued are known genuine.
func (l *Ledger) checkNewLeaves(ctx context.Context, leaves []Entry) {
	for _, e := range leaves {
		if !l.verifyLeaf(e.Data) {
			l.reportForeign(ctx, e)
		}
	}
}

// PutRecord stores a format 2 leaf's record ahead of its append, for a
// leaf whose bytes are kept elsewhere and appended later (Reseal); a
// no-op for a format 1 leaf. AppendSealed puts it again, which the store
// takes as a no-op.
func (l *Ledger) PutRecord(ctx context.Context, s Sealed) error { return l.putRecord(ctx, s) }

// Reseal rebuilds the Sealed of leaf bytes this ledger sealed earlier: a
// format 1 record is decoded and sealed again; a format 2 envelope must
// carry this ledger's authenticator and its record must be in the record
// store (PutRecord) and open its commitment.
func (l *Ledger) Reseal(ctx context.Context, leaf []byte) (Sealed, error) {
	if LeafFormat(leaf) != EnvelopeFormat {
		r, err := DecodeRecord(leaf)
		if err != nil {
			return Sealed{}, err
		}
		return r.Seal()
	}
	if l.recs.store == nil {
		return Sealed{}, fmt.Errorf("%w: a format 2 leaf needs a record store", ErrInvalidArgument)
	}
	id := RecordID(leaf)
	salt, record, err := l.recs.store.Get(ctx, id)
	switch {
	case errors.Is(err, recordstore.ErrErased):
		return Sealed{}, fmt.Errorf("%w: %s", ErrErased, id)
	case errors.Is(err, recordstore.ErrNotFound):
		return Sealed{}, fmt.Errorf("%w: no record for leaf %s in the record store", ErrNotFound, id)
	case err != nil:
		return Sealed{}, fmt.Errorf("%w: record store: %w", ErrUnavailable, err)
	}
	if _, err := OpenLeaf(leaf, salt, record, l.recs.verifier); err != nil {
		return Sealed{}, err
	}
	return Sealed{data: leaf, id: id, record: record, salt: salt}, nil
}
