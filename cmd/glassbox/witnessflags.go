package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glassbox-ledger/glassbox/api"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

// witnessFlags are serve's --witness, --witness-key, --witness-quorum and
// --witness-interval: the n-th --witness-key belongs to the n-th --witness.
type witnessFlags struct {
	urls, keys repeated
	quorum     int
	interval   time.Duration
}

func (w *witnessFlags) register(fs *flag.FlagSet) {
	fs.Var(&w.urls, "witness", "C2SP tlog-witness submission URL of a witness (repeatable; pair each with a --witness-key)")
	fs.Var(&w.keys, "witness-key", "tlog-cosignature verifier key of the witness given by the --witness in the same position (repeatable)")
	fs.IntVar(&w.quorum, "witness-quorum", -1, "cosignatures a checkpoint needs to count as witnessed (default: all witnesses)")
	fs.DurationVar(&w.interval, "witness-interval", transparency.DefaultWitnessInterval, "how often the newest checkpoint is offered to the witnesses")
}

// check refuses inconsistent witness flags before anything is opened.
func (w *witnessFlags) check() error {
	if len(w.urls) != len(w.keys) {
		return fmt.Errorf("%w: %d --witness but %d --witness-key: give one key per witness", errUsage, len(w.urls), len(w.keys))
	}
	if len(w.urls) == 0 && w.quorum > 0 {
		return fmt.Errorf("%w: --witness-quorum without --witness", errUsage)
	}
	if w.quorum > len(w.urls) {
		return fmt.Errorf("%w: --witness-quorum %d with %d witnesses", errUsage, w.quorum, len(w.urls))
	}
	if w.interval <= 0 {
		return fmt.Errorf("%w: --witness-interval must be positive", errUsage)
	}
	for i, k := range w.keys {
		if _, err := transparency.NewCosignatureVerifier(k); err != nil {
			return fmt.Errorf("%w: --witness-key %d: %w", errUsage, i+1, err)
		}
		if u := w.urls[i]; !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			return fmt.Errorf("%w: --witness %q is not an http(s) URL", errUsage, u)
		}
	}
	return nil
}

// start starts submitting checkpoints to the witnesses (flags already
// checked) until ctx ends. Without witnesses it returns a nil interface
// (not a nil pointer in one), so api.Config sees none.
func (w *witnessFlags) start(ctx context.Context, src transparency.CheckpointSource, reg prometheus.Registerer, logger *slog.Logger) (api.Witnesses, error) {
	if len(w.urls) == 0 {
		return nil, nil
	}
	quorum := w.quorum
	if quorum < 0 {
		quorum = len(w.urls)
	}
	cfgs := make([]transparency.WitnessConfig, len(w.urls))
	for i := range w.urls {
		cfgs[i] = transparency.WitnessConfig{URL: w.urls[i], VerifierKey: w.keys[i]}
	}
	ws, err := transparency.NewWitnessing(src, transparency.WitnessOptions{
		Witnesses: cfgs, Quorum: quorum, Interval: w.interval, Logger: logger, Metrics: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	go ws.Run(ctx)
	return ws, nil
}
