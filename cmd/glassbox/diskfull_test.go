package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glassbox-ledger/glassbox/internal/tmpfs"
)

// diskLoad is what clients were told while the disk filled and emptied.
type diskLoad struct {
	mu               sync.Mutex
	acked            map[string]string // application id → decision id
	refused, unknown map[string]bool
	unavailable      int // 503s seen
	noRetryAfter     int // 503s without Retry-After
	other            map[int]int
}

func (d *diskLoad) post(ctx context.Context, url string, ids []string) {
	apps := make([]map[string]any, len(ids))
	for i, id := range ids {
		apps[i] = sampleApplication(i)
		apps[i]["application_id"] = id
	}
	var body any = apps[0]
	path := "/v1/decisions"
	if len(ids) > 1 {
		body, path = map[string]any{"applications": apps}, "/v1/decisions/batch"
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+lenderKey)
	resp, err := httpClient.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			d.mu.Lock()
			d.other[-1]++
			d.mu.Unlock()
		}
		// The client got no answer: the decision may exist either way.
		return
	}
	defer resp.Body.Close()
	var out struct {
		DecisionID string `json:"decision_id"`
		Decisions  []struct {
			DecisionID string `json:"decision_id"`
		} `json:"decisions"`
		Recorded []struct {
			Index      int    `json:"index"`
			DecisionID string `json:"decision_id"`
		} `json:"recorded"`
		Unknown []struct {
			Index int `json:"index"`
		} `json:"unknown"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	if err != nil && ctx.Err() != nil {
		// The load ended while the answer was being read: as with no
		// answer at all, the decision may exist either way.
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case err != nil:
		d.other[-2]++
	case resp.StatusCode == http.StatusCreated && len(ids) == 1:
		d.acked[ids[0]] = out.DecisionID
	case resp.StatusCode == http.StatusCreated:
		for i, dec := range out.Decisions {
			d.acked[ids[i]] = dec.DecisionID
		}
	case resp.StatusCode == http.StatusServiceUnavailable:
		d.unavailable++
		if resp.Header.Get("Retry-After") == "" {
			d.noRetryAfter++
		}
		done := map[int]bool{}
		for _, r := range out.Recorded {
			d.acked[ids[r.Index]], done[r.Index] = r.DecisionID, true
		}
		for _, u := range out.Unknown {
			d.unknown[ids[u.Index]], done[u.Index] = true, true
		}
		for i, id := range ids {
			if !done[i] {
				d.refused[id] = true
			}
		}
	default:
		d.other[resp.StatusCode]++
	}
}

func readyCode(url string) int {
	resp, err := httpClient.Get(url + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestDiskFullRecovery runs glassbox serve on a small real tmpfs, fills it
// under load and frees it again: while full, decisions are answered 503
// with Retry-After and /readyz is 503; once the space is back the same
// process answers 200 and records decisions again; after a restart every
// acknowledged decision is provable and none that was refused is in the
// log.
func TestDiskFullRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	dir := tmpfs.Mount(t, "48m")
	data := filepath.Join(dir, "data")
	p := startServe(t, data)
	key := publicKey(t, p.url)
	d := &diskLoad{acked: map[string]string{}, refused: map[string]bool{}, unknown: map[string]bool{}, other: map[int]int{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				size := 1
				if n%3 == 2 {
					size = 3
				}
				ids := make([]string, size)
				for i := range ids {
					ids[i] = fmt.Sprintf("disk-w%d-n%d-%d", w, n, i)
				}
				d.post(ctx, p.url, ids)
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	before := checkpointOf(t, p.url, key)
	filler := filepath.Join(dir, "filler")
	tmpfs.Fill(t, filler)

	// Full: the server says so.
	deadline := time.Now().Add(30 * time.Second)
	for readyCode(p.url) != http.StatusServiceUnavailable {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not 503 30 s after the disk filled\n%s", tail(p.logs.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.mu.Lock()
	seen := d.unavailable
	d.mu.Unlock()
	for time.Now().Before(deadline) && seen < 20 {
		time.Sleep(50 * time.Millisecond)
		d.mu.Lock()
		seen = d.unavailable
		d.mu.Unlock()
	}
	if seen < 20 {
		t.Errorf("only %d decisions answered 503 while the disk was full", seen)
	}
	code, body, err := call(context.Background(), http.MethodGet, p.url+"/readyz", "", nil)
	switch {
	case err != nil || code != http.StatusServiceUnavailable:
		t.Errorf("/readyz while the disk is still full: %d %v", code, err)
	case !strings.Contains(string(body), "no space left on device") && !strings.Contains(string(body), "disk is full"):
		t.Errorf("/readyz does not name the cause: %s", body)
	default:
		t.Logf("/readyz while full: %s", body)
	}

	// Freed: the same process recovers.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	for readyCode(p.url) != http.StatusOK {
		if time.Since(freed) > 30*time.Second {
			t.Fatalf("/readyz not 200 30 s after space was freed\n%s", tail(p.logs.String(), 4000))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("ready again %v after the space was freed", time.Since(freed).Round(time.Millisecond))
	d.mu.Lock()
	ackedBefore := len(d.acked)
	d.mu.Unlock()
	for time.Since(freed) < 30*time.Second {
		time.Sleep(100 * time.Millisecond)
		d.mu.Lock()
		n := len(d.acked)
		d.mu.Unlock()
		if n > ackedBefore+20 {
			break
		}
	}
	cancel()
	wg.Wait()
	if len(d.acked) <= ackedBefore {
		t.Fatalf("no decision recorded after the space was freed\n%s", tail(p.logs.String(), 4000))
	}
	if d.noRetryAfter > 0 {
		t.Errorf("%d of %d 503s had no Retry-After", d.noRetryAfter, d.unavailable)
	}
	if len(d.other) > 0 {
		t.Errorf("unexpected answers (status: count; -1 transport error, -2 bad body): %v", d.other)
	}

	p.kill(syscall.SIGKILL)
	p.restart()
	after := checkpointOf(t, p.url, key)
	verifyConsistent(t, p.url, before, after)
	inLog := logApplications(t, p.url)
	for app := range d.refused {
		if _, ok := inLog[app]; ok {
			t.Errorf("%s was answered 503 but is in the log", app)
		}
	}
	for app, id := range d.acked {
		if inLog[app] != id {
			t.Errorf("%s was acknowledged as %s but the log has %q", app, id, inLog[app])
		}
	}
	// Spot-check receipts end to end (all of them would take long).
	n := 0
	for _, id := range d.acked {
		if n++; n > 25 {
			break
		}
		verifyDecision(t, p.url, key, id, 15*time.Second)
	}
	t.Logf("%d decisions acknowledged, %d refused, %d unknown; %d answers 503", len(d.acked), len(d.refused), len(d.unknown), d.unavailable)
}

// logApplications reads every entry through the API (as the regulator)
// and returns decision ids by application id.
func logApplications(t *testing.T, url string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for start := 0; ; {
		code, body, err := call(context.Background(), http.MethodGet, fmt.Sprintf("%s/v1/ledger/entries?start=%d&count=1000", url, start), regulatorKey, nil)
		if code == http.StatusBadRequest {
			return out // past the end
		}
		if err != nil || code != http.StatusOK {
			t.Fatalf("entries from %d: %d %v %s", start, code, err, body)
		}
		var page struct {
			Entries []struct {
				ID              string `json:"id"`
				Type            string `json:"type"`
				Data            string `json:"data"`
				CommittedRecord string `json:"committed_record"`
			} `json:"entries"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		if len(page.Entries) == 0 {
			return out
		}
		for _, e := range page.Entries {
			if e.Type != "decision" {
				continue
			}
			// A format 2 leaf's record (with the application id) is
			// beside it; every acknowledged decision must have one.
			if e.CommittedRecord == "" {
				t.Errorf("decision %s in the log has no record beside it", e.ID)
				continue
			}
			raw, err := base64.StdEncoding.DecodeString(e.CommittedRecord)
			if err != nil {
				t.Fatal(err)
			}
			var rec struct {
				Body struct {
					ApplicationID string `json:"application_id"`
				} `json:"body"`
			}
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			if _, dup := out[rec.Body.ApplicationID]; dup {
				t.Errorf("application %s is in the log twice", rec.Body.ApplicationID)
			}
			out[rec.Body.ApplicationID] = e.ID
		}
		start += len(page.Entries)
	}
}

func tail(s string, n int) string { return s[max(0, len(s)-n):] }
