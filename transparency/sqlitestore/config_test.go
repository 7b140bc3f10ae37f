package sqlitestore

import (
	"context"
	"strings"
	"testing"
)

// TestConnectionSettings pins the settings the durability and concurrency
// design depends on.
func TestConnectionSettings(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"temp_store", "2"}, // MEMORY
		{"user_version", "1"},
	} {
		var got string
		if err := p.writer.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if !strings.EqualFold(got, tc.want) {
			t.Errorf("writer PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
		}
	}
	if _, err := p.reader.ExecContext(ctx, "CREATE TABLE must_fail (x)"); err == nil {
		t.Error("reader pool accepted a write")
	}
}

// TestQueryPlansUseIndexes guards against a schema or query change turning a
// hot-path lookup into a table scan or an on-the-fly sort.
func TestQueryPlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	p := openTest(t)
	h := make([]byte, hashSize)
	for _, tc := range []struct {
		name  string
		query string
		args  []any
	}{
		{"dequeue", selectUnsequencedSQL, []any{1, 2, 3, h, 4}},
		{"delete queued", deleteUnsequencedSQL, []any{1, 2, h}},
		{"leaves by range", selectLeavesByRangeSQL, []any{1, 2, 3}},
		{"leaves by Merkle hash", selectLeavesByMerkleHashSQL, []any{1, h}},
		{"leaf by identity", selectLeafByIdentitySQL, []any{1, h}},
		{"leaf at index", selectSequencedAtSQL, []any{1, 2}},
		{"latest root", selectLatestRootSQL, []any{1}},
		{"tile", selectSubtreeSQL, []any{1, h}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, err := p.writer.QueryContext(ctx, "EXPLAIN QUERY PLAN "+tc.query, tc.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rows.Close() }()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			for _, step := range plan {
				if strings.HasPrefix(step, "SCAN ") || strings.Contains(step, "TEMP B-TREE") {
					t.Errorf("plan step %q in %q", step, plan)
				}
			}
		})
	}
}
