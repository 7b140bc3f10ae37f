package transparency

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/sync/singleflight"
)

// C2SP tlog-tiles geometry: every tile is a subtree of height 8, so a full
// tile holds 256 hashes of 32 bytes.
const (
	TileHeight = 8
	TileWidth  = 1 << TileHeight
	// MaxTileLevel is the highest level tlog-tiles allows.
	MaxTileLevel = 63
	// MaxEntrySize is the largest leaf an entry bundle can carry: entries
	// are prefixed with a big-endian uint16 length.
	MaxEntrySize = 1<<16 - 1
)

const tilesDBFile = "tiles.db" // cache of computed full tiles

// TilePath names one tlog-tiles resource: a Merkle tile at Level, or
// (Entries) an entry bundle, with index N and width W (TileWidth for a
// full tile, 1..255 for a partial one).
type TilePath struct {
	Entries bool
	Level   int
	N       uint64
	W       int
}

// Partial reports whether the path names a partial tile.
func (p TilePath) Partial() bool { return p.W < TileWidth }

// String renders the path the way tlog-tiles spells it under the log
// prefix, e.g. "tile/0/x001/234.p/7" or "tile/entries/000".
func (p TilePath) String() string {
	var b strings.Builder
	b.WriteString("tile/")
	if p.Entries {
		b.WriteString("entries/")
	} else {
		b.WriteString(strconv.Itoa(p.Level))
		b.WriteByte('/')
	}
	b.WriteString(encodeTileIndex(p.N))
	if p.Partial() {
		b.WriteString(".p/")
		b.WriteString(strconv.Itoa(p.W))
	}
	return b.String()
}

// encodeTileIndex writes n as zero-padded three-digit groups, every group
// but the last prefixed with "x".
func encodeTileIndex(n uint64) string {
	groups := []string{fmt.Sprintf("%03d", n%1000)}
	for n /= 1000; n > 0; n /= 1000 {
		groups = append(groups, fmt.Sprintf("x%03d", n%1000))
	}
	var b strings.Builder
	for i := len(groups) - 1; i >= 0; i-- {
		b.WriteString(groups[i])
		if i > 0 {
			b.WriteByte('/')
		}
	}
	return b.String()
}

// ParseTilePath parses what follows "tile/" in a tlog-tiles URL: "<L>/<N>"
// or "entries/<N>", each optionally followed by ".p/<W>". Only the
// canonical spelling is accepted (no leading zeroes in L or W, three-digit
// groups, "x" on all but the last), so that one resource has one URL and
// caches cannot be filled with aliases.
func ParseTilePath(s string) (TilePath, error) {
	bad := func(why string) (TilePath, error) {
		return TilePath{}, fmt.Errorf("%w: tile path %q: %s", ErrInvalidArgument, s, why)
	}
	var p TilePath
	head, rest, ok := strings.Cut(s, "/")
	if !ok {
		return bad("missing index")
	}
	if head == "entries" {
		p.Entries = true
	} else {
		l, err := strconv.Atoi(head)
		if err != nil || l < 0 || l > MaxTileLevel || strconv.Itoa(l) != head {
			return bad("level must be a decimal between 0 and 63")
		}
		p.Level = l
	}
	p.W = TileWidth
	if i := strings.Index(rest, ".p/"); i >= 0 {
		ws := rest[i+len(".p/"):]
		w, err := strconv.Atoi(ws)
		if err != nil || w < 1 || w >= TileWidth || strconv.Itoa(w) != ws {
			return bad("partial width must be a decimal between 1 and 255")
		}
		p.W, rest = w, rest[:i]
	}
	groups := strings.Split(rest, "/")
	// 2^64 has 20 digits: seven groups at most.
	if len(groups) > 7 {
		return bad("index too large")
	}
	var n uint64
	for i, g := range groups {
		last := i == len(groups)-1
		if !last {
			if !strings.HasPrefix(g, "x") {
				return bad("all index groups but the last start with x")
			}
			g = g[1:]
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return bad("index groups are three digits")
		}
		d, _ := strconv.ParseUint(g, 10, 64)
		if n > (1<<64-1-d)/1000 {
			return bad("index too large")
		}
		n = n*1000 + d
	}
	// "x000/123" would alias "123".
	if len(groups) > 1 && groups[0] == "x000" {
		return bad("index has a leading zero group")
	}
	p.N = n
	return p, nil
}

