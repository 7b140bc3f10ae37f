package transparency

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"
)

// crashChildEnv, when set to a data directory, turns the test binary into
// the crash test's child: a ledger appending until it is killed.
const crashChildEnv = "GLASSBOX_LEDGER_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild appends records from many goroutines and reports on stdout
// "ACK <id>" for every acknowledged append and "CP <base64 note>" for
// every checkpoint it observes. It never returns normally: the parent
// kills it.
func crashChild(dir string) int {
	ctx := context.Background()
	l, err := OpenEmbedded(ctx, EmbeddedConfig{DataDir: dir, IntegrationInterval: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		return 2
	}
	var mu sync.Mutex
	emit := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		// One write per line, unbuffered: whatever the parent has read was
		// acknowledged before the kill.
		os.Stdout.WriteString(line + "\n")
	}
	emit("READY")
	go func() {
		var last uint64
		for {
			cp, _ := l.LatestCheckpoint(ctx)
			if cp.Size != last {
				last = cp.Size
				emit("CP " + base64.StdEncoding.EncodeToString(cp.Note))
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for w := range 16 {
		go func() {
			for i := 0; ; i++ {
				d := testDecision()
				d.ApplicationID = fmt.Sprintf("crash-%d-%d", w, i)
				d.Nonce = ""
				r, err := NewRecord(time.Now(), d)
				if err != nil {
					panic(err)
				}
				b, err := r.Encode()
				if err != nil {
					panic(err)
				}
				rc, err := l.Append(ctx, b)
				if err != nil {
					fmt.Fprintln(os.Stderr, "child append:", err)
					continue
				}
				emit("ACK " + rc.ID.String())
			}
		}()
	}
	select {}
}

// TestCrashRecovery kills a ledger process with SIGKILL at random moments
// and checks, after each restart on the same data directory, that every
// acknowledged record is in the log and provable, and that the log is
// consistent with the last checkpoint signed before the kill.
func TestCrashRecovery(t *testing.T) {
	cycles := 10
	if testing.Short() {
		cycles = 3
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var lastNote []byte // last checkpoint known to the outside world
	total := 0

	for cycle := range cycles {
		acks, notes, stderr := runCrashChild(t, dir, time.Duration(150+rng.IntN(450))*time.Millisecond)
		t.Logf("cycle %d: %d acknowledged, %d checkpoints seen", cycle, len(acks), len(notes))
		if len(acks) == 0 {
			t.Fatalf("cycle %d: child acknowledged nothing; stderr:\n%s", cycle, stderr)
		}
		total += len(acks)
		if len(notes) > 0 {
			lastNote = notes[len(notes)-1]
		}

		func() {
			l := openTestLedger(t, dir)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// The checkpoint the restarted ledger loaded was signed before
			// the kill (perhaps after the child last reported one).
			stored := l.signer.latestCheckpoint()

			proofs := make([]*InclusionProof, len(acks))
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(32)
			for i, id := range acks {
				g.Go(func() error {
					p, err := l.WaitIntegrated(gctx, id)
					if err != nil {
						return fmt.Errorf("acknowledged record %s: %w", id, err)
					}
					proofs[i] = p
					return nil
				})
			}
			if err := g.Wait(); err != nil {
				t.Fatalf("cycle %d: %v", cycle, err)
			}
			newest := proofs[0]
			for _, p := range proofs {
				verifyInclusion(t, l, p)
				if p.TreeSize > newest.TreeSize {
					newest = p
				}
			}
			if lastNote != nil {
				verifyConsistency(t, l, lastNote, newest.Checkpoint.Note)
			}
			verifyConsistency(t, l, stored.Note, newest.Checkpoint.Note)
			// Spot-check that the bytes are retrievable, not just the hash.
			e, err := l.GetEntry(ctx, acks[len(acks)-1])
			if err != nil || e.Status != StatusIntegrated || RecordID(e.Data) != e.ID {
				t.Fatalf("cycle %d: GetEntry = %+v, %v", cycle, e, err)
			}
			lastNote = newest.Checkpoint.Note
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
		}()
	}
	t.Logf("%d cycles, %d acknowledged records, all proven", cycles, total)
}

// runCrashChild runs the child on dir, SIGKILLs it after runFor (counted
// from when it is ready) and returns what it acknowledged.
func runCrashChild(t *testing.T, dir string, runFor time.Duration) (acks []ID, notes [][]byte, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	var readErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "READY":
				close(ready)
			case strings.HasPrefix(line, "ACK "):
				id, err := ParseID(strings.TrimPrefix(line, "ACK "))
				if err != nil {
					readErr = err
					return
				}
				acks = append(acks, id)
			case strings.HasPrefix(line, "CP "):
				n, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(line, "CP "))
				if err != nil {
					readErr = err
					return
				}
				notes = append(notes, n)
			}
		}
	}()
	select {
	case <-ready:
	case <-done:
		_ = cmd.Wait()
		t.Fatalf("child exited before it was ready: %v\n%s", cmd.ProcessState, errBuf.String())
	case <-time.After(30 * time.Second):
		t.Log("child not ready after 30s; killing it anyway")
	}
	time.Sleep(runFor)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	_ = cmd.Wait() // "signal: killed" is the expected outcome
	if readErr != nil {
		t.Fatal(readErr)
	}
	// A line cut by the kill would have failed to parse above; a complete
	// ACK line was written only after Append returned.
	return acks, notes, errBuf.String()
}
