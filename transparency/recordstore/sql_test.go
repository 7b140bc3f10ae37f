package recordstore

import "testing"

// TestChunks checks how multi-row statements are split: by row count, by
// ciphertext bytes, and never into an empty chunk, even for one row larger
// than the byte bound.
func TestChunks(t *testing.T) {
	rows := func(sizes ...int) []row {
		rs := make([]row, len(sizes))
		for i, n := range sizes {
			rs[i].sealed = make([]byte, n)
		}
		return rs
	}
	many := make([]int, 2*chunkRows+1)
	for i := range many {
		many[i] = 10
	}
	for _, tc := range []struct {
		name  string
		sizes []int
		want  []int // rows per chunk
	}{
		{"none", nil, nil},
		{"one", []int{10}, []int{1}},
		{"by rows", many, []int{chunkRows, chunkRows, 1}},
		{"by bytes", []int{chunkBytes / 2, chunkBytes / 2, 1}, []int{2, 1}},
		{"one row past the bound", []int{1, chunkBytes + 1, 1}, []int{1, 1, 1}},
	} {
		got := chunks(rows(tc.sizes...))
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d chunks, want %d", tc.name, len(got), len(tc.want))
			continue
		}
		total := 0
		for i, c := range got {
			if len(c) != tc.want[i] {
				t.Errorf("%s: chunk %d has %d rows, want %d", tc.name, i, len(c), tc.want[i])
			}
			total += len(c)
		}
		if total != len(tc.sizes) {
			t.Errorf("%s: chunks hold %d rows of %d", tc.name, total, len(tc.sizes))
		}
	}
}
