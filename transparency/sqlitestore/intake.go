package sqlitestore

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The intake is the durable front of the leaf queue. QueueLeaves appends
// the new leaves to a segment file, fsyncs it and returns: acknowledging a
// leaf never waits for SQLite's single writer, which sequencing passes and
// WAL checkpoints hold for milliseconds at a time. The leaves reach the
// database in the next write transaction that dequeues (the sequencer's
// pass) or, if none comes, in a transaction of the intake's own; that
// transaction also records the highest intake sequence number it moved, so
// the hand-over is atomic: after a crash, exactly the entries above the
// recorded number are read back from the segments and queued again.
//
// Segment files are named by the sequence number of their first entry and
// hold, after a magic line, records of
//
//	length uint32 | crc32c(body) uint32 | body
//
// (big-endian), where body encodes one leaf (see encodeEntry). A record
// torn by a crash can only be at the end of the newest segment, since an
// entry is acknowledged only after its fsync: Open truncates it there. A
// record that does not check out but is followed by one that does is
// damage, not a torn append, and stops Open, as does anything else that
// does not decode.
//
// A write or fsync that fails leaves the segment as it was before: the
// committer cuts it back to the offset before the write and fsyncs, so the
// leaves of that write can never reappear. If the cut fails too, the offset
// is recorded in the database (IntakeVoid) and recovery cuts there. Until
// the intake has repaired itself and a probe write in its directory
// succeeds, appends are refused with ErrNotRecorded; the committer retries
// every probeInterval, so the intake resumes by itself once the cause
// (a full disk, a read-only directory) is gone.
const (
	intakeMagic    = "glassbox sqlitestore intake v1\n"
	intakeSuffix   = ".intake"
	segmentExt     = ".seg"
	recordHeader   = 8
	maxRecordBytes = 64 << 20
	// defaultSegmentBytes: a segment is closed and a new one started past
	// this size; segments wholly moved into the database are deleted.
	defaultSegmentBytes = 16 << 20
	// drainAfter: entries waiting this long without a dequeuing transaction
	// are moved into the database by the intake itself.
	drainAfter = 500 * time.Millisecond
	// probeInterval: how often a refusing intake tries to repair itself.
	probeInterval = 100 * time.Millisecond
	// probeFile, written and removed to test that the directory takes a
	// durable write again; probeBytes is as large as a typical append.
	probeFile  = "probe.tmp"
	probeBytes = 4096
)

