package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/api"
)

func TestParseKeys(t *testing.T) {
	anon := "lender-" + func() string { d := sha256.Sum256([]byte("anonymous-lender-key-1")); return hex.EncodeToString(d[:4]) }()
	tests := []struct {
		name    string
		spec    string
		key     string
		want    api.Principal
		wantErr string
	}{
		{"named lender", "lender/acme:acme-key-0123456789", "acme-key-0123456789", api.Principal{Role: "lender", Subject: "acme"}, ""},
		{"unnamed lender gets a derived subject", "lender:anonymous-lender-key-1", "anonymous-lender-key-1", api.Principal{Role: "lender", Subject: anon}, ""},
		{"several keys, spaces and newlines", " regulator:reg-key-0123456789 ,\nadmin:adm-key-0123456789\nlender:l-key-01234567890", "adm-key-0123456789", api.Principal{Role: "admin", Subject: "admin-" + hex8("adm-key-0123456789")}, ""},
		{"two keys for one role", "lender/a:key-a-0123456789,lender/b:key-b-0123456789", "key-b-0123456789", api.Principal{Role: "lender", Subject: "b"}, ""},
		{"unknown role", "root:root-key-0123456789", "", api.Principal{}, "role"},
		{"applicants have no keys", "applicant:app-key-0123456789", "", api.Principal{}, "role"},
		{"no key", "lender:", "", api.Principal{}, "ROLE"},
		{"no colon", "lender", "", api.Principal{}, "ROLE"},
		{"short key", "lender:short", "", api.Principal{}, "shorter"},
		{"duplicate key", "lender:same-key-0123456789,admin:same-key-0123456789", "", api.Principal{}, "twice"},
		{"bad name", "lender/a b:key-a-0123456789", "", api.Principal{}, "name"},
		{"empty", " , ", "", api.Principal{}, "no key"},
		{"hashed key", "lender/acme:sha256:" + sha256Hex("acme-key-0123456789"), "acme-key-0123456789", api.Principal{Role: "lender", Subject: "acme"}, ""},
		{"hashed key, unnamed, same subject as in plain text", "lender:sha256:" + sha256Hex("anonymous-lender-key-1"), "anonymous-lender-key-1", api.Principal{Role: "lender", Subject: anon}, ""},
		{"hashed key too short", "lender:sha256:abcd", "", api.Principal{}, "64 hex"},
		{"hashed key not hex", "lender:sha256:" + strings.Repeat("zz", 32), "", api.Principal{}, "64 hex"},
		{"named reviewer of a lender", "reviewer/acme/rita:rev-key-0123456789", "rev-key-0123456789", api.Principal{Role: "reviewer", Subject: "acme", Reviewer: "rita"}, ""},
		{"unnamed reviewer gets a derived name", "reviewer/acme:rev-key-0123456789", "rev-key-0123456789", api.Principal{Role: "reviewer", Subject: "acme", Reviewer: "reviewer-" + hex8("rev-key-0123456789")}, ""},
		{"reviewer without a lender", "reviewer:rev-key-0123456789", "", api.Principal{}, "LENDER"},
		{"reviewer with a bad name", "reviewer/acme/r ita:rev-key-0123456789", "", api.Principal{}, "reviewer name"},
		{"a lender's name is one segment", "lender/acme/rita:l-key-0123456789", "", api.Principal{}, "name"},
		{"plain and hashed form of one key", "lender:dup-key-0123456789,admin:sha256:" + sha256Hex("dup-key-0123456789"), "", api.Principal{}, "twice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, err := api.ParseKeys(tc.spec)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, ok := k.Lookup(tc.key)
			if !ok || got != tc.want {
				t.Errorf("Lookup = %+v %v, want %+v", got, ok, tc.want)
			}
			if _, ok := k.Lookup(tc.key + "x"); ok {
				t.Error("a different key matched")
			}
		})
	}
}

func sha256Hex(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:])
}

func hex8(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:4])
}

