// Package transparency is glassbox's ledger: every credit decision, model
// admission and policy activation is written as a canonical record into a
// Trillian verifiable log before the API answers, and the log's state is
// published as signed C2SP checkpoints against which inclusion and
// consistency proofs can be checked.
//
// The same Ledger runs on an embedded Trillian (admin server, log server and
// sequencer in-process, over an in-memory gRPC connection, with SQLite
// storage in a data directory) or on a remote Trillian log server. In both
// cases the checkpoint signing key and the history of signed checkpoints
// live in the local data directory.
package transparency

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// MaxEntriesPerRequest bounds Entries; larger requests are rejected rather
// than silently truncated so that clients notice.
const MaxEntriesPerRequest = 1000

// fetchChunk is how many leaves are asked of Trillian per GetLeavesByRange.
const fetchChunk = 1000

// Status is where a record stands in the log.
type Status string

// Statuses of a record.
const (
	// StatusQueued: accepted by Trillian but not yet covered by a signed
	// checkpoint.
	StatusQueued Status = "queued"
	// StatusIntegrated: in the tree and covered by a signed checkpoint.
	StatusIntegrated Status = "integrated"
)

// Receipt acknowledges an append: Trillian has durably queued the record.
type Receipt struct {
	ID ID
	// Duplicate is true when identical bytes were already in the log (or
	// queued); the id is the existing record's.
	Duplicate bool
}

// Entry is a record read back from the log.
type Entry struct {
	ID     ID
	Data   []byte // the exact leaf bytes
	Type   RecordType
	Status Status
	// Index is the leaf index; meaningful only when Status is integrated.
	Index uint64
	// Format is the leaf format: 1, Data is the record; 2, Data is an
	// envelope committing to Record. 0 for a foreign leaf.
	Format int
	// Record is the full record: Data for format 1; for format 2 the
	// record from the record store, checked against the leaf's
	// commitment (nil if erased, foreign, or the ledger has no store).
	Record []byte
	// Salt is the salt of a format 2 leaf's commitment.
	Salt []byte
	// Foreign marks a leaf this ledger did not write: an envelope whose
	// authenticator fails, or bytes of neither format. Type is empty.
	Foreign bool
	// Erased marks a format 2 leaf whose record was erased;
	// ErasureRecord is then the id of the erasure record (zero if the
	// store keeps none).
	Erased        bool
	ErasureRecord ID
}

// InclusionProof proves that a record is in the tree of size TreeSize.
type InclusionProof struct {
	ID        ID
	LeafIndex uint64
	TreeSize  uint64
	Hashes    [][]byte
	// Checkpoint is the signed checkpoint for TreeSize, or nil if none was
	// signed at exactly that size.
	Checkpoint *Checkpoint
}

// ConsistencyProof proves that the tree of size First is a prefix of the
// tree of size Second.
type ConsistencyProof struct {
	First, Second uint64
	Hashes        [][]byte
	// Signed checkpoints at First and Second, when they exist.
	FirstCheckpoint, SecondCheckpoint *Checkpoint
}

// Ledger appends records to a Trillian log and serves proofs against its
// own signed checkpoints. It is safe for concurrent use.
type Ledger struct {
	log      trillian.TrillianLogClient
	treeID   int64
	signer   *checkpointSigner
	logger   *slog.Logger
	interval time.Duration

	mu sync.Mutex
	// latest is the newest signed checkpoint; leaves below latest.Size have
	// been dispatched to waiters.
	latest *Checkpoint
	// waiters get the leaf index (and the checkpoint covering it) when the
	// leaf first appears under a signed checkpoint.
	waiters map[ID][]chan integrated
	// pending holds records this process queued that no signed checkpoint
	// covers yet, because Trillian offers no way to read an unsequenced
	// leaf back.
	pending map[ID]*pendingRecord

	// checkpointFault is why the last checkpoint could not be stored, nil
	// once one has been; appends are refused meanwhile.
	checkpointFault error
	// storageFault reports why the storage refuses writes (embedded
	// ledger), nil if it accepts them or cannot say.
	storageFault func() error

	// recs holds the record store for format 2 leaves and what checks
	// them.
	recs records
	// recordFault is why the last record store Put failed, nil once one
	// succeeds (or a readiness probe does).
	recordFault error

	// eraseSeam, set only by tests, is called between the steps of an
	// erasure; an error stops it there, as a crash would.
	eraseSeam func(step string) error

	// front is owned by the refresh loop: the frontier at the latest
	// checkpoint, or nil until (re)loaded.
	front *frontier

	stop      context.CancelFunc
	done      chan struct{}
	teardown  func() error // releases what the constructor started
	closeOnce sync.Once
	closeErr  error
}

