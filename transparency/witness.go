package transparency

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/mod/sumdb/note"
)

// Defaults for WitnessOptions.
const (
	DefaultWitnessInterval = time.Second
	DefaultWitnessTimeout  = 5 * time.Second
	// cosignedHistory is how many witnessed checkpoint sizes keep their
	// cosignatures in memory.
	cosignedHistory = 256
)

// WitnessConfig names one C2SP tlog-witness witness.
type WitnessConfig struct {
	// URL is the witness's submission prefix: checkpoints are POSTed to
	// URL + "/add-checkpoint".
	URL string
	// VerifierKey is the witness's tlog-cosignature/v1 verifier key.
	VerifierKey string
}

// CheckpointSource is what witnessing needs of the log (*Ledger
// satisfies it).
type CheckpointSource interface {
	LatestCheckpoint(ctx context.Context) (*Checkpoint, error)
	ConsistencyProof(ctx context.Context, first, second uint64) (*ConsistencyProof, error)
}

// WitnessOptions configures Witnessing.
type WitnessOptions struct {
	Witnesses []WitnessConfig
	// Quorum is how many distinct witnesses must cosign a checkpoint for
	// it to count as witnessed (0 ≤ Quorum ≤ len(Witnesses)).
	Quorum int
	// Interval between looks at the latest checkpoint (default
	// DefaultWitnessInterval); Timeout bounds one submission (default
	// DefaultWitnessTimeout).
	Interval, Timeout time.Duration
	// HTTP is the client for witnesses (default: one with Timeout).
	HTTP    *http.Client
	Logger  *slog.Logger
	Metrics prometheus.Registerer
}

// Witnessing submits the log's checkpoints to witnesses and keeps the
// cosignatures they return. It runs beside the log and never holds up an
// append: a witness that is down only leaves checkpoints with fewer
// cosignatures.
type Witnessing struct {
	src      CheckpointSource
	quorum   int
	interval time.Duration
	http     *http.Client
	logger   *slog.Logger
	ws       []*witness

	cosigs       *prometheus.GaugeVec
	quorumMet    prometheus.Gauge
	submissions  *prometheus.CounterVec
	witnessSizes *prometheus.GaugeVec

	mu sync.Mutex
	// lines holds the verified cosignature lines per checkpoint size, for
	// the last cosignedHistory sizes submitted.
	lines map[uint64]map[string][][]byte
	// sizes are the keys of lines, ascending.
	sizes []uint64
	// best is the newest checkpoint that met the quorum, with its
	// cosignatures attached; nil until one has.
	best *Checkpoint
	// latest is the newest checkpoint submitted.
	latest *Checkpoint
	// floor is the largest size Served published before any checkpoint
	// met the quorum; best is never below it.
	floor uint64
}

type witness struct {
	url      string
	key      string // the verifier key as configured
	verifier note.Verifier

	mu sync.Mutex
	// size is the witness's latest cosigned size as far as we know (0 at
	// first: its 409 answer tells the truth).
	size uint64
	// cosigned is the size of the checkpoint it last cosigned for us.
	cosigned uint64
	lastErr  error
}

// NewWitnessing checks the configuration; Run does the work.
func NewWitnessing(src CheckpointSource, o WitnessOptions) (*Witnessing, error) {
	if o.Quorum < 0 || o.Quorum > len(o.Witnesses) {
		return nil, fmt.Errorf("%w: witness quorum %d with %d witnesses", ErrInvalidArgument, o.Quorum, len(o.Witnesses))
	}
	if o.Interval <= 0 {
		o.Interval = DefaultWitnessInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultWitnessTimeout
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: o.Timeout}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	w := &Witnessing{
		src: src, quorum: o.Quorum, interval: o.Interval, http: o.HTTP, logger: o.Logger,
		lines: map[uint64]map[string][][]byte{},
		cosigs: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: LedgerMetricsPrefix + "witness_cosigned_size",
			Help: "Size of the newest checkpoint each witness cosigned.",
		}, []string{"witness"}),
		quorumMet: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: LedgerMetricsPrefix + "witness_quorum_met",
			Help: "1 if the newest checkpoint submitted to the witnesses has a quorum of cosignatures, else 0.",
		}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: LedgerMetricsPrefix + "witness_submissions_total",
			Help: "add-checkpoint submissions per witness and result (cosigned, conflict, error).",
		}, []string{"witness", "result"}),
		witnessSizes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: LedgerMetricsPrefix + "witness_quorum_cosignatures",
			Help: "Cosignatures on the newest submitted checkpoint, and the quorum required.",
		}, []string{"kind"}),
	}
	seen := map[string]bool{}
	for _, c := range o.Witnesses {
		v, err := NewCosignatureVerifier(c.VerifierKey)
		if err != nil {
			return nil, err
		}
		if seen[v.Name()] {
			return nil, fmt.Errorf("%w: two witnesses named %q", ErrInvalidArgument, v.Name())
		}
		seen[v.Name()] = true
		if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
			return nil, fmt.Errorf("%w: witness URL %q is not http(s)", ErrInvalidArgument, c.URL)
		}
		w.ws = append(w.ws, &witness{url: strings.TrimRight(c.URL, "/"), key: c.VerifierKey, verifier: v})
	}
	w.witnessSizes.WithLabelValues("required").Set(float64(o.Quorum))
	if o.Metrics != nil {
		for _, c := range []prometheus.Collector{w.cosigs, w.quorumMet, w.submissions, w.witnessSizes} {
			if err := o.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("registering witness metrics: %w", err)
			}
		}
	}
	return w, nil
}

