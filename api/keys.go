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
	"log/slog"
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
	// RoleReviewer is a person at a lender who takes final actions; its
	// keys are "reviewer/LENDER/NAME:KEY" and its subject is the lender.
	RoleReviewer = "reviewer"
)

// KeysFile is the file in the data directory that holds the API keys, in
// the GLASSBOX_API_KEYS syntax, one entry a line, each key stored as its
// SHA-256 digest ("ROLE[/NAME]:sha256:HEX").
const KeysFile = "api-keys"

// hashedPrefix marks a key given as the hex SHA-256 digest of the key.
const hashedPrefix = "sha256:"

// keyRoles are the roles an API key may carry; generatedRoles get a key
// each when none are configured (a reviewer belongs to a lender, so none
// is made up).
var (
	keyRoles       = []string{RoleLender, RoleRegulator, RoleAdmin, RoleReviewer}
	generatedRoles = []string{RoleLender, RoleRegulator, RoleAdmin}
)

// Principal is an authenticated caller.
type Principal struct {
	Role    string
	Subject string
	// Reviewer is a reviewer's own name (its Subject is its lender).
	Reviewer string
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
// "ROLE[/NAME]:KEY" entries, where KEY is the key itself or
// "sha256:" and the 64 hex digits of its SHA-256 digest. Several keys per
// role are allowed.
func ParseKeys(spec string) (*Keys, error) {
	k, _, err := parseKeys(spec)
	return k, err
}

// parseKeys is ParseKeys that also counts the keys given in plain text.
func parseKeys(spec string) (k *Keys, plain int, err error) {
	k = &Keys{}
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
		var digest [sha256.Size]byte
		if h, hashed := strings.CutPrefix(key, hashedPrefix); hashed {
			if n, err := hex.Decode(digest[:], []byte(h)); err != nil || n != sha256.Size || len(h) != 2*sha256.Size {
				errs = append(errs, fmt.Errorf("key entry %d (%s): a hashed key is sha256: and 64 hex digits", i+1, role))
				continue
			}
		} else {
			if len(key) < 16 {
				errs = append(errs, fmt.Errorf("key entry %d (%s): key is shorter than 16 characters", i+1, role))
				continue
			}
			digest = sha256.Sum256([]byte(key))
			plain++
		}
		if seen[digest] {
			errs = append(errs, fmt.Errorf("key entry %d (%s): the same key is listed twice", i+1, role))
			continue
		}
		seen[digest] = true
		var reviewer string
		if role == RoleReviewer {
			var lender string
			lender, reviewer, _ = strings.Cut(name, "/")
			if !validName(lender) {
				errs = append(errs, fmt.Errorf("key entry %d: a reviewer key is reviewer/LENDER[/NAME]:KEY, with the lender's name", i+1))
				continue
			}
			name = lender
			if reviewer == "" {
				reviewer = role + "-" + hex.EncodeToString(digest[:4])
			} else if !validName(reviewer) {
				errs = append(errs, fmt.Errorf("key entry %d: reviewer name %q must be 1-64 letters, digits, '.', '_' or '-'", i+1, reviewer))
				continue
			}
		}
		if name == "" {
			name = role + "-" + hex.EncodeToString(digest[:4])
		} else if !validName(name) {
			errs = append(errs, fmt.Errorf("key entry %d: name %q must be 1-64 letters, digits, '.', '_' or '-'", i+1, name))
			continue
		}
		k.entries = append(k.entries, keyEntry{digest: digest, principal: Principal{Role: role, Subject: name, Reviewer: reviewer}})
	}
	if len(errs) > 0 {
		return nil, 0, fmt.Errorf("API keys: %w", errors.Join(errs...))
	}
	if len(k.entries) == 0 {
		return nil, 0, errors.New("API keys: no key configured")
	}
	return k, plain, nil
}

// hashedSpec is the key file content for k: every key as its digest,
// under its subject, so the file no longer holds a usable key.
func (k *Keys) hashedSpec() string {
	var sb strings.Builder
	sb.WriteString("# glassbox API keys stored as SHA-256 digests (ROLE/NAME:sha256:HEX)\n")
	for _, e := range k.entries {
		who := e.principal.Role + "/" + e.principal.Subject
		if e.principal.Reviewer != "" {
			who += "/" + e.principal.Reviewer
		}
		fmt.Fprintf(&sb, "%s:%s%s\n", who, hashedPrefix, hex.EncodeToString(e.digest[:]))
	}
	return sb.String()
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
// fresh key per role when absent; generated is the plain-text keys when
// the file was just created, so the caller can show them once: the file
// holds only their digests. A key file of an earlier release, with keys
// in plain text, is rewritten with digests (the plain keys keep working)
// and a warning is logged; so is a key file that group or others may
// read.
func LoadOrCreateKeys(spec, dataDir string, log *slog.Logger) (keys *Keys, generated string, err error) {
	if strings.TrimSpace(spec) != "" {
		k, err := ParseKeys(spec)
		return k, "", err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	path := filepath.Join(dataDir, KeysFile)
	data, err := os.ReadFile(path)
	if err == nil {
		k, plain, err := parseKeys(string(data))
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", path, err)
		}
		warnReadable(path, log)
		if plain > 0 {
			if err := replaceSecretFile(path, []byte(k.hashedSpec())); err != nil {
				return nil, "", fmt.Errorf("storing API key digests: %w", err)
			}
			log.Warn("the API key file held keys in plain text: it now holds their SHA-256 digests; the keys themselves are unchanged (keep them elsewhere, they cannot be recovered from the file)",
				slog.String("file", path), slog.Int("keys", plain))
		}
		return k, "", nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("reading API keys: %w", err)
	}
	var sb strings.Builder
	for _, role := range generatedRoles {
		key, err := NewKey()
		if err != nil {
			return nil, "", err
		}
		fmt.Fprintf(&sb, "%s:%s\n", role, key)
	}
	k, err := ParseKeys(sb.String())
	if err != nil {
		return nil, "", err
	}
	if err := writeSecretFile(path, []byte(k.hashedSpec())); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// Another process created it first: use its keys.
			return LoadOrCreateKeys(spec, dataDir, log)
		}
		return nil, "", err
	}
	return k, sb.String(), nil
}

// warnReadable logs a warning when a secret file may be read by group or
// others.
func warnReadable(path string, log *slog.Logger) {
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o077 == 0 {
		return
	}
	log.Warn("the API key file is readable by group or others; make it 0600",
		slog.String("file", path), slog.String("mode", st.Mode().Perm().String()))
}

// replaceSecretFile atomically replaces path with data (mode 0600): a
// crash leaves either the old file or the new one.
func replaceSecretFile(path string, data []byte) error {
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	if err := writeSecretFile(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replacing %s: %w", path, err)
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return fmt.Errorf("syncing %s: %w", filepath.Dir(path), err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", filepath.Dir(path), err)
	}
	return nil
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
