package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/glassbox-ledger/glassbox/explain"
)

// benchReport is bench's one line of output.
type benchReport struct {
	Rows               int     `json:"rows"`
	PredictUsPerRow    float64 `json:"predict_us_per_row"`
	ExplainUsPerRow    float64 `json:"explain_us_per_row"`
	ExplainOverPredict float64 `json:"explain_over_predict"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", stderr)
	modelPath := fs.String("model", "", "model package folder or bare LightGBM text file")
	dataPath := fs.String("data", "", "CSV file with a header; columns matched to features by name")
	passes := fs.Int("passes", 7, "timed passes of each measurement; medians are reported")
	passTime := fs.Duration("pass-time", 200*time.Millisecond, "minimum duration of one pass")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	if *passes < 1 || *passTime <= 0 {
		return fmt.Errorf("%w: --passes and --pass-time must be positive", errUsage)
	}
	m, rows, err := loadModelAndRows(*modelPath, *dataPath)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return errors.New("no rows to time")
	}
	e, err := explain.New(m)
	if err != nil {
		return err
	}

	// One core, one goroutine: single-row latency, not throughput.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	var sink float64
	predict := func(x []float64) error {
		sink += m.Raw(x)
		return nil
	}
	// Explanation as on the decision path: the row has been scored once,
	// and ExplainScored checks additivity against that score (1e-9)
	// instead of predicting again. Rows are visited in order, whole rounds
	// at a time, so a cursor pairs each row with its score.
	raws := make([]float64, len(rows))
	for i, x := range rows {
		raws[i] = m.Raw(x)
	}
	out := make([]float64, e.NumFeatures()+1)
	cursor := 0
	explainRow := func(x []float64) error {
		raw := raws[cursor]
		if cursor++; cursor == len(raws) {
			cursor = 0
		}
		return e.ExplainScored(x, raw, out)
	}

	// Passes of the two alternate, so that both see the same machine: on
	// a shared host the load drifts between passes, and the ratio is what
	// matters. A first untimed pass of each warms caches and the pool.
	var p, x []float64
	for pass := -1; pass < *passes; pass++ {
		dp, err := timePass(ctx, rows, predict, *passTime)
		if err != nil {
			return err
		}
		dx, err := timePass(ctx, rows, explainRow, *passTime)
		if err != nil {
			return err
		}
		if pass >= 0 {
			p, x = append(p, dp), append(x, dx)
		}
	}
	_ = sink
	rep := benchReport{Rows: len(rows), PredictUsPerRow: round(median(p), 3), ExplainUsPerRow: round(median(x), 3)}
	rep.ExplainOverPredict = round(median(x)/median(p), 2)
	line, err := json.Marshal(rep)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", line)
	return err
}

// timePass runs f over the rows, round after round, for at least minTime, and
// returns the microseconds per row.
func timePass(ctx context.Context, rows [][]float64, f func([]float64) error, minTime time.Duration) (float64, error) {
	n := 0
	start := time.Now()
	for {
		for _, x := range rows {
			if err := f(x); err != nil {
				return 0, err
			}
		}
		n += len(rows)
		if d := time.Since(start); d >= minTime {
			return float64(d.Nanoseconds()) / 1e3 / float64(n), nil
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}
