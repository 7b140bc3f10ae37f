// Command glassbox is the one binary of glassbox: the scoring service and
// the tools around it (prediction, explanation, benchmarks, model checks,
// audit).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// command is one subcommand of the binary.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"predict":  {"print the probability of default (or --raw score) for every CSV row", runPredict},
		"explain":  {"print per-feature TreeSHAP contributions for every CSV row", runExplain},
		"bench":    {"time single-row predict and explain over CSV rows", runBench},
		"models":   {"model package tools: models check DIR [--validation CSV --groups CSV], models reference --model DIR --data CSV --method cutoff|approved, models distribution --model DIR --data CSV", runModels},
		"serve":    {"run the scoring API", runServe},
		"audit":    {"verify receipts, monitor checkpoints, replay decisions, monitoring and fair-lending reports", runAudit},
		"loadtest": {"drive POST /v1/decisions and report decisions/s and latency", runLoadtest},
	}
}

// errUsage marks errors that are the caller's wording (exit status 2).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "glassbox: unknown command %q\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "glassbox %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "glassbox: explainable credit-risk scoring with a verifiable compliance ledger")
	fmt.Fprintln(w, "\nUsage: glassbox COMMAND [flags]\n\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'glassbox COMMAND -h' for a command's flags.")
}

// newFlags returns a flag set that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("glassbox "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parseFlags parses args and rejects stray positional arguments beyond max.
func parseFlags(fs *flag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > maxArgs {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args()[maxArgs:])
	}
	return nil
}
