package recordstore

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// harness opens one backend's store again and again (for reopen tests)
// and reads its tables around the Store, the way a backup or an attacker
// with the database would.
type harness interface {
	open(ctx context.Context, kek KEK, opts ...Option) (*Store, error)
	// backupRecords copies the ciphertext store as a backup would and
	// returns its rows: id → sealed ciphertext (nil for a tombstone).
	backupRecords(t *testing.T) map[[32]byte][]byte
	// keys returns every wrapped key now in the key store.
	keys(t *testing.T) map[[32]byte][]byte
	// rawFiles returns the bytes of every file the store wrote (SQLite),
	// or of every row of its tables (MariaDB, whose files are the
	// server's).
	rawFiles(t *testing.T) map[string][]byte
	// execKeys runs a statement on the key store behind the Store's back,
	// to leave the state a crash between two steps leaves.
	execKeys(t *testing.T, query string, args ...any)
	// spec names the store for a child process (see crash_test.go).
	spec() string
}

type backendCase struct {
	name string
	new  func(t *testing.T) harness
}

func backends() []backendCase {
	return []backendCase{
		{"sqlite", newSQLiteHarness},
		{"mariadb", newMariaDBHarness},
	}
}

// forEachBackend runs f against a fresh store of every backend.
func forEachBackend(t *testing.T, f func(t *testing.T, h harness)) {
	for _, bc := range backends() {
		t.Run(bc.name, func(t *testing.T) {
			f(t, bc.new(t))
		})
	}
}

func newKEK(t *testing.T) KEK {
	t.Helper()
	k := make(KEK, KEKSize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func openT(t *testing.T, h harness, kek KEK, opts ...Option) *Store {
	t.Helper()
	s, err := h.open(t.Context(), kek, opts...)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// testRecord is a record with a salt and an id derived the way the
// envelope derives it in spirit: a hash over salt and record.
type testRecord struct {
	id           [32]byte
	salt, record []byte
}

func mkRecord(t *testing.T, text string) testRecord {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	rec := []byte(text)
	return testRecord{id: sha256.Sum256(append(append([]byte{}, salt...), rec...)), salt: salt, record: rec}
}

func put(t *testing.T, s *Store, r testRecord) {
	t.Helper()
	if err := s.Put(t.Context(), r.id, r.salt, r.record); err != nil {
		t.Fatalf("put %x: %v", r.id[:4], err)
	}
}

// putAll puts records from 32 goroutines, so they are written in groups.
func putAll(t *testing.T, s *Store, recs []testRecord) {
	t.Helper()
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Go(func() {
			for i := w; i < len(recs); i += 32 {
				r := recs[i]
				if err := s.Put(t.Context(), r.id, r.salt, r.record); err != nil {
					t.Errorf("put %x: %v", r.id[:4], err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

func mustGet(t *testing.T, s *Store, r testRecord) {
	t.Helper()
	salt, rec, err := s.Get(t.Context(), r.id)
	if err != nil {
		t.Fatalf("get %x: %v", r.id[:4], err)
	}
	if !bytes.Equal(salt, r.salt) || !bytes.Equal(rec, r.record) {
		t.Fatalf("get %x = (%x, %q), want (%x, %q)", r.id[:4], salt, rec, r.salt, r.record)
	}
}

func TestRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		s := openT(t, h, newKEK(t))
		big := make([]byte, 1<<20)
		if _, err := rand.Read(big); err != nil {
			t.Fatal(err)
		}
		recs := []testRecord{
			mkRecord(t, `{"application_id":"A-1","income":52000}`),
			mkRecord(t, ""),
			mkRecord(t, string(big)),
		}
		// A salt of the maximum size round-trips too.
		long := mkRecord(t, "long salt")
		long.salt = bytes.Repeat([]byte{7}, MaxSaltSize)
		recs = append(recs, long)
		for _, r := range recs {
			put(t, s, r)
		}
		for _, r := range recs {
			mustGet(t, s, r)
		}
	})
}

func TestPutIdempotentAndConflict(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		s := openT(t, h, newKEK(t))
		r := mkRecord(t, "first")
		put(t, s, r)
		put(t, s, r) // same bytes: no-op
		otherSalt := append([]byte{}, r.salt...)
		otherSalt[0] ^= 1
		cases := []struct {
			name         string
			salt, record []byte
		}{
			{"other record", r.salt, []byte("second")},
			{"other salt", otherSalt, r.record},
		}
		for _, tc := range cases {
			if err := s.Put(t.Context(), r.id, tc.salt, tc.record); !errors.Is(err, ErrConflict) {
				t.Errorf("%s: Put = %v, want ErrConflict", tc.name, err)
			}
		}
		mustGet(t, s, r)
		if n := len(h.keys(t)); n != 1 {
			t.Errorf("key store holds %d keys after repeated Puts of one id, want 1", n)
		}
	})
}

func TestPutRejectsShortSalt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		s := openT(t, h, newKEK(t))
		r := mkRecord(t, "x")
		for _, n := range []int{0, MinSaltSize - 1, MaxSaltSize + 1} {
			if err := s.Put(t.Context(), r.id, make([]byte, n), r.record); err == nil {
				t.Errorf("Put with a salt of %d bytes succeeded", n)
			}
		}
		if _, _, err := s.Get(t.Context(), r.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("after refused Puts, Get = %v, want ErrNotFound", err)
		}
	})
}

func TestGetUnknown(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		s := openT(t, h, newKEK(t))
		put(t, s, mkRecord(t, "someone else"))
		if _, _, err := s.Get(t.Context(), [32]byte{1}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get unknown = %v, want ErrNotFound", err)
		}
		if _, err := s.Erase(t.Context(), [32]byte{1}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Erase unknown = %v, want ErrNotFound", err)
		}
	})
}