const (
	selectIntakeVoidSQL = `SELECT SegmentSeq, Offset FROM IntakeVoid WHERE Id = 0`
	setIntakeVoidSQL    = `INSERT OR REPLACE INTO IntakeVoid (Id, SegmentSeq, Offset) VALUES (0, ?, ?)`
	deleteIntakeVoidSQL = `DELETE FROM IntakeVoid`
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// intakeEntry is one acknowledged leaf not yet moved into the database.
type intakeEntry struct {
	seq    uint64
	treeID int64
	leaf   *trillian.LogLeaf // identity and Merkle hashes, value, extra data, queue timestamp
}

type leafKey struct {
	treeID int64
	id     string
}

type segment struct {
	firstSeq uint64
	path     string
}

// intake owns the segment files, the goroutine that group-commits appends
// and the goroutine that drains entries when no sequencer does.
type intake struct {
	fs           FS
	dir          string
	segmentBytes int64
	writer       *sql.DB // for the intake's own drain transactions
	ws           stmts
	reader       *sql.DB // duplicate lookups and tree checks
	rs           stmts
	metrics      *metrics

	mu       sync.Mutex
	pending  []intakeEntry // by sequence number
	byKey    map[leafKey]*trillian.LogLeaf
	segs     []segment // oldest first; the last one is appended to
	consumed uint64    // highest sequence number moved into the database
	drained  time.Time // when a transaction last moved entries (or found none)
	// fault is why appends are refused, nil while they are accepted. Set
	// by a failed append, cleared by the committer's repair.
	fault error

	// Used only by the committer goroutine (and recover before it starts).
	file    File // nil after a failed rotation
	size    int64
	nextSeq uint64
	roots   map[int64]bool // trees known to have a root
	cutTo   int64          // ≥ 0: the current segment must be cut back to this size
	voided  bool           // an IntakeVoid row is stored and must be deleted
	orphan  string         // a segment a failed rotation created and could not remove

	ctx         context.Context
	reqs        chan *queueReq
	quit        chan struct{}
	finished    chan struct{} // closed when the committer has returned
	drainerDone chan struct{}
	stopOnce    sync.Once
}

// openIntake recovers the entries above consumed from the segments in dir
// (created if missing) and starts the intake's goroutines.
func openIntake(ctx context.Context, fsys FS, dir string, consumed uint64, p *Provider, ws, rs stmts, segmentBytes int64) (*intake, error) {
	in := &intake{
		fs:           fsys,
		dir:          dir,
		cutTo:        -1,
		segmentBytes: segmentBytes,
		writer:       p.writer,
		ws:           ws,
		reader:       p.reader,
		rs:           rs,
		metrics:      p.metrics,
		byKey:        make(map[leafKey]*trillian.LogLeaf),
		consumed:     consumed,
		drained:      time.Now(),
		roots:        make(map[int64]bool),
		ctx:          ctx,
		reqs:         make(chan *queueReq, queueDepth),
		quit:         make(chan struct{}),
		finished:     make(chan struct{}),
		drainerDone:  make(chan struct{}),
	}
	if err := in.recover(); err != nil {
		if in.file != nil {
			_ = in.file.Close()
		}
		return nil, err
	}
	go in.run()
	go in.drainWhenIdle()
	return in, nil
}

// recover reads every segment, keeps the entries above in.consumed as
// pending and opens the newest segment for appending.
func (in *intake) recover() error {
	names, err := in.fs.ReadDir(in.dir)
	if errors.Is(err, os.ErrNotExist) {
		if err := in.fs.Mkdir(in.dir, 0o700); err != nil {
			return fmt.Errorf("sqlitestore: intake: %w", err)
		}
		// The directory's own entry must survive a power loss too.
		if err := in.syncPath(filepath.Dir(in.dir)); err != nil {
			return err
		}
		names, err = in.fs.ReadDir(in.dir)
	}
	if err != nil {
		return fmt.Errorf("sqlitestore: intake: %w", err)
	}
	for _, e := range names {
		first, ok := strings.CutSuffix(e.Name(), segmentExt)
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(first, 10, 64)
		if err != nil {
			return fmt.Errorf("sqlitestore: intake: unexpected file %s", e.Name())
		}
		in.segs = append(in.segs, segment{firstSeq: seq, path: filepath.Join(in.dir, e.Name())})
	}
	slices.SortFunc(in.segs, func(a, b segment) int { return cmp.Compare(a.firstSeq, b.firstSeq) })
	if err := in.applyVoid(); err != nil {
		return err
	}

	// The oldest segment may hold entries already moved (deleting it
	// failed, or it also holds newer ones), but none may be missing.
	next := in.consumed + 1
	for i, seg := range in.segs {
		switch {
		case seg.firstSeq > next:
			return fmt.Errorf("sqlitestore: intake: entries %d to %d are missing (segment %s)", next, seg.firstSeq-1, seg.path)
		case i > 0 && seg.firstSeq < next:
			return fmt.Errorf("sqlitestore: intake: segment %s overlaps the one before it", seg.path)
		}
		n, err := in.readSegment(seg, i == len(in.segs)-1)
		if err != nil {
			return err
		}
		next = n
	}
	in.nextSeq = max(next, in.consumed+1)
	if n := len(in.segs); n > 0 {
		f, err := in.fs.OpenFile(in.segs[n-1].path, os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("sqlitestore: intake: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			return errors.Join(fmt.Errorf("sqlitestore: intake: %w", err), f.Close())
		}
		in.file, in.size = f, st.Size()
		if in.size < in.segmentBytes && next == in.nextSeq {
			return nil
		}
	}
	return in.rotate()
}

// readSegment decodes segment s, adding entries above in.consumed to the
// pending list, and returns the sequence number after its last entry. A
// torn record at the end of the newest segment is cut off.
func (in *intake) readSegment(s segment, newest bool) (uint64, error) {
	data, err := in.fs.ReadFile(s.path)
	if err != nil {
		return 0, fmt.Errorf("sqlitestore: intake: %w", err)
	}
	corrupt := func(off int, why string) error {
		return fmt.Errorf("sqlitestore: intake: %s at offset %d: %s", s.path, off, why)
	}
	next := s.firstSeq
	if !bytes.HasPrefix(data, []byte(intakeMagic)) {
		if newest && len(data) < len(intakeMagic) && bytes.HasPrefix([]byte(intakeMagic), data) {
			// Created, but the magic line never reached the disk.
			if err := in.rewriteFile(s.path, []byte(intakeMagic)); err != nil {
				return 0, err
			}
			return next, nil
		}
		return 0, corrupt(0, "not an intake segment")
	}
	off := len(intakeMagic)
	for off < len(data) {
		body, ok := record(data[off:])
		var e intakeEntry
		why := "damaged record in a closed segment"
		if ok {
			var err error
			if e, err = decodeEntry(body); err != nil {
				// A zero-filled tail (a file extended before its data
				// reached the disk) checks out as empty records.
				ok, why = false, err.Error()
			}
		}
		if !ok {
			if !newest {
				return 0, corrupt(off, why)
			}
			// Only the last write can be torn, and a torn write leaves
			// nothing valid after it: a good record further on means this
			// one was damaged after it was acknowledged.
			if at := validRecordAfter(data, off); at >= 0 {
				return 0, corrupt(off, fmt.Sprintf("damaged record followed by a valid one at offset %d (not a torn tail; refusing to cut acknowledged entries)", at))
			}
			// A torn append: never acknowledged, so dropped.
			if err := in.cutFile(s.path, int64(off)); err != nil {
				return 0, fmt.Errorf("sqlitestore: intake: cut torn record: %w", err)
			}
			break
		}
		if e.seq != next {
			return 0, corrupt(off, fmt.Sprintf("entry %d where %d was expected", e.seq, next))
		}
		next++
		if e.seq > in.consumed {
			in.addPending(e)
		}
		off += recordHeader + len(body)
	}
	return next, nil
}

// record returns the body of the record at the start of b, if it is whole
// and its checksum matches.
func record(b []byte) ([]byte, bool) {
	if len(b) < recordHeader {
		return nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if n > maxRecordBytes || int(n) > len(b)-recordHeader {
		return nil, false
	}
	body := b[recordHeader : recordHeader+int(n)]
	return body, crc32.Checksum(body, crcTable) == binary.BigEndian.Uint32(b[4:])
}

// validRecordAfter returns the offset of the first whole record with a
// matching checksum that decodes, searching data after off, or -1.
func validRecordAfter(data []byte, off int) int {
	for p := off + 1; p+recordHeader <= len(data); p++ {
		if body, ok := record(data[p:]); ok {
			if _, err := decodeEntry(body); err == nil {
				return p
			}
		}
	}
	return -1
}

// applyVoid makes the cut recorded by a failed append whose own cut
// failed, then deletes the record of it.
func (in *intake) applyVoid() error {
	var seq, off int64
	switch err := in.writer.QueryRowContext(in.ctx, selectIntakeVoidSQL).Scan(&seq, &off); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("sqlitestore: intake: read void mark: %w", err)
	}
	n := len(in.segs)
	// Appends stop while a void mark exists, so it names the newest segment.
	if n == 0 || in.segs[n-1].firstSeq != uint64(seq) {
		return fmt.Errorf("sqlitestore: intake: a failed write in the segment starting at entry %d must be cut off at offset %d, but that is not the newest segment", seq, off)
	}
	data, err := in.fs.ReadFile(in.segs[n-1].path)
	if err != nil {
		return fmt.Errorf("sqlitestore: intake: %w", err)
	}
	if int64(len(data)) > off {
		if err := in.cutFile(in.segs[n-1].path, off); err != nil {
			return fmt.Errorf("sqlitestore: intake: cut failed write: %w", err)
		}
	}
	if _, err := in.writer.ExecContext(in.ctx, deleteIntakeVoidSQL); err != nil {
		return fmt.Errorf("sqlitestore: intake: clear void mark: %w", err)
	}
	return nil
}

// rotate closes the current segment and starts one whose first entry will
// be in.nextSeq. On failure in.file is nil and the next write tries again.
func (in *intake) rotate() error {
	if in.file != nil {
		err := in.file.Close()
		in.file = nil
		if err != nil {
			return fmt.Errorf("sqlitestore: intake: close segment: %w", err)
		}
	}
	path := filepath.Join(in.dir, fmt.Sprintf("%020d%s", in.nextSeq, segmentExt))
	flag := os.O_WRONLY | os.O_CREATE | os.O_EXCL | os.O_APPEND
	if path == in.orphan {
		// Left by an earlier failed attempt; it holds no entry.
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC | os.O_APPEND
	}
	f, err := in.fs.OpenFile(path, flag, 0o600)
	if err != nil {
		return fmt.Errorf("sqlitestore: intake: %w", err)
	}
	in.orphan = ""
	fail := func(err error) error {
		err = errors.Join(err, f.Close())
		if rerr := in.fs.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			in.orphan = path
		}
		return err
	}
	if _, err := f.Write([]byte(intakeMagic)); err != nil {
		return fail(fmt.Errorf("sqlitestore: intake: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sqlitestore: intake: %w", err))
	}
	// The new file's directory entry must be durable before anything in
	// it is acknowledged.
	if err := in.syncPath(in.dir); err != nil {
		return fail(err)
	}
	in.file, in.size = f, int64(len(intakeMagic))
	in.mu.Lock()
	in.segs = append(in.segs, segment{firstSeq: in.nextSeq, path: path})
	in.pruneLocked()
	in.mu.Unlock()
	return nil
}

// submit hands r to the committer and waits until its leaves are durable.
// If ctx ends first the leaves may still be appended; duplicate detection
// makes a retry safe.
func (in *intake) submit(ctx context.Context, r *queueReq) ([]*trillian.LogLeaf, error) {
	select {
	case <-in.quit:
		return nil, errClosed
	default:
	}
	select {
	case in.reqs <- r:
	case <-in.quit:
		return nil, errClosed
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrNotRecorded, ctx.Err())
	}
	select {
	case res := <-r.res:
		return res.existing, res.err
	case <-ctx.Done():
		// The committer has the leaves and may yet write them.
		return nil, fmt.Errorf("%w: %w", ErrOutcomeUnknown, ctx.Err())
	case <-in.finished:
		// run answers every request it took before returning.
		select {
		case res := <-r.res:
			return res.existing, res.err
		default:
			return nil, errClosed
		}
	}
}

