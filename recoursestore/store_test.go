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

// TestDeleteLeavesNoTrace: after Delete the suggestions are gone from
// every file of the store, not only from the table.
func TestDeleteLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "recourse.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret := []byte(`[{"changes":"a very recognisable applicant value 31337"}]`)
	for _, id := range []string{"erase", "keep"} {
		if _, _, err := s.Put(ctx, Entry{DecisionID: id, Counterfactuals: append([]byte(id), secret...), Record: []byte("r"), RecordID: id}); err != nil {
			t.Fatal(err)
		}
	}
	inFiles := func(needle []byte) bool {
		t.Helper()
		found := false
		for _, name := range []string{"recourse.db", "recourse.db-wal"} {
			data, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			found = found || bytes.Contains(data, needle)
		}
		return found
	}
	if !inFiles(append([]byte("erase"), secret...)) {
		t.Fatal("the suggestions are not in the files before Delete: the test cannot fail")
	}
	if err := s.Delete(ctx, "erase"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "never-there"); err != nil {
		t.Fatalf("deleting an absent row: %v", err)
	}
	if _, ok, err := s.Get(ctx, "erase"); ok || err != nil {
		t.Fatalf("after Delete: %v %v", ok, err)
	}
	if inFiles(append([]byte("erase"), secret...)) {
		t.Fatal("the deleted suggestions are still in the store's files")
	}
	if e, ok, err := s.Get(ctx, "keep"); !ok || err != nil || !bytes.Equal(e.Counterfactuals, append([]byte("keep"), secret...)) {
		t.Fatalf("the other row: %+v %v %v", e, ok, err)
	}
}