func TestErase(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		s := openT(t, h, newKEK(t))
		gone, kept, pendingGone := mkRecord(t, "erase me"), mkRecord(t, "keep me"), mkRecord(t, "erase me while pending")
		for _, r := range []testRecord{gone, kept, pendingGone} {
			put(t, s, r)
		}
		if err := s.Commit(ctx, gone.id, kept.id); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			r            testRecord
			wantAlready  bool
			wantGetError error
		}{
			{gone, false, ErrErased},
			{gone, true, ErrErased},
			{pendingGone, false, ErrErased},
		} {
			already, err := s.Erase(ctx, tc.r.id)
			if err != nil || already != tc.wantAlready {
				t.Fatalf("Erase %q = (%v, %v), want (%v, nil)", tc.r.record, already, err, tc.wantAlready)
			}
			if _, _, err := s.Get(ctx, tc.r.id); !errors.Is(err, tc.wantGetError) {
				t.Errorf("Get %q after Erase = %v, want %v", tc.r.record, err, tc.wantGetError)
			}
		}
		mustGet(t, s, kept)
		// An erased id cannot be put again: the tombstone stays.
		if err := s.Put(ctx, gone.id, gone.salt, gone.record); !errors.Is(err, ErrErased) {
			t.Errorf("Put of an erased id = %v, want ErrErased", err)
		}
		// Neither pending nor committed once erased.
		ids, err := s.Pending(ctx, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 0 {
			t.Errorf("Pending after erasing the only pending record = %x", ids)
		}
		keys := h.keys(t)
		if len(keys) != 1 || keys[kept.id] == nil {
			t.Errorf("key store holds %d keys, want only the kept record's", len(keys))
		}
	})
}

