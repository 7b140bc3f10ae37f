package api

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// TestBucketPoolBounded: a full pool never hands a drained caller a
// fresh bucket; newcomers share the overflow bucket; peeking makes no
// bucket.
func TestBucketPoolBounded(t *testing.T) {
	const max, burst = 4, 2
	p := newBucketPool(rate.Every(time.Hour), burst, max)
	for i := range max {
		for range burst {
			if !p.take(fmt.Sprint("k", i)) {
				t.Fatalf("k%d refused within its burst", i)
			}
		}
	}
	// Every tracked bucket is drained, so none may be dropped: the pool
	// stays at its bound and the drained callers stay drained.
	for i := range 50 {
		p.take(fmt.Sprint("new", i))
	}
	if n := len(p.m); n != max {
		t.Errorf("pool holds %d buckets, bound %d", n, max)
	}
	for i := range max {
		if p.take(fmt.Sprint("k", i)) {
			t.Errorf("k%d got a token back from a flood of newcomers", i)
		}
	}
	// The 50 newcomers shared one overflow bucket of the same burst.
	if p.overflow.Tokens() >= 1 {
		t.Errorf("overflow bucket has %v tokens after 50 newcomers", p.overflow.Tokens())
	}
	if p.peek("another") {
		t.Error("peek on a full pool ignores the drained overflow bucket")
	}

	q := newBucketPool(rate.Every(time.Hour), burst, max)
	for i := range 100 {
		if !q.peek(fmt.Sprint("c", i)) {
			t.Fatal("a caller that never spent is refused")
		}
	}
	if len(q.m) != 0 {
		t.Errorf("peek made %d buckets", len(q.m))
	}

	// Buckets that refilled completely are dropped to make room (a full
	// bucket is what a new one would be).
	r := newBucketPool(rate.Inf, burst, max)
	if !r.take("x") || !r.peek("x") || len(r.m) != 0 {
		t.Error("an unlimited pool limits or keeps buckets")
	}
	s := newBucketPool(rate.Every(time.Hour), burst, max)
	for i := range max {
		s.bucket(fmt.Sprint("idle", i)) // full, never spent
	}
	if !s.take("fresh") {
		t.Fatal("newcomer refused although idle buckets could be dropped")
	}
	if _, ok := s.m["fresh"]; !ok || len(s.m) != 1 {
		t.Errorf("after the sweep the pool holds %d buckets, want only the newcomer", len(s.m))
	}
}
