package api

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Roles a key can carry. Applicants have no keys: they use tokens.
const (
	RoleLender    = "lender"
	RoleRegulator = "regulator"
	RoleAdmin     = "admin"
	RoleApplicant = "applicant"
)

// KeysFile is the file in the data directory that holds generated API
// keys, in the GLASSBOX_API_KEYS syntax, one entry a line.
const KeysFile = "api-keys"

// keyRoles are the roles an API key may carry.
var keyRoles = []string{RoleLender, RoleRegulator, RoleAdmin}

// Principal is an authenticated caller.
type Principal struct {
	Role    string
	Subject string
}

type keyEntry struct {
	digest    [sha256.Size]byte
	principal Principal
}

// Keys is the set of API keys a server accepts. It holds only SHA-256
// digests of the keys.
type Keys struct {
	entries []keyEntry
}

// ParseKeys reads the GLASSBOX_API_KEYS syntax: comma- or newline-separated
// "ROLE[/NAME]:KEY" entries. Several keys per role are allowed.
func ParseKeys(spec string) (*Keys, error) {
	k := &Keys{}
	var errs []error
	seen := map[[sha256.Size]byte]bool{}
	for i, raw := range strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' }) {
		entry := strings.TrimSpace(raw)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		who, key, ok := strings.Cut(entry, ":")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			errs = append(errs, fmt.Errorf("key entry %d: want ROLE[/NAME]:KEY", i+1))
			continue
		}
		role, name, _ := strings.Cut(strings.TrimSpace(who), "/")
		if !slices.Contains(keyRoles, role) {
			errs = append(errs, fmt.Errorf("key entry %d: role %q is not one of %s", i+1, role, strings.Join(keyRoles, ", ")))
			continue
		}
		if len(key) < 16 {
			errs = append(errs, fmt.Errorf("key entry %d (%s): key is shorter than 16 characters", i+1, role))
			continue
		}
		digest := sha256.Sum256([]byte(key))
		if seen[digest] {
			errs = append(errs, fmt.Errorf("key entry %d (%s): the same key is listed twice", i+1, role))
			continue
		}
		seen[digest] = true
		if name == "" {
			name = role + "-" + hex.EncodeToString(digest[:4])
		} else if !validName(name) {
			errs = append(errs, fmt.Errorf("key entry %d: name %q must be 1-64 letters, digits, '.', '_' or '-'", i+1, name))
			continue
		}
		k.entries = append(k.entries, keyEntry{digest: digest, principal: Principal{Role: role, Subject: name}})
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("API keys: %w", errors.Join(errs...))
	}
	if len(k.entries) == 0 {
		return nil, errors.New("API keys: no key configured")
	}
	return k, nil
}

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
		default:
			return false
		}
	}
	return true
}

// Lookup returns the principal holding key. Every stored digest is
// compared, in constant time, so the time taken says nothing about which
// key (if any) came close.
func (k *Keys) Lookup(key string) (Principal, bool) {
	digest := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.entries {
		if subtle.ConstantTimeCompare(digest[:], k.entries[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Principal{}, false
	}
	return k.entries[found].principal, true
}

// Principals lists the configured callers (no keys), for start-up logs.
func (k *Keys) Principals() []Principal {
	out := make([]Principal, len(k.entries))
	for i, e := range k.entries {
		out[i] = e.principal
	}
	return out
}

// NewKey returns a fresh random API key.
func NewKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating key: %w", err)
	}
	return "gbk_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// LoadOrCreateKeys returns the keys from spec when it is not empty.
// Otherwise it reads dataDir/api-keys, creating it (mode 0600) with one
// fresh key per role when absent; generated is the file's content when it
// was just created, so the caller can show the keys once.
func LoadOrCreateKeys(spec, dataDir string) (keys *Keys, generated string, err error) {
	if strings.TrimSpace(spec) != "" {
		k, err := ParseKeys(spec)
		return k, "", err
	}
	path := filepath.Join(dataDir, KeysFile)
	data, err := os.ReadFile(path)
	if err == nil {
		k, err := ParseKeys(string(data))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
		return k, "", nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("reading API keys: %w", err)
	}
	var sb strings.Builder
	for _, role := range keyRoles {
		key, err := NewKey()
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(&sb, "%s:%s\n", role, key)
	}
	if err := writeSecretFile(path, []byte(sb.String())); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use its keys.
			return LoadOrCreateKeys(spec, dataDir)
		}
		return nil, "", err
	}
	k, err := ParseKeys(sb.String())
	if err != nil {
		return nil, "", err
	}
	return k, sb.String(), nil
}

// writeSecretFile creates path with mode 0600, failing if it exists so two
// processes starting together cannot overwrite each other's secret.
func writeSecretFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("creating %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	return nil
}
