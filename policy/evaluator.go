package policy

import (
	"runtime"
	"sync/atomic"
	"time"
)

// evaluator runs OPA evaluations on a few long-lived goroutines.
//
// OPA's evaluator recurses deeply (continuation-passing through every rule
// and built-in). Run on an HTTP request's goroutine, whose stack starts
// small and is shrunk again by the garbage collector, each evaluation grew
// the stack by repeated copying, and copying a deep stack is expensive:
// about 8% of the server's CPU under load. Workers that only evaluate
// policy keep their grown stacks. They also bound how many evaluations
// run at once to the number of CPUs, and they exit when idle, so an
// Engine needs no Close.
type evaluator struct {
	jobs    chan evalJob
	max     int32
	idle    time.Duration // how long a worker waits for work before exiting
	running atomic.Int32
}

type evalJob struct {
	run  func()
	done chan struct{}
}

func newEvaluator() *evaluator {
	return &evaluator{jobs: make(chan evalJob), max: int32(runtime.GOMAXPROCS(0)), idle: 5 * time.Second}
}

// do runs f on a worker and returns when it has finished.
func (p *evaluator) do(f func()) {
	j := evalJob{run: f, done: make(chan struct{})}
	select {
	case p.jobs <- j: // an idle worker took it
	default:
		if p.running.Add(1) <= p.max {
			go p.work(j)
		} else {
			p.running.Add(-1)
			p.jobs <- j // wait for a worker
		}
	}
	<-j.done
}

func (p *evaluator) work(j evalJob) {
	defer p.running.Add(-1)
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		j.run()
		close(j.done)
		idle.Reset(p.idle)
		select {
		case j = <-p.jobs:
		case <-idle.C:
			return
		}
	}
}
