package idemstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestStoreKeepsResponsesAcrossReopenUntilTheyExpire(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), FileName)
	clk := &clock{t: time.Date(2026, 12, 4, 1, 0, 0, 0, time.UTC)}
	s, err := Open(ctx, path, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	want := Response{Fingerprint: sha256.Sum256([]byte("body")), Status: 201, ContentType: "application/json", Body: []byte(`{"decision_id":"x"}`)}
	if err := s.Put(ctx, "lender:acme", "k-1", want); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "lender:other", "k-1"); err != nil || got != nil {
		t.Errorf("another scope sees the key: %+v, %v", got, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("store file mode: %v, %v", fi.Mode(), err)
	}

	// After a restart, 23h59m later: still there, byte for byte.
	clk.t = clk.t.Add(DefaultRetention - time.Minute)
	s, err = Open(ctx, path, Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "lender:acme", "k-1")
	if err != nil || got == nil {
		t.Fatalf("after reopening: %+v, %v", got, err)
	}
	if got.Fingerprint != want.Fingerprint || got.Status != want.Status || got.ContentType != want.ContentType || !bytes.Equal(got.Body, want.Body) {
		t.Errorf("got %+v, want %+v", got, want)
	}

	// Past the window it is gone at once, and purged from the file by a
	// write within retention/24.
	clk.t = clk.t.Add(2 * time.Minute)
	if got, err := s.Get(ctx, "lender:acme", "k-1"); err != nil || got != nil {
		t.Errorf("expired entry returned: %+v, %v", got, err)
	}
	clk.t = clk.t.Add(DefaultRetention / 24)
	if err := s.Put(ctx, "lender:acme", "k-2", want); err != nil {
		t.Fatal(err)
	}
	if n, err := s.count(ctx); err != nil || n != 1 {
		t.Errorf("%d entries after the purge (%v), want 1", n, err)
	}
	// An expired key may be used again.
	if err := s.Put(ctx, "lender:acme", "k-2", Response{Fingerprint: sha256.Sum256([]byte("other")), Status: 201, Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