// stop ends both goroutines, moves what is pending into the database so a
// clean shutdown leaves the intake empty, and closes the segment.
func (in *intake) stop() error {
	in.stopOnce.Do(func() { close(in.quit) })
	<-in.finished
	<-in.drainerDone
	// On failure nothing is lost: the entries are read back from the
	// segments on Open.
	err := in.drainOwn(context.Background())
	if in.cutTo >= 0 {
		// Last chance to cut a failed write off; if this fails too, the
		// void mark (if stored) or the callers' "outcome unknown" covers it.
		if cerr := in.cutBack(in.cutTo); cerr == nil {
			in.cutTo = -1
		}
	}
	if in.file != nil {
		err = errors.Join(err, in.file.Close())
		in.file = nil
	}
	return err
}

// abandon stops the goroutines and closes the segment without draining, as
// a crash would leave things; for tests.
func (in *intake) abandon() {
	in.stopOnce.Do(func() { close(in.quit) })
	<-in.finished
	<-in.drainerDone
	if in.file != nil {
		_ = in.file.Close()
		in.file = nil
	}
}

// run is the committer: it takes the waiting requests and appends them
// with one fsync per batch.
func (in *intake) run() {
	defer close(in.finished)
	probe := time.NewTicker(probeInterval)
	defer probe.Stop()
	for {
		select {
		case <-probe.C:
			in.probe()
		case <-in.quit:
			for {
				select {
				case r := <-in.reqs:
					r.res <- queueRes{err: errClosed}
				default:
					return
				}
			}
		case r := <-in.reqs:
			batch := []*queueReq{r}
			n := len(r.leaves)
			// Everything that queued up meanwhile shares one fsync.
		collect:
			for n < maxBatchLeaves {
				select {
				case r := <-in.reqs:
					batch = append(batch, r)
					n += len(r.leaves)
				default:
					break collect
				}
			}
			in.commit(batch, n)
		}
	}
}