// tileCache keeps computed full tiles: they never change, and a tile at
// level 1 or above is computed from 256 tiles below it, so recomputing
// would cost 256^level leaf reads. Losing the cache loses nothing but time.
type tileCache struct {
	db     *sql.DB
	flight singleflight.Group

	// edge keeps the leaves read so far of the newest level-0 tile, so
	// that clients tailing the log (its partial tiles and bundles, fetched
	// after every checkpoint) cost Trillian only the leaves it has not
	// returned before.
	edgeMu    sync.Mutex
	edgeN     uint64
	edgeLeafs []Entry
}

func openTileCache(ctx context.Context, dataDir string) (*tileCache, error) {
	dsn := "file:" + filepath.Join(dataDir, tilesDBFile) +
		"?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(5000)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening tile cache: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS tiles (
		level INTEGER NOT NULL,
		idx   INTEGER NOT NULL,
		data  BLOB NOT NULL,
		PRIMARY KEY (level, idx)
	)`); err != nil {
		db.Close()
		return nil, fmt.Errorf("creating tile cache: %w", err)
	}
	return &tileCache{db: db}, nil
}

func (c *tileCache) close() error { return c.db.Close() }

func (c *tileCache) get(ctx context.Context, level int, n uint64) ([]byte, bool) {
	var data []byte
	err := c.db.QueryRowContext(ctx, `SELECT data FROM tiles WHERE level = ? AND idx = ?`, level, int64(n)).Scan(&data)
	if err != nil || len(data) != TileWidth*rfc6962.DefaultHasher.Size() {
		return nil, false
	}
	return data, true
}

// put stores a full tile; failing to is harmless (it will be computed
// again), so the error is only returned for the caller to log.
func (c *tileCache) put(ctx context.Context, level int, n uint64, data []byte) error {
	_, err := c.db.ExecContext(ctx, `INSERT INTO tiles (level, idx, data) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`,
		level, int64(n), data)
	return err
}

// tileAvailable checks p against a tree of size: a tile may be served only
// if every hash (or entry) in it is fixed, i.e. it covers complete
// subtrees of the tree. Beyond that is ErrNotFound (tlog-tiles: empty or
// future tiles are not served).
func tileAvailable(p TilePath, size uint64) error {
	// Complete subtrees of 256^level leaves in the tree.
	var complete uint64
	if shift := uint(TileHeight * p.Level); shift < 64 {
		complete = size >> shift
	}
	// p.N*256 + p.W ≤ complete, written so that it cannot overflow.
	if p.N > complete/TileWidth || complete-p.N*TileWidth < uint64(p.W) {
		return fmt.Errorf("%w: %s is beyond the tree of size %d", ErrNotFound, p, size)
	}
	return nil
}

// Tile returns the tlog-tiles Merkle tile p (not an entry bundle): the
// concatenated 32-byte hashes, computed from the leaves in Trillian and
// cached once full. Tiles beyond the latest signed checkpoint are
// ErrNotFound.
func (l *Ledger) Tile(ctx context.Context, p TilePath) ([]byte, error) {
	if p.Entries {
		return nil, fmt.Errorf("%w: %s is an entry bundle", ErrInvalidArgument, p)
	}
	cp, _ := l.LatestCheckpoint(ctx)
	if err := tileAvailable(p, cp.Size); err != nil {
		return nil, err
	}
	return l.tile(ctx, p.Level, p.N, p.W)
}

// tile computes the tile at (level, n) of width w. It assumes the caller
// checked availability.
func (l *Ledger) tile(ctx context.Context, level int, n uint64, w int) ([]byte, error) {
	full, cached := l.tiles.get(ctx, level, n)
	if cached {
		return full[:w*rfc6962.DefaultHasher.Size()], nil
	}
	if w < TileWidth {
		return l.computeTile(ctx, level, n, w)
	}
	key := strconv.Itoa(level) + "/" + strconv.FormatUint(n, 10)
	v, err, _ := l.tiles.flight.Do(key, func() (any, error) {
		// Shared by every caller waiting for this tile, and cached: one
		// caller giving up must not fail the others.
		ctx := context.WithoutCancel(ctx)
		data, err := l.computeTile(ctx, level, n, TileWidth)
		if err != nil {
			return nil, err
		}
		if err := l.tiles.put(ctx, level, n, data); err != nil {
			l.logger.WarnContext(ctx, "cannot cache tile", "level", level, "index", n, "err", err)
		}
		return data, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]byte), nil
}

func (l *Ledger) computeTile(ctx context.Context, level int, n uint64, w int) ([]byte, error) {
	size := rfc6962.DefaultHasher.Size()
	out := make([]byte, 0, w*size)
	if level == 0 {
		entries, err := l.tileLeaves(ctx, n, w)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			out = append(out, e.ID[:]...)
		}
		return out, nil
	}
	// Each hash is the root of a full tile one level down: a perfect
	// subtree whose 256 leaves are that tile's hashes.
	for i := range w {
		child, err := l.tile(ctx, level-1, n*TileWidth+uint64(i), TileWidth)
		if err != nil {
			return nil, err
		}
		out = append(out, perfectRoot(child, size)...)
	}
	return out, nil
}

// tileLeaves returns the first w leaves of level-0 tile n, reading from
// Trillian only those the edge cache lacks. Slices handed out are never
// written again: the cache grows by copying.
func (l *Ledger) tileLeaves(ctx context.Context, n uint64, w int) ([]Entry, error) {
	c := l.tiles
	c.edgeMu.Lock()
	var have []Entry
	if c.edgeN == n {
		have = c.edgeLeafs
	}
	c.edgeMu.Unlock()
	if len(have) >= w {
		return have[:w], nil
	}
	more, err := l.fetch(ctx, n*TileWidth+uint64(len(have)), uint64(w-len(have)))
	if err != nil {
		return nil, err
	}
	all := append(slices.Clip(have), more...)
	c.edgeMu.Lock()
	if n > c.edgeN || (n == c.edgeN && len(all) > len(c.edgeLeafs)) {
		c.edgeN, c.edgeLeafs = n, all
	}
	c.edgeMu.Unlock()
	return all, nil
}

// perfectRoot hashes a power-of-two run of concatenated node hashes up to
// their RFC 6962 root.
func perfectRoot(nodes []byte, size int) []byte {
	level := make([][]byte, len(nodes)/size)
	for i := range level {
		level[i] = nodes[i*size : (i+1)*size]
	}
	for len(level) > 1 {
		next := make([][]byte, len(level)/2)
		for i := range next {
			next[i] = rfc6962.DefaultHasher.HashChildren(level[2*i], level[2*i+1])
		}
		level = next
	}
	return level[0]
}

// EntryBundle returns the tlog-tiles entry bundle p: the exact leaf bytes
// of its entries, each prefixed with its length as a big-endian uint16.
func (l *Ledger) EntryBundle(ctx context.Context, p TilePath) ([]byte, error) {
	if !p.Entries {
		return nil, fmt.Errorf("%w: %s is not an entry bundle", ErrInvalidArgument, p)
	}
	cp, _ := l.LatestCheckpoint(ctx)
	if err := tileAvailable(p, cp.Size); err != nil {
		return nil, err
	}
	entries, err := l.tileLeaves(ctx, p.N, p.W)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, e := range entries {
		if len(e.Data) > MaxEntrySize {
			return nil, fmt.Errorf("leaf %d is %d bytes, more than an entry bundle can carry", e.Index, len(e.Data))
		}
		out = binary.BigEndian.AppendUint16(out, uint16(len(e.Data)))
		out = append(out, e.Data...)
	}
	return out, nil
}

// ParseEntryBundle splits an entry bundle into its entries, checking that
// it holds exactly want of them (the width the path promised).
func ParseEntryBundle(data []byte, want int) ([][]byte, error) {
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			return nil, errors.New("entry bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			return nil, errors.New("entry bundle: truncated entry")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	if len(out) != want {
		return nil, fmt.Errorf("entry bundle has %d entries, want %d", len(out), want)
	}
	return out, nil
}