type pendingRecord struct {
	data []byte
	// record and salt are a format 2 leaf's (Sealed.Committed): in the
	// record store from before the leaf was queued until a checkpoint
	// covers it, when the store is told (Commit).
	record, salt []byte
	// erased is set when the record was erased (Erase) before a
	// checkpoint covered its leaf: the copy here is no longer shown.
	erased bool
	// queued is set once Trillian accepted the leaf as new (not a
	// duplicate): from then on it cannot be under any checkpoint signed
	// before publish removes it, which lets WaitIntegrated skip a lookup.
	queued bool
}

type integrated struct {
	index uint64
	cp    *Checkpoint
	proof [][]byte // nil if it could not be computed locally
}

// ledgerConfig is what both constructors have in common.
type ledgerConfig struct {
	log          trillian.TrillianLogClient
	treeID       int64
	dataDir      string
	origin       string
	pollInterval time.Duration
	logger       *slog.Logger
	teardown     func() error
	storageFault func() error
	records      RecordStore
	recordGrace  time.Duration
	metrics      prometheus.Registerer
}

// DefaultOrigin is the checkpoint origin used when none is configured.
func DefaultOrigin(treeID int64) string {
	return fmt.Sprintf("glassbox.local/ledger/%d", treeID)
}

func newLedger(ctx context.Context, c ledgerConfig) (*Ledger, error) {
	if c.origin == "" {
		c.origin = DefaultOrigin(c.treeID)
	}
	if c.logger == nil {
		c.logger = slog.Default()
	}
	if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	signer, err := openCheckpointSigner(ctx, c.dataDir, c.origin)
	if err != nil {
		return nil, err
	}
	l := &Ledger{
		log:      c.log,
		treeID:   c.treeID,
		signer:   signer,
		logger:   c.logger.With("tree_id", c.treeID),
		interval: c.pollInterval,
		latest:   signer.latestCheckpoint(),
		waiters:  map[ID][]chan integrated{},
		pending:  map[ID]*pendingRecord{},
		done:     make(chan struct{}),
		teardown: c.teardown,

		storageFault: c.storageFault,
	}
	if c.recordGrace <= 0 {
		c.recordGrace = DefaultRecordGrace
	}
	verifier, err := NewLeafVerifier(signer.verifierKey)
	if err != nil {
		signer.close()
		return nil, err
	}
	l.recs = records{store: c.records, grace: c.recordGrace, verifier: verifier, foreign: newForeignCounter(c.metrics, c.logger)}
	// The first refresh happens before any waiter exists, so it need not
	// read the leaves it covers: on a large existing tree that could be
	// millions.
	if err := l.refresh(ctx, false); err != nil {
		signer.close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l.stop = cancel
	go l.run(runCtx)
	// An erasure cut short by a crash is finished before anything is
	// read; failing that, reconciliation retries it.
	if err := l.resumeAllErasures(ctx); err != nil {
		l.logger.ErrorContext(ctx, "completing interrupted erasures failed; will retry", "err", err)
	}
	return l, nil
}

// Close stops the checkpoint loop and releases everything the constructor
// started (for an embedded log: the sequencer, the gRPC server, storage).
// Calling it again returns the first result.
func (l *Ledger) Close() error {
	l.closeOnce.Do(func() {
		l.stop()
		<-l.done
		var errs []error
		if l.teardown != nil {
			errs = append(errs, l.teardown())
		}
		errs = append(errs, l.signer.close())
		l.closeErr = errors.Join(errs...)
	})
	return l.closeErr
}

// TreeID is the Trillian tree the ledger writes to.
func (l *Ledger) TreeID() int64 { return l.treeID }

// Origin is the checkpoint origin line.
func (l *Ledger) Origin() string { return l.signer.origin }

// VerifierKey is the note verifier key for checkpoints, to be published.
func (l *Ledger) VerifierKey() string { return l.signer.verifierKey }

// LatestCheckpoint returns the newest signed checkpoint.
func (l *Ledger) LatestCheckpoint(context.Context) (*Checkpoint, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest, nil
}

// CheckpointAt returns the checkpoint signed at exactly size, or
// ErrNotFound.
func (l *Ledger) CheckpointAt(ctx context.Context, size uint64) (*Checkpoint, error) {
	return l.signer.at(ctx, size)
}

// CheckpointSizes lists sizes at which checkpoints were signed, ascending,
// within [from, to], at most limit.
func (l *Ledger) CheckpointSizes(ctx context.Context, from, to uint64, limit int) ([]uint64, error) {
	if limit <= 0 || limit > MaxEntriesPerRequest {
		return nil, fmt.Errorf("%w: limit %d out of range 1..%d", ErrInvalidArgument, limit, MaxEntriesPerRequest)
	}
	return l.signer.sizes(ctx, from, to, limit)
}

// Append queues record bytes in the log. It returns once Trillian has
// durably accepted them; integration happens later (see WaitIntegrated).
// The bytes must be a canonical record (see DecodeRecord); they are
// decoded and re-encoded to make sure.
func (l *Ledger) Append(ctx context.Context, record []byte) (Receipt, error) {
	if _, err := DecodeRecord(record); err != nil {
		return Receipt{}, err
	}
	return l.queue(ctx, record, nil, nil)
}

// AppendSealed queues a sealed record. Only Record.Seal makes a Sealed, so
// its bytes are canonical by construction and, unlike Append, it does not
// decode them again: on the decision path that check would repeat, for
// every decision, the work Encode has just done.
func (l *Ledger) AppendSealed(ctx context.Context, s Sealed) (Receipt, error) {
	if len(s.data) == 0 {
		return Receipt{}, fmt.Errorf("%w: empty sealed record", ErrInvalidRecord)
	}
	if _, _, ok := s.Committed(); !ok {
		return l.queue(ctx, s.data, nil, nil)
	}
	// A format 2 leaf: its record is durable before the leaf is queued,
	// so an acknowledged decision never lacks its record; a record whose
	// leaf then fails is discarded (now if the leaf is known not to be in
	// the log, else by reconciliation after the grace period).
	if err := l.refusal(); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	if err := l.putRecord(ctx, s); err != nil {
		return Receipt{}, err
	}
	salt, record, _ := s.Committed()
	rc, err := l.queue(ctx, s.data, record, salt)
	if errors.Is(err, ErrNotRecorded) {
		l.dropRecord(ctx, s)
	}
	return rc, err
}

// refusal returns why appends are refused right now, or nil.
func (l *Ledger) refusal() error {
	l.mu.Lock()
	cpErr := l.checkpointFault
	l.mu.Unlock()
	if cpErr != nil {
		return fmt.Errorf("checkpoints cannot be stored: %w", cpErr)
	}
	if l.storageFault != nil {
		return l.storageFault()
	}
	return nil
}

// queue sends canonical record bytes to Trillian.
func (l *Ledger) queue(ctx context.Context, record, full, salt []byte) (Receipt, error) {
	id := RecordID(record)
	// While checkpoints or the storage cannot be written, a decision could
	// not be proven or not be kept: refuse it before it is sent.
	if err := l.refusal(); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrNotRecorded, err)
	}
	l.mu.Lock()
	pr, known := l.pending[id]
	if !known {
		pr = &pendingRecord{data: record, record: full, salt: salt}
		l.pending[id] = pr
	}
	l.mu.Unlock()
	forget := func() {
		if !known {
			l.mu.Lock()
			delete(l.pending, id)
			l.mu.Unlock()
		}
	}

	rc, err := l.send(ctx, id, record)
	// A lost answer leaves the outcome open, but Trillian deduplicates by
	// leaf identity: sending the same bytes again either finds the leaf the
	// first attempt queued or queues it now, so a success settles it. A
	// failure settles nothing (the first attempt may still have queued it).
	for attempt := 0; errors.Is(err, ErrOutcomeUnknown) && attempt < unknownResends; attempt++ {
		t := time.NewTimer(unknownResendDelay << (2 * attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			forget()
			return Receipt{}, err
		case <-t.C:
		}
		if again, rerr := l.send(ctx, id, record); rerr == nil {
			rc, err = again, nil
		}
	}
	switch {
	case err != nil || rc.Duplicate:
		// A duplicate's leaf may be integrated already, in which case no
		// checkpoint will ever clear a pending entry added here.
		forget()
	default:
		l.mu.Lock()
		pr.queued = true // pr is still in pending unless a checkpoint already covers it
		l.mu.Unlock()
	}
	return rc, err
}

