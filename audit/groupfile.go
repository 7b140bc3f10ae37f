package audit

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxGroupRows bounds a group file.
const MaxGroupRows = 1 << 20

// Groups is a group file: protected-attribute labels per decision,
// supplied out of band. They never reach the model or the ledger; a
// report holds only the aggregates computed from them.
type Groups struct {
	// Key is the first column's name: "application_id" or "decision_id".
	Key string
	// Attributes are the other columns' names, in file order.
	Attributes []string
	// Labels maps a key to its labels, one per attribute ("" for none).
	Labels map[string][]string
}

// ReadGroups reads a CSV group file: a header whose first column is
// application_id or decision_id and whose other columns name protected
// attributes, then one row per application with its group labels (an
// empty cell is no label). Keys must be unique.
func ReadGroups(r io.Reader) (*Groups, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("group file header: %w", err)
	}
	g := &Groups{Key: strings.TrimSpace(header[0]), Labels: map[string][]string{}}
	if g.Key != "application_id" && g.Key != "decision_id" {
		return nil, fmt.Errorf("group file: first column is %q, want application_id or decision_id", g.Key)
	}
	if len(header) < 2 {
		return nil, errors.New("group file: no attribute columns")
	}
	seen := map[string]bool{}
	for _, h := range header[1:] {
		h = strings.TrimSpace(h)
		if h == "" || seen[h] {
			return nil, fmt.Errorf("group file: attribute column %q is empty or repeated", h)
		}
		seen[h] = true
		g.Attributes = append(g.Attributes, h)
	}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("group file: %w", err)
		}
		if len(g.Labels) >= MaxGroupRows {
			return nil, fmt.Errorf("group file: more than %d rows", MaxGroupRows)
		}
		key := strings.TrimSpace(rec[0])
		if key == "" {
			return nil, fmt.Errorf("group file line %d: empty %s", line, g.Key)
		}
		if _, dup := g.Labels[key]; dup {
			return nil, fmt.Errorf("group file line %d: %s %q repeated", line, g.Key, key)
		}
		labels := make([]string, len(g.Attributes))
		for i := range labels {
			labels[i] = strings.TrimSpace(rec[i+1])
		}
		g.Labels[key] = labels
	}
	if len(g.Labels) == 0 {
		return nil, errors.New("group file: no rows")
	}
	return g, nil
}

// Column returns attribute a's label for each key in order ("" where the
// file has no row or no label).
func (g *Groups) Column(a int, keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if l, ok := g.Labels[k]; ok {
			out[i] = l[a]
		}
	}
	return out
}
