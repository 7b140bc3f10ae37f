package policy

import (
	"fmt"
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
	reasons map[reasonKey]*ast.Term
}

// reasonKey is a candidate reason without its contribution: reasons with
// a contribution differ from one application to the next and are not kept.
type reasonKey struct {
	code, feature, meaning, direction string
	fallback                          bool
}

// inputTermsLimit bounds each map: callers of Decide normally repeat a
// model's few dozen names and reasons, but nothing forces them to.
const inputTermsLimit = 4096

func newInputTerms() *inputTerms {
	return &inputTerms{names: make(map[string]*ast.Term), reasons: make(map[reasonKey]*ast.Term)}
}

func (c *inputTerms) name(s string) *ast.Term {
	return lookupOrBuild(&c.mu, c.names, s, func() *ast.Term { return ast.StringTerm(s) })
}

func (c *inputTerms) reason(r Reason) (*ast.Term, error) {
	build := func() (*ast.Term, error) {
		contribution := ast.NullTerm()
		if r.Contribution != nil {
			var err error
			if contribution, err = number(*r.Contribution); err != nil {
				return nil, fmt.Errorf("reason %q: contribution: %w", r.Code, err)
			}
		}
		// The strings repeat even where the contribution does not, so
		// they are kept like feature names.
		return ast.ObjectTerm(
			item("code", c.name(r.Code)),
			item("feature", c.optName(r.Feature)),
			item("meaning", c.name(r.Meaning)),
			item("contribution", contribution),
			item("direction", c.optName(r.Direction)),
			item("fallback", ast.BooleanTerm(r.Fallback)),
		), nil
	}
	if r.Contribution != nil {
		return build()
	}
	k := reasonKey{r.Code, r.Feature, r.Meaning, r.Direction, r.Fallback}
	var err error
	t := lookupOrBuild(&c.mu, c.reasons, k, func() *ast.Term {
		t, e := build()
		err = e
		return t
	})
	return t, err
}

// optName is name(s), or null for "".
func (c *inputTerms) optName(s string) *ast.Term {
	if s == "" {
		return ast.NullTerm()
	}
	return c.name(s)
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