// A record whose append ended with its outcome unknown is sent again up to
// unknownResends times, after unknownResendDelay and then four times as
// long each time.
const (
	unknownResends     = 2
	unknownResendDelay = 50 * time.Millisecond
)

// send makes one QueueLeaf call for record and classifies its result.
func (l *Ledger) send(ctx context.Context, id ID, record []byte) (Receipt, error) {
	resp, err := l.log.QueueLeaf(ctx, &trillian.QueueLeafRequest{
		LogId: l.treeID,
		Leaf:  &trillian.LogLeaf{LeafValue: record},
	})
	if status.Code(err) == codes.AlreadyExists {
		return Receipt{ID: id, Duplicate: true}, nil
	}
	if err != nil {
		return Receipt{}, appendErr(err)
	}
	ql := resp.GetQueuedLeaf()
	if s := ql.GetStatus(); s != nil && codes.Code(s.GetCode()) != codes.OK {
		if codes.Code(s.GetCode()) == codes.AlreadyExists {
			return Receipt{ID: id, Duplicate: true}, nil
		}
		return Receipt{}, appendErr(status.ErrorProto(s))
	}
	if h := ql.GetLeaf().GetMerkleLeafHash(); len(h) > 0 && !bytes.Equal(h, id[:]) {
		return Receipt{}, fmt.Errorf("trillian hashed the leaf as %x, expected %s: is the tree RFC 6962?", h, id)
	}
	return Receipt{ID: id}, nil
}