// decryptRaw opens a backed-up ciphertext with a wrapped key and the KEK,
// following the documented format with the standard library alone, not
// with the package's code: nonce (12 bytes) ‖ AES-256-GCM ciphertext,
// the id appended to a role string as additional data, the plaintext a
// 2-byte salt length, the salt and the record.
func decryptRaw(kek KEK, id [32]byte, wrapped, sealed []byte) (salt, record []byte, err error) {
	open := func(key, msg []byte, role string) ([]byte, error) {
		b, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		g, err := cipher.NewGCM(b)
		if err != nil {
			return nil, err
		}
		if len(msg) < g.NonceSize() {
			return nil, errors.New("short")
		}
		return g.Open(nil, msg[:g.NonceSize()], msg[g.NonceSize():], append([]byte(role), id[:]...))
	}
	dk, err := open(kek, wrapped, "glassbox recordstore data key v1\x00")
	if err != nil {
		return nil, nil, fmt.Errorf("unwrap: %w", err)
	}
	pt, err := open(dk, sealed, "glassbox recordstore record v1\x00")
	if err != nil {
		return nil, nil, fmt.Errorf("decrypt: %w", err)
	}
	n := int(binary.BigEndian.Uint16(pt))
	return pt[2 : 2+n], pt[2+n:], nil
}

// TestBackupAfterErasure is issue 18's promise: a backup of the record
// store taken before an erasure cannot reveal the record afterwards, even
// with the KEK and everything still in the key store, while before the
// erasure the same backup and keys could.
func TestBackupAfterErasure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		kek := newKEK(t)
		s := openT(t, h, kek)
		target := mkRecord(t, `{"application_id":"BACKUP-TARGET-7731","income":61000}`)
		others := []testRecord{mkRecord(t, "other one"), mkRecord(t, "other two")}
		for _, r := range append([]testRecord{target}, others...) {
			put(t, s, r)
		}
		if err := s.Commit(ctx, target.id); err != nil {
			t.Fatal(err)
		}

		backup := h.backupRecords(t)
		keysBefore := h.keys(t)
		if backup[target.id] == nil || keysBefore[target.id] == nil {
			t.Fatalf("backup holds ciphertext %v, key store key %v for the target", backup[target.id] != nil, keysBefore[target.id] != nil)
		}
		// Before erasure the backup and the key store do reveal it: the
		// check below is able to fail.
		salt, rec, err := decryptRaw(kek, target.id, keysBefore[target.id], backup[target.id])
		if err != nil || !bytes.Equal(salt, target.salt) || !bytes.Equal(rec, target.record) {
			t.Fatalf("before erasure, backup + keys + KEK give (%q, %v), want the record", rec, err)
		}

		if _, err := s.Erase(ctx, target.id); err != nil {
			t.Fatal(err)
		}

		keysAfter := h.keys(t)
		if _, ok := keysAfter[target.id]; ok {
			t.Fatal("the target's wrapped key is still in the key store")
		}
		if len(keysAfter) != len(others) {
			t.Errorf("key store holds %d keys after erasure, want %d", len(keysAfter), len(others))
		}
		// Every key left, under the target's id and under its own, against
		// the backed-up ciphertext.
		for kid, w := range keysAfter {
			for _, asID := range [][32]byte{target.id, kid} {
				if _, rec, err := decryptRaw(kek, asID, w, backup[target.id]); err == nil {
					t.Errorf("after erasure, key of %x opened the backed-up target as %q", kid[:4], rec)
				}
			}
		}
		// And the destroyed key is not left in the key store's files.
		for name, b := range h.rawFiles(t) {
			if bytes.Contains(b, keysBefore[target.id]) {
				t.Errorf("%s still holds the erased record's wrapped key", name)
			}
			if bytes.Contains(b, target.record) {
				t.Errorf("%s holds the record in clear", name)
			}
		}
		// The other records are untouched, in the store and via the backup.
		for _, r := range others {
			mustGet(t, s, r)
			if _, rec, err := decryptRaw(kek, r.id, keysAfter[r.id], backup[r.id]); err != nil || !bytes.Equal(rec, r.record) {
				t.Errorf("backup of a record not erased: (%q, %v)", rec, err)
			}
		}
	})
}

