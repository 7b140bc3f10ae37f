package recordstore

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchRecord is about the size of a decision record in canonical JSON.
func benchRecord(b *testing.B) []byte {
	r := make([]byte, 2048)
	if _, err := rand.Read(r); err != nil {
		b.Fatal(err)
	}
	return r
}

func benchID(i int) [32]byte {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(i))
	return sha256.Sum256(n[:])
}

// BenchmarkPut puts records one at a time (serial) and from 8 and 64
// goroutines per core (parallel), as concurrent decisions do; each Put is durable
// (fsynced) when it returns, so parallel Puts share fsyncs.
func BenchmarkPut(b *testing.B) {
	open := func(b *testing.B) *Store {
		s, err := OpenSQLite(b.Context(), b.TempDir(), make(KEK, KEKSize))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = s.Close() })
		return s
	}
	rec, salt := benchRecord(b), make([]byte, 16)
	b.Run("serial", func(b *testing.B) {
		s := open(b)
		cpu := startCPU(b)
		for i := 0; b.Loop(); i++ {
			if err := s.Put(b.Context(), benchID(i), salt, rec); err != nil {
				b.Fatal(err)
			}
		}
		cpu.report(b)
	})
	for _, perCore := range []int{8, 64} {
		b.Run(fmt.Sprintf("parallel%dpercore", perCore), func(b *testing.B) {
			s := open(b)
			var next atomic.Int64
			b.SetParallelism(perCore)
			b.ResetTimer()
			cpu := startCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Put(b.Context(), benchID(int(next.Add(1))), salt, rec); err != nil {
						b.Error(err)
						return
					}
				}
			})
			cpu.report(b)
		})
	}
}

// BenchmarkGet reads back records put beforehand.
func BenchmarkGet(b *testing.B) {
	s, err := OpenSQLite(b.Context(), b.TempDir(), make(KEK, KEKSize))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	rec, salt := benchRecord(b), make([]byte, 16)
	const n = 1000
	for i := range n {
		if err := s.Put(b.Context(), benchID(i), salt, rec); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; b.Loop(); i++ {
		if _, _, err := s.Get(b.Context(), benchID(i%n)); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuClock measures the process's CPU time (user and system) over a
// benchmark, reported as cpu-ns/op: on a machine shared with other work,
// wall time per op says more about the neighbours than about the store,
// while CPU per op compares with the server CPU per decision in
// docs/benchmarks.md.
type cpuClock struct{ start time.Duration }

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU(b *testing.B) cpuClock { return cpuClock{start: processCPU(b)} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU(b)-c.start)/float64(b.N), "cpu-ns/op")
}