// WaitIntegrated blocks until the record is covered by a signed checkpoint
// and returns its inclusion proof against that checkpoint (already
// verified). Bound it with ctx.
func (l *Ledger) WaitIntegrated(ctx context.Context, id ID) (*InclusionProof, error) {
	ch := make(chan integrated, 1)
	l.mu.Lock()
	cp := l.latest
	pr := l.pending[id]
	newlyQueued := pr != nil && pr.queued
	l.waiters[id] = append(l.waiters[id], ch)
	l.mu.Unlock()
	defer l.unwait(id, ch)

	// Registration happened while cp was the latest, so if the leaf is not
	// under cp the refresh that covers it will find the waiter. A leaf this
	// process queued as new and not yet seen integrated is known not to be
	// under cp, which saves the lookup in the common case.
	if cp.Size > 0 && !newlyQueued {
		p, err := l.inclusionByHash(ctx, id, cp.Size, cp)
		if !errors.Is(err, ErrNotFound) {
			return p, err
		}
	}
	select {
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for %s to be integrated: %w", id, ctx.Err())
	case hit := <-ch:
		if hit.proof != nil {
			return l.checkInclusion(id, hit.index, hit.cp.Size, hit.proof, hit.cp)
		}
		return l.inclusionByIndex(ctx, id, hit.index, hit.cp)
	}
}

func (l *Ledger) unwait(id ID, ch chan integrated) {
	l.mu.Lock()
	defer l.mu.Unlock()
	list := l.waiters[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(l.waiters, id)
	} else {
		l.waiters[id] = list
	}
}

