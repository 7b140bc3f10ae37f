package recordstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/internal/tmpfs"
)

// TestDiskFull runs the SQLite store on a real file system that fills up:
// Puts fail with an error rather than being acknowledged, every Put that
// was acknowledged stays readable, and once space is freed the failed Put
// succeeds when retried and the store is consistent across a reopen.
func TestDiskFull(t *testing.T) {
	ctx := t.Context()
	disk := tmpfs.Mount(t, "8m")
	dir := filepath.Join(disk, "store")
	kek := newKEK(t)
	s, err := OpenSQLite(ctx, dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	var acked []testRecord
	pad := bytes.Repeat([]byte("x"), 4000)
	next := func(i int) testRecord { return mkRecord(t, fmt.Sprintf("disk full %d %s", i, pad)) }
	for i := range 50 {
		r := next(i)
		put(t, s, r)
		acked = append(acked, r)
	}
	tmpfs.Fill(t, filepath.Join(disk, "filler"))

	var failed *testRecord
	for i := 50; i < 5000; i++ {
		r := next(i)
		if err := s.Put(ctx, r.id, r.salt, r.record); err != nil {
			t.Logf("Put %d on a full disk: %v", i, err)
			failed = &r
			break
		}
		acked = append(acked, r)
	}
	if failed == nil {
		t.Fatal("5000 Puts of 4 kB succeeded on a full 8 MiB file system")
	}
	for _, r := range acked {
		mustGet(t, s, r)
	}
	if _, _, err := s.Get(ctx, failed.id); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of the failed Put = %v, want ErrNotFound", err)
	}
	// An erasure on the full disk either happens or says it did not.
	erased := acked[0]
	acked = acked[1:]
	_, eraseErr := s.Erase(ctx, erased.id)
	t.Logf("Erase on a full disk: %v", eraseErr)
	_, _, err = s.Get(ctx, erased.id)
	if eraseErr == nil && !errors.Is(err, ErrErased) {
		t.Errorf("Erase succeeded on a full disk, but Get = %v", err)
	}
	if eraseErr != nil && err != nil && !errors.Is(err, ErrErased) {
		t.Errorf("after a failed Erase, Get = %v, want the record or ErrErased", err)
	}

	if err := os.Remove(filepath.Join(disk, "filler")); err != nil {
		t.Fatal(err)
	}
	// Retried, the failed Put succeeds; it may have left its key behind.
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := s.Put(ctx, failed.id, failed.salt, failed.record)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Put after space was freed: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	acked = append(acked, *failed)
	if _, err := s.Erase(ctx, erased.id); err != nil {
		t.Fatalf("Erase after space was freed: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSQLite(ctx, dir, kek)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range acked {
		mustGet(t, s, r)
	}
	if _, _, err := s.Get(ctx, erased.id); !errors.Is(err, ErrErased) {
		t.Errorf("erased record after reopen: %v", err)
	}
	ids, err := s.Pending(ctx, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(acked) {
		t.Errorf("%d pending after reopen, want the %d acknowledged", len(ids), len(acked))
	}
}