// drainWhenIdle moves entries into the database when no dequeuing
// transaction has for drainAfter, so they reach it even where no sequencer
// runs in this process. It has its own goroutine: waiting for the write
// connection must not hold up appends.
func (in *intake) drainWhenIdle() {
	defer close(in.drainerDone)
	tick := time.NewTicker(drainAfter / 2)
	defer tick.Stop()
	for {
		select {
		case <-in.quit:
			return
		case <-tick.C:
			in.mu.Lock()
			idle := len(in.pending) > 0 && time.Since(in.drained) >= drainAfter
			in.mu.Unlock()
			if idle {
				// A failure is retried on the next tick; the entries are
				// safe in the segments meanwhile.
				_ = in.drainOwn(in.ctx)
			}
		}
	}
}

func (in *intake) commit(batch []*queueReq, leaves int) {
	start := time.Now()
	results := in.appendBatch(in.ctx, batch)
	for i, r := range batch {
		r.res <- results[i]
	}
	in.metrics.queueCommit.Observe(seconds(start))
	in.metrics.queueBatchReqs.Observe(float64(len(batch)))
	in.metrics.queueBatchLeafs.Observe(float64(leaves))
}

// appendBatch makes the new leaves of every request durable with one
// write and one fsync, and reports duplicates: leaves already pending
// (including earlier in this batch) or already in the database.
func (in *intake) appendBatch(ctx context.Context, batch []*queueReq) []queueRes {
	results := make([]queueRes, len(batch))
	if err := in.writable(); err != nil {
		for i := range results {
			results[i].err = err
		}
		return results
	}
	var (
		buf     []byte
		added   []intakeEntry
		owners  []int // request index of each added entry
		inBatch = make(map[leafKey]*trillian.LogLeaf)
	)
	for i, r := range batch {
		if err := in.checkRoot(ctx, r.treeID); err != nil {
			results[i].err = err
			continue
		}
		existing := make([]*trillian.LogLeaf, len(r.leaves))
		mark := len(added)
		var err error
		for j, leaf := range r.leaves {
			k := leafKey{r.treeID, string(leaf.LeafIdentityHash)}
			if l := inBatch[k]; l != nil {
				existing[j] = proto.Clone(l).(*trillian.LogLeaf)
				in.metrics.queuedDup.Inc(treeLabel(r.treeID))
				continue
			}
			var stored *trillian.LogLeaf
			if stored, err = in.lookup(ctx, k); err != nil {
				break
			}
			if stored != nil {
				existing[j] = stored
				in.metrics.queuedDup.Inc(treeLabel(r.treeID))
				continue
			}
			e := intakeEntry{seq: in.nextSeq + uint64(len(added)), treeID: r.treeID, leaf: leaf}
			added = append(added, e)
			owners = append(owners, i)
			inBatch[k] = leaf
		}
		if err != nil {
			for _, e := range added[mark:] {
				delete(inBatch, leafKey{e.treeID, string(e.leaf.LeafIdentityHash)})
			}
			added, owners = added[:mark], owners[:mark]
			results[i].err = err
			continue
		}
		results[i].existing = existing
	}
	if len(added) == 0 {
		return results
	}
	for _, e := range added {
		buf = appendRecord(buf, e)
	}
	if err := in.write(buf); err != nil {
		// Refuse further appends until the committer's probe finds the
		// cause gone (and any partial write cut off).
		in.mu.Lock()
		in.fault = err
		in.mu.Unlock()
		for _, i := range owners {
			results[i] = queueRes{err: err}
		}
		return results
	}
	in.nextSeq += uint64(len(added))
	in.mu.Lock()
	for _, e := range added {
		in.addPending(e)
	}
	in.mu.Unlock()
	perTree := make(map[int64]int)
	for _, e := range added {
		perTree[e.treeID]++
	}
	for id, n := range perTree {
		in.metrics.queued.Add(float64(n), treeLabel(id))
	}
	return results
}

