package recordstore

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Environment of the child process TestSIGKILLUnderLoad starts.
const (
	crashBackendEnv = "RECORDSTORE_CRASH_BACKEND" // "sqlite:DIR" or "mariadb:DSN"
	crashKEKEnv     = "RECORDSTORE_CRASH_KEK"     // hex
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(crashBackendEnv); spec != "" {
		crashChild(spec, os.Getenv(crashKEKEnv))
		return // crashChild never returns; it is killed
	}
	os.Exit(m.Run())
}

// crashRecord is record i of worker w, derived so the parent can check it.
func crashRecord(w, i int) testRecord {
	rec := []byte(fmt.Sprintf(`{"crash":"worker %d record %d"}`, w, i))
	h := sha256.Sum256(rec)
	salt := h[:16]
	return testRecord{id: sha256.Sum256(append(append([]byte{}, salt...), rec...)), salt: salt, record: rec}
}

// crashChild puts records from 16 goroutines until it is killed, printing
// "ack W I" once Put of worker W's record I has returned.
func crashChild(spec, kekHex string) {
	kek, err := hex.DecodeString(kekHex)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	kind, where, _ := strings.Cut(spec, ":")
	var s *Store
	if kind == "sqlite" {
		s, err = OpenSQLite(ctx, where, KEK(kek))
	} else {
		s, err = OpenMariaDB(ctx, where, KEK(kek))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for w := range 16 {
		go func() {
			for i := 0; ; i++ {
				r := crashRecord(w, i)
				if err := s.Put(ctx, r.id, r.salt, r.record); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "ack %d %d\n", w, i)
				mu.Unlock()
			}
		}()
	}
	select {}
}

// TestSIGKILLUnderLoad kills a process in the middle of concurrent Puts
// and checks, after reopening, that every Put it acknowledged is there and
// readable, and that no ciphertext lacks its key.
func TestSIGKILLUnderLoad(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h harness) {
		kek := newKEK(t)
		// Create the store (and its KEK check) before the child runs.
		s0, err := h.open(t.Context(), kek)
		if err != nil {
			t.Fatal(err)
		}
		if err := s0.Close(); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashBackendEnv+"="+h.spec(), crashKEKEnv+"="+hex.EncodeToString(kek))
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var acked []testRecord
		sc := bufio.NewScanner(out)
		killed := false
		deadline := time.Now().Add(60 * time.Second)
		for sc.Scan() {
			var w, i int
			if _, err := fmt.Sscanf(sc.Text(), "ack %d %d", &w, &i); err != nil {
				t.Fatalf("child said %q", sc.Text())
			}
			acked = append(acked, crashRecord(w, i))
			// Kill mid-load: well after the first groups, while all 16
			// workers are putting.
			if !killed && (len(acked) >= 500 || time.Now().After(deadline)) {
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				killed = true
			}
		}
		// Acks printed before the kill are still read from the pipe.
		_ = cmd.Wait()
		if !killed {
			t.Fatalf("child exited by itself after %d acks: %s", len(acked), stderr.String())
		}
		if len(acked) < 500 {
			t.Fatalf("only %d acks before the deadline: %s", len(acked), stderr.String())
		}

		s := openT(t, h, kek)
		for _, r := range acked {
			mustGet(t, s, r)
		}
		keys := h.keys(t)
		records := h.backupRecords(t)
		for id := range records {
			if keys[id] == nil {
				t.Errorf("ciphertext %x without its key after the crash", id[:4])
			}
		}
		ids, err := s.Pending(t.Context(), time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(records) || len(ids) < len(acked) {
			t.Errorf("%d pending, %d ciphertexts, %d acknowledged: want pending = ciphertexts ≥ acknowledged", len(ids), len(records), len(acked))
		}
		t.Logf("%d acknowledged before SIGKILL, %d records and %d keys after", len(acked), len(records), len(keys))
	})
}
