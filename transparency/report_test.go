package transparency

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestReportRecord(t *testing.T) {
	sha, root := strings.Repeat("ab", 32), strings.Repeat("0f", 32)
	r, err := NewRecord(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC), &Report{Kind: ReportFairness, SHA256: sha, LogSize: 891, LogRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Members in canonical (sorted) order, the size as a plain number.
	want := `{"body":{"kind":"fairness","log_root":"` + root + `","log_size":891,"sha256":"` + sha + `"},"format":1,"timestamp":"2026-12-04T12:00:00.000000000Z","type":"report"}`
	if string(b) != want {
		t.Fatalf("encoded\n%s\nwant\n%s", b, want)
	}
	back, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	again, err := back.Encode()
	if err != nil || !bytes.Equal(again, b) || back.Report.LogSize != 891 {
		t.Fatalf("round trip: %s %v", again, err)
	}
	for name, body := range map[string]*Report{
		"kind":         {Kind: "weekly", SHA256: sha, LogRoot: root},
		"short sha":    {Kind: ReportMonitoring, SHA256: "ab", LogRoot: root},
		"upper root":   {Kind: ReportMonitoring, SHA256: sha, LogRoot: strings.ToUpper(root)},
		"huge size":    {Kind: ReportMonitoring, SHA256: sha, LogRoot: root, LogSize: 1<<53 + 1},
		"missing root": {Kind: ReportMonitoring, SHA256: sha},
	} {
		if _, err := NewRecord(time.Now(), body); !errors.Is(err, ErrInvalidRecord) {
			t.Errorf("%s: error %v, want ErrInvalidRecord", name, err)
		}
	}
	// Unknown members are refused on decode.
	bad := strings.Replace(want, `"kind":"fairness"`, `"kind":"fairness","extra":1`, 1)
	if _, err := DecodeRecord([]byte(bad)); !errors.Is(err, ErrInvalidRecord) {
		t.Errorf("extra member: %v", err)
	}
}
