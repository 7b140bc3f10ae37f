package transparency

import (
	"bytes"
	"context"
	"fmt"
	"math/bits"

	"github.com/google/trillian"
	"github.com/transparency-dev/merkle/rfc6962"
)

// span is the leaf range [begin, end) of a subtree.
type span struct{ begin, end uint64 }

// frontier holds the hashes of disjoint subtrees covering leaves [0, size):
// enough, together with the leaves appended after size, to compute the new
// root and every inclusion proof for those leaves without asking Trillian.
// Each checkpoint's batch of waiters is thereby served from one
// GetLeavesByRange instead of one proof RPC per record; that RPC cost
// (tree lookup, snapshot, node reads) dominated integration latency.
type frontier struct {
	size  uint64
	nodes map[span][]byte
}

// largestPow2Below returns the largest power of two strictly less than n
// (n ≥ 2): the split point of RFC 6962's MTH and PATH.
func largestPow2Below(n uint64) uint64 { return 1 << (bits.Len64(n-1) - 1) }

// hashOracle computes RFC 6962 subtree hashes from the frontier and the
// leaf hashes of [base, base+len(leaves)), memoising every interior node
// so a batch costs O(batch) hashes plus O(log n) per proof.
type hashOracle struct {
	known  map[span][]byte
	base   uint64
	leaves [][]byte
}

func newHashOracle(f *frontier, leaves [][]byte) *hashOracle {
	known := make(map[span][]byte, len(f.nodes)+2*len(leaves))
	for s, h := range f.nodes {
		known[s] = h
	}
	return &hashOracle{known: known, base: f.size, leaves: leaves}
}

func (o *hashOracle) mth(a, b uint64) ([]byte, error) {
	if h, ok := o.known[span{a, b}]; ok {
		return h, nil
	}
	switch {
	case b-a == 1 && a >= o.base && a-o.base < uint64(len(o.leaves)):
		return o.leaves[a-o.base], nil
	case b-a <= 1:
		return nil, fmt.Errorf("no hash for leaf range [%d, %d)", a, b)
	}
	k := largestPow2Below(b - a)
	l, err := o.mth(a, a+k)
	if err != nil {
		return nil, err
	}
	r, err := o.mth(a+k, b)
	if err != nil {
		return nil, err
	}
	h := rfc6962.DefaultHasher.HashChildren(l, r)
	o.known[span{a, b}] = h
	return h, nil
}

// path is RFC 6962 PATH(m, D[a:b]), deepest sibling first.
func (o *hashOracle) path(m, a, b uint64) ([][]byte, error) {
	if b-a <= 1 {
		return [][]byte{}, nil
	}
	k := largestPow2Below(b - a)
	var (
		p       [][]byte
		sibling []byte
		err     error
	)
	if m < a+k {
		if p, err = o.path(m, a, a+k); err != nil {
			return nil, err
		}
		sibling, err = o.mth(a+k, b)
	} else {
		if p, err = o.path(m, a+k, b); err != nil {
			return nil, err
		}
		sibling, err = o.mth(a, a+k)
	}
	if err != nil {
		return nil, err
	}
	return append(p, sibling), nil
}

func (o *hashOracle) root(size uint64) ([]byte, error) {
	if size == 0 {
		return rfc6962.DefaultHasher.EmptyRoot(), nil
	}
	return o.mth(0, size)
}

// compact returns the frontier for [0, size): one perfect subtree per set
// bit of size, largest first.
func (o *hashOracle) compact(size uint64) (*frontier, error) {
	f := &frontier{size: size, nodes: map[span][]byte{}}
	var begin uint64
	for bit := 63; bit >= 0; bit-- {
		if size&(1<<bit) == 0 {
			continue
		}
		s := span{begin, begin + 1<<bit}
		h, err := o.mth(s.begin, s.end)
		if err != nil {
			return nil, err
		}
		f.nodes[s] = h
		begin = s.end
	}
	return f, nil
}

// extend checks that the frontier plus leaves hash to root at the new size
// and returns the oracle for proofs and the new frontier.
func (f *frontier) extend(leaves [][]byte, root []byte) (*hashOracle, *frontier, error) {
	o := newHashOracle(f, leaves)
	size := f.size + uint64(len(leaves))
	got, err := o.root(size)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(got, root) {
		return nil, nil, fmt.Errorf("%w: leaves %d..%d do not hash to trillian's root", ErrInconsistent, f.size, size)
	}
	next, err := o.compact(size)
	if err != nil {
		return nil, nil, err
	}
	return o, next, nil
}

// loadFrontier rebuilds the frontier for cp from Trillian: the inclusion
// proof of the last leaf consists exactly of the subtrees to its left, in
// PATH's decomposition. The result is checked against cp's root.
func (l *Ledger) loadFrontier(ctx context.Context, cp *Checkpoint) (*frontier, error) {
	empty := &frontier{nodes: map[span][]byte{}}
	if cp.Size == 0 {
		return empty, nil
	}
	last, err := l.fetch(ctx, cp.Size-1, 1)
	if err != nil {
		return nil, err
	}
	resp, err := l.log.GetInclusionProof(ctx, &trillian.GetInclusionProofRequest{
		LogId: l.treeID, LeafIndex: int64(cp.Size - 1), TreeSize: int64(cp.Size),
	})
	if err != nil {
		return nil, grpcErr("loading frontier", err)
	}
	hashes := resp.GetProof().GetHashes()
	// PATH(n-1, D[0:n]) always recurses right, so its siblings are the left
	// blocks of the repeated split, emitted deepest (rightmost) first.
	var blocks []span
	for a, n := uint64(0), cp.Size; n > 1; {
		k := largestPow2Below(n)
		blocks = append(blocks, span{a, a + k})
		a, n = a+k, n-k
	}
	if len(hashes) != len(blocks) {
		return nil, fmt.Errorf("%w: proof for last leaf has %d hashes, want %d", ErrInconsistent, len(hashes), len(blocks))
	}
	seed := &frontier{nodes: map[span][]byte{}}
	for i, s := range blocks {
		seed.nodes[s] = hashes[len(hashes)-1-i]
	}
	lastID := last[0].ID
	seed.nodes[span{cp.Size - 1, cp.Size}] = lastID[:]
	o := newHashOracle(seed, nil)
	root, err := o.root(cp.Size)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(root, cp.Root) {
		return nil, fmt.Errorf("%w: frontier does not hash to the checkpoint root at %d", ErrInconsistent, cp.Size)
	}
	return o.compact(cp.Size)
}