// TestNoPlaintextAtRest greps every file the store wrote for the records
// and salts it was given.
func TestNoPlaintextAtRest(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		s := openT(t, h, newKEK(t))
		var recs []testRecord
		for i := range 20 {
			recs = append(recs, mkRecord(t, fmt.Sprintf(`{"application_id":"PLAINTEXT-CANARY-%04d","name":"Erika Mustermann"}`, i)))
		}
		for _, r := range recs {
			put(t, s, r)
		}
		files := h.rawFiles(t)
		var total int
		for name, b := range files {
			total += len(b)
			for _, needle := range [][]byte{[]byte("PLAINTEXT-CANARY"), []byte("Mustermann"), recs[0].salt, recs[7].salt} {
				if bytes.Contains(b, needle) {
					t.Errorf("%s holds %q in clear", name, needle)
				}
			}
		}
		if total < 20*len(recs[0].record) {
			t.Fatalf("files hold only %d bytes for %d records: not the store's files", total, len(recs))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		for name, b := range h.rawFiles(t) {
			if bytes.Contains(b, []byte("PLAINTEXT-CANARY")) {
				t.Errorf("after close, %s holds a record in clear", name)
			}
		}
	})
}

func TestPendingCommitDiscard(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		var mu sync.Mutex
		now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
		s := openT(t, h, newKEK(t), WithClock(clock))

		t0 := clock()
		a, b, c, d := mkRecord(t, "a"), mkRecord(t, "b"), mkRecord(t, "c"), mkRecord(t, "d")
		put(t, s, a)
		advance(time.Second)
		put(t, s, b)
		advance(time.Second)
		put(t, s, c)
		advance(time.Second)
		put(t, s, d)

		pending := func(olderThan time.Time) [][32]byte {
			t.Helper()
			ids, err := s.Pending(ctx, olderThan)
			if err != nil {
				t.Fatal(err)
			}
			return ids
		}
		want := func(name string, got [][32]byte, want ...testRecord) {
			t.Helper()
			if len(got) != len(want) {
				t.Fatalf("%s: %d pending, want %d", name, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i].id {
					t.Fatalf("%s: pending[%d] = %x, want %q's id", name, i, got[i][:4], want[i].record)
				}
			}
		}
		want("before t0", pending(t0))
		want("strictly before t0+1s", pending(t0.Add(time.Second)), a)
		want("all", pending(t0.Add(time.Hour)), a, b, c, d)

		if err := s.Commit(ctx, a.id, c.id); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, a.id); err != nil {
			t.Errorf("second Commit: %v", err)
		}
		want("after commit", pending(t0.Add(time.Hour)), b, d)
		if err := s.Commit(ctx, d.id, [32]byte{9}); !errors.Is(err, ErrNotFound) {
			t.Errorf("Commit with an unknown id = %v, want ErrNotFound", err)
		}
		want("after commit with unknown", pending(t0.Add(time.Hour)), b)

		if err := s.Discard(ctx, b.id); err != nil {
			t.Fatal(err)
		}
		if err := s.Discard(ctx, b.id); err != nil {
			t.Errorf("second Discard: %v", err)
		}
		if _, _, err := s.Get(ctx, b.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get discarded = %v, want ErrNotFound", err)
		}
		if err := s.Discard(ctx, a.id); !errors.Is(err, ErrNotPending) {
			t.Errorf("Discard committed = %v, want ErrNotPending", err)
		}
		mustGet(t, s, a)
		want("after discard", pending(t0.Add(time.Hour)))
		if _, ok := h.keys(t)[b.id]; ok {
			t.Error("discarded record's key is still in the key store")
		}
		if _, ok := h.backupRecords(t)[b.id]; ok {
			t.Error("discarded record's ciphertext is still in the store")
		}
		// A discarded id may be put again (its leaf may yet be written).
		put(t, s, b)
		mustGet(t, s, b)
	})
}

func TestDurableAcrossReopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		kek := newKEK(t)
		s, err := h.open(ctx, kek)
		if err != nil {
			t.Fatal(err)
		}
		committed, pendingRec, erased := mkRecord(t, "committed"), mkRecord(t, "pending"), mkRecord(t, "erased")
		for _, r := range []testRecord{committed, pendingRec, erased} {
			put(t, s, r)
		}
		if err := s.Commit(ctx, committed.id, erased.id); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Erase(ctx, erased.id); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Put(ctx, committed.id, committed.salt, committed.record); !errors.Is(err, ErrClosed) {
			t.Errorf("Put after Close = %v, want ErrClosed", err)
		}

		s = openT(t, h, KEK(bytes.Clone(kek)))
		mustGet(t, s, committed)
		mustGet(t, s, pendingRec)
		if _, _, err := s.Get(ctx, erased.id); !errors.Is(err, ErrErased) {
			t.Errorf("Get erased after reopen = %v, want ErrErased", err)
		}
		if already, err := s.Erase(ctx, erased.id); err != nil || !already {
			t.Errorf("Erase after reopen = (%v, %v), want (true, nil)", already, err)
		}
		ids, err := s.Pending(ctx, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 || ids[0] != pendingRec.id {
			t.Errorf("Pending after reopen = %x, want the pending record only", ids)
		}
	})
}

func TestKEKRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		kek := newKEK(t)
		s, err := h.open(ctx, kek)
		if err != nil {
			t.Fatal(err)
		}
		r := mkRecord(t, "guarded")
		put(t, s, r)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		flipped := KEK(bytes.Clone(kek))
		flipped[31] ^= 1
		for _, tc := range []struct {
			name    string
			kek     KEK
			wrong   bool // want ErrWrongKEK rather than a length error
			message string
		}{
			{"empty", nil, false, "KEK of 0 bytes, want 32"},
			{"short", kek[:16], false, "KEK of 16 bytes, want 32"},
			{"long", append(bytes.Clone(kek), 0), false, "KEK of 33 bytes, want 32"},
			{"one bit off", flipped, true, "wrong KEK"},
			{"another key", newKEK(t), true, "wrong KEK"},
		} {
			s, err := h.open(ctx, tc.kek)
			if err == nil {
				_ = s.Close()
				t.Errorf("%s: open succeeded", tc.name)
				continue
			}
			if errors.Is(err, ErrWrongKEK) != tc.wrong || !bytes.Contains([]byte(err.Error()), []byte(tc.message)) {
				t.Errorf("%s: open = %v, want an error saying %q", tc.name, err, tc.message)
			}
		}
		// The right KEK still opens it: the refusals changed nothing.
		s = openT(t, h, kek)
		mustGet(t, s, r)
	})
}

// TestWrongKEKOnRead: a wrapped key that does not open under the KEK (a
// key store mixed with another's) is an error naming the cause, never
// garbage.
func TestWrongKEKOnRead(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		s := openT(t, h, newKEK(t))
		r := mkRecord(t, "mine")
		put(t, s, r)
		other, err := newAEAD(newKEK(t))
		if err != nil {
			t.Fatal(err)
		}
		s.kek = other // as if the check value had been copied from elsewhere
		_, rec, err := s.Get(t.Context(), r.id)
		if !errors.Is(err, ErrWrongKEK) || rec != nil {
			t.Errorf("Get under another KEK = (%q, %v), want ErrWrongKEK", rec, err)
		}
	})
}