// write appends buf to the current segment (starting a new one first if
// the current one is full) and fsyncs it. On failure the segment is cut
// back to its size before the write; the error wraps ErrNotRecorded when
// the entries are sure not to reappear after a restart (the cut was made,
// or the place to cut was recorded for recovery) and ErrOutcomeUnknown
// when they might.
func (in *intake) write(buf []byte) error {
	if in.file == nil || in.size >= in.segmentBytes {
		if err := in.rotate(); err != nil {
			return fmt.Errorf("%w: %w", ErrNotRecorded, err)
		}
	}
	before := in.size
	n, err := in.file.Write(buf)
	in.size += int64(n)
	if err == nil {
		start := time.Now()
		err = in.file.Sync()
		in.metrics.intakeFsync.Observe(seconds(start))
		if err == nil {
			return nil
		}
		// Whether the written pages reached the disk is now unknown, and
		// Linux reports a writeback error only once: cut them off.
		err = fmt.Errorf("fsync: %w", err)
	}
	cause := fmt.Errorf("sqlitestore: intake append: %w", err)
	// Refuse at once, not only after the cut: Writable must not report
	// the intake fine while this is being sorted out.
	in.mu.Lock()
	in.fault = cause
	in.mu.Unlock()
	cerr := in.cutBack(before)
	if cerr == nil {
		return fmt.Errorf("%w: %w", ErrNotRecorded, cause)
	}
	in.cutTo = before
	seg := in.segs[len(in.segs)-1].firstSeq
	if _, merr := in.writer.ExecContext(in.ctx, setIntakeVoidSQL, int64(seg), before); merr != nil {
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, errors.Join(cause, cerr, fmt.Errorf("recording the failed write: %w", merr)))
	}
	in.voided = true
	return fmt.Errorf("%w (the failed write is cut off before the intake is read again): %w", ErrNotRecorded, errors.Join(cause, cerr))
}

