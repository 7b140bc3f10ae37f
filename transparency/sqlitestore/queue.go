package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/google/trillian"
)

const (
	// maxBatchLeaves caps one group commit so a burst cannot delay the
	// callers at its front for too long.
	maxBatchLeaves = 8192
	// queueDepth is how many QueueLeaves calls may wait for the next batch
	// without blocking the send.
	queueDepth = 4096
)

var errClosed = fmt.Errorf("%w: provider closed", ErrNotRecorded)

// queueReq is one QueueLeaves call waiting for the intake's group commit.
type queueReq struct {
	treeID  int64
	leaves  []*trillian.LogLeaf
	tsNanos int64
	res     chan queueRes // buffered: the committer never blocks on it
}

type queueRes struct {
	// existing[i] is the stored leaf when leaves[i] was a duplicate.
	existing []*trillian.LogLeaf
	err      error
}

// leafWriter binds the leaf-writing statements to one transaction.
type leafWriter struct {
	hasRoot, insertLeaf, insertUnsequenced, leafByIdentity *sql.Stmt
}

func newLeafWriter(ctx context.Context, tx *sql.Tx, s stmts) (*leafWriter, error) {
	var w leafWriter
	for _, b := range []struct {
		dst   **sql.Stmt
		query string
	}{
		{&w.hasRoot, hasRootSQL},
		{&w.insertLeaf, insertLeafSQL},
		{&w.insertUnsequenced, insertUnsequencedSQL},
		{&w.leafByIdentity, selectLeafByIdentitySQL},
	} {
		st, err := s.in(ctx, tx, b.query)
		if err != nil {
			return nil, err
		}
		*b.dst = st
	}
	return &w, nil
}

// nonNil maps a nil slice to an empty one: proto3 does not distinguish the
// two, but the NOT NULL column does.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
