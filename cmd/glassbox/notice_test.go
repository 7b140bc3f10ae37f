package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/api/notice"
	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// noticeOf creates a decision through the running server and returns its
// text notice.
func noticeOf(t *testing.T, p *serveProc) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, body, err := call(ctx, "POST", p.url+"/v1/decisions", lenderKey, sampleApplication(7))
	if err != nil || status != http.StatusCreated {
		t.Fatalf("decision: %d %v %s", status, err, body)
	}
	var d struct {
		DecisionID string `json:"decision_id"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatal(err)
	}
	status, body, err = call(ctx, "GET", p.url+"/v1/decisions/"+d.DecisionID+"/notice", lenderKey, nil)
	if err != nil || status != http.StatusOK {
		t.Fatalf("notice: %d %v %s", status, err, body)
	}
	return string(body)
}

// TestServeCreditorConfiguration runs the real binary: unconfigured, it
// warns at start and its notices open with the SPECIMEN mark; configured,
// neither, and the notice names the agency chosen.
func TestServeCreditorConfiguration(t *testing.T) {
	bare := startServe(t, t.TempDir())
	logs := bare.logs.String()
	if !strings.Contains(logs, "WARNING: creditor not configured") || !strings.Contains(logs, "--creditor-name, --creditor-address, --creditor-agency") {
		t.Errorf("unconfigured serve does not warn:\n%s", logs)
	}
	if n := noticeOf(t, bare); !strings.HasPrefix(n, "*** "+notice.SpecimenMark) {
		t.Errorf("unconfigured notice does not start with the specimen mark:\n%.300s", n)
	}

	configured := startServe(t, t.TempDir(), "--creditor-name", "Acme Finance LLC", "--creditor-address", "1 Main St; Springfield, IL 62701", "--creditor-agency", "ftc")
	if logs := configured.logs.String(); strings.Contains(logs, "WARNING") {
		t.Errorf("configured serve warns:\n%s", logs)
	}
	n := noticeOf(t, configured)
	if strings.Contains(n, "SPECIMEN") {
		t.Errorf("configured notice marked specimen:\n%.300s", n)
	}
	for _, want := range []string{"Acme Finance LLC", "Springfield, IL 62701", "Federal Trade Commission, Consumer Response Center", "600 Pennsylvania Avenue NW, Washington, DC 20580"} {
		if !strings.Contains(n, want) {
			t.Errorf("configured notice lacks %q", want)
		}
	}
}

func TestServeRejectsUnknownAgency(t *testing.T) {
	var out, errOut bytes.Buffer
	err := runServe(context.Background(), []string{"--data-dir", t.TempDir(), "--creditor-agency", "cfbp"}, &out, &errOut)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "cfpb, cfpb-ftc, occ") {
		t.Fatalf("unknown agency: %v", err)
	}
}

func TestCreditorWarnings(t *testing.T) {
	pkg, err := models.Default()
	if err != nil {
		t.Fatal(err)
	}
	m := *pkg.Manifest
	m.Features = append([]models.Feature(nil), m.Features...)
	m.Features[m.FeatureIndex("Records")].Source = models.SourceConsumerReport
	pkg.Manifest = &m
	cr, err := scoring.Load(pkg)
	if err != nil {
		t.Fatal(err)
	}
	full := notice.Creditor{Name: "A", Address: "B", AgencyID: "occ"}
	withCRA := full
	withCRA.CRA = notice.ConsumerReportingAgency{Name: "C", Address: "D", Phone: "1-800-555-0100"}
	cases := []struct {
		name string
		c    notice.Creditor
		want []string
	}{
		{"unconfigured", notice.Creditor{}, []string{"creditor not configured", "consumer-report data"}},
		{"creditor only", full, []string{"model credit-risk-v1 uses consumer-report data: its notices are marked SPECIMEN until --cra-name, --cra-address, --cra-phone are set"}},
		{"all", withCRA, nil},
	}
	for _, tc := range cases {
		got := strings.Join(creditorWarnings(tc.c, []*scoring.Model{cr}), "\n")
		if len(tc.want) == 0 && got != "" {
			t.Errorf("%s: warnings %q", tc.name, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s: warnings %q lack %q", tc.name, got, w)
			}
		}
	}
}
