package main

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// tileLogReader reads the log through its C2SP tlog-tiles API (/log/) and
// proves what it reads against a signed checkpoint with
// golang.org/x/mod/sumdb/tlog, fetching each tile once.
type tileLogReader struct {
	c *apiClient
	// ctx is the context of the current read: tlog's TileReader takes
	// none.
	ctx   context.Context
	tiles map[tlog.Tile][]byte
}

// checkpoint fetches /log/checkpoint and verifies the log's signature
// (cosignatures, if any, are ignored here).
func (r *tileLogReader) checkpoint(ctx context.Context, key string) (*transparency.Checkpoint, error) {
	body, err := r.c.get(ctx, "/log/checkpoint", nil)
	if err != nil {
		return nil, err
	}
	cp, err := transparency.OpenCheckpoint(body, key, "")
	if err != nil {
		return nil, fmt.Errorf("checkpoint signature: %w", err)
	}
	return cp, nil
}

func (r *tileLogReader) Height() int { return transparency.TileHeight }

func (r *tileLogReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	if r.tiles == nil {
		r.tiles = map[tlog.Tile][]byte{}
	}
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		if data, ok := r.tiles[t]; ok {
			out[i] = data
			continue
		}
		p := transparency.TilePath{Level: t.L, N: uint64(t.N), W: t.W}
		data, err := r.c.get(r.ctx, "/log/"+p.String(), nil)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// SaveTiles keeps the tiles tlog has verified, so none is fetched twice.
func (r *tileLogReader) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	for i, t := range tiles {
		r.tiles[t] = data[i]
	}
}

// verifiedEntries returns the entries [from, end) of the tree cp signs,
// each checked to be the leaf the tree holds at its index: the level-0
// hashes come from tiles that tlog verifies against cp's root, and every
// entry must hash to its one.
func (r *tileLogReader) verifiedEntries(ctx context.Context, cp *transparency.Checkpoint, from, end uint64) ([][]byte, error) {
	if from == end {
		return nil, nil
	}
	r.ctx = ctx
	tree := tlog.Tree{N: int64(cp.Size)}
	copy(tree.Hash[:], cp.Root)
	hr := tlog.TileHashReader(tree, r)
	indexes := make([]int64, 0, end-from)
	for i := from; i < end; i++ {
		indexes = append(indexes, tlog.StoredHashIndex(0, int64(i)))
	}
	hashes, err := hr.ReadHashes(indexes)
	if err != nil {
		return nil, fmt.Errorf("tiles do not verify against the signed checkpoint of size %d: %w: %w", cp.Size, errInconsistent, err)
	}
	out := make([][]byte, 0, end-from)
	for n := from / transparency.TileWidth; n*transparency.TileWidth < end; n++ {
		start := n * transparency.TileWidth
		w := int(min(cp.Size-start, transparency.TileWidth))
		p := transparency.TilePath{Entries: true, N: n, W: w}
		data, err := r.c.get(ctx, "/log/"+p.String(), nil)
		if err != nil {
			return nil, err
		}
		bundle, err := transparency.ParseEntryBundle(data, w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		for i, e := range bundle {
			idx := start + uint64(i)
			if idx < from || idx >= end {
				continue
			}
			if tlog.RecordHash(e) != hashes[idx-from] {
				return nil, fmt.Errorf("entry %d is not the leaf the signed tree holds there: %w", idx, errInconsistent)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// followConsistent checks through tiles that the tree cp signs extends
// the tree of oldSize leaves and oldRoot (tlog's tree proof, from O(log n)
// tiles), then reads the entries added since, each verified against cp.
func (r *tileLogReader) followConsistent(ctx context.Context, oldSize uint64, oldRoot []byte, cp *transparency.Checkpoint) error {
	r.ctx = ctx
	tree := tlog.Tree{N: int64(cp.Size)}
	copy(tree.Hash[:], cp.Root)
	var old tlog.Hash
	copy(old[:], oldRoot)
	hr := tlog.TileHashReader(tree, r)
	p, err := tlog.ProveTree(tree.N, int64(oldSize), hr)
	if err != nil {
		return fmt.Errorf("%w: cannot prove checkpoint %d extends checkpoint %d from the tiles: %w", errInconsistent, cp.Size, oldSize, err)
	}
	if err := tlog.CheckTree(p, tree.N, tree.Hash, int64(oldSize), old); err != nil {
		return fmt.Errorf("%w: checkpoint %d is not an extension of checkpoint %d: %w", errInconsistent, cp.Size, oldSize, err)
	}
	_, err = r.verifiedEntries(ctx, cp, oldSize, cp.Size)
	return err
}
