package api_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/glassbox-ledger/glassbox/api"
)

// tileClient reads a C2SP tlog-tiles log over HTTP for
// golang.org/x/mod/sumdb/tlog, which spells tile paths with the height
// ("tile/8/0/001") where tlog-tiles does not ("tile/0/001"): the path
// encoding itself is the library's.
type tileClient struct {
	t       testing.TB
	base    string
	fetched atomic.Int64
	headers map[string]http.Header
}

func (c *tileClient) get(path string) ([]byte, http.Header, error) {
	resp, err := http.Get(c.base + path)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	c.fetched.Add(int64(len(data)))
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("GET %s: %s: %s", path, resp.Status, data)
	}
	return data, resp.Header, nil
}

func c2spPath(t tlog.Tile) string {
	p := t.Path()
	if t.L == -1 {
		return strings.Replace(p, "tile/8/data/", "tile/entries/", 1)
	}
	return strings.Replace(p, "tile/8/", "tile/", 1)
}

func (c *tileClient) Height() int { return 8 }

func (c *tileClient) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, h, err := c.get("/log/" + c2spPath(t))
		if err != nil {
			return nil, err
		}
		if c.headers != nil {
			c.headers[c2spPath(t)] = h
		}
		out[i] = data
	}
	return out, nil
}

func (c *tileClient) SaveTiles([]tlog.Tile, [][]byte) {}

// openTree verifies the served checkpoint with the log key (x/mod's note
// package) and reads its size and root.
func openTree(t *testing.T, signed []byte, vkey string) tlog.Tree {
	t.Helper()
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	size, root := checkpointNote(t, string(signed), v)
	var h tlog.Hash
	if copy(h[:], root) != tlog.HashSize {
		t.Fatalf("root is %d bytes", len(root))
	}
	return tlog.Tree{N: int64(size), Hash: h}
}

