package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/glassbox-ledger/glassbox/audit/report"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// maxReportPageEntries bounds the log the report page reads in one
// request; a larger log is reported with glassbox audit report.
const maxReportPageEntries = 200_000

// monitoringPolicy is the part of the policy engine that sets the
// report's thresholds (*policy.Engine has it; a policy without it gets
// the report package's defaults).
type monitoringPolicy interface {
	MonitoringThresholds(ctx context.Context) (policy.Monitoring, error)
}

// uiAuditReport is the audit page's report view: the monitoring report of
// the whole signed log, computed as `glassbox audit report` computes it,
// for the models this server serves. The page names the log size and root,
// so the regulator can recompute it from the entries with the CLI.
func (s *Server) uiAuditReport(c *gin.Context) {
	cp, ok := s.auditCheckpoint(c)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	if cp.Size > maxReportPageEntries {
		abortKind(c, "validation", fmt.Sprintf("the log holds %d entries; this page reports on at most %d: use glassbox audit report", cp.Size, maxReportPageEntries))
		return
	}
	pkgs := map[string]*report.Model{}
	for _, sm := range s.models {
		pkgs[sm.model.SHA256] = &report.Model{Manifest: sm.model.Manifest, Distribution: sm.model.Distribution}
	}
	p := &report.Prefix{Size: cp.Size, Root: cp.Root}
	for next := uint64(0); next < cp.Size; {
		es, err := s.ledger.Entries(ctx, next, int(min(cp.Size-next, transparency.MaxEntriesPerRequest)))
		if err != nil {
			s.abortLedger(c, err, "")
			return
		}
		for _, e := range es {
			// e.Record is the full record (format 1: the leaf; format 2:
			// the record store's, checked against the commitment); nil
			// for an erased or foreign leaf, which no figure counts.
			if e.Record == nil {
				continue
			}
			if ev, ok := report.ParseEvent(e.Index, e.Record); ok {
				p.Events = append(p.Events, ev)
			} else if rec, err := transparency.DecodeRecord(e.Record); err == nil &&
				(rec.Decision == nil || pkgs[rec.Decision.Model.SHA256] != nil) {
				// Decisions of models this server no longer serves are
				// for the CLI, which can be given their packages.
				p.Entries = append(p.Entries, report.Entry{Index: e.Index, ID: e.ID.String(), Record: rec})
			}
		}
		next += uint64(len(es))
		if len(es) == 0 {
			break
		}
	}
	opt := report.Options{Outcomes: report.Outcomes(p)}
	if mp, ok := s.policy.(monitoringPolicy); ok {
		th, err := mp.MonitoringThresholds(ctx)
		if err != nil {
			abortKind(c, "internal", "the policy's monitoring thresholds could not be read")
			return
		}
		opt.PSIThreshold, opt.CalibrationAlpha = th.PSIThreshold, th.CalibrationAlpha
	}
	rep, err := report.Compute(p, pkgs, opt)
	if err != nil {
		abortKind(c, "internal", "the report could not be computed")
		return
	}
	var b bytes.Buffer
	if err := report.WriteHTML(&b, rep); err != nil {
		abortKind(c, "internal", "the page could not be rendered")
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", report.CSP())
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	c.Data(http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}
