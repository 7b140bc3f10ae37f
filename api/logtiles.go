package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// Witnesses is what the API needs of witnessing
// (*transparency.Witnessing satisfies it).
type Witnesses interface {
	// Cosigned returns cp with the cosignatures known for its size.
	Cosigned(cp *transparency.Checkpoint) *transparency.Checkpoint
	// Served is the checkpoint to publish given the log's latest: the
	// newest one a quorum cosigned, else latest (sizes never go back).
	Served(latest *transparency.Checkpoint) *transparency.Checkpoint
	Status() transparency.WitnessStatus
}

// Cache lifetimes of the /log/ resources (tlog-tiles): the checkpoint
// changes with every batch; a full tile or bundle never changes; a partial
// one never changes either but may be dropped once full, so it is kept
// briefly.
const (
	cacheCheckpoint = "public, max-age=2"
	cacheFullTile   = "public, max-age=31536000, immutable"
	cachePartial    = "public, max-age=60"
)

// servedCheckpoint is the checkpoint the log publishes: with witnesses,
// the newest one a quorum cosigned (a client requiring the quorum can use
// it), else the newest signed one with whatever cosignatures it has.
func (s *Server) servedCheckpoint(ctx context.Context) (*transparency.Checkpoint, error) {
	cp, err := s.ledger.LatestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	if cp == nil {
		return nil, errors.New("no checkpoint yet")
	}
	if w := s.cfg.Witnesses; w != nil {
		cp = w.Served(cp)
	}
	return cp, nil
}

// logCheckpoint: GET /log/checkpoint (tlog-tiles).
func (s *Server) logCheckpoint(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	cp, err := s.servedCheckpoint(c.Request.Context())
	if err != nil {
		s.abortLedger(c, err, "")
		return
	}
	c.Header("Cache-Control", cacheCheckpoint)
	c.Data(http.StatusOK, "text/plain; charset=utf-8", cp.Note)
}

// logTile: GET /log/tile/{L}/{N}[.p/{W}] and /log/tile/entries/{N}[.p/{W}].
func (s *Server) logTile(c *gin.Context) {
	if !checkQuery(c) {
		return
	}
	p, err := transparency.ParseTilePath(strings.TrimPrefix(c.Param("path"), "/"))
	if err != nil {
		abortKind(c, "bad-request", strings.TrimPrefix(err.Error(), "invalid argument: "))
		return
	}
	var data []byte
	if p.Entries {
		data, err = s.ledger.EntryBundle(c.Request.Context(), p)
	} else {
		data, err = s.ledger.Tile(c.Request.Context(), p)
	}
	if err != nil {
		s.abortLedger(c, err, "no such tile in the log yet")
		return
	}
	if p.Partial() {
		c.Header("Cache-Control", cachePartial)
	} else {
		c.Header("Cache-Control", cacheFullTile)
	}
	// Entry bundles compress well (tlog-tiles asks for it); tiles are
	// hashes and do not.
	if p.Entries {
		c.Header("Vary", "Accept-Encoding")
		if acceptsGzip(c.GetHeader("Accept-Encoding")) {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			if _, err := zw.Write(data); err == nil && zw.Close() == nil {
				c.Header("Content-Encoding", "gzip")
				data = b.Bytes()
			}
		}
	}
	c.Data(http.StatusOK, "application/octet-stream", data)
}

// acceptsGzip reads an Accept-Encoding header: gzip listed without q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}

// tlogProof answers GET /v1/decisions/{id}/proof?format=tlog-proof: a
// c2sp.org/tlog-proof@v1 for the decision against the served (cosigned)
// checkpoint, or against the newest signed one if the served one does not
// cover it yet.
func (s *Server) tlogProof(c *gin.Context, entry *transparency.Entry) {
	ctx := c.Request.Context()
	if entry.Status != transparency.StatusIntegrated {
		c.Header("Retry-After", "1")
		abortKind(c, "not-integrated", "the decision is not under a signed checkpoint yet")
		return
	}
	cp, err := s.servedCheckpoint(ctx)
	if err != nil {
		s.abortLedger(c, err, "")
		return
	}
	if entry.Index >= cp.Size {
		latest, err := s.ledger.LatestCheckpoint(ctx)
		if err != nil {
			s.abortLedger(c, err, "")
			return
		}
		cp = latest
		if w := s.cfg.Witnesses; w != nil {
			cp = w.Cosigned(latest)
		}
	}
	p, err := s.ledger.InclusionProof(ctx, entry.ID, cp.Size)
	if err != nil {
		if errors.Is(err, transparency.ErrNotFound) {
			c.Header("Retry-After", "1")
			abortKind(c, "not-integrated", "the decision is not in the tree of that size yet")
			return
		}
		s.abortLedger(c, err, "")
		return
	}
	out := &transparency.TLogProof{
		Extra:      recordCommitment(entry),
		Index:      p.LeafIndex,
		Hashes:     p.Hashes,
		Checkpoint: cp.Note,
	}
	c.Header("Content-Disposition", `attachment; filename="`+entry.ID.String()+`.tlog-proof"`)
	c.Data(http.StatusOK, "text/plain; charset=utf-8", out.Marshal())
}

// witnessedSize is the tree size a receipt is proven against by default:
// with witnesses, the served (cosigned) checkpoint's when it covers the
// entry, so that the receipt carries the cosignatures; else 0, the latest.
func (s *Server) witnessedSize(ctx context.Context, entry *transparency.Entry) uint64 {
	if s.cfg.Witnesses == nil || entry.Status != transparency.StatusIntegrated {
		return 0
	}
	cp, err := s.servedCheckpoint(ctx)
	if err != nil || entry.Index >= cp.Size {
		return 0
	}
	return cp.Size
}

// recordCommitment is what the tlog-proof's extra line carries: for a
// format 2 leaf, the leaf itself, the commitment envelope (format, type,
// second-precision time, model, policy, the commitment and the
// authenticator; no personal data, so the proof file may be shared). A
// verifier hashes it to the leaf hash the inclusion proof is checked with,
// checks its authenticator with the log key and, given the record and
// salt, the commitment: the bare commitment would be unbound to the leaf,
// since extra is not signed. A format 1 leaf is the record in clear and is
// never put in a proof file: no extra.
func recordCommitment(e *transparency.Entry) []byte {
	if e.Format != transparency.EnvelopeFormat || e.Foreign {
		return nil
	}
	return e.Data
}

// witnessCheck is the readiness detail for witnessing. Witnesses never make
// the service unready: a witness that is down must not stop decisions.
func (s *Server) witnessCheck() (string, *transparency.WitnessStatus) {
	if s.cfg.Witnesses == nil {
		return "", nil
	}
	st := s.cfg.Witnesses.Status()
	if st.QuorumMet {
		return "quorum met", &st
	}
	return "quorum not met", &st
}
