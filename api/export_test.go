package api

import (
	"crypto/sha256"
	"encoding/base64"
)

// IssueV1 returns a token of the first layout (decision id and MAC, no
// version, no expiry), as earlier releases issued them.
func (t *Tokens) IssueV1(id [idSize]byte) string {
	buf := append(append(make([]byte, 0, idSize+sha256.Size), id[:]...), t.mac(tokenDomainV1, id[:])...)
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(buf)
}
