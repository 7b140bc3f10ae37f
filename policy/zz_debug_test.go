package policy

import (
	"context"
	"testing"
)

func BenchmarkZZPD(b *testing.B) {
	e, in := servingEngine(b)
	for _, pd := range []float64{0.31, 0.31234567890123456, 0.312345678901234} {
		in.ProbabilityOfDefault = pd
		b.Run("", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				e.Decide(context.Background(), in)
			}
		})
	}
}
