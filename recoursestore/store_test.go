package recoursestore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestPutGetSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "recourse.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Get(ctx, "d1"); ok || err != nil {
		t.Fatalf("empty store: %v %v", ok, err)
	}
	first := Entry{DecisionID: "d1", Counterfactuals: []byte(`[1]`), Record: []byte("r1"), RecordID: "id1"}
	got, inserted, err := s.Put(ctx, first)
	if err != nil || !inserted || got.RecordID != "id1" {
		t.Fatalf("first put: %+v %v %v", got, inserted, err)
	}
	// A second computation for the same decision never replaces the first.
	got, inserted, err = s.Put(ctx, Entry{DecisionID: "d1", Counterfactuals: []byte(`[2]`), Record: []byte("r2"), RecordID: "id2"})
	if err != nil || inserted || got.RecordID != "id1" || !bytes.Equal(got.Counterfactuals, []byte(`[1]`)) || got.Appended {
		t.Fatalf("second put: %+v %v %v", got, inserted, err)
	}
	if err := s.MarkAppended(ctx, "d1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, ok, err := s.Get(ctx, "d1")
	if err != nil || !ok || !got.Appended || !bytes.Equal(got.Record, []byte("r1")) || got.DecisionID != "d1" {
		t.Fatalf("after reopen: %+v %v %v", got, ok, err)
	}
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "recourse.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, _, err := s.Put(ctx, Entry{DecisionID: "d", Counterfactuals: bytes.Repeat([]byte("x"), 1500), Record: make([]byte, 400), RecordID: "i"}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, ok, err := s.Get(ctx, "d"); !ok || err != nil {
			b.Fatal(ok, err)
		}
	}
}

// TestDeleteLeavesNoTrace: a deleted entry is gone, and its bytes are in
// neither the database file nor its write-ahead log.
func TestDeleteLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "recourse.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret := []byte(`[{"Income":"between 1234567 and 7654321"}]`)
	for _, e := range []Entry{
		{DecisionID: "gone", Counterfactuals: secret, Record: []byte("r1"), RecordID: "id1"},
		{DecisionID: "kept", Counterfactuals: []byte(`[]`), Record: []byte("r2"), RecordID: "id2"},
	} {
		if _, _, err := s.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := s.Delete(ctx, "gone"); err != nil || !ok {
		t.Fatalf("Delete: %v %v", ok, err)
	}
	if ok, err := s.Delete(ctx, "gone"); err != nil || ok {
		t.Fatalf("second Delete: %v %v", ok, err)
	}
	if _, ok, _ := s.Get(ctx, "gone"); ok {
		t.Fatal("deleted entry still read")
	}
	if _, ok, _ := s.Get(ctx, "kept"); !ok {
		t.Fatal("the other entry went too")
	}
	for _, f := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte("1234567")) {
			t.Errorf("%s still holds the deleted entry's bytes", f)
		}
	}
}
