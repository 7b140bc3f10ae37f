package api_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

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

func hex8(key string) string {
	d := sha256.Sum256([]byte(key))
	return hex.EncodeToString(d[:4])
}

func TestLoadOrCreateKeys(t *testing.T) {
	dir := t.TempDir()
	k, generated, err := api.LoadOrCreateKeys("", dir)
	if err != nil {
		t.Fatal(err)
	}
	if generated == "" || len(k.Principals()) != 3 {
		t.Fatalf("generated %q, principals %v", generated, k.Principals())
	}
	st, err := os.Stat(filepath.Join(dir, api.KeysFile))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	// A second start reads the same keys and shows nothing.
	k2, again, err := api.LoadOrCreateKeys("", dir)
	if err != nil || again != "" {
		t.Fatalf("second load: %q %v", again, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(generated), "\n") {
		role, key, _ := strings.Cut(line, ":")
		p1, ok1 := k.Lookup(key)
		p2, ok2 := k2.Lookup(key)
		if !ok1 || !ok2 || p1 != p2 || p1.Role != role {
			t.Errorf("%s key: %+v %+v", role, p1, p2)
		}
	}
	// The environment wins over the file.
	k3, shown, err := api.LoadOrCreateKeys("regulator/fca:env-key-0123456789", dir)
	if err != nil || shown != "" {
		t.Fatal(err)
	}
	if p, ok := k3.Lookup("env-key-0123456789"); !ok || p.Subject != "fca" {
		t.Errorf("env key: %+v", p)
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
	tok, err := api.NewTokens(key)
	if err != nil {
		t.Fatal(err)
	}
	var id [32]byte
	copy(id[:], "decision-id-0123456789abcdefghij")
	token := tok.Issue(id)
	if got, ok := tok.Check(token); !ok || got != id {
		t.Fatalf("Check(Issue(id)) = %x %v", got, ok)
	}
	other, _ := api.NewTokens(make([]byte, 32))
	flipped := []byte(token)
	flipped[10] ^= 1
	for name, bad := range map[string]string{
		"other key":  other.Issue(id),
		"tampered":   string(flipped),
		"truncated":  token[:len(token)-2],
		"no prefix":  strings.TrimPrefix(token, "gbt_"),
		"empty":      "",
		"not base64": "gbt_" + strings.Repeat("!", len(token)-4),
	} {
		if _, ok := tok.Check(bad); ok {
			t.Errorf("%s token accepted", name)
		}
	}
	if _, err := api.NewTokens(make([]byte, 16)); err == nil {
		t.Error("short token key accepted")
	}
}
