package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/trillian"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/glassbox-ledger/glassbox/models"
	"github.com/glassbox-ledger/glassbox/scoring"
)

// loadReport is the one JSON line `glassbox loadtest` prints.
type loadReport struct {
	// Target is "glassbox" (POST /v1/decisions) or "trillian" (raw
	// QueueLeaf, --trillian-only).
	Target          string  `json:"target"`
	Mode            string  `json:"mode"`
	Servers         int     `json:"servers"`
	Concurrency     int     `json:"concurrency"`
	TargetRate      float64 `json:"target_rate,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	Sent            int     `json:"sent"`
	// Created counts successes: decisions made, or leaves queued.
	Created            int            `json:"created"`
	Errors             map[string]int `json:"errors,omitempty"`
	PerSecond          float64        `json:"per_second"`
	DecisionsPerSecond float64        `json:"decisions_per_second,omitempty"`
	LeafBytes          int            `json:"leaf_bytes,omitempty"`
	P50ms              float64        `json:"p50_ms"`
	P90ms              float64        `json:"p90_ms"`
	P99ms              float64        `json:"p99_ms"`
	MaxMs              float64        `json:"max_ms"`
}

// runLoadtest drives POST /v1/decisions with real applications (the rows of
// a CSV, level names from the model manifest), or with --trillian-only
// Trillian's QueueLeaf directly, so that a benchmark can state glassbox's
// rate as a share of the rate of the log it runs on. With --rate 0 it is a
// closed loop measuring throughput; with --rate N it sends at a steady N
// per second (open loop, so a slow server cannot slow the schedule down)
// and measures latency from the scheduled send time.
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
	trillianOnly := fs.Bool("trillian-only", false, "drive Trillian's QueueLeaf directly (--trillian, --tree-id), one leaf per call, instead of glassbox")
	trillianAddr := fs.String("trillian", "127.0.0.1:8090", "with --trillian-only: host:port of the Trillian log server")
	treeID := fs.Int64("tree-id", 0, "with --trillian-only: the tree to queue leaves in")
	leafBytes := fs.Int("leaf-bytes", 600, "with --trillian-only: bytes per leaf (a decision record is about 600)")
	var remote remoteFlags
	remote.register(fs)
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *writeBodies != "" {
		return writeBodiesFile(*dataPath, *writeBodies, stdout)
	}
	if *conc < 1 || *duration <= 0 || *rate < 0 {
		return fmt.Errorf("%w: --concurrency ≥ 1, --duration > 0 and --rate ≥ 0 are required", errUsage)
	}
	d := driver{conc: *conc, rate: *rate, warmup: *warmup, duration: *duration}
	var rep loadReport
	if *trillianOnly {
		if *treeID <= 0 || *leafBytes < 16 {
			return fmt.Errorf("%w: --trillian-only needs --tree-id and --leaf-bytes ≥ 16", errUsage)
		}
		remote.addr, remote.treeID = *trillianAddr, *treeID
		conn, err := remote.dial(nil)
		if err != nil {
			return err
		}
		defer conn.Close()
		q, err := newLeafQueuer(trillian.NewTrillianLogClient(conn), *treeID, *leafBytes)
		if err != nil {
			return err
		}
		rep = d.run(ctx, q.queue)
		rep.Target, rep.Servers, rep.LeafBytes = "trillian", 1, *leafBytes
	} else {
		if *key == "" {
			return fmt.Errorf("%w: --api-key is required", errUsage)
		}
		bodies, err := loadBodies(*dataPath)
		if err != nil {
			return err
		}
		p := &decisionPoster{
			urls: strings.Split(*servers, ","), path: "/v1/decisions", key: *key, bodies: bodies,
			client: &http.Client{
				Timeout:   30 * time.Second,
				Transport: &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc},
			},
		}
		if *wait {
			p.path += "?wait=integrated"
		}
		rep = d.run(ctx, p.post)
		rep.Target, rep.Servers, rep.DecisionsPerSecond = "glassbox", len(p.urls), rep.PerSecond
	}
	return json.NewEncoder(stdout).Encode(rep)
}

func writeBodiesFile(dataPath, file string, stdout io.Writer) error {
	bodies, err := loadBodies(dataPath)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, b := range bodies {
		out.Write(b)
		out.WriteByte('\n')
	}
	if err := os.WriteFile(file, out.Bytes(), 0o600); err != nil {
		return fmt.Errorf("writing bodies: %w", err)
	}
	fmt.Fprintf(stdout, "wrote %d request bodies to %s\n", len(bodies), file)
	return nil
}

// driver schedules calls closed or open loop and measures them.
type driver struct {
	conc             int
	rate             float64 // 0: closed loop
	warmup, duration time.Duration
}

// run calls do(i) for i = 0, 1, … until the measurement window ends; do
// returns "" on success or a short name for the outcome.
func (d driver) run(ctx context.Context, do func(ctx context.Context, i int) string) loadReport {
	var (
		mu        sync.Mutex
		latencies []time.Duration
		sent      int
		created   int
		errs      = map[string]int{}
	)
	measureFrom := time.Now().Add(d.warmup)
	end := measureFrom.Add(d.duration)
	sem := make(chan struct{}, d.conc)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; ctx.Err() == nil; i++ {
		scheduled := time.Now()
		if d.rate > 0 {
			scheduled = start.Add(time.Duration(float64(i) / d.rate * float64(time.Second)))
			if w := time.Until(scheduled); w > 0 {
				time.Sleep(w)
			}
		}
		if !scheduled.Before(end) {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			outcome := do(ctx, i)
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
		})
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
		Mode: "closed-loop", Concurrency: d.conc, DurationSeconds: d.duration.Seconds(),
		Sent: sent, Created: created, PerSecond: float64(created) / d.duration.Seconds(),
		P50ms: pct(0.50), P90ms: pct(0.90), P99ms: pct(0.99), MaxMs: pct(1),
	}
	if d.rate > 0 {
		rep.Mode, rep.TargetRate = "open-loop", d.rate
	}
	if len(errs) > 0 {
		rep.Errors = errs
	}
	return rep
}

// decisionPoster posts decisions to glassbox servers in turn.
type decisionPoster struct {
	urls   []string
	path   string
	key    string
	bodies [][]byte
	client *http.Client
}

func (p *decisionPoster) post(ctx context.Context, i int) string {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.urls[i%len(p.urls)]+p.path, bytes.NewReader(p.bodies[i%len(p.bodies)]))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+p.key)
	resp, err := p.client.Do(req)
	if err != nil {
		return "transport"
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		return resp.Status
	}
	return ""
}

// leafQueuer queues distinct leaves of a fixed size, one per QueueLeaf,
// as the ledger does for each decision.
type leafQueuer struct {
	client trillian.TrillianLogClient
	treeID int64
	size   int
	run    [8]byte // random per run, so that runs never collide on a tree
}

func newLeafQueuer(client trillian.TrillianLogClient, treeID int64, size int) (*leafQueuer, error) {
	q := &leafQueuer{client: client, treeID: treeID, size: size}
	if _, err := rand.Read(q.run[:]); err != nil {
		return nil, err
	}
	return q, nil
}

func (q *leafQueuer) queue(ctx context.Context, i int) string {
	leaf := make([]byte, q.size)
	copy(leaf, q.run[:])
	binary.BigEndian.PutUint64(leaf[8:], uint64(i))
	// The rest stays zero: Trillian neither compresses nor inspects it.
	resp, err := q.client.QueueLeaf(ctx, &trillian.QueueLeafRequest{LogId: q.treeID, Leaf: &trillian.LogLeaf{LeafValue: leaf}})
	if err != nil {
		return status.Code(err).String()
	}
	if c := codes.Code(resp.GetQueuedLeaf().GetStatus().GetCode()); c != codes.OK {
		return "leaf " + c.String()
	}
	return ""
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