// Run submits checkpoints to the witnesses until ctx ends: one loop per
// witness, so that a slow or hanging witness holds up only itself.
func (w *Witnessing) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, wt := range w.ws {
		wg.Go(func() { w.follow(ctx, wt) })
	}
	wg.Wait()
}

// follow offers the newest checkpoint to one witness every interval until
// the witness has cosigned it.
func (w *Witnessing) follow(ctx context.Context, wt *witness) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.offer(ctx, wt)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *Witnessing) offer(ctx context.Context, wt *witness) {
	cp, err := w.src.LatestCheckpoint(ctx)
	if err != nil || cp == nil || cp.Size == 0 {
		return
	}
	w.observe(cp)
	wt.mu.Lock()
	done := wt.cosigned == cp.Size
	wt.mu.Unlock()
	if done {
		return
	}
	lines, err := w.submit(ctx, wt, cp)
	wt.mu.Lock()
	wt.lastErr = err
	if err == nil {
		wt.cosigned = cp.Size
	}
	wt.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			w.logger.WarnContext(ctx, "witness did not cosign", "witness", wt.verifier.Name(), "size", cp.Size, "err", err)
		}
		return
	}
	w.record(cp, wt.verifier.Name(), lines)
}

// observe notes cp as the newest checkpoint offered to the witnesses.
func (w *Witnessing) observe(cp *Checkpoint) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.latest != nil && w.latest.Size >= cp.Size {
		return
	}
	w.latest = cp
	w.settle(cp)
}

// settle updates the witnessed checkpoint and the quorum metrics after
// cp's cosignatures changed. Callers hold w.mu.
func (w *Witnessing) settle(cp *Checkpoint) {
	if len(w.lines[cp.Size]) >= w.quorum && cp.Size >= w.floor && (w.best == nil || w.best.Size <= cp.Size) {
		w.best = w.attach(cp)
	}
	have := 0
	if w.latest != nil {
		have = len(w.lines[w.latest.Size])
	}
	w.witnessSizes.WithLabelValues("have").Set(float64(have))
	if have >= w.quorum {
		w.quorumMet.Set(1)
	} else {
		w.quorumMet.Set(0)
	}
}

// submit sends cp to one witness per tlog-witness, retrying once with the
// size a 409 answer reports.
func (w *Witnessing) submit(ctx context.Context, wt *witness, cp *Checkpoint) ([][]byte, error) {
	name := wt.verifier.Name()
	wt.mu.Lock()
	old := wt.size
	wt.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if old > cp.Size {
			w.submissions.WithLabelValues(name, "conflict").Inc()
			return nil, fmt.Errorf("witness is at size %d, beyond checkpoint %d", old, cp.Size)
		}
		answer, status, err := w.post(ctx, wt, cp, old)
		switch {
		case err != nil:
			w.submissions.WithLabelValues(name, "error").Inc()
			return nil, err
		case status == http.StatusConflict && attempt == 0:
			w.submissions.WithLabelValues(name, "conflict").Inc()
			size, perr := strconv.ParseUint(strings.TrimSpace(string(answer)), 10, 64)
			if perr != nil || size == old {
				// Same size yet a conflict: the witness holds a different
				// root for it. That is a fork, and nothing more can be sent.
				return nil, fmt.Errorf("witness refused size %d→%d: %q", old, cp.Size, bytes.TrimSpace(answer))
			}
			old = size
			continue
		case status != http.StatusOK:
			w.submissions.WithLabelValues(name, "error").Inc()
			return nil, fmt.Errorf("witness answered %d: %q", status, bytes.TrimSpace(answer))
		}
		lines, err := cosignatureLines(cp, answer, wt.verifier)
		if err != nil {
			w.submissions.WithLabelValues(name, "error").Inc()
			return nil, err
		}
		w.submissions.WithLabelValues(name, "cosigned").Inc()
		wt.mu.Lock()
		wt.size = cp.Size
		wt.mu.Unlock()
		w.cosigs.WithLabelValues(name).Set(float64(cp.Size))
		return lines, nil
	}
}

