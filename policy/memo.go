package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// accessMemo remembers the access policy's grants for requests that are
// not about one decision, such as a lender creating decisions or anyone
// reading the checkpoint.
//
// The access policy is a pure function of its input and the policy data
// when it calls no non-deterministic built-in (deterministic checks that), so
// a remembered grant is exactly what evaluating again would give, as long
// as the data has not changed since: every store write clears the memo
// (see invalidate). Only grants are kept, and only for requests without a
// decision, owner or token: those are few (roles × callers × actions), so
// the memo stays small, while decision-bound requests and refusals, which
// carry their findings, are evaluated every time.
type accessMemo struct {
	mu      sync.RWMutex
	gen     uint64 // bumped by every store write
	granted map[AccessRequest]struct{}
}

// accessMemoLimit bounds the memo in case callers are not few after all
// (say, a deployment with thousands of API keys); past it, requests are
// evaluated as if there were no memo.
const accessMemoLimit = 4096

func newAccessMemo() *accessMemo {
	return &accessMemo{granted: make(map[AccessRequest]struct{})}
}

// cacheable reports whether req is of the kind the memo keeps.
func cacheable(req AccessRequest) bool {
	return req.DecisionID == "" && req.TokenDecisionID == "" && req.ResourceOwner == ""
}

// lookup reports whether req was granted before, and the store generation
// to pass to remember after evaluating it. A nil memo remembers nothing.
func (m *accessMemo) lookup(req AccessRequest) (granted bool, gen uint64) {
	if m == nil || !cacheable(req) {
		return false, 0
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, granted = m.granted[req]
	return granted, m.gen
}

// remember records a grant evaluated against generation gen, if req is of
// the kind the memo keeps. A grant evaluated before a store write that has
// since happened is dropped: it may have read the old data.
func (m *accessMemo) remember(req AccessRequest, gen uint64) {
	if m == nil || !cacheable(req) {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if gen == m.gen && len(m.granted) < accessMemoLimit {
		m.granted[req] = struct{}{}
	}
}

// invalidate forgets every grant; call it after each store write.
func (m *accessMemo) invalidate() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	clear(m.granted)
}

// deterministic reports whether the modules call no built-in OPA marks
// non-deterministic (time.now_ns, rand.intn, http.send, ...). A policy
// that makes such a call may answer the same input differently, so its
// answers must not be remembered.
func deterministic(modules map[string]*ast.Module) bool {
	found := false
	for _, m := range modules {
		ast.WalkExprs(m, func(x *ast.Expr) bool {
			if x.IsCall() {
				if b, ok := ast.BuiltinMap[x.Operator().String()]; ok && b.Nondeterministic {
					found = true
				}
			}
			// The walk goes on to the other expressions whatever this
			// returns; true only stops it descending.
			return found
		})
		if found {
			return false
		}
	}
	return true
}
