package transparency

import (
	"encoding/hex"
	"fmt"
)

// TypeReport is the type of a "report" record: a regulator's monitoring
// or fair-lending report, by digest, and the log prefix it was computed
// from (docs/monitoring.md).
const TypeReport RecordType = "report"

// Report kinds (Report.Kind).
const (
	ReportMonitoring = "monitoring"
	ReportFairness   = "fairness"
)

// Report is the body of a "report" record. It holds only the report's
// SHA-256 and the prefix it covers: the report itself (aggregates) stays
// with whoever computed it, and anyone holding the log prefix can
// recompute it and check the digest.
type Report struct {
	// Kind is ReportMonitoring or ReportFairness.
	Kind string `json:"kind"`
	// SHA256 is the lowercase hex SHA-256 of the report file's bytes.
	SHA256 string `json:"sha256"`
	// LogSize and LogRoot (lowercase hex) name the log prefix: the first
	// LogSize entries, whose RFC 6962 root is LogRoot.
	LogSize uint64 `json:"log_size"`
	LogRoot string `json:"log_root"`
}

func (b *Report) validate() error {
	if b.Kind != ReportMonitoring && b.Kind != ReportFairness {
		return fmt.Errorf("%w: report kind %q is neither %q nor %q", ErrInvalidRecord, b.Kind, ReportMonitoring, ReportFairness)
	}
	for name, h := range map[string]string{"sha256": b.SHA256, "log_root": b.LogRoot} {
		if raw, err := hex.DecodeString(h); err != nil || len(raw) != 32 || hex.EncodeToString(raw) != h {
			return fmt.Errorf("%w: report %s must be 64 lowercase hex digits", ErrInvalidRecord, name)
		}
	}
	// Canonical JSON numbers are doubles: beyond 2^53 a size would not
	// keep its value.
	if b.LogSize > 1<<53 {
		return fmt.Errorf("%w: report log_size %d is too large", ErrInvalidRecord, b.LogSize)
	}
	return nil
}
