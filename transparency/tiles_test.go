package transparency

import (
	"errors"
	"math"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/tlog"
)

// TestTilePathMatchesXMod checks the path encoding against
// golang.org/x/mod/sumdb/tlog's (which adds the height after "tile/" and
// calls entry bundles "data"), and that parsing inverts it.
func TestTilePathMatchesXMod(t *testing.T) {
	for _, n := range []int64{0, 1, 7, 999, 1000, 1001, 123456, 1234067, 999_999_999, 1e12, math.MaxInt64} {
		for _, w := range []int{1, 17, 255, 256} {
			for _, l := range []int{-1, 0, 1, 5, 63} {
				ref := tlog.Tile{H: 8, L: l, N: n, W: w}.Path()
				want := strings.Replace(strings.Replace(ref, "tile/8/data/", "tile/entries/", 1), "tile/8/", "tile/", 1)
				p := TilePath{Entries: l < 0, Level: max(l, 0), N: uint64(n), W: w}
				if got := p.String(); got != want {
					t.Fatalf("%+v: %q, x/mod says %q", p, got, want)
				}
				back, err := ParseTilePath(strings.TrimPrefix(want, "tile/"))
				if err != nil || back != p {
					t.Fatalf("ParseTilePath(%q) = %+v, %v; want %+v", want, back, err, p)
				}
			}
		}
	}
}

// TestTileAvailable follows tlog-tiles' example: a tree of 70,000 leaves
// has 273 full level-0 tiles, a partial one of width 112, one full level-1
// tile, a partial one of width 17 and a partial level-2 tile of width 1.
func TestTileAvailable(t *testing.T) {
	const size = 70_000
	cases := []struct {
		p  TilePath
		ok bool
	}{
		{TilePath{Level: 0, N: 272, W: 256}, true},
		{TilePath{Level: 0, N: 273, W: 112}, true},
		{TilePath{Level: 0, N: 273, W: 113}, false},
		{TilePath{Level: 0, N: 273, W: 256}, false},
		{TilePath{Level: 1, N: 0, W: 256}, true},
		{TilePath{Level: 1, N: 1, W: 17}, true},
		{TilePath{Level: 1, N: 1, W: 18}, false},
		{TilePath{Level: 2, N: 0, W: 1}, true},
		{TilePath{Level: 2, N: 0, W: 2}, false},
		{TilePath{Level: 3, N: 0, W: 1}, false},
		{TilePath{Level: 63, N: 0, W: 1}, false},
		{TilePath{Level: 0, N: math.MaxUint64, W: 255}, false},
		{TilePath{Entries: true, N: 273, W: 112}, true},
	}
	for _, tc := range cases {
		err := tileAvailable(tc.p, size)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrNotFound)) {
			t.Errorf("%s in a tree of %d: %v, want available=%v", tc.p, size, err, tc.ok)
		}
	}
}