// GetEntry returns the record with the given id and whether a signed
// checkpoint covers it yet. Records queued by another process (or before a
// restart) are only visible once integrated.
func (l *Ledger) GetEntry(ctx context.Context, id ID) (*Entry, error) {
	l.mu.Lock()
	cp := l.latest
	var queued pendingRecord
	pr, isPending := l.pending[id]
	if isPending {
		queued = *pr
	}
	l.mu.Unlock()
	if cp.Size > 0 {
		p, err := l.inclusionByHash(ctx, id, cp.Size, nil)
		switch {
		case err == nil:
			entries, err := l.fetch(ctx, p.LeafIndex, 1)
			if err != nil {
				return nil, err
			}
			e := entries[0]
			if e.ID != id {
				return nil, fmt.Errorf("leaf %d has id %s, expected %s", p.LeafIndex, e.ID, id)
			}
			if err := l.open(ctx, &e); err != nil {
				return nil, err
			}
			return &e, nil
		case !errors.Is(err, ErrNotFound):
			return nil, err
		}
	}
	if isPending {
		e := &Entry{ID: id, Data: queued.data, Type: recordType(queued.data), Format: RecordFormat, Record: queued.data, Status: StatusQueued}
		if queued.record != nil {
			// Sealed by this process: the envelope is genuine and the
			// record is the one it commits to.
			e.Format, e.Record, e.Salt, e.Type = EnvelopeFormat, queued.record, queued.salt, recordType(queued.record)
			if queued.erased {
				e.Record, e.Salt, e.Erased = nil, nil, true
			}
		}
		return e, nil
	}
	return nil, fmt.Errorf("%w: no record with id %s", ErrNotFound, id)
}

// InclusionProof proves that the record id is in the tree of size
// treeSize; 0 means the latest signed checkpoint. A size beyond the latest
// checkpoint is ErrInvalidArgument; a record not in that tree is
// ErrNotFound.
func (l *Ledger) InclusionProof(ctx context.Context, id ID, treeSize uint64) (*InclusionProof, error) {
	latest, _ := l.LatestCheckpoint(ctx)
	var cp *Checkpoint
	switch {
	case treeSize == 0 || treeSize == latest.Size:
		cp, treeSize = latest, latest.Size
	case treeSize > latest.Size:
		return nil, fmt.Errorf("%w: tree size %d is beyond the latest checkpoint (%d)", ErrInvalidArgument, treeSize, latest.Size)
	default:
		c, err := l.signer.at(ctx, treeSize)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		cp = c
	}
	if treeSize == 0 {
		return nil, fmt.Errorf("%w: the log is empty", ErrNotFound)
	}
	return l.inclusionByHash(ctx, id, treeSize, cp)
}

// ConsistencyProof proves that the tree of size first is a prefix of the
// tree of size second; second == 0 means the latest signed checkpoint.
func (l *Ledger) ConsistencyProof(ctx context.Context, first, second uint64) (*ConsistencyProof, error) {
	latest, _ := l.LatestCheckpoint(ctx)
	if second == 0 {
		second = latest.Size
	}
	switch {
	case first > second:
		return nil, fmt.Errorf("%w: first size %d is larger than second size %d", ErrInvalidArgument, first, second)
	case second > latest.Size:
		return nil, fmt.Errorf("%w: tree size %d is beyond the latest checkpoint (%d)", ErrInvalidArgument, second, latest.Size)
	}
	out := &ConsistencyProof{First: first, Second: second, Hashes: [][]byte{}}
	var err error
	if out.FirstCheckpoint, err = l.optionalCheckpoint(ctx, first); err != nil {
		return nil, err
	}
	if out.SecondCheckpoint, err = l.optionalCheckpoint(ctx, second); err != nil {
		return nil, err
	}
	// Trillian rejects size 0; the empty tree is trivially a prefix of any
	// tree, and a tree of itself, with an empty proof.
	if first == 0 || first == second {
		return out, nil
	}
	resp, err := l.log.GetConsistencyProof(ctx, &trillian.GetConsistencyProofRequest{
		LogId: l.treeID, FirstTreeSize: int64(first), SecondTreeSize: int64(second),
	})
	if err != nil {
		return nil, grpcErr("getting consistency proof", err)
	}
	if resp.GetProof() == nil {
		return nil, fmt.Errorf("%w: trillian has no tree of size %d yet", ErrUnavailable, second)
	}
	out.Hashes = resp.GetProof().GetHashes()
	if a, b := out.FirstCheckpoint, out.SecondCheckpoint; a != nil && b != nil {
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, first, second, out.Hashes, a.Root, b.Root); err != nil {
			return nil, fmt.Errorf("%w: trillian returned a bad consistency proof %d→%d: %w", ErrInconsistent, first, second, err)
		}
	}
	return out, nil
}