func TestConcurrentPuts(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		s := openT(t, h, newKEK(t))
		const workers, each = 8, 25
		recs := make([][]testRecord, workers)
		for w := range recs {
			for i := range each {
				recs[w] = append(recs[w], mkRecord(t, fmt.Sprintf("worker %d record %d", w, i)))
			}
		}
		shared := mkRecord(t, "put by everyone")
		var wg sync.WaitGroup
		errs := make(chan error, workers*(each+1))
		for w := range workers {
			wg.Go(func() {
				for _, r := range recs[w] {
					if err := s.Put(ctx, r.id, r.salt, r.record); err != nil {
						errs <- err
					}
				}
				// Every worker puts the same record once; all succeed.
				if err := s.Put(ctx, shared.id, shared.salt, shared.record); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for _, rs := range recs {
			for _, r := range rs {
				mustGet(t, s, r)
			}
		}
		mustGet(t, s, shared)
		ids, err := s.Pending(ctx, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if want := workers*each + 1; len(ids) != want || len(h.keys(t)) != want {
			t.Errorf("%d pending, %d keys, want %d each", len(ids), len(h.keys(t)), want)
		}
	})
}

func TestCreateLoadKEK(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DefaultKEKFile)
	k, err := CreateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(k) != KEKSize || bytes.Equal(k, make([]byte, KEKSize)) {
		t.Fatalf("CreateKEK gave %d bytes %x", len(k), []byte(k))
	}
	if _, err := CreateKEK(path); err == nil {
		t.Error("CreateKEK overwrote an existing KEK")
	}
	l, err := LoadKEK(path)
	if err != nil || !bytes.Equal(l, k) {
		t.Fatalf("LoadKEK = (%x, %v), want the created key", []byte(l), err)
	}
	l2, created, err := LoadOrCreateKEK(path)
	if err != nil || created || !bytes.Equal(l2, k) {
		t.Errorf("LoadOrCreateKEK of an existing file = (created %v, %v)", created, err)
	}
	if s := fmt.Sprintf("%v %s %x %#v", k, k, k, k); bytes.Contains([]byte(s), []byte(fmt.Sprintf("%x", []byte(k)))) {
		t.Errorf("formatting a KEK shows it: %s", s)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEK(path); err == nil {
		t.Error("LoadKEK accepted a world-readable KEK file")
	}
	short := filepath.Join(dir, "short.kek")
	if err := os.WriteFile(short, make([]byte, 31), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKEK(short); err == nil {
		t.Error("LoadKEK accepted 31 bytes")
	}
	fresh, created, err := LoadOrCreateKEK(filepath.Join(dir, "fresh.kek"))
	if err != nil || !created || len(fresh) != KEKSize {
		t.Errorf("LoadOrCreateKEK of no file = (%d bytes, created %v, %v)", len(fresh), created, err)
	}
}

// TestCrashBetweenSteps leaves, behind the Store's back, each state a
// crash between two writes of one operation leaves, and checks that the
// store reads it consistently and the operation, repeated, completes.
func TestCrashBetweenSteps(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		kek := newKEK(t)
		s := openT(t, h, kek)

		// Put: its key written, its ciphertext not. The record does not
		// exist; the retried Put succeeds, and so do the others in its
		// group.
		cut := mkRecord(t, "put cut short")
		h.execKeys(t, `INSERT INTO `+keysTable+` (id, wrapped) VALUES (?, ?)`, cut.id[:], bytes.Repeat([]byte{0xAB}, 60))
		if _, _, err := s.Get(ctx, cut.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get of a Put cut short = %v, want ErrNotFound", err)
		}
		var wg sync.WaitGroup
		group := []testRecord{cut, mkRecord(t, "group 1"), mkRecord(t, "group 2")}
		for _, r := range group {
			wg.Go(func() {
				if err := s.Put(ctx, r.id, r.salt, r.record); err != nil {
					t.Errorf("Put %q: %v", r.record, err)
				}
			})
		}
		wg.Wait()
		for _, r := range group {
			mustGet(t, s, r)
			if err := s.Commit(ctx, r.id); err != nil {
				t.Fatal(err)
			}
		}

		// Erase: key destroyed, tombstone not written. Reads say erased;
		// Erase again completes it (not "already": it had not finished).
		erasing := mkRecord(t, "erase cut short")
		put(t, s, erasing)
		if err := s.Commit(ctx, erasing.id); err != nil {
			t.Fatal(err)
		}
		h.execKeys(t, `DELETE FROM `+keysTable+` WHERE id = ?`, erasing.id[:])
		if _, _, err := s.Get(ctx, erasing.id); !errors.Is(err, ErrErased) {
			t.Errorf("Get of an erasure cut short = %v, want ErrErased", err)
		}
		if already, err := s.Erase(ctx, erasing.id); err != nil || already {
			t.Errorf("Erase completing a cut erasure = (%v, %v), want (false, nil)", already, err)
		}
		if already, err := s.Erase(ctx, erasing.id); err != nil || !already {
			t.Errorf("Erase after it = (%v, %v), want (true, nil)", already, err)
		}
		if _, ok := h.backupRecords(t)[erasing.id]; !ok {
			t.Error("tombstone missing")
		} else if ct := h.backupRecords(t)[erasing.id]; ct != nil {
			t.Errorf("tombstone still holds %d bytes of ciphertext", len(ct))
		}

		// Discard: key destroyed, ciphertext not deleted. Still pending,
		// so start-up finds it again and the second Discard completes.
		discarding := mkRecord(t, "discard cut short")
		put(t, s, discarding)
		h.execKeys(t, `DELETE FROM `+keysTable+` WHERE id = ?`, discarding.id[:])
		ids, err := s.Pending(ctx, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != 1 || ids[0] != discarding.id {
			t.Fatalf("Pending = %x, want the record whose discard was cut short", ids)
		}
		if err := s.Discard(ctx, discarding.id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Get(ctx, discarding.id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get after the discard completed = %v, want ErrNotFound", err)
		}
	})
}

func TestRotateKEK(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		ctx := t.Context()
		oldKEK, newKEKv := newKEK(t), newKEK(t)
		s, err := h.open(ctx, oldKEK)
		if err != nil {
			t.Fatal(err)
		}
		var recs []testRecord
		for i := range 2*rewrapPage + 500 { // more than one page of rewrapping
			recs = append(recs, mkRecord(t, fmt.Sprintf("rotated %d", i)))
		}
		putAll(t, s, recs)
		erased := recs[0]
		if _, err := s.Erase(ctx, erased.id); err != nil {
			t.Fatal(err)
		}
		keysBefore := h.keys(t)
		if err := s.RotateKEK(ctx, newKEKv[:31]); err == nil {
			t.Error("RotateKEK accepted a 31-byte KEK")
		}
		if err := s.RotateKEK(ctx, newKEKv); err != nil {
			t.Fatal(err)
		}
		mustGet(t, s, recs[1])
		added := mkRecord(t, "after rotation")
		put(t, s, added)
		mustGet(t, s, added)

		// Every key is now wrapped by the new KEK and none by the old.
		backup := h.backupRecords(t)
		keysAfter := h.keys(t)
		if len(keysAfter) != len(recs) { // the erased one gone, the added one there
			t.Fatalf("%d keys after rotation, want %d", len(keysAfter), len(recs))
		}
		for id, w := range keysAfter {
			if _, _, err := decryptRaw(oldKEK, id, w, backup[id]); err == nil {
				t.Fatalf("key of %x still opens under the old KEK", id[:4])
			}
			if _, _, err := decryptRaw(newKEKv, id, w, backup[id]); err != nil {
				t.Fatalf("key of %x does not open under the new KEK: %v", id[:4], err)
			}
		}
		for name, b := range h.rawFiles(t) {
			for _, r := range recs[1:4] {
				if bytes.Contains(b, keysBefore[r.id]) {
					t.Errorf("%s still holds a key wrapped by the old KEK", name)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s, err := h.open(ctx, oldKEK); !errors.Is(err, ErrWrongKEK) {
			if err == nil {
				_ = s.Close()
			}
			t.Errorf("open with the old KEK after rotation = %v, want ErrWrongKEK", err)
		}
		s = openT(t, h, newKEKv)
		mustGet(t, s, recs[len(recs)-1])
		mustGet(t, s, added)
		if _, _, err := s.Get(ctx, erased.id); !errors.Is(err, ErrErased) {
			t.Errorf("erased record after rotation: %v", err)
		}
	})
}