// maxWitnessAnswer bounds what is read of a witness's answer.
const maxWitnessAnswer = 64 << 10

func (w *Witnessing) post(ctx context.Context, wt *witness, cp *Checkpoint, old uint64) ([]byte, int, error) {
	var body bytes.Buffer
	fmt.Fprintf(&body, "old %d\n", old)
	if old > 0 && old < cp.Size {
		p, err := w.src.ConsistencyProof(ctx, old, cp.Size)
		if err != nil {
			return nil, 0, fmt.Errorf("consistency proof %d→%d: %w", old, cp.Size, err)
		}
		for _, h := range p.Hashes {
			body.WriteString(base64.StdEncoding.EncodeToString(h))
			body.WriteByte('\n')
		}
	}
	body.WriteByte('\n')
	body.Write(cp.Note)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wt.url+"/add-checkpoint", &body)
	if err != nil {
		return nil, 0, err
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxWitnessAnswer))
	if err != nil {
		return nil, 0, err
	}
	return answer, resp.StatusCode, nil
}

func (w *Witnessing) record(cp *Checkpoint, name string, lines [][]byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m, ok := w.lines[cp.Size]
	if !ok {
		m = map[string][][]byte{}
		w.lines[cp.Size] = m
		w.sizes = append(w.sizes, cp.Size)
		slices.Sort(w.sizes)
		for len(w.sizes) > cosignedHistory {
			delete(w.lines, w.sizes[0])
			w.sizes = w.sizes[1:]
		}
	}
	m[name] = lines
	w.settle(cp)
}

// attach returns cp with every cosignature known for its size appended,
// witnesses in name order. Callers hold w.mu.
func (w *Witnessing) attach(cp *Checkpoint) *Checkpoint {
	m := w.lines[cp.Size]
	if len(m) == 0 {
		return cp
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	var all [][]byte
	for _, n := range names {
		all = append(all, m[n]...)
	}
	out := *cp
	out.Note = appendSignatures(cp.Note, all)
	return &out
}

// Cosigned returns cp with the cosignatures known for its size attached
// (cp itself if there are none).
func (w *Witnessing) Cosigned(cp *Checkpoint) *Checkpoint {
	if w == nil || cp == nil {
		return cp
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.attach(cp)
}

// Served is the checkpoint to publish given the log's latest: the newest
// one a quorum cosigned, with its cosignatures; before any has, latest
// with whatever cosignatures it has. Published sizes never go back: a
// cosigned checkpoint smaller than one already published this way is
// not published (a monitor would see the tree shrink); a later one is.
func (w *Witnessing) Served(latest *Checkpoint) *Checkpoint {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.best != nil {
		return w.best
	}
	if latest == nil {
		return nil
	}
	w.floor = max(w.floor, latest.Size)
	return w.attach(latest)
}

// WitnessState is one witness as Status reports it.
type WitnessState struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// Key is the witness's tlog-cosignature verifier key.
	Key string `json:"key"`
	// Size is the newest checkpoint size it cosigned for this process.
	Size      uint64 `json:"cosigned_size"`
	LastError string `json:"last_error,omitempty"`
}

// WitnessStatus says whether the newest submitted checkpoint is witnessed.
type WitnessStatus struct {
	Quorum int `json:"quorum"`
	// Cosignatures on the newest submitted checkpoint.
	Cosignatures int            `json:"cosignatures"`
	Size         uint64         `json:"size"`
	QuorumMet    bool           `json:"quorum_met"`
	Witnesses    []WitnessState `json:"witnesses"`
}

// Status reports the quorum state for the newest submitted checkpoint.
func (w *Witnessing) Status() WitnessStatus {
	w.mu.Lock()
	st := WitnessStatus{Quorum: w.quorum}
	if w.latest != nil {
		st.Size = w.latest.Size
		st.Cosignatures = len(w.lines[w.latest.Size])
	}
	w.mu.Unlock()
	st.QuorumMet = st.Size > 0 && st.Cosignatures >= st.Quorum
	for _, wt := range w.ws {
		wt.mu.Lock()
		s := WitnessState{Name: wt.verifier.Name(), URL: wt.url, Key: wt.key, Size: wt.size}
		if wt.lastErr != nil {
			s.LastError = wt.lastErr.Error()
		}
		wt.mu.Unlock()
		st.Witnesses = append(st.Witnesses, s)
	}
	return st
}
