package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWitnessFlagsRefused: inconsistent witness flags are usage errors
// (exit 2), refused before the data directory is touched.
func TestWitnessFlagsRefused(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	key := cosignatureKey("w.example/1", pub)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"key without witness", []string{"--witness-key", key}, "give one key per witness"},
		{"witness without key", []string{"--witness", "http://127.0.0.1:1"}, "give one key per witness"},
		{"quorum without witness", []string{"--witness-quorum", "1"}, "without --witness"},
		{"quorum above witnesses", []string{"--witness", "http://127.0.0.1:1", "--witness-key", key, "--witness-quorum", "2"}, "with 1 witnesses"},
		{"log key as witness key", []string{"--witness", "http://127.0.0.1:1", "--witness-key", "log.example+01234567+AQ=="}, "--witness-key 1"},
		{"tampered key hash", []string{"--witness", "http://127.0.0.1:1", "--witness-key", strings.Replace(key, "+", "+0", 1)[:len(key)]}, "--witness-key 1"},
		{"not a URL", []string{"--witness", "127.0.0.1:1", "--witness-key", key}, "not an http(s) URL"},
		{"no interval", []string{"--witness", "http://127.0.0.1:1", "--witness-key", key, "--witness-interval", "0s"}, "must be positive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			code, _, stderr := runCmd(append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, want 2 and %q:\n%s", code, tc.want, stderr)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused configuration created the data directory: %v", err)
			}
		})
	}
}
