package explain

import (
	"testing"
)

// Run with -cpu 1 (or GOMAXPROCS=1) and -benchmem; see docs/benchmarks.md.

var benchModels = []string{"credit-risk-v1", "credit-risk-large"}

// benchRows runs f once per iteration on the next row of each benchmark
// model's reference set, cycling through the rows so that branch patterns
// are those of real data.
func benchRows(b *testing.B, f func(fx *fixture, x, out []float64) error) {
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			fx := loadFixture(b, name)
			out := make([]float64, fx.e.NumFeatures()+1)
			i := 0
			for b.Loop() {
				if err := f(fx, fx.rows[i], out); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(fx.rows) {
					i = 0
				}
			}
		})
	}
}

func BenchmarkPredict(b *testing.B) {
	benchRows(b, func(fx *fixture, x, out []float64) error {
		out[0] = fx.m.Raw(x)
		return nil
	})
}

func BenchmarkExplain(b *testing.B) {
	benchRows(b, func(fx *fixture, x, out []float64) error { return fx.e.Explain(x, out) })
}

// BenchmarkContributions is Explain without the consistency check's
// prediction: the TreeSHAP work alone.
func BenchmarkContributions(b *testing.B) {
	benchRows(b, func(fx *fixture, x, out []float64) error { return fx.e.contributions(x, out) })
}

func BenchmarkReference(b *testing.B) {
	benchRows(b, func(fx *fixture, x, out []float64) error {
		Reference(fx.m, x)
		return nil
	})
}
