package explain

import (
	"testing"
)

// Run with -cpu 1 (or GOMAXPROCS=1) and -benchmem; see docs/benchmarks.md.

var benchModels = []string{"credit-risk-v1", "credit-risk-large"}

func BenchmarkPredict(b *testing.B) {
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			fx := loadFixture(b, name)
			var sink float64
			i := 0
			for b.Loop() {
				sink += fx.m.Raw(fx.rows[i])
				if i++; i == len(fx.rows) {
					i = 0
				}
			}
			_ = sink
		})
	}
}

func BenchmarkExplain(b *testing.B) {
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			fx := loadFixture(b, name)
			out := make([]float64, fx.e.NumFeatures()+1)
			i := 0
			for b.Loop() {
				if err := fx.e.Explain(fx.rows[i], out); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(fx.rows) {
					i = 0
				}
			}
		})
	}
}

// BenchmarkContributions is Explain without the consistency check's
// prediction: the TreeSHAP work alone.
func BenchmarkContributions(b *testing.B) {
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			fx := loadFixture(b, name)
			out := make([]float64, fx.e.NumFeatures()+1)
			i := 0
			for b.Loop() {
				if err := fx.e.contributions(fx.rows[i], out); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(fx.rows) {
					i = 0
				}
			}
		})
	}
}

func BenchmarkReference(b *testing.B) {
	for _, name := range benchModels {
		b.Run(name, func(b *testing.B) {
			fx := loadFixture(b, name)
			i := 0
			for b.Loop() {
				Reference(fx.m, fx.rows[i])
				if i++; i == len(fx.rows) {
					i = 0
				}
			}
		})
	}
}
