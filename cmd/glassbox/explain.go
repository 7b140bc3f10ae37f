package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/glassbox-ledger/glassbox/explain"
)

// explainChunk bounds how many rows' explanations are held at once.
const explainChunk = 4096

func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr)
	modelPath := fs.String("model", "", "model package folder or bare LightGBM text file")
	dataPath := fs.String("data", "", "CSV file with a header; columns matched to features by name")
	if err := parseFlags(fs, args, 0); err != nil {
		return err
	}
	m, rows, err := loadModelAndRows(*modelPath, *dataPath)
	if err != nil {
		return err
	}
	e, err := explain.New(m)
	if err != nil {
		return err
	}
	// One line per row in LightGBM's pred_contrib layout: a contribution
	// per feature in model order, then the expected value.
	w := bufio.NewWriter(stdout)
	buf := make([]byte, 0, 24*(e.NumFeatures()+1))
	for lo := 0; lo < len(rows); lo += explainChunk {
		hi := min(lo+explainChunk, len(rows))
		contribs, err := e.ExplainBatch(ctx, rows[lo:hi])
		if err != nil {
			return fmt.Errorf("rows %d-%d: %w", lo+1, hi, err)
		}
		for _, c := range contribs {
			buf = buf[:0]
			for j, v := range c {
				if j > 0 {
					buf = append(buf, '\t')
				}
				buf = strconv.AppendFloat(buf, v, 'g', 17, 64)
			}
			buf = append(buf, '\n')
			if _, err := w.Write(buf); err != nil {
				return err
			}
		}
	}
	return w.Flush()
}