// splitBundle decodes an entry bundle (big-endian uint16 lengths).
func splitBundle(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(data) > 0 {
		if len(data) < 2 {
			t.Fatal("bundle: truncated length")
		}
		n := int(binary.BigEndian.Uint16(data))
		if len(data) < 2+n {
			t.Fatal("bundle: truncated entry")
		}
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out
}

// getLog fetches a /log/ path. OpenAPI path templates cannot express
// tlog-tiles paths whose index spans several segments or that end in
// ".p/{W}", so the router used by e.do does not find them: this checks
// what it would have (problem documents for errors) and, for the paths it
// can route, leaves the full check to e.do.
func (e *env) getLog(path string) *response {
	e.t.Helper()
	if !strings.Contains(path, ".p/") && strings.Count(strings.TrimPrefix(path, "/log/tile/"), "/") == 1 {
		return e.do(req{method: "GET", path: path})
	}
	resp, err := http.Get(e.http.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	out := &response{status: resp.StatusCode, header: resp.Header, body: data}
	if out.status >= 400 {
		var p api.Problem
		if ct := out.header.Get("Content-Type"); ct != "application/problem+json" {
			e.t.Errorf("GET %s: status %d with content type %q", path, out.status, ct)
		}
		if err := json.Unmarshal(data, &p); err != nil || p.Type == "" || p.Status != out.status {
			e.t.Errorf("GET %s: bad problem document %s", path, data)
		}
	}
	return out
}

// addDecisions records n decisions through the batch endpoint.
func (e *env) addDecisions(prefix string, n int) {
	e.t.Helper()
	for done := 0; done < n; {
		k := min(n-done, 500)
		apps := make([]any, k)
		for i := range apps {
			apps[i] = validApp(fmt.Sprintf("%s-%d", prefix, done+i))
		}
		r := e.do(req{method: "POST", path: "/v1/decisions/batch", key: keyLender, body: map[string]any{"applications": apps}})
		if r.status != http.StatusCreated {
			e.t.Fatalf("batch: %d %.300s", r.status, r.body)
		}
		done += k
	}
}

// TestLogTilesIndependentClient has golang.org/x/mod/sumdb/tlog read the
// log through /log/ over HTTP: it checks every tile it reads against the
// signed checkpoint (TileHashReader refuses a tile that does not hash to
// the root), recomputes the root, and proves and checks the inclusion of
// every entry of every bundle.
func TestLogTilesIndependentClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	// Past one full level-0 tile and into a second, so that level 0 has a
	// full and a partial tile and level 1 a partial one.
	e.addDecisions("tiles", 600)
	size := e.settle()

	c := &tileClient{t: t, base: e.http.URL, headers: map[string]http.Header{}}
	signed, _, err := c.get("/log/checkpoint")
	if err != nil {
		t.Fatal(err)
	}
	tree := openTree(t, signed, e.ledger.VerifierKey())
	if uint64(tree.N) != size {
		t.Fatalf("served checkpoint size %d, ledger's %d", tree.N, size)
	}
	hr := tlog.TileHashReader(tree, c)
	root, err := tlog.TreeHash(tree.N, hr)
	if err != nil {
		t.Fatalf("tree hash from tiles: %v", err)
	}
	if root != tree.Hash {
		t.Fatalf("root from tiles %v, checkpoint %v", root, tree.Hash)
	}

	// Every entry, from the bundles, proven against the checkpoint.
	var checked int64
	for n := int64(0); n*256 < tree.N; n++ {
		w := min(tree.N-n*256, 256)
		tile := tlog.Tile{H: 8, L: -1, N: n, W: int(w)}
		data, _, err := c.get("/log/" + c2spPath(tile))
		if err != nil {
			t.Fatal(err)
		}
		entries := splitBundle(t, data)
		if int64(len(entries)) != w {
			t.Fatalf("bundle %d has %d entries, want %d", n, len(entries), w)
		}
		for i, rec := range entries {
			idx := n*256 + int64(i)
			p, err := tlog.ProveRecord(tree.N, idx, hr)
			if err != nil {
				t.Fatalf("proving %d: %v", idx, err)
			}
			if err := tlog.CheckRecord(p, tree.N, tree.Hash, idx, tlog.RecordHash(rec)); err != nil {
				t.Fatalf("entry %d does not verify: %v", idx, err)
			}
			checked++
		}
	}
	if checked != tree.N {
		t.Fatalf("checked %d entries of %d", checked, tree.N)
	}
	// The bundles hold the ledger's own bytes.
	first, err := e.ledger.Entries(context.Background(), 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	b0, _, _ := c.get("/log/tile/entries/000")
	if got := splitBundle(t, b0)[0]; !bytes.Equal(got, first[0].Data) {
		t.Fatalf("bundle entry 0 differs from the ledger's leaf 0")
	}
	// Cache headers: full tiles immutable, partial ones short-lived.
	for path, h := range c.headers {
		cc := h.Get("Cache-Control")
		if strings.Contains(path, ".p/") != !strings.Contains(cc, "immutable") {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
		if ct := h.Get("Content-Type"); ct != "application/octet-stream" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
	}
	if len(c.headers) == 0 {
		t.Fatal("the tile reader fetched no tiles")
	}
}

// TestLogPartialTileGrows fetches the partial tiles of a small tree, grows
// the tree past the tile's end and checks the full tile starts with
// exactly the partial one, for hashes and for entries.
func TestLogPartialTileGrows(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.addDecisions("grow-a", 100)
	s1 := e.settle()
	if s1 >= 256 {
		t.Fatalf("tree of %d is already past the first tile", s1)
	}
	partial := e.getLog(fmt.Sprintf("/log/tile/0/000.p/%d", s1))
	bundle := e.getLog(fmt.Sprintf("/log/tile/entries/000.p/%d", s1))
	if partial.status != http.StatusOK || bundle.status != http.StatusOK {
		t.Fatalf("partial tile %d, bundle %d", partial.status, bundle.status)
	}
	if len(partial.body) != int(s1)*32 {
		t.Fatalf("partial tile is %d bytes, want %d", len(partial.body), s1*32)
	}
	if full := e.do(req{method: "GET", path: "/log/tile/0/000"}); full.status != http.StatusNotFound {
		t.Fatalf("full tile of an unfinished tile: %d", full.status)
	}
	e.addDecisions("grow-b", int(256-s1)+10)
	e.settle()
	full := e.do(req{method: "GET", path: "/log/tile/0/000"})
	fullBundle := e.do(req{method: "GET", path: "/log/tile/entries/000"})
	if full.status != http.StatusOK || fullBundle.status != http.StatusOK {
		t.Fatalf("full tile %d, bundle %d", full.status, fullBundle.status)
	}
	if len(full.body) != 256*32 || !bytes.HasPrefix(full.body, partial.body) {
		t.Fatalf("full tile (%d bytes) does not extend the partial one (%d bytes)", len(full.body), len(partial.body))
	}
	if !bytes.HasPrefix(fullBundle.body, bundle.body) || len(splitBundle(t, fullBundle.body)) != 256 {
		t.Fatal("full bundle does not extend the partial one")
	}
	// Each level-0 hash is the RFC 6962 hash of the bundle's entry.
	for i, rec := range splitBundle(t, fullBundle.body) {
		h := tlog.RecordHash(rec)
		if !bytes.Equal(h[:], full.body[i*32:(i+1)*32]) {
			t.Fatalf("tile hash %d is not the hash of entry %d", i, i)
		}
	}
	// Compressed on request, the same bytes.
	zr := e.do(req{method: "GET", path: "/log/tile/entries/000", headers: map[string]string{"Accept-Encoding": "gzip"}})
	if zr.header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("bundle with Accept-Encoding gzip: Content-Encoding %q", zr.header.Get("Content-Encoding"))
	}
	gz, err := gzip.NewReader(bytes.NewReader(zr.body))
	if err != nil {
		t.Fatal(err)
	}
	if unz, err := io.ReadAll(gz); err != nil || !bytes.Equal(unz, fullBundle.body) || len(zr.body) >= len(unz) {
		t.Fatalf("gzipped bundle: %v, %d bytes for %d", err, len(zr.body), len(unz))
	}
	if id := e.do(req{method: "GET", path: "/log/tile/entries/000", headers: map[string]string{"Accept-Encoding": "gzip;q=0, identity"}}); id.header.Get("Content-Encoding") != "" || !bytes.Equal(id.body, fullBundle.body) {
		t.Fatal("gzip;q=0 still compressed")
	}
	if cc := full.header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("full tile Cache-Control %q", cc)
	}
	if cc := partial.header.Get("Cache-Control"); strings.Contains(cc, "immutable") || cc == "" {
		t.Errorf("partial tile Cache-Control %q", cc)
	}
}

// TestLogBadPaths: malformed tile paths are 400 problems, tiles the tree
// does not have yet are 404 problems, and the log is anonymous.
func TestLogBadPaths(t *testing.T) {
	e := newEnv(t, envOptions{})
	e.addDecisions("bad", 5)
	size := e.settle()
	cases := []struct {
		path string
		want int
	}{
		{"/log/tile/0/000.p/" + strconv.FormatUint(size, 10), http.StatusOK},
		{"/log/tile/entries/000.p/" + strconv.FormatUint(size, 10), http.StatusOK},
		{"/log/tile/0/000.p/" + strconv.FormatUint(size+1, 10), http.StatusNotFound},
		{"/log/tile/0/000", http.StatusNotFound},
		{"/log/tile/1/000.p/1", http.StatusNotFound},
		{"/log/tile/entries/001", http.StatusNotFound},
		{"/log/tile/63/000.p/1", http.StatusNotFound},
		{"/log/tile/0/00", http.StatusBadRequest},
		{"/log/tile/0/0000", http.StatusBadRequest},
		{"/log/tile/00/000", http.StatusBadRequest},
		{"/log/tile/64/000", http.StatusBadRequest},
		{"/log/tile/-1/000", http.StatusBadRequest},
		{"/log/tile/0/000.p/0", http.StatusBadRequest},
		{"/log/tile/0/000.p/256", http.StatusBadRequest},
		{"/log/tile/0/000.p/01", http.StatusBadRequest},
		{"/log/tile/0/abc", http.StatusBadRequest},
		{"/log/tile/0/x000/001", http.StatusBadRequest},
		{"/log/tile/0/001/002", http.StatusBadRequest},
		{"/log/tile/0/x001/x002/x003/x004/x005/x006/x007/008", http.StatusBadRequest},
		{"/log/tile/0/x999/x999/x999/x999/x999/x999/999", http.StatusBadRequest},
		{"/log/tile/entries/0a0", http.StatusBadRequest},
		{"/log/tile/data/000", http.StatusBadRequest},
		{"/log/tile/0", http.StatusBadRequest},
		{"/log/tile/0/000?x=1", http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			sub := *e
			sub.t = t
			r := sub.getLog(tc.path)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.body)
			}
		})
	}
	if got := e.settle(); got != size {
		t.Fatalf("the log changed from %d to %d", size, got)
	}
	cp := e.do(req{method: "GET", path: "/log/checkpoint"})
	if cp.status != http.StatusOK || !strings.HasPrefix(cp.header.Get("Content-Type"), "text/plain; charset=utf-8") {
		t.Fatalf("checkpoint: %d %q", cp.status, cp.header.Get("Content-Type"))
	}
	if tree := openTree(t, cp.body, e.ledger.VerifierKey()); uint64(tree.N) != size {
		t.Fatalf("checkpoint size %d, want %d", tree.N, size)
	}
}