func (l *Ledger) optionalCheckpoint(ctx context.Context, size uint64) (*Checkpoint, error) {
	if size == 0 {
		return nil, nil
	}
	cp, err := l.signer.at(ctx, size)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	return cp, err
}

// Entries returns count records starting at leaf index start, all covered by
// the latest signed checkpoint (fewer if the tree ends sooner).
func (l *Ledger) Entries(ctx context.Context, start uint64, count int) ([]Entry, error) {
	if count <= 0 || count > MaxEntriesPerRequest {
		return nil, fmt.Errorf("%w: count %d out of range 1..%d", ErrInvalidArgument, count, MaxEntriesPerRequest)
	}
	latest, _ := l.LatestCheckpoint(ctx)
	if start >= latest.Size {
		return nil, fmt.Errorf("%w: start %d is beyond the latest checkpoint (%d)", ErrInvalidArgument, start, latest.Size)
	}
	n := min(uint64(count), latest.Size-start)
	entries, err := l.fetch(ctx, start, n)
	if err != nil {
		return nil, err
	}
	for i := range entries {
		// One bad record does not hide the rest of the listing: the
		// entry is listed without its record.
		if err := l.open(ctx, &entries[i]); err != nil {
			l.logger.ErrorContext(ctx, "record of a listed leaf cannot be read", "id", entries[i].ID.String(), "err", err)
		}
	}
	return entries, nil
}

// fetch reads exactly n sequenced leaves from start, looping because
// Trillian may return fewer than asked. It leaves Entry.Type empty: the
// checkpointer fetches every new leaf and needs only ids and bytes, and
// parsing each record for its type was 1.5% of the server's CPU.
func (l *Ledger) fetch(ctx context.Context, start, n uint64) ([]Entry, error) {
	out := make([]Entry, 0, n)
	for uint64(len(out)) < n {
		next := start + uint64(len(out))
		want := min(n-uint64(len(out)), fetchChunk)
		resp, err := l.log.GetLeavesByRange(ctx, &trillian.GetLeavesByRangeRequest{
			LogId: l.treeID, StartIndex: int64(next), Count: int64(want),
		})
		if err != nil {
			return nil, grpcErr("getting leaves", err)
		}
		leaves := resp.GetLeaves()
		if len(leaves) == 0 {
			return nil, fmt.Errorf("%w: trillian returned no leaves at index %d", ErrUnavailable, next)
		}
		for i, lf := range leaves {
			if uint64(lf.GetLeafIndex()) != next+uint64(i) {
				return nil, fmt.Errorf("trillian returned leaf %d at position %d", lf.GetLeafIndex(), next+uint64(i))
			}
			if uint64(len(out)) == n {
				break
			}
			id := RecordID(lf.GetLeafValue())
			out = append(out, Entry{
				ID:     id,
				Data:   lf.GetLeafValue(),
				Status: StatusIntegrated,
				Index:  uint64(lf.GetLeafIndex()),
			})
		}
	}
	return out, nil
}

// recordType reads only the envelope's type, so listing entries does not
// pay for full canonical validation.
func recordType(data []byte) RecordType {
	var env struct {
		Type RecordType `json:"type"`
	}
	if json.Unmarshal(data, &env) != nil {
		return ""
	}
	return env.Type
}

// inclusionByHash asks Trillian for the proof of id in the tree of size
// treeSize and, when cp is given, verifies it against the signed root.
func (l *Ledger) inclusionByHash(ctx context.Context, id ID, treeSize uint64, cp *Checkpoint) (*InclusionProof, error) {
	resp, err := l.log.GetInclusionProofByHash(ctx, &trillian.GetInclusionProofByHashRequest{
		LogId: l.treeID, LeafHash: id[:], TreeSize: int64(treeSize), OrderBySequence: true,
	})
	if err != nil {
		return nil, grpcErr(fmt.Sprintf("inclusion proof for %s", id), err)
	}
	var p *trillian.Proof
	for _, candidate := range resp.GetProof() {
		if candidate != nil && (p == nil || candidate.GetLeafIndex() < p.GetLeafIndex()) {
			p = candidate
		}
	}
	if p == nil {
		return nil, fmt.Errorf("%w: %s is not in the tree of size %d", ErrNotFound, id, treeSize)
	}
	return l.checkInclusion(id, uint64(p.GetLeafIndex()), treeSize, p.GetHashes(), cp)
}

