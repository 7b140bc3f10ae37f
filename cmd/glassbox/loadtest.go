package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// loadReport is the one JSON line `glassbox loadtest` prints.
type loadReport struct {
	Mode               string         `json:"mode"`
	Servers            int            `json:"servers"`
	Concurrency        int            `json:"concurrency"`
	TargetRate         float64        `json:"target_rate,omitempty"`
	DurationSeconds    float64        `json:"duration_seconds"`
	Sent               int            `json:"sent"`
	Created            int            `json:"created"`
	Errors             map[string]int `json:"errors,omitempty"`
	DecisionsPerSecond float64        `json:"decisions_per_second"`
	P50ms              float64        `json:"p50_ms"`
	P90ms              float64        `json:"p90_ms"`
	P99ms              float64        `json:"p99_ms"`
	MaxMs              float64        `json:"max_ms"`
}

// runLoadtest drives POST /v1/decisions with real applications (the rows of
// a CSV, level names from the model manifest). With --rate 0 it is a closed
// loop measuring throughput; with --rate N it sends at a steady N per second
// (open loop, so a slow server cannot slow the schedule down) and measures
// latency from the scheduled send time.
func runLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("loadtest", stderr)
	servers := fs.String("server", "http://127.0.0.1:8080", "glassbox base URL(s), comma-separated (requests alternate)")
	key := fs.String("api-key", os.Getenv("GLASSBOX_API_KEY"), "lender API key (default $GLASSBOX_API_KEY)")
	dataPath := fs.String("data", "", "CSV of applications (as for predict); default: generated applications")
	rate := fs.Float64("rate", 0, "requests per second (0: as fast as --concurrency allows)")
	duration := fs.Duration("duration", 10*time.Second, "how long to send")
	warmup := fs.Duration("warmup", 2*time.Second, "sending before measurement starts")
	conc := fs.Int("concurrency", 64, "concurrent requests at most")
	wait := fs.Bool("wait-integrated", false, "ask for ?wait=integrated")
	writeBodies := fs.String("write-bodies", "", "write the request bodies to this file, one JSON document per line, and exit (for scripts/wrk-decisions.lua)")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *writeBodies != "" {
		bodies, err := loadBodies(*dataPath)
		if err != nil {
			return err
		}
		var out bytes.Buffer
		for _, b := range bodies {
			out.Write(b)
			out.WriteByte('\n')
		}
		if err := os.WriteFile(*writeBodies, out.Bytes(), 0o600); err != nil {
			return fmt.Errorf("writing bodies: %w", err)
		}
		fmt.Fprintf(stdout, "wrote %d request bodies to %s\n", len(bodies), *writeBodies)
		return nil
	}
	if *key == "" || *conc < 1 || *duration <= 0 || *rate < 0 {
		return fmt.Errorf("%w: --api-key, --concurrency ≥ 1, --duration > 0 and --rate ≥ 0 are required", errUsage)
	}
	bodies, err := loadBodies(*dataPath)
	if err != nil {
		return err
	}
	urls := strings.Split(*servers, ",")
	path := "/v1/decisions"
	if *wait {
		path += "?wait=integrated"
	}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc},
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		sent      int
		created   int
		errs      = map[string]int{}
	)
	measureFrom := time.Now().Add(*warmup)
	end := measureFrom.Add(*duration)
	do := func(i int, scheduled time.Time) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, urls[i%len(urls)]+path, bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+*key)
		resp, err := client.Do(req)
		outcome := ""
		if err != nil {
			outcome = "transport"
		} else {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				outcome = resp.Status
			}
		}
		lat := time.Since(scheduled)
		if scheduled.Before(measureFrom) {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		sent++
		if outcome != "" {
			errs[outcome]++
			return
		}
		created++
		latencies = append(latencies, lat)
	}
	sem := make(chan struct{}, *conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		scheduled := time.Now()
		if *rate > 0 {
			scheduled = start.Add(time.Duration(float64(i) / *rate * float64(time.Second)))
			if d := time.Until(scheduled); d > 0 {
				time.Sleep(d)
			}
		}
		if !scheduled.Before(end) {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(i int, scheduled time.Time) {
			defer func() { <-sem; wg.Done() }()
			do(i, scheduled)
		}(i, scheduled)
	}
	wg.Wait()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[min(len(latencies)-1, int(p*float64(len(latencies))))].Microseconds()) / 1000
	}
	rep := loadReport{
		Mode: "closed-loop", Servers: len(urls), Concurrency: *conc, DurationSeconds: duration.Seconds(),
		Sent: sent, Created: created, DecisionsPerSecond: float64(created) / duration.Seconds(),
		P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), MaxMs: pct(1),
	}
	if *rate > 0 {
		rep.Mode, rep.TargetRate = "open-loop", *rate
	}
	if len(errs) > 0 {
		rep.Errors = errs
	}
	return json.NewEncoder(stdout).Encode(rep)
}

// loadBodies builds request bodies from a CSV of applications, or
// generates varied ones.
func loadBodies(dataPath string) ([][]byte, error) {
	pkg, err := models.Default()
	if err != nil {
		return nil, err
	}
	m, err := scoring.Load(pkg)
	if err != nil {
		return nil, err
	}
	var apps []map[string]any
	if dataPath == "" {
		for i := 0; i < 1000; i++ {
			apps = append(apps, sampleApp(i))
		}
	} else {
		f, err := os.Open(dataPath)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		rows, err := scoring.ReadCSV(f, m.Ensemble.FeatureNames)
		if err != nil {
			return nil, err
		}
		for i, x := range rows {
			apps = append(apps, map[string]any{"application_id": fmt.Sprintf("load-%d", i), "features": m.FeatureValues(x)})
		}
	}
	bodies := make([][]byte, len(apps))
	for i, a := range apps {
		if bodies[i], err = json.Marshal(a); err != nil {
			return nil, err
		}
	}
	return bodies, nil
}

func sampleApp(i int) map[string]any {
	homes := []string{"rent", "owner", "parents", "priv", "other"}
	return map[string]any{
		"application_id": fmt.Sprintf("load-%d", i),
		"features": map[string]any{
			"Seniority": float64(i % 30), "Home": homes[i%len(homes)], "Time": float64(12 + 12*(i%5)),
			"Records": []string{"no", "yes"}[i%7/6], "Job": "fixed", "Expenses": float64(35 + i%80),
			"Income": float64(80 + i%300), "Assets": float64(1000 * (i % 20)), "Debt": float64(100 * (i % 10)),
			"Amount": float64(300 + 25*(i%100)), "Price": float64(800 + 30*(i%100)),
		},
	}
}