func TestLoadOrCreateKeys(t *testing.T) {
	dir := t.TempDir()
	k, generated, err := api.LoadOrCreateKeys("", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if generated == "" || len(k.Principals()) != 3 {
		t.Fatalf("generated %q, principals %v", generated, k.Principals())
	}
	path := filepath.Join(dir, api.KeysFile)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// A second start reads the same keys and shows nothing.
	var logs bytes.Buffer
	k2, again, err := api.LoadOrCreateKeys("", dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || again != "" {
		t.Fatalf("second load: %q %v", again, err)
	}
	if logs.Len() != 0 {
		t.Errorf("a hashed 0600 key file logged: %s", logs.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(generated), "\n") {
		role, key, _ := strings.Cut(line, ":")
		p1, ok1 := k.Lookup(key)
		p2, ok2 := k2.Lookup(key)
		if !ok1 || !ok2 || p1 != p2 || p1.Role != role {
			t.Errorf("%s key: %+v %+v", role, p1, p2)
		}
		// At rest, only the digest.
		if strings.Contains(string(stored), key) {
			t.Errorf("the key file holds the %s key in plain text", role)
		}
		if !strings.Contains(string(stored), ":sha256:"+sha256Hex(key)+"\n") {
			t.Errorf("the key file lacks the digest of the %s key:\n%s", role, stored)
		}
	}
	// The environment wins over the file.
	k3, shown, err := api.LoadOrCreateKeys("regulator/fca:env-key-0123456789", dir, nil)
	if err != nil || shown != "" {
		t.Fatal(err)
	}
	if p, ok := k3.Lookup("env-key-0123456789"); !ok || p.Subject != "fca" {
		t.Errorf("env key: %+v", p)
	}
}

// TestPlainKeyFileRewritten: a key file of an earlier release (keys in
// plain text, and readable by others) still loads, its keys still work,
// the file is rewritten with digests only and mode 0600, and both facts
// are logged.
func TestPlainKeyFileRewritten(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, api.KeysFile)
	const plain = "lender/acme:old-plain-lender-key-01\nregulator:old-plain-regulator-02\nreviewer/acme/rita:old-plain-reviewer-03\n"
	if err := os.WriteFile(path, []byte(plain), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	k, generated, err := api.LoadOrCreateKeys("", dir, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil || generated != "" {
		t.Fatalf("load: %q %v", generated, err)
	}
	for _, w := range []string{"readable by group or others", "plain text"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("no warning mentioning %q in %s", w, logs.String())
		}
	}
	stored, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("rewritten file mode %v, want 0600", st.Mode().Perm())
	}
	for _, key := range []string{"old-plain-lender-key-01", "old-plain-regulator-02", "old-plain-reviewer-03"} {
		if strings.Contains(string(stored), key) {
			t.Errorf("rewritten file still holds %s", key)
		}
	}
	// The old keys open the same principals, from the rewritten file.
	k2, _, err := api.LoadOrCreateKeys("", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]api.Principal{
		"old-plain-lender-key-01": {Role: "lender", Subject: "acme"},
		"old-plain-regulator-02":  {Role: "regulator", Subject: "regulator-" + hex8("old-plain-regulator-02")},
		"old-plain-reviewer-03":   {Role: "reviewer", Subject: "acme", Reviewer: "rita"},
	} {
		p1, ok1 := k.Lookup(key)
		p2, ok2 := k2.Lookup(key)
		if !ok1 || !ok2 || p1 != want || p2 != want {
			t.Errorf("%s: before %+v %v, after %+v %v, want %+v", key, p1, ok1, p2, ok2, want)
		}
	}
}

func TestTokens(t *testing.T) {
	dir := t.TempDir()
	key, err := api.LoadOrCreateTokenKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(dir, api.TokenKeyFile)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token key file: %v %v", st, err)
	}
	again, err := api.LoadOrCreateTokenKey(dir)
	if err != nil || string(again) != string(key) {
		t.Fatal("token key not persisted")
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tok, err := api.NewTokens(key, api.WithTokenClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	if tok.TTL() != api.DefaultTokenTTL {
		t.Errorf("TTL %v, want the default", tok.TTL())
	}
	var id [32]byte
	copy(id[:], "decision-id-0123456789abcdefghij")
	token := tok.Issue(id)
	got, expires, err := tok.Check(token)
	if err != nil || got != id {
		t.Fatalf("Check(Issue(id)) = %x %v", got, err)
	}
	if want := now.Add(api.DefaultTokenTTL); !expires.Equal(want) {
		t.Errorf("expires %v, want %v", expires, want)
	}
	other, _ := api.NewTokens(make([]byte, 32))
	flipped := []byte(token)
	flipped[10] ^= 1
	for name, bad := range map[string]string{
		"other key":              other.Issue(id),
		"old version, other key": other.IssueV1(id),
		"tampered":               string(flipped),
		"truncated":              token[:len(token)-2],
		"no prefix":              strings.TrimPrefix(token, "gbt_"),
		"empty":                  "",
		"not base64":             "gbt_" + strings.Repeat("!", len(token)-4),
		"long":                   token + "AAAA",
	} {
		if _, _, err := tok.Check(bad); !errors.Is(err, api.ErrTokenInvalid) {
			t.Errorf("%s token: %v, want ErrTokenInvalid", name, err)
		}
	}
	if _, _, err := tok.Check(tok.IssueV1(id)); !errors.Is(err, api.ErrTokenVersion) {
		t.Errorf("genuine version 1 token: %v, want ErrTokenVersion", err)
	}
	// The expiry is part of what the MAC covers, and it is enforced to
	// the second.
	now = now.Add(api.DefaultTokenTTL - time.Second)
	if _, _, err := tok.Check(token); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	now = now.Add(time.Second)
	if _, _, err := tok.Check(token); !errors.Is(err, api.ErrTokenExpired) {
		t.Errorf("at expiry: %v, want ErrTokenExpired", err)
	}
	if _, err := api.NewTokens(make([]byte, 16)); err == nil {
		t.Error("short token key accepted")
	}
	if _, err := api.NewTokens(key, api.WithTokenTTL(-time.Hour)); err == nil {
		t.Error("negative lifetime accepted")
	}
}

// TestReviewerPseudonym: the id a reviewer's actions carry is stable for
// one token key, differs between reviewers, lenders and keys, and does not
// contain the name.
func TestReviewerPseudonym(t *testing.T) {
	key1, key2 := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	t1, err := api.NewTokens(key1)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := api.NewTokens(key2)
	if err != nil {
		t.Fatal(err)
	}
	p := t1.Pseudonym("acme", "rita")
	if p != t1.Pseudonym("acme", "rita") || !strings.HasPrefix(p, "rv_") || len(p) != 3+24 || strings.Contains(p, "rita") {
		t.Errorf("pseudonym %q", p)
	}
	for _, other := range []string{t1.Pseudonym("acme", "oscar"), t1.Pseudonym("other", "rita"), t1.Pseudonym("acm", "erita"), t2.Pseudonym("acme", "rita")} {
		if other == p {
			t.Errorf("%q collides", other)
		}
	}
}
