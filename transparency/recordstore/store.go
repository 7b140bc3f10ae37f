package recordstore

import (
	"bytes"
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors a Store reports; test for them with errors.Is.
var (
	// ErrNotFound: no record with that id was ever put (or it was
	// discarded).
	ErrNotFound = errors.New("recordstore: record not found")
	// ErrErased: the record was erased; its data key is destroyed.
	ErrErased = errors.New("recordstore: record erased")
	// ErrConflict: a record with that id is stored with different bytes.
	ErrConflict = errors.New("recordstore: a different record is stored under this id")
	// ErrNotPending: Discard of a record that is committed or erased.
	ErrNotPending = errors.New("recordstore: record is not pending")
	// ErrClosed: the store is closed.
	ErrClosed = errors.New("recordstore: store closed")
)

// Salt lengths Put accepts. The commitment on the log needs at least 128
// bits of salt to keep guessed records from being confirmed.
const (
	MinSaltSize = 16
	MaxSaltSize = 1024
)

// state of a stored record.
type state int

const (
	statePending   state = 0
	stateCommitted state = 1
	stateErased    state = 2
)

// Additional data binding each ciphertext to its role and its record id.
const (
	recordAAD = "glassbox recordstore record v1\x00"
	keyAAD    = "glassbox recordstore data key v1\x00"
	checkAAD  = "glassbox recordstore KEK check v1"
)

// Option configures a Store.
type Option func(*options)

type options struct {
	now      func() time.Time
	maxBatch int
}

// WithClock sets the clock Put stamps records with (what Pending compares
// olderThan against); default time.Now.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithMaxBatch bounds how many concurrent Puts share one write; default
// 256.
func WithMaxBatch(n int) Option {
	return func(o *options) {
		if n > 0 {
			o.maxBatch = n
		}
	}
}

// row is a record as a backend stores it.
type row struct {
	id      [32]byte
	state   state
	sealed  []byte // nonce ‖ AES-GCM(data key, salt length ‖ salt ‖ record); nil once erased
	wrapped []byte // nonce ‖ AES-GCM(KEK, data key); nil if absent
	putAt   int64  // Unix nanoseconds
}

// backend is where a Store keeps ciphertexts and wrapped keys, apart.
type backend interface {
	// kekCheck returns the stored KEK check value, nil if there is none,
	// and setKEKCheck stores one.
	kekCheck(ctx context.Context) ([]byte, error)
	setKEKCheck(ctx context.Context, v []byte) error
	// record returns id's ciphertext row; found false if none.
	record(ctx context.Context, id [32]byte) (r row, found bool, err error)
	// lookup returns the ciphertext rows of those ids that have one.
	lookup(ctx context.Context, ids [][32]byte) (map[[32]byte]row, error)
	// key returns id's wrapped data key, nil if none.
	key(ctx context.Context, id [32]byte) ([]byte, error)
	// insert stores new rows, durably: all wrapped keys first, then all
	// ciphertexts, so a ciphertext never exists without its key.
	insert(ctx context.Context, rows []row) error
	// commit marks pending rows committed and returns how many ids have no
	// row at all.
	commit(ctx context.Context, ids [][32]byte) (missing int, err error)
	pending(ctx context.Context, before int64) ([][32]byte, error)
	// deleteKey destroys id's wrapped key (overwriting it where the
	// database allows).
	deleteKey(ctx context.Context, id [32]byte) error
	// deleteRecord removes id's ciphertext row if it is still pending.
	deleteRecord(ctx context.Context, id [32]byte) error
	// tombstone replaces id's ciphertext with an erasure mark.
	tombstone(ctx context.Context, id [32]byte, at int64) error
	// rewrapKeys replaces, in one transaction, every wrapped key w by
	// f(id, w) and the KEK check value by check.
	rewrapKeys(ctx context.Context, f func(id [32]byte, wrapped []byte) ([]byte, error), check []byte) (n int, err error)
	// scrub removes what an erasure left in logs of the database, where
	// that can be done (SQLite: checkpoint and truncate the WALs).
	scrub(ctx context.Context) error
	close() error
}

// Store is an open record store. It is safe for concurrent use.
type Store struct {
	b    backend
	opts options

	// kekMu is held for reading while the KEK is in use, for writing
	// while RotateKEK replaces it.
	kekMu sync.RWMutex
	kek   cipher.AEAD

	puts chan *putReq
	quit chan struct{}
	done chan struct{}
	once sync.Once
	// ctx is the writer's: Puts handed to it are written whatever happens
	// to their callers' contexts, since another Put may share the batch.
	ctx context.Context
}

type putReq struct {
	id           [32]byte
	salt, record []byte
	err          chan error
}

func newStore(ctx context.Context, b backend, kek KEK, opts []Option) (*Store, error) {
	if len(kek) != KEKSize {
		return nil, errors.Join(fmt.Errorf("recordstore: KEK of %d bytes, want %d", len(kek), KEKSize), b.close())
	}
	aead, err := newAEAD(kek)
	if err != nil {
		return nil, errors.Join(err, b.close())
	}
	if err := checkKEK(ctx, b, aead); err != nil {
		return nil, errors.Join(err, b.close())
	}
	s := &Store{
		b:    b,
		kek:  aead,
		opts: options{now: time.Now, maxBatch: 256},
		puts: make(chan *putReq),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		ctx:  context.WithoutCancel(ctx),
	}
	for _, o := range opts {
		o(&s.opts)
	}
	go s.writer()
	return s, nil
}

// checkKEK refuses a KEK other than the one the store was first opened
// with, before anything is written with it: a store holding data keys
// wrapped by two KEKs could not be read with either.
func checkKEK(ctx context.Context, b backend, aead cipher.AEAD) error {
	v, err := b.kekCheck(ctx)
	if err != nil {
		return err
	}
	if v == nil {
		return b.setKEKCheck(ctx, kekCheckValue(aead))
	}
	pt, err := aead.Open(nil, nil, v, []byte(checkAAD))
	if err != nil || string(pt) != checkAAD {
		return fmt.Errorf("%w: it does not open the store's KEK check value", ErrWrongKEK)
	}
	return nil
}

// kekCheckValue is a known plaintext sealed under the KEK.
func kekCheckValue(aead cipher.AEAD) []byte {
	return aead.Seal(nil, nil, []byte(checkAAD), []byte(checkAAD))
}

// Close stops the writer and closes the databases. Puts still waiting
// fail with ErrClosed.
func (s *Store) Close() error {
	var err error
	s.once.Do(func() {
		close(s.quit)
		<-s.done
		err = s.b.close()
	})
	return err
}

// Put stores record and its salt under id in state pending, durably when
// it returns nil. Putting the same salt and record under the same id again
// is a no-op; different bytes give ErrConflict, an erased id ErrErased.
func (s *Store) Put(ctx context.Context, id [32]byte, salt, record []byte) error {
	if len(salt) < MinSaltSize || len(salt) > MaxSaltSize {
		return fmt.Errorf("recordstore: put %x: salt of %d bytes, want %d to %d", id, len(salt), MinSaltSize, MaxSaltSize)
	}
	// Copies: the writer may still read them after a cancelled Put has
	// returned to a caller who reuses its buffers.
	r := &putReq{id: id, salt: bytes.Clone(salt), record: bytes.Clone(record), err: make(chan error, 1)}
	select {
	case s.puts <- r:
	case <-s.quit:
		return ErrClosed
	case <-ctx.Done():
		return fmt.Errorf("recordstore: put %x: %w", id, ctx.Err())
	}
	select {
	case err := <-r.err:
		return err
	case <-ctx.Done():
		// The record may still become durable; a caller that gives up
		// does not acknowledge the decision, and start-up discards it.
		return fmt.Errorf("recordstore: put %x: %w", id, ctx.Err())
	}
}

// writer writes Puts in groups: whatever is waiting when it is free goes
// into one write.
func (s *Store) writer() {
	defer close(s.done)
	batch := make([]*putReq, 0, s.opts.maxBatch)
	for {
		select {
		case <-s.quit:
			return
		case r := <-s.puts:
			batch = append(batch[:0], r)
		}
	fill:
		for len(batch) < s.opts.maxBatch {
			select {
			case r := <-s.puts:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.writeBatch(batch)
	}
}

func (s *Store) writeBatch(batch []*putReq) {
	ctx := s.ctx
	s.kekMu.RLock()
	defer s.kekMu.RUnlock()
	results := make([]error, len(batch))
	first := make(map[[32]byte]int, len(batch)) // id → index of its first Put in the batch
	ids := make([][32]byte, 0, len(batch))
	for i, r := range batch {
		if _, ok := first[r.id]; !ok {
			first[r.id] = i
			ids = append(ids, r.id)
		}
	}
	stored, err := s.b.lookup(ctx, ids)
	if err != nil {
		for _, r := range batch {
			r.err <- err
		}
		return
	}
	var rows []row
	var rowReqs []int
	now := s.opts.now().UnixNano()
	for i, r := range batch {
		if j := first[r.id]; j != i {
			// A second Put of the same id in this batch is judged against
			// the first; it gets the first's outcome when equal.
			p := batch[j]
			if bytes.Equal(p.salt, r.salt) && bytes.Equal(p.record, r.record) {
				results[i] = errPending // resolved below
			} else {
				results[i] = fmt.Errorf("recordstore: put %x: %w", r.id, ErrConflict)
			}
			continue
		}
		if existing, found := stored[r.id]; found {
			results[i] = s.samePut(ctx, existing, r)
			continue
		}
		nr, err := s.seal(r.id, r.salt, r.record, now)
		if err != nil {
			results[i] = err
			continue
		}
		rows = append(rows, nr)
		rowReqs = append(rowReqs, i)
	}
	if len(rows) > 0 {
		if err := s.b.insert(ctx, rows); err != nil {
			for _, i := range rowReqs {
				results[i] = err
			}
		}
	}
	for i, r := range batch {
		if results[i] == errPending {
			results[i] = results[first[r.id]]
		}
		r.err <- results[i]
	}
}

// errPending marks a batch slot whose outcome is its id's first Put's.
var errPending = errors.New("recordstore: outcome pending")

// samePut judges a Put of an id that is stored already.
func (s *Store) samePut(ctx context.Context, existing row, r *putReq) error {
	if existing.state == stateErased {
		return fmt.Errorf("recordstore: put %x: %w", r.id, ErrErased)
	}
	salt, record, err := s.open(ctx, existing)
	if err != nil {
		return fmt.Errorf("recordstore: put %x: compare with the stored record: %w", r.id, err)
	}
	if !bytes.Equal(salt, r.salt) || !bytes.Equal(record, r.record) {
		return fmt.Errorf("recordstore: put %x: %w", r.id, ErrConflict)
	}
	return nil
}

// seal encrypts a record under a fresh data key and wraps that key.
func (s *Store) seal(id [32]byte, salt, record []byte, putAt int64) (row, error) {
	dk := make([]byte, KEKSize)
	if _, err := rand.Read(dk); err != nil {
		return row{}, fmt.Errorf("recordstore: data key: %w", err)
	}
	aead, err := newAEAD(dk)
	if err != nil {
		return row{}, err
	}
	pt := make([]byte, 0, 2+len(salt)+len(record))
	pt = binary.BigEndian.AppendUint16(pt, uint16(len(salt)))
	pt = append(append(pt, salt...), record...)
	return row{
		id:      id,
		state:   statePending,
		sealed:  aead.Seal(nil, nil, pt, aad(recordAAD, id)),
		wrapped: s.kek.Seal(nil, nil, dk, aad(keyAAD, id)),
		putAt:   putAt,
	}, nil
}

func aad(role string, id [32]byte) []byte {
	return append([]byte(role), id[:]...)
}

// open decrypts a stored record with its wrapped key from the key store.
// The caller holds kekMu for reading.
func (s *Store) open(ctx context.Context, r row) (salt, record []byte, err error) {
	wrapped, err := s.b.key(ctx, r.id)
	if err != nil {
		return nil, nil, err
	}
	if wrapped == nil {
		// Only Erase (or a Discard cut short) destroys a key.
		return nil, nil, ErrErased
	}
	return openRecord(s.kek, r.id, wrapped, r.sealed)
}

// openRecord unwraps a data key with the KEK and decrypts a record with it.
func openRecord(kek cipher.AEAD, id [32]byte, wrapped, sealed []byte) (salt, record []byte, err error) {
	dk, err := kek.Open(nil, nil, wrapped, aad(keyAAD, id))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: cannot unwrap the data key of %x", ErrWrongKEK, id)
	}
	aead, err := newAEAD(dk)
	if err != nil {
		return nil, nil, err
	}
	pt, err := aead.Open(nil, nil, sealed, aad(recordAAD, id))
	if err != nil {
		return nil, nil, fmt.Errorf("recordstore: record %x fails authentication under its data key: %w", id, err)
	}
	if len(pt) < 2 {
		return nil, nil, fmt.Errorf("recordstore: record %x: truncated plaintext", id)
	}
	n := int(binary.BigEndian.Uint16(pt))
	if len(pt) < 2+n {
		return nil, nil, fmt.Errorf("recordstore: record %x: salt length %d beyond plaintext", id, n)
	}
	return pt[2 : 2+n], pt[2+n:], nil
}

// Get returns the salt and record stored under id: ErrNotFound if there is
// none, ErrErased if it was erased.
func (s *Store) Get(ctx context.Context, id [32]byte) (salt, record []byte, err error) {
	r, found, err := s.b.record(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if !found {
		return nil, nil, fmt.Errorf("recordstore: get %x: %w", id, ErrNotFound)
	}
	if r.state == stateErased {
		return nil, nil, fmt.Errorf("recordstore: get %x: %w", id, ErrErased)
	}
	s.kekMu.RLock()
	salt, record, err = s.open(ctx, r)
	s.kekMu.RUnlock()
	if err != nil {
		return nil, nil, fmt.Errorf("recordstore: get %x: %w", id, err)
	}
	return salt, record, nil
}

// RotateKEK re-wraps every data key with next and makes next the store's
// KEK, in one transaction: a crash leaves every key wrapped by the old KEK
// or every key by next. The caller keeps next where the next start-up
// will load it before calling, and the old KEK until RotateKEK returns
// (see docs/record-store.md). Puts and Gets wait while it runs.
func (s *Store) RotateKEK(ctx context.Context, next KEK) error {
	if len(next) != KEKSize {
		return fmt.Errorf("recordstore: rotate: KEK of %d bytes, want %d", len(next), KEKSize)
	}
	aead, err := newAEAD(next)
	if err != nil {
		return err
	}
	s.kekMu.Lock()
	defer s.kekMu.Unlock()
	_, err = s.b.rewrapKeys(ctx, func(id [32]byte, wrapped []byte) ([]byte, error) {
		dk, err := s.kek.Open(nil, nil, wrapped, aad(keyAAD, id))
		if err != nil {
			return nil, fmt.Errorf("%w: cannot unwrap the data key of %x", ErrWrongKEK, id)
		}
		return aead.Seal(nil, nil, dk, aad(keyAAD, id)), nil
	}, kekCheckValue(aead))
	if err != nil {
		return fmt.Errorf("recordstore: rotate KEK: %w", err)
	}
	s.kek = aead
	// Keys wrapped by the old KEK are overwritten in the pages; the
	// checkpoint drops the older page images too.
	return s.b.scrub(ctx)
}

// Commit marks records whose leaves are durable in the log. Committed and
// erased records are left as they are. Ids with no record are reported as
// ErrNotFound after the others are committed.
func (s *Store) Commit(ctx context.Context, ids ...[32]byte) error {
	if len(ids) == 0 {
		return nil
	}
	missing, err := s.b.commit(ctx, ids)
	if err != nil {
		return err
	}
	if missing > 0 {
		return fmt.Errorf("recordstore: commit: %d of %d ids: %w", missing, len(ids), ErrNotFound)
	}
	return nil
}

// Pending returns the ids of records put before olderThan and neither
// committed nor erased, oldest first.
func (s *Store) Pending(ctx context.Context, olderThan time.Time) ([][32]byte, error) {
	return s.b.pending(ctx, olderThan.UnixNano())
}

// Discard removes a pending record whose leaf never made it into the log:
// its data key first, so the record is unreadable at once, then its
// ciphertext. Discarding an id with no record is a no-op (start-up may
// repeat a discard cut short by a crash); a committed or erased record
// gives ErrNotPending.
func (s *Store) Discard(ctx context.Context, id [32]byte) error {
	r, found, err := s.b.record(ctx, id)
	if err != nil {
		return err
	}
	if !found {
		return nil
	}
	if r.state != statePending {
		return fmt.Errorf("recordstore: discard %x: %w", id, ErrNotPending)
	}
	if err := s.b.deleteKey(ctx, id); err != nil {
		return err
	}
	return s.b.deleteRecord(ctx, id)
}

// Erase destroys the record's data key (crypto-shredding) and keeps a
// tombstone, so the record can never be read again, not even from a
// backup of the ciphertexts taken earlier. already is true if it had been
// erased before; an unknown id gives ErrNotFound.
func (s *Store) Erase(ctx context.Context, id [32]byte) (already bool, err error) {
	r, found, err := s.b.record(ctx, id)
	if err != nil {
		return false, err
	}
	if !found {
		return false, fmt.Errorf("recordstore: erase %x: %w", id, ErrNotFound)
	}
	// The key goes first: from then on the record is unreadable, and a
	// crash before the tombstone leaves a record Get reports as erased
	// and a second Erase completes.
	if err := s.b.deleteKey(ctx, id); err != nil {
		return false, err
	}
	if r.state != stateErased {
		if err := s.b.tombstone(ctx, id, s.opts.now().UnixNano()); err != nil {
			return false, err
		}
	}
	if err := s.b.scrub(ctx); err != nil {
		return false, err
	}
	return r.state == stateErased, nil
}
