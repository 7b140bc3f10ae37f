package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/google/trillian/integration/storagetest"
	"github.com/google/trillian/storage"
	"github.com/google/trillian/storage/testonly"
)

// openTest opens a Provider on a fresh database file that is closed and
// removed when tb ends.
func openTest(tb testing.TB) *Provider {
	tb.Helper()
	return openAt(tb, filepath.Join(tb.TempDir(), "trillian.db"))
}

func openAt(tb testing.TB, path string) *Provider {
	tb.Helper()
	p, err := Open(context.Background(), path, nil)
	if err != nil {
		tb.Fatalf("Open(%q) = %v", path, err)
	}
	tb.Cleanup(func() {
		if err := p.Close(); err != nil {
			tb.Errorf("Close() = %v", err)
		}
	})
	return p
}

// TestLogStorageSuite runs Trillian's shared LogStorage conformance tests.
func TestLogStorageSuite(t *testing.T) {
	storagetest.RunLogStorageTests(t, func(_ context.Context, t *testing.T) (storage.LogStorage, storage.AdminStorage) {
		p := openTest(t)
		return p.LogStorage(), p.AdminStorage()
	})
}

// TestAdminStorageSuite runs Trillian's shared AdminStorage conformance tests.
func TestAdminStorageSuite(t *testing.T) {
	tester := &testonly.AdminStorageTester{NewAdminStorage: func() storage.AdminStorage {
		return openTest(t).AdminStorage()
	}}
	tester.RunAllTests(t)
}
