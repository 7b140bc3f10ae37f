package recordstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// KEKSize is the length of a key-encryption key in bytes (AES-256).
const KEKSize = 32

// DefaultKEKFile is the KEK file's conventional name in the data directory.
const DefaultKEKFile = "records.kek"

// KEK is a key-encryption key: KEKSize secret bytes that wrap every
// record's data key. It is kept outside the store. String and GoString
// redact it, so a KEK that reaches a log line or an error does not leak.
type KEK []byte

// String redacts the key.
func (KEK) String() string { return "recordstore.KEK(redacted)" }

// GoString redacts the key.
func (k KEK) GoString() string { return k.String() }

// ErrWrongKEK reports a KEK that is not the one the store was created
// with: the store's KEK check value, or a wrapped data key, failed GCM
// authentication under it.
var ErrWrongKEK = errors.New("recordstore: wrong KEK (GCM authentication failed under it)")

// CreateKEK writes KEKSize fresh random bytes to path with mode 0600 and
// returns them. It refuses to overwrite an existing file: replacing the
// KEK would make every record in the store unreadable.
func CreateKEK(path string) (KEK, error) {
	k := make(KEK, KEKSize)
	if _, err := rand.Read(k); err != nil {
		return nil, fmt.Errorf("recordstore: create KEK: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recordstore: create KEK %s: %w", path, err)
	}
	_, err = f.Write(k)
	if err == nil {
		// The KEK must survive a crash once a record is wrapped with it.
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("recordstore: write KEK %s: %w", path, err), os.Remove(path))
	}
	// The directory entry too: records are wrapped with this KEK as soon
	// as it is returned, and a crash must not leave them without it.
	if err := syncDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("recordstore: create KEK %s: %w", path, err)
	}
	return k, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// LoadKEK reads the KEK at path. The file must hold exactly KEKSize bytes
// and must not be accessible to group or others (mode 0600 or stricter):
// whoever reads it can open every record.
func LoadKEK(path string) (KEK, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("recordstore: load KEK: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("recordstore: load KEK %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("recordstore: load KEK %s: mode %#o lets group or others access it; want 0600", path, perm)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("recordstore: load KEK: %w", err)
	}
	if len(b) != KEKSize {
		return nil, fmt.Errorf("recordstore: load KEK %s: %d bytes, want %d", path, len(b), KEKSize)
	}
	return KEK(b), nil
}

// LoadOrCreateKEK loads the KEK at path, or creates it if there is no
// file there (created is then true). A store opened with a fresh KEK after
// its old one was lost refuses it (ErrWrongKEK) rather than mixing keys.
func LoadOrCreateKEK(path string) (k KEK, created bool, err error) {
	k, err = CreateKEK(path)
	if err == nil {
		return k, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	}
	k, err = LoadKEK(path)
	return k, false, err
}

// newAEAD is AES-256-GCM under key with a random 96-bit nonce prepended to
// each ciphertext. Random nonces are safe for 2^32 messages per key: a
// data key seals one record, and the KEK one data key per record.
func newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != KEKSize {
		return nil, fmt.Errorf("recordstore: key of %d bytes, want %d", len(key), KEKSize)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("recordstore: %w", err)
	}
	a, err := cipher.NewGCMWithRandomNonce(b)
	if err != nil {
		return nil, fmt.Errorf("recordstore: %w", err)
	}
	return a, nil
}
