package policy

import (
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
)

// inputTerms keeps the parts of decision inputs that repeat from one
// decision to the next (feature names and candidate reasons, which come
// from model manifests) already converted to OPA terms. Converting them
// afresh was a fifth of Decide's cost outside the evaluator. OPA never
// modifies input values, so one term can serve concurrent evaluations.
type inputTerms struct {
	mu      sync.RWMutex
	names   map[string]*ast.Term
	reasons map[Reason]*ast.Term
}

// inputTermsLimit bounds each map: callers of Decide normally repeat a
// model's few dozen names and reasons, but nothing forces them to.
const inputTermsLimit = 4096

func newInputTerms() *inputTerms {
	return &inputTerms{names: make(map[string]*ast.Term), reasons: make(map[Reason]*ast.Term)}
}

func (c *inputTerms) name(s string) *ast.Term {
	return lookupOrBuild(&c.mu, c.names, s, func() *ast.Term { return ast.StringTerm(s) })
}

func (c *inputTerms) reason(r Reason) *ast.Term {
	return lookupOrBuild(&c.mu, c.reasons, r, func() *ast.Term {
		return ast.ObjectTerm(
			item("code", ast.StringTerm(r.Code)),
			item("feature", ast.StringTerm(r.Feature)),
			item("meaning", ast.StringTerm(r.Meaning)),
		)
	})
}

// lookupOrBuild returns m[k], building and keeping it (below the limit)
// when absent. Two goroutines may both build a missing term; either copy
// is the same value.
func lookupOrBuild[K comparable](mu *sync.RWMutex, m map[K]*ast.Term, k K, build func() *ast.Term) *ast.Term {
	mu.RLock()
	t, ok := m[k]
	mu.RUnlock()
	if ok {
		return t
	}
	t = build()
	mu.Lock()
	if len(m) < inputTermsLimit {
		m[k] = t
	}
	mu.Unlock()
	return t
}
