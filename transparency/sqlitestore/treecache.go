package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/google/trillian"
	"github.com/google/trillian/storage"
	"google.golang.org/protobuf/proto"
)

// treeCache keeps the trees table in memory for admin snapshots.
//
// Trillian's log server reads the tree's metadata through an admin
// snapshot on every RPC (QueueLeaf included) and its sequencer on every
// pass. In SQLite each read is a transaction with a query, about 8% of the
// CPU of a scoring request. The metadata only changes through this
// provider's admin write transactions, so a cache invalidated by them is
// exact: every write bumps the generation and empties the map, and a
// reader may only store what it read if no write has finished since it
// started, so a stale read is never kept.
type treeCache struct {
	mu    sync.Mutex
	gen   uint64
	trees map[int64]*trillian.Tree
}

func newTreeCache() *treeCache { return &treeCache{trees: map[int64]*trillian.Tree{}} }

// get returns a copy of the cached tree, or the generation a reader must
// quote to put what it reads instead.
func (c *treeCache) get(id int64) (*trillian.Tree, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.trees[id]; ok {
		return proto.Clone(t).(*trillian.Tree), c.gen
	}
	return nil, c.gen
}

func (c *treeCache) put(gen uint64, t *trillian.Tree) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen == c.gen {
		c.trees[t.TreeId] = proto.Clone(t).(*trillian.Tree)
	}
}

// invalidate is called after every admin write transaction, committed or
// not.
func (c *treeCache) invalidate() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.trees)
}

// cachedSnapshot is a read-only admin transaction that answers GetTree from
// the cache and opens a SQLite transaction only when it has to read.
type cachedSnapshot struct {
	s *adminStorage

	mu     sync.Mutex // guards tx and closed
	tx     *adminTX
	closed bool
}

var _ storage.ReadOnlyAdminTX = (*cachedSnapshot)(nil)

// open returns the underlying transaction, beginning it on first use.
func (c *cachedSnapshot) open(ctx context.Context) (*adminTX, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, sql.ErrTxDone
	}
	if c.tx == nil {
		tx, err := c.s.reader.BeginTx(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("sqlitestore: begin admin snapshot: %w", err)
		}
		c.tx = &adminTX{tx: tx}
	}
	return c.tx, nil
}

func (c *cachedSnapshot) GetTree(ctx context.Context, treeID int64) (*trillian.Tree, error) {
	tree, gen := c.s.cache.get(treeID)
	if tree != nil {
		return tree, nil
	}
	tx, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	tree, err = tx.GetTree(ctx, treeID)
	if err != nil {
		return nil, err
	}
	c.s.cache.put(gen, tree)
	return tree, nil
}

func (c *cachedSnapshot) ListTrees(ctx context.Context, includeDeleted bool) ([]*trillian.Tree, error) {
	tx, err := c.open(ctx)
	if err != nil {
		return nil, err
	}
	return tx.ListTrees(ctx, includeDeleted)
}

func (c *cachedSnapshot) finish(commit bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		if commit {
			return sql.ErrTxDone
		}
		return nil
	}
	c.closed = true
	if c.tx == nil {
		return nil
	}
	if commit {
		return c.tx.Commit()
	}
	return c.tx.Close()
}

func (c *cachedSnapshot) Commit() error { return c.finish(true) }
func (c *cachedSnapshot) Close() error  { return c.finish(false) }
