package transparency

import (
	"bytes"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// naiveRoot is RFC 6962 MTH written straight from the RFC.
func naiveRoot(leaves [][]byte) []byte {
	switch len(leaves) {
	case 0:
		return rfc6962.DefaultHasher.EmptyRoot()
	case 1:
		return leaves[0]
	}
	k := largestPow2Below(uint64(len(leaves)))
	return rfc6962.DefaultHasher.HashChildren(naiveRoot(leaves[:k]), naiveRoot(leaves[k:]))
}

func TestFrontierExtendsAndProves(t *testing.T) {
	var leaves [][]byte
	for i := range 70 {
		leaves = append(leaves, rfc6962.DefaultHasher.HashLeaf([]byte{byte(i)}))
	}
	for _, split := range [][]int{{0, 1}, {1, 2}, {0, 70}, {3, 17, 18, 64, 70}, {8, 9, 31, 32, 33}} {
		f := &frontier{nodes: map[span][]byte{}}
		for _, end := range split {
			batch := leaves[f.size:end]
			root := naiveRoot(leaves[:end])
			o, next, err := f.extend(batch, root)
			if err != nil {
				t.Fatalf("extend to %d: %v", end, err)
			}
			for i := f.size; i < uint64(end); i++ {
				p, err := o.path(i, 0, uint64(end))
				if err != nil {
					t.Fatal(err)
				}
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, uint64(end), leaves[i], p, root); err != nil {
					t.Fatalf("leaf %d of %d: %v", i, end, err)
				}
			}
			if _, _, err := f.extend(batch, bytes.Repeat([]byte{1}, 32)); err == nil {
				t.Fatal("extend accepted a wrong root")
			}
			f = next
		}
	}
}