func (l *Ledger) inclusionByIndex(ctx context.Context, id ID, index uint64, cp *Checkpoint) (*InclusionProof, error) {
	resp, err := l.log.GetInclusionProof(ctx, &trillian.GetInclusionProofRequest{
		LogId: l.treeID, LeafIndex: int64(index), TreeSize: int64(cp.Size),
	})
	if err != nil {
		return nil, grpcErr(fmt.Sprintf("inclusion proof for %s", id), err)
	}
	if resp.GetProof() == nil {
		return nil, fmt.Errorf("%w: trillian has no tree of size %d yet", ErrUnavailable, cp.Size)
	}
	return l.checkInclusion(id, index, cp.Size, resp.GetProof().GetHashes(), cp)
}

// checkInclusion verifies before returning, so a storage fault surfaces
// here rather than at a client holding an unverifiable proof.
func (l *Ledger) checkInclusion(id ID, index, size uint64, hashes [][]byte, cp *Checkpoint) (*InclusionProof, error) {
	if hashes == nil {
		hashes = [][]byte{}
	}
	if cp != nil {
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, size, id[:], hashes, cp.Root); err != nil {
			return nil, fmt.Errorf("%w: inclusion proof for %s at %d/%d does not verify: %w", ErrInconsistent, id, index, size, err)
		}
	}
	return &InclusionProof{ID: id, LeafIndex: index, TreeSize: size, Hashes: hashes, Checkpoint: cp}, nil
}

// run refreshes the checkpoint every interval until stopped.
func (l *Ledger) run(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.interval)
	defer t.Stop()
	failing := false
	// Pending records are reconciled at the first tick and then every
	// half grace period.
	var nextReconcile time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if now := time.Now(); l.recs.store != nil && !now.Before(nextReconcile) {
			if err := l.reconcile(ctx); err != nil && ctx.Err() == nil {
				l.logger.WarnContext(ctx, "reconciling pending records failed; will retry", "err", err)
			}
			nextReconcile = now.Add(max(l.recs.grace/2, time.Second))
		}
		err := l.refresh(ctx, true)
		// A checkpoint that cannot be stored stops appends until one can;
		// every tick retries, since the tree is still ahead of the last
		// checkpoint.
		var cpErr error
		if errors.Is(err, errStoreCheckpoint) {
			cpErr = err
		}
		l.mu.Lock()
		l.checkpointFault = cpErr
		l.mu.Unlock()
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil && !failing:
			// Log transitions only; a down backend would otherwise log
			// every tick.
			l.logger.ErrorContext(ctx, "checkpoint refresh failed", "err", err)
			failing = true
		case err == nil && failing:
			l.logger.InfoContext(ctx, "checkpoint refresh recovered")
			failing = false
		}
	}
}

// refresh signs a checkpoint for Trillian's current root if it has grown,
// and tells waiters about the leaves it newly covers.
func (l *Ledger) refresh(ctx context.Context, dispatch bool) error {
	prev := l.signer.latestCheckpoint()
	req := &trillian.GetLatestSignedLogRootRequest{LogId: l.treeID}
	if prev != nil && prev.Size > 0 {
		req.FirstTreeSize = int64(prev.Size)
	}
	resp, err := l.log.GetLatestSignedLogRoot(ctx, req)
	if err != nil {
		return grpcErr("getting latest log root", err)
	}
	var root types.LogRootV1
	if err := root.UnmarshalBinary(resp.GetSignedLogRoot().GetLogRoot()); err != nil {
		return fmt.Errorf("parsing log root: %w", err)
	}
	if prev != nil && root.TreeSize == prev.Size {
		if !bytes.Equal(root.RootHash, prev.Root) {
			return fmt.Errorf("%w: trillian root at size %d differs from the signed one", ErrInconsistent, root.TreeSize)
		}
		l.publish(prev, nil, nil)
		return nil
	}
	if prev != nil && root.TreeSize < prev.Size {
		return fmt.Errorf("%w: trillian is at size %d, below signed checkpoint %d", ErrInconsistent, root.TreeSize, prev.Size)
	}
	var (
		leaves []Entry
		oracle *hashOracle
		next   *frontier
	)
	if dispatch && prev != nil {
		// Read before signing, outside the lock; the leaves below
		// root.TreeSize cannot change.
		if leaves, err = l.fetch(ctx, prev.Size, root.TreeSize-prev.Size); err != nil {
			return err
		}
		if oracle, next, err = l.extendFrontier(ctx, prev, leaves, root.RootHash); err != nil {
			return err
		}
	}
	cp, err := l.signer.sign(ctx, root.TreeSize, root.RootHash, resp.GetProof().GetHashes())
	if err != nil {
		return err
	}
	committedIDs, unknown := l.publish(cp, leaves, oracle)
	l.front = next
	l.commitRecords(ctx, committedIDs)
	l.checkNewLeaves(ctx, unknown)
	return nil
}

