package policy

import (
	"fmt"
	"sort"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Results are decoded straight from the Rego AST: converting them to
// generic JSON first and then into structs costs about as much as
// evaluating the decision rules themselves.

// rawResult makes a prepared query return its result terms unconverted.
func rawResult(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// fields calls f for each key of obj that is a string.
func fields(v ast.Value, f func(key string, v ast.Value)) {
	obj, ok := v.(ast.Object)
	if !ok {
		return
	}
	obj.Foreach(func(k, v *ast.Term) {
		if s, ok := k.Value.(ast.String); ok {
			f(string(s), v.Value)
		}
	})
}

func asString(v ast.Value) string {
	s, _ := v.(ast.String)
	return string(s)
}

// elems returns the elements of an array or set.
func elems(v ast.Value) []*ast.Term {
	switch x := v.(type) {
	case *ast.Array:
		out := make([]*ast.Term, 0, x.Len())
		x.Foreach(func(t *ast.Term) { out = append(out, t) })
		return out
	case ast.Set:
		return x.Slice()
	}
	return nil
}

func asStrings(v ast.Value) []string {
	ts := elems(v)
	if len(ts) == 0 {
		return nil
	}
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		if s, ok := t.Value.(ast.String); ok {
			out = append(out, string(s))
		}
	}
	return out
}

func asFindings(v ast.Value) []Finding {
	ts := elems(v)
	if len(ts) == 0 {
		return nil
	}
	out := make([]Finding, 0, len(ts))
	for _, t := range ts {
		var f Finding
		fields(t.Value, func(k string, v ast.Value) {
			switch k {
			case "id":
				f.ID = asString(v)
			case "title":
				f.Title = asString(v)
			case "citation":
				f.Citation = asString(v)
			case "message":
				f.Message = asString(v)
			case "outcome":
				f.Outcome = Decision(asString(v))
			case "features":
				f.Features = asStrings(v)
			}
		})
		out = append(out, f)
	}
	sortFindings(out)
	return out
}

// sortFindings orders findings by id then message: Rego sets have no
// order of their own, and sorting makes output and ledger records
// reproducible.
func sortFindings(out []Finding) {
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].ID != out[j].ID {
			return out[i].ID < out[j].ID
		}
		return out[i].Message < out[j].Message
	})
}

func asReasons(v ast.Value) []Reason {
	ts := elems(v)
	out := make([]Reason, 0, len(ts))
	for _, t := range ts {
		var r Reason
		fields(t.Value, func(k string, v ast.Value) {
			switch k {
			case "code":
				r.Code = asString(v)
			case "feature":
				r.Feature = asString(v)
			case "meaning":
				r.Meaning = asString(v)
			case "contribution":
				if n, ok := v.(ast.Number); ok {
					if f, ok := n.Float64(); ok {
						r.Contribution = &f
					}
				}
			case "direction":
				r.Direction = asString(v)
			case "fallback":
				b, _ := v.(ast.Boolean)
				r.Fallback = bool(b)
			case "rule":
				r.Rule = asString(v)
			case "text":
				r.Text = asString(v)
			}
		})
		out = append(out, r)
	}
	return out
}

func asBool(v ast.Value, query, key string) (bool, error) {
	b, ok := v.(ast.Boolean)
	if !ok {
		return false, fmt.Errorf("policy: %s: %s is %v, not a boolean", query, key, v)
	}
	return bool(b), nil
}

func item(k string, v *ast.Term) [2]*ast.Term { return [2]*ast.Term{ast.InternedTerm(k), v} }
