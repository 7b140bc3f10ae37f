package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TokenKeyFile is the file in the data directory holding the applicant
// token key (32 random bytes, mode 0600).
const TokenKeyFile = "applicant-token.key"

const (
	tokenPrefix = "gbt_"
	// tokenDomain separates these MACs from any other use of the key.
	tokenDomain = "glassbox applicant token v1\x00"
	idSize      = 32
)

// Tokens issues and checks applicant tokens. A token carries the decision
// id it opens and an HMAC-SHA256 of that id, so checking it needs only
// the key.
type Tokens struct {
	key []byte
}

// NewTokens uses key (at least 32 bytes) for applicant tokens.
func NewTokens(key []byte) (*Tokens, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("applicant token key is %d bytes, want at least 32", len(key))
	}
	return &Tokens{key: append([]byte(nil), key...)}, nil
}

// LoadOrCreateTokenKey reads dataDir/applicant-token.key, creating it with
// 32 random bytes when absent.
func LoadOrCreateTokenKey(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, TokenKeyFile)
	key, err := os.ReadFile(path)
	if err == nil {
		if len(key) < 32 {
			return nil, fmt.Errorf("%s: key is %d bytes, want at least 32", path, len(key))
		}
		return key, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reading applicant token key: %w", err)
	}
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generating applicant token key: %w", err)
	}
	if err := writeSecretFile(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateTokenKey(dataDir)
		}
		return nil, err
	}
	return key, nil
}

func (t *Tokens) mac(id []byte) []byte {
	h := hmac.New(sha256.New, t.key)
	h.Write([]byte(tokenDomain))
	h.Write(id)
	return h.Sum(nil)
}

// Issue returns the token for a decision id (32 bytes).
func (t *Tokens) Issue(id [idSize]byte) string {
	buf := make([]byte, 0, idSize+sha256.Size)
	buf = append(buf, id[:]...)
	buf = append(buf, t.mac(id[:])...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
}

// Check returns the decision id a token opens, or false when the token is
// not one this server issued.
func (t *Tokens) Check(token string) ([idSize]byte, bool) {
	var id [idSize]byte
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(idSize+sha256.Size) {
		return id, false
	}
	buf, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil || len(buf) != idSize+sha256.Size {
		return id, false
	}
	if !hmac.Equal(buf[idSize:], t.mac(buf[:idSize])) {
		return id, false
	}
	copy(id[:], buf[:idSize])
	return id, true
}