// cutBack truncates the current segment to size and fsyncs it.
func (in *intake) cutBack(size int64) error {
	if in.file == nil {
		return errors.New("sqlitestore: intake: no open segment to cut back")
	}
	if err := in.file.Truncate(size); err != nil {
		return fmt.Errorf("sqlitestore: intake: cut back to %d: %w", size, err)
	}
	if err := in.file.Sync(); err != nil {
		return fmt.Errorf("sqlitestore: intake: cut back to %d: fsync: %w", size, err)
	}
	in.size = size
	return nil
}

// writable returns the error appends are refused with, or nil.
func (in *intake) writable() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.fault != nil {
		return fmt.Errorf("%w: the intake is not writable: %w", ErrNotRecorded, in.fault)
	}
	return nil
}

// probe tries, while appends are refused, to undo what the failed append
// left and to write in the intake's directory; if all of it succeeds,
// appends are accepted again. Called by the committer only.
func (in *intake) probe() {
	in.mu.Lock()
	fault := in.fault
	in.mu.Unlock()
	if fault == nil {
		return
	}
	err := in.repair()
	in.mu.Lock()
	defer in.mu.Unlock()
	if err != nil {
		// The newest cause is the one worth reporting.
		in.fault = err
		return
	}
	in.fault = nil
}

func (in *intake) repair() error {
	if in.cutTo >= 0 {
		if err := in.cutBack(in.cutTo); err != nil {
			return err
		}
		in.cutTo = -1
	}
	if in.voided {
		if _, err := in.writer.ExecContext(in.ctx, deleteIntakeVoidSQL); err != nil {
			return fmt.Errorf("sqlitestore: intake: clear void mark: %w", err)
		}
		in.voided = false
	}
	path := filepath.Join(in.dir, probeFile)
	f, err := in.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sqlitestore: intake: probe: %w", err)
	}
	_, werr := f.Write(make([]byte, probeBytes))
	if werr == nil {
		werr = f.Sync()
	}
	if err := errors.Join(werr, f.Close(), in.fs.Remove(path)); err != nil {
		return fmt.Errorf("sqlitestore: intake: probe: %w", err)
	}
	if in.file == nil {
		return in.rotate()
	}
	return nil
}

// checkRoot reports storage.ErrTreeNeedsInit for a tree without a root.
// A tree once seen with a root keeps it (deleting it discards its leaves
// at the next drain).
func (in *intake) checkRoot(ctx context.Context, treeID int64) error {
	if in.roots[treeID] {
		return nil
	}
	var one int
	switch err := in.rs[hasRootSQL].QueryRowContext(ctx, treeID).Scan(&one); {
	case errors.Is(err, sql.ErrNoRows):
		return storage.ErrTreeNeedsInit
	case err != nil:
		return fmt.Errorf("sqlitestore: check tree %d initialised: %w", treeID, err)
	}
	in.roots[treeID] = true
	return nil
}

// lookup returns a copy of the leaf with k's identity if it is pending or
// in the database, nil otherwise. Pending is checked first: an entry
// leaves it only after the transaction moving it has committed, so a
// leaf not pending any more is visible to a read started afterwards.
func (in *intake) lookup(ctx context.Context, k leafKey) (*trillian.LogLeaf, error) {
	in.mu.Lock()
	l := in.byKey[k]
	in.mu.Unlock()
	if l != nil {
		return proto.Clone(l).(*trillian.LogLeaf), nil
	}
	stored, err := scanLeaf(in.rs[selectLeafByIdentitySQL].QueryRowContext(ctx, k.treeID, []byte(k.id)))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("sqlitestore: look up leaf %x: %w", k.id, err)
	}
	return stored, nil
}

// addPending records a durable entry; in.mu must be held (or the intake
// not yet shared).
func (in *intake) addPending(e intakeEntry) {
	in.pending = append(in.pending, e)
	in.byKey[leafKey{e.treeID, string(e.leaf.LeafIdentityHash)}] = e.leaf
}

