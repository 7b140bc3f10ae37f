package policy

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// TestEvaluatorBoundsAndExits: every job runs exactly once, never more
// than max at a time, and idle workers exit so that an Engine leaves no
// goroutines behind.
func TestEvaluatorBoundsAndExits(t *testing.T) {
	p := newEvaluator()
	p.max = 3
	p.idle = 20 * time.Millisecond
	var active, peak, ran atomic.Int32
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			p.do(func() {
				n := active.Add(1)
				for {
					m := peak.Load()
					if n <= m || peak.CompareAndSwap(m, n) {
						break
					}
				}
				time.Sleep(100 * time.Microsecond)
				active.Add(-1)
				ran.Add(1)
			})
		})
	}
	wg.Wait()
	if ran.Load() != 200 {
		t.Errorf("ran %d jobs, want 200", ran.Load())
	}
	if peak.Load() > p.max {
		t.Errorf("%d jobs ran at once, max %d", peak.Load(), p.max)
	}
	deadline := time.Now().Add(2 * time.Second)
	for p.running.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers still running after idling", p.running.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestEvalPanicReachesCaller: a panic during evaluation surfaces on the
// caller's goroutine (where the API's recovery middleware runs), not on a
// worker where it would kill the process. A zero prepared query makes OPA
// dereference nil.
func TestEvalPanicReachesCaller(t *testing.T) {
	e := testEngine(t)
	defer func() {
		if r := recover(); r == nil {
			t.Fatal("no panic reached the caller")
		} else {
			t.Logf("recovered on the caller: %v", r)
		}
	}()
	_, _ = e.eval(context.Background(), rego.PreparedEvalQuery{}, "data.nothing", ast.NewObject())
}
