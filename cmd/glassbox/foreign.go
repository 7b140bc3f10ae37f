package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// errForeignLeaves marks a log that holds leaves the ledger did not write.
var errForeignLeaves = errors.New("the log holds FOREIGN leaves")

// reportForeign reads the leaves [from, to) and prints each one whose
// authenticator does not verify with the ledger's key, or that is no
// record at all: someone queued it straight into Trillian. It needs a
// regulator's API key (the entries listing).
func reportForeign(ctx context.Context, c *apiClient, key string, from, to uint64, stdout io.Writer) error {
	if from >= to {
		return nil
	}
	v, err := transparency.NewLeafVerifier(key)
	if err != nil {
		return err
	}
	leaves, err := fetchEntries(ctx, c, from, to)
	if err != nil {
		return err
	}
	n := 0
	for i, leaf := range leaves {
		if transparency.LeafFormat(leaf) == transparency.RecordFormat {
			continue // a record in clear carries no authenticator
		}
		if _, err := transparency.OpenLeaf(leaf, nil, nil, v); err != nil {
			n++
			fmt.Fprintf(stdout, "FOREIGN leaf %d (%s): %v\n", from+uint64(i), transparency.RecordID(leaf), err)
		}
	}
	if n > 0 {
		return fmt.Errorf("%w: %d in entries %d..%d", errForeignLeaves, n, from, to)
	}
	return nil
}
