package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// logEntries reads entries [from, end) through the tile API, verified
// against the signed checkpoint; end 0 means the whole tree.
func logEntries(t *testing.T, c *apiClient, key string, from, end uint64) [][]byte {
	t.Helper()
	r := &tileLogReader{c: c}
	cp, err := r.checkpoint(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	if end == 0 {
		end = cp.Size
	}
	entries, err := r.verifiedEntries(context.Background(), cp, from, end)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(entries)) != end-from {
		t.Fatalf("%d entries for %d..%d", len(entries), from, end)
	}
	return entries
}

// checkTamperedEntriesRefused puts a proxy in front of the server that
// swaps the first decision of the first entry bundle for forged bytes:
// the reader must refuse the range as inconsistent, and still accept it
// straight from the server.
func checkTamperedEntriesRefused(t *testing.T, url, key string, forged []byte) {
	t.Helper()
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(url + r.URL.RequestURI())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if strings.HasPrefix(r.URL.Path, "/log/tile/entries/000") {
			body = swapFirstDecision(t, body, forged)
		}
		w.WriteHeader(resp.StatusCode)
		w.Write(body)
	}))
	defer proxy.Close()
	r := &tileLogReader{c: &apiClient{base: proxy.URL, http: httpClient}}
	cp, err := r.checkpoint(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.verifiedEntries(context.Background(), cp, 0, min(cp.Size, 20))
	if !errors.Is(err, errInconsistent) {
		t.Fatalf("forged entry read back with %v, want an inconsistency", err)
	}
	logEntries(t, &apiClient{base: url, http: httpClient}, key, 0, min(cp.Size, 20))
}

func swapFirstDecision(t *testing.T, bundle, forged []byte) []byte {
	t.Helper()
	var out []byte
	swapped := false
	for len(bundle) >= 2 {
		n := int(bundle[0])<<8 | int(bundle[1])
		e := bundle[2 : 2+n]
		bundle = bundle[2+n:]
		if l, err := transparency.DecodeLeaf(e); !swapped && err == nil && l.Type() == transparency.TypeDecision {
			e, swapped = forged, true
		}
		out = append(out, byte(len(e)>>8), byte(len(e)))
		out = append(out, e...)
	}
	if !swapped || bytes.Equal(out, nil) {
		t.Fatal("no decision in the bundle to swap")
	}
	return out
}