// snapshot returns the entries pending now.
func (in *intake) snapshot() []intakeEntry {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.pending)
}

// drainInto moves the pending entries into the database within tx, which
// the caller commits, and returns the highest sequence number moved (0 if
// none). Each leaf is stored in Leaves and queued in Unsequenced, except
// that the newly stored leaves of tree hold are returned instead of
// queued: the caller hands them to the sequencer directly and queues
// whatever it does not sequence. Entries for a tree that has no root any
// more (it was deleted) are dropped. The caller reports a successful
// commit with consumedThrough.
func (in *intake) drainInto(ctx context.Context, tx *sql.Tx, s stmts, hold int64) (uint64, []intakeEntry, error) {
	entries := in.snapshot()
	if len(entries) == 0 {
		in.mu.Lock()
		in.drained = time.Now()
		in.mu.Unlock()
		return 0, nil, nil
	}
	w, err := newLeafWriter(ctx, tx, s)
	if err != nil {
		return 0, nil, err
	}
	setConsumed, err := s.in(ctx, tx, setIntakeConsumedSQL)
	if err != nil {
		return 0, nil, err
	}
	var held []intakeEntry
	alive := make(map[int64]bool)
	for _, e := range entries {
		ok, seen := alive[e.treeID]
		if !seen {
			var one int
			switch err := w.hasRoot.QueryRowContext(ctx, e.treeID).Scan(&one); {
			case err == nil:
				ok = true
			case !errors.Is(err, sql.ErrNoRows):
				return 0, nil, fmt.Errorf("sqlitestore: intake: check tree %d: %w", e.treeID, err)
			}
			alive[e.treeID] = ok
		}
		if !ok {
			continue
		}
		l := e.leaf
		ts := l.QueueTimestamp.AsTime().UnixNano()
		res, err := w.insertLeaf.ExecContext(ctx, e.treeID, l.LeafIdentityHash, l.MerkleLeafHash, nonNil(l.LeafValue), l.ExtraData, ts)
		if err != nil {
			return 0, nil, fmt.Errorf("sqlitestore: intake: store leaf %x: %w", l.LeafIdentityHash, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, nil, fmt.Errorf("sqlitestore: intake: store leaf %x: %w", l.LeafIdentityHash, err)
		}
		if n == 0 {
			// Stored by an earlier transaction that committed before its
			// entries left the pending list.
			continue
		}
		if e.treeID == hold {
			held = append(held, e)
			continue
		}
		if _, err := w.insertUnsequenced.ExecContext(ctx, e.treeID, ts, l.LeafIdentityHash, l.MerkleLeafHash); err != nil {
			return 0, nil, fmt.Errorf("sqlitestore: intake: enqueue leaf %x: %w", l.LeafIdentityHash, err)
		}
	}
	through := entries[len(entries)-1].seq
	if _, err := setConsumed.ExecContext(ctx, int64(through)); err != nil {
		return 0, nil, fmt.Errorf("sqlitestore: intake: record progress: %w", err)
	}
	return through, held, nil
}

// consumedThrough is called after a transaction that drained entries up
// to seq has committed: they leave the pending list, and segments holding
// only such entries are deleted.
func (in *intake) consumedThrough(seq uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.drained = time.Now()
	if seq <= in.consumed {
		return
	}
	in.consumed = seq
	n := 0
	for n < len(in.pending) && in.pending[n].seq <= seq {
		e := in.pending[n]
		delete(in.byKey, leafKey{e.treeID, string(e.leaf.LeafIdentityHash)})
		n++
	}
	in.pending = slices.Delete(in.pending, 0, n)
	in.pruneLocked()
}

// pruneLocked deletes segments whose entries have all been moved into the
// database. A segment is done when the next one starts at or below
// consumed+1; the newest is never deleted, it is being appended to.
func (in *intake) pruneLocked() {
	for len(in.segs) > 1 && in.segs[1].firstSeq <= in.consumed+1 {
		if err := in.fs.Remove(in.segs[0].path); err != nil && !errors.Is(err, os.ErrNotExist) {
			// Harmless: its entries are at or below consumed and are
			// skipped on recovery; try again later.
			return
		}
		in.segs = in.segs[1:]
	}
}

// drainOwn moves pending entries in a transaction of the intake's own.
func (in *intake) drainOwn(ctx context.Context) error {
	in.mu.Lock()
	n := len(in.pending)
	in.mu.Unlock()
	if n == 0 {
		return nil
	}
	tx, err := in.writer.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlitestore: intake: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// Tree ids are never 0, so nothing is held back.
	through, _, err := in.drainInto(ctx, tx, in.ws, 0)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlitestore: intake: commit: %w", err)
	}
	in.consumedThrough(through)
	return nil
}