// extendFrontier computes the new root locally from the frontier and the
// new leaves. A mismatch with Trillian's root is fatal for this refresh
// (nothing gets signed); failing to load the frontier is not, as proofs can
// still be fetched one by one.
func (l *Ledger) extendFrontier(ctx context.Context, prev *Checkpoint, leaves []Entry, root []byte) (*hashOracle, *frontier, error) {
	if l.front == nil || l.front.size != prev.Size {
		f, err := l.loadFrontier(ctx, prev)
		if err != nil {
			if errors.Is(err, ErrInconsistent) {
				return nil, nil, err
			}
			l.logger.WarnContext(ctx, "cannot load tree frontier; fetching proofs individually", "err", err)
			return nil, nil, nil
		}
		l.front = f
	}
	hashes := make([][]byte, len(leaves))
	for i := range leaves {
		hashes[i] = leaves[i].ID[:]
	}
	return l.front.extend(hashes, root)
}

// publish makes cp the latest checkpoint and, atomically with that,
// hands the newly covered leaves to their waiters. It returns the ids of
// the newly covered format 2 leaves this process queued (their records
// are to be committed) and the newly covered leaves it did not queue.
func (l *Ledger) publish(cp *Checkpoint, leaves []Entry, oracle *hashOracle) (committed [][32]byte, unknown []Entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.latest != nil && l.latest.Size >= cp.Size {
		return nil, nil
	}
	l.latest = cp
	for _, e := range leaves {
		switch pr, ok := l.pending[e.ID]; {
		case !ok:
			unknown = append(unknown, e)
		case pr.record != nil:
			committed = append(committed, e.ID)
		}
		delete(l.pending, e.ID)
		waiters := l.waiters[e.ID]
		if len(waiters) == 0 {
			continue
		}
		hit := integrated{index: e.Index, cp: cp}
		if oracle != nil {
			// Cheap: every node on the path was hashed computing the root.
			if p, err := oracle.path(e.Index, 0, cp.Size); err == nil {
				hit.proof = p
			}
		}
		for _, ch := range waiters {
			ch <- hit // buffered, one send per waiter
		}
		delete(l.waiters, e.ID)
	}
	return committed, unknown
}

// Pending is the number of records this process has sent, or is sending,
// to the log that no signed checkpoint covers yet. Zero means every
// append this process acknowledged is under the latest checkpoint.
func (l *Ledger) Pending() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.pending)
}

// Ready reports whether the log takes appends: the storage and the
// checkpoint history must be writable, and Trillian must return its latest
// log root (which needs both the log server and its storage). The error
// says which.
func (l *Ledger) Ready(ctx context.Context) error {
	if err := l.refusal(); err != nil {
		return fmt.Errorf("%w: not accepting appends: %w", ErrUnavailable, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := l.recordStoreReady(ctx); err != nil {
		return fmt.Errorf("%w: not accepting appends: %w", ErrUnavailable, err)
	}
	if _, err := l.log.GetLatestSignedLogRoot(ctx, &trillian.GetLatestSignedLogRootRequest{LogId: l.treeID}); err != nil {
		return grpcErr("ready", err)
	}
	return nil
}
