package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// TokenKeyFile is the file in the data directory holding the applicant
// token key (32 random bytes, mode 0600).
const TokenKeyFile = "applicant-token.key"

// DefaultTokenTTL is how long an applicant token opens its decision: 25
// months, the period Regulation B (12 CFR 1002.12(b)) has creditors keep
// the records of an application.
const DefaultTokenTTL = 25 * 30 * 24 * time.Hour

const (
	tokenPrefix = "gbt_"
	// tokenVersion is the current token layout: version (1 byte), expiry
	// (8 bytes, Unix seconds, big endian), decision id (32 bytes), HMAC.
	tokenVersion = 2
	// The domains separate these MACs from any other use of the key and
	// the versions from each other.
	tokenDomainV1 = "glassbox applicant token v1\x00"
	tokenDomainV2 = "glassbox applicant token v2\x00"
	idSize        = 32
	v1Size        = idSize + sha256.Size
	v2Size        = 1 + 8 + idSize + sha256.Size
)

// Errors of Tokens.Check.
var (
	// ErrTokenInvalid: not a token this server issued.
	ErrTokenInvalid = errors.New("the applicant token is not valid")
	// ErrTokenExpired: a genuine token past its expiry.
	ErrTokenExpired = errors.New("the applicant token has expired")
	// ErrTokenVersion: a genuine token of a layout no longer accepted
	// (version 1 tokens carried no expiry).
	ErrTokenVersion = errors.New("the applicant token is of an old version that is no longer accepted")
)

// Tokens issues and checks applicant tokens. A token carries its version,
// its expiry, the decision id it opens and an HMAC-SHA256 of all three,
// so checking it needs only the key and a clock.
type Tokens struct {
	key []byte
	ttl time.Duration
	now func() time.Time
}

// TokenOption configures NewTokens.
type TokenOption func(*Tokens)

// WithTokenTTL sets how long issued tokens are valid (default
// DefaultTokenTTL).
func WithTokenTTL(d time.Duration) TokenOption { return func(t *Tokens) { t.ttl = d } }

// WithTokenClock sets the clock used to stamp and check expiries (default
// time.Now).
func WithTokenClock(now func() time.Time) TokenOption { return func(t *Tokens) { t.now = now } }

// NewTokens uses key (at least 32 bytes) for applicant tokens.
func NewTokens(key []byte, opts ...TokenOption) (*Tokens, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("applicant token key is %d bytes, want at least 32", len(key))
	}
	t := &Tokens{key: append([]byte(nil), key...), ttl: DefaultTokenTTL, now: time.Now}
	for _, o := range opts {
		o(t)
	}
	if t.ttl <= 0 {
		return nil, fmt.Errorf("applicant token lifetime %v is not positive", t.ttl)
	}
	return t, nil
}

// TTL is how long issued tokens are valid.
func (t *Tokens) TTL() time.Duration { return t.ttl }

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

func (t *Tokens) mac(domain string, msg []byte) []byte {
	h := hmac.New(sha256.New, t.key)
	h.Write([]byte(domain))
	h.Write(msg)
	return h.Sum(nil)
}

// Issue returns a token for a decision id that is valid for the
// configured lifetime from now.
func (t *Tokens) Issue(id [idSize]byte) string {
	return t.issueAt(id, t.now().Add(t.ttl))
}

func (t *Tokens) issueAt(id [idSize]byte, expires time.Time) string {
	buf := make([]byte, 0, v2Size)
	buf = append(buf, tokenVersion)
	buf = binary.BigEndian.AppendUint64(buf, uint64(expires.Unix()))
	buf = append(buf, id[:]...)
	buf = append(buf, t.mac(tokenDomainV2, buf)...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
}

// Check returns the decision id a token opens and when the token expires.
// The error is ErrTokenInvalid for anything this server did not issue,
// ErrTokenVersion for a genuine token of an old layout and
// ErrTokenExpired for a genuine token past its expiry; only a token that
// passes its MAC check is ever told apart from a forgery.
func (t *Tokens) Check(token string) (id [idSize]byte, expires time.Time, err error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(rest) > base64.RawURLEncoding.EncodedLen(v2Size) {
		return id, expires, ErrTokenInvalid
	}
	buf, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return id, expires, ErrTokenInvalid
	}
	switch len(buf) {
	case v1Size:
		if hmac.Equal(buf[idSize:], t.mac(tokenDomainV1, buf[:idSize])) {
			return id, expires, ErrTokenVersion
		}
		return id, expires, ErrTokenInvalid
	case v2Size:
		body := buf[:v2Size-sha256.Size]
		if buf[0] != tokenVersion || !hmac.Equal(buf[len(body):], t.mac(tokenDomainV2, body)) {
			return id, expires, ErrTokenInvalid
		}
		unix := binary.BigEndian.Uint64(body[1:9])
		if unix > 1<<62 {
			return id, expires, ErrTokenInvalid
		}
		expires = time.Unix(int64(unix), 0).UTC()
		if !t.now().Before(expires) {
			return id, expires, ErrTokenExpired
		}
		copy(id[:], body[9:])
		return id, expires, nil
	default:
		return id, expires, ErrTokenInvalid
	}
}

// pseudonymDomain separates reviewer pseudonyms from the token MACs.
const pseudonymDomain = "glassbox reviewer pseudonym v1\x00"

// Pseudonym is the id a reviewer's final actions carry in the ledger: an
// HMAC of lender and name under the token key, so that it is stable, the
// lender can map it back to the person, and no one without the key can
// confirm a guessed name.
func (t *Tokens) Pseudonym(lender, reviewer string) string {
	return "rv_" + hex.EncodeToString(t.mac(pseudonymDomain, []byte(lender+"/"+reviewer))[:12])
}
