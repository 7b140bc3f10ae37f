package transparency

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// TLogProofHeader is the first line of a C2SP tlog-proof.
const TLogProofHeader = "c2sp.org/tlog-proof@v1"

// TLogProof is a C2SP tlog-proof: an offline proof that the leaf at Index
// is in the tree a (cosigned) checkpoint commits to.
type TLogProof struct {
	// Extra is opaque, unauthenticated data. glassbox puts a format 2
	// leaf's bytes there (the commitment envelope, which holds the record
	// commitment), so the proof names its leaf; a verifier trusts it only
	// once it hashes to the leaf proven included and its authenticator
	// verifies. Empty (the line omitted) for format 1 leaves.
	Extra  []byte
	Index  uint64
	Hashes [][]byte
	// Checkpoint is the signed note, log signature and cosignatures,
	// verbatim.
	Checkpoint []byte
}

// Marshal renders the proof in the tlog-proof text format.
func (p *TLogProof) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(TLogProofHeader + "\n")
	if len(p.Extra) > 0 {
		b.WriteString("extra " + base64.StdEncoding.EncodeToString(p.Extra) + "\n")
	}
	fmt.Fprintf(&b, "index %d\n", p.Index)
	for _, h := range p.Hashes {
		b.WriteString(base64.StdEncoding.EncodeToString(h) + "\n")
	}
	b.WriteString("\n")
	b.Write(p.Checkpoint)
	return b.Bytes()
}

// ParseTLogProof parses the tlog-proof text format strictly.
func ParseTLogProof(data []byte) (*TLogProof, error) {
	bad := func(format string, args ...any) (*TLogProof, error) {
		return nil, fmt.Errorf("%w: tlog-proof: %s", ErrInvalidArgument, fmt.Sprintf(format, args...))
	}
	head, cp, ok := bytes.Cut(data, []byte("\n\n"))
	if !ok {
		return bad("no empty line before the checkpoint")
	}
	lines := strings.Split(string(head), "\n")
	if lines[0] != TLogProofHeader {
		return bad("first line is not %q", TLogProofHeader)
	}
	lines = lines[1:]
	p := &TLogProof{Checkpoint: cp}
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		extra, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(lines[0], "extra "))
		if err != nil {
			return bad("extra is not base64")
		}
		p.Extra, lines = extra, lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		return bad("no index line")
	}
	is := strings.TrimPrefix(lines[0], "index ")
	idx, err := strconv.ParseUint(is, 10, 64)
	if err != nil || strconv.FormatUint(idx, 10) != is {
		return bad("index %q is not a decimal without leading zeroes", is)
	}
	p.Index = idx
	for i, l := range lines[1:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != rfc6962.DefaultHasher.Size() {
			return bad("proof line %d is not a base64 SHA-256 hash", i+1)
		}
		p.Hashes = append(p.Hashes, h)
	}
	if len(p.Hashes) > 63 {
		return bad("%d proof hashes, at most 63", len(p.Hashes))
	}
	return p, nil
}

// Verify checks, offline, that leafHash is the leaf at p.Index of the tree
// whose checkpoint p carries: the checkpoint must be signed by logKey (for
// origin, when not empty) and cosigned by at least quorum of witnessKeys.
func (p *TLogProof) Verify(leafHash []byte, logKey, origin string, witnessKeys []string, quorum int) (*CosignedCheckpoint, error) {
	cp, err := OpenCosignedCheckpoint(p.Checkpoint, logKey, witnessKeys, quorum)
	if err != nil {
		return nil, err
	}
	if origin != "" && cp.Origin != origin {
		return nil, fmt.Errorf("%w: checkpoint origin %q, want %q", ErrInvalidArgument, cp.Origin, origin)
	}
	if p.Index >= cp.Size {
		return nil, fmt.Errorf("%w: index %d is outside the tree of size %d", ErrInvalidArgument, p.Index, cp.Size)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, p.Index, cp.Size, leafHash, p.Hashes, cp.Root); err != nil {
		return nil, fmt.Errorf("%w: inclusion proof: %w", ErrInvalidArgument, err)
	}
	return cp, nil
}
