package api

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// maxReportBody bounds POST /v1/reports: four short members.
const maxReportBody = 4 << 10

// reportJSON is the body of POST /v1/reports and of its answer.
type reportJSON struct {
	Kind    string `json:"kind"`
	SHA256  string `json:"sha256"`
	LogSize uint64 `json:"log_size"`
	LogRoot string `json:"log_root"`
}

// createReport appends a report record: a regulator's report, by digest,
// with the log prefix it was computed from. The prefix must be one of
// this log's: log_root must be the root of its first log_size entries,
// proved against the latest signed checkpoint, so that a record never
// vouches for a history the log does not have.
func (s *Server) createReport(c *gin.Context) {
	_, data, err := readJSONBody(c, maxReportBody)
	if err != nil {
		var eb *errBody
		if errors.As(err, &eb) {
			abortProblem(c, eb.p)
			return
		}
		abortKind(c, "bad-request", err.Error())
		return
	}
	var in reportJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		abortKind(c, "validation", fmt.Sprintf("a report is {kind, sha256, log_size, log_root}: %v", err))
		return
	}
	body := &transparency.Report{Kind: in.Kind, SHA256: in.SHA256, LogSize: in.LogSize, LogRoot: in.LogRoot}
	rec, err := transparency.NewRecord(s.now(), body)
	if err != nil {
		abortKind(c, "validation", err.Error())
		return
	}
	ctx := c.Request.Context()
	cp, err := s.ledger.LatestCheckpoint(ctx)
	if err != nil {
		s.abortLedger(c, err, "")
		return
	}
	if in.LogSize == 0 || in.LogSize > cp.Size {
		abortKind(c, "validation", fmt.Sprintf("log_size %d is not a prefix of the signed log (size %d)", in.LogSize, cp.Size))
		return
	}
	root, _ := hex.DecodeString(in.LogRoot) // validated by NewRecord
	ok := in.LogSize == cp.Size && bytes.Equal(root, cp.Root)
	if in.LogSize < cp.Size {
		p, err := s.ledger.ConsistencyProof(ctx, in.LogSize, cp.Size)
		if err != nil {
			s.abortLedger(c, err, "")
			return
		}
		ok = proof.VerifyConsistency(rfc6962.DefaultHasher, in.LogSize, cp.Size, p.Hashes, root, cp.Root) == nil
	}
	if !ok {
		abortKind(c, "validation", fmt.Sprintf("log_root is not the root of the first %d entries of this log", in.LogSize))
		return
	}
	sealed, err := rec.Seal()
	if err != nil {
		abortKind(c, "internal", "encoding the report record failed")
		return
	}
	if _, err := s.ledger.AppendSealed(ctx, sealed); err != nil {
		s.abortLedger(c, err, "")
		return
	}
	c.JSON(http.StatusCreated, gin.H{"report_record": sealed.ID().String(), "report": in})
}
