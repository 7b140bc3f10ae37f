package tmpfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFill checks that a filled tmpfs refuses even a single byte more and
// that its size bounds what Fill wrote.
func TestFill(t *testing.T) {
	dir := Mount(t, "2m")
	Fill(t, filepath.Join(dir, "filler"))
	st, err := os.Stat(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 2<<20 || st.Size() < 2<<20-64<<10 {
		t.Errorf("filler holds %d bytes of a 2 MiB tmpfs", st.Size())
	}
	err = os.WriteFile(filepath.Join(dir, "one more"), []byte{1}, 0o600)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("writing a byte to the full tmpfs: %v, want ENOSPC", err)
	}
}