// appendRecord appends e as a record (header and body) to buf.
func appendRecord(buf []byte, e intakeEntry) []byte {
	at := len(buf)
	buf = append(buf, make([]byte, recordHeader)...)
	buf = encodeEntry(buf, e)
	body := buf[at+recordHeader:]
	binary.BigEndian.PutUint32(buf[at:], uint32(len(body)))
	binary.BigEndian.PutUint32(buf[at+4:], crc32.Checksum(body, crcTable))
	return buf
}

// encodeEntry appends the body of e's record:
//
//	seq uint64 | tree id int64 | queue time (Unix ns) int64 |
//	identity hash [32] | Merkle leaf hash [32] |
//	value length uvarint | value | extra flag byte | [extra length uvarint | extra]
//
// The flag keeps absent extra data (NULL) apart from empty extra data.
func encodeEntry(buf []byte, e intakeEntry) []byte {
	l := e.leaf
	buf = binary.BigEndian.AppendUint64(buf, e.seq)
	buf = binary.BigEndian.AppendUint64(buf, uint64(e.treeID))
	buf = binary.BigEndian.AppendUint64(buf, uint64(l.QueueTimestamp.AsTime().UnixNano()))
	buf = append(buf, l.LeafIdentityHash...)
	buf = append(buf, l.MerkleLeafHash...)
	buf = binary.AppendUvarint(buf, uint64(len(l.LeafValue)))
	buf = append(buf, l.LeafValue...)
	if l.ExtraData == nil {
		return append(buf, 0)
	}
	buf = append(buf, 1)
	buf = binary.AppendUvarint(buf, uint64(len(l.ExtraData)))
	return append(buf, l.ExtraData...)
}

func decodeEntry(b []byte) (intakeEntry, error) {
	const fixed = 8 + 8 + 8 + 2*hashSize
	if len(b) < fixed {
		return intakeEntry{}, errors.New("short entry")
	}
	e := intakeEntry{
		seq:    binary.BigEndian.Uint64(b),
		treeID: int64(binary.BigEndian.Uint64(b[8:])),
	}
	ts := int64(binary.BigEndian.Uint64(b[16:]))
	l := &trillian.LogLeaf{
		LeafIdentityHash: slices.Clone(b[24 : 24+hashSize]),
		MerkleLeafHash:   slices.Clone(b[24+hashSize : fixed]),
		QueueTimestamp:   timestamppb.New(time.Unix(0, ts)),
	}
	rest := b[fixed:]
	value, rest, err := lengthPrefixed(rest)
	if err != nil {
		return intakeEntry{}, fmt.Errorf("leaf value: %w", err)
	}
	l.LeafValue = value
	switch {
	case len(rest) == 1 && rest[0] == 0:
	case len(rest) > 1 && rest[0] == 1:
		extra, tail, err := lengthPrefixed(rest[1:])
		if err != nil || len(tail) != 0 {
			return intakeEntry{}, errors.New("bad extra data")
		}
		l.ExtraData = extra
	default:
		return intakeEntry{}, errors.New("bad extra data flag")
	}
	e.leaf = l
	return e, nil
}

func lengthPrefixed(b []byte) (value, rest []byte, err error) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, errors.New("bad length")
	}
	return slices.Clone(b[k : k+int(n)]), b[k+int(n):], nil
}

func (in *intake) rewriteFile(path string, data []byte) error {
	f, err := in.fs.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("sqlitestore: intake: %w", err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err := errors.Join(err, f.Close()); err != nil {
		return fmt.Errorf("sqlitestore: intake: %w", err)
	}
	return nil
}

// cutFile truncates the file at path to size and fsyncs it.
func (in *intake) cutFile(path string, size int64) error {
	f, err := in.fs.OpenFile(path, os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// syncPath fsyncs a file or directory by path.
func (in *intake) syncPath(path string) error {
	f, err := in.fs.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return fmt.Errorf("sqlitestore: intake: %w", err)
	}
	if err := f.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sqlitestore: intake: sync %s: %w", path, err), f.Close())
	}
	return f.Close()
}
