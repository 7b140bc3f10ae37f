package scoring

import "testing"

// BenchmarkPredict times single-row prediction through leaves, cycling
// over the reference rows so branch patterns are those of real data.
func BenchmarkPredict(b *testing.B) {
	for _, tc := range referenceCases {
		if tc.name == "credit-risk-protected" {
			continue
		}
		b.Run(tc.name, func(b *testing.B) {
			m, err := LoadPath(tc.model)
			if err != nil {
				b.Fatal(err)
			}
			rows := readRows(b, m, tc.data)
			b.ReportAllocs()
			var sink float64
			i := 0
			for b.Loop() {
				sink += m.Raw(rows[i])
				i++
				if i == len(rows) {
					i = 0
				}
			}
			_ = sink
		})
	}
}
