package api

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/glassbox-ledger/glassbox/scoring"
)

// maxApplicationIDLen bounds the lender's reference for an application.
const maxApplicationIDLen = 128

// application is one validated loan application.
type application struct {
	ID    string
	Model *servedModel
	X     []float64
}

// applicationFields are the members an application object may have.
var applicationFields = []string{"application_id", "model", "features"}

// parseApplication validates one decoded application object. Every
// problem is reported, each under its field path (prefix names the
// application within a batch).
func (s *Server) parseApplication(v any, prefix string) (*application, []FieldError) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, []FieldError{{Field: fieldPath(prefix, ""), Message: "must be an object, not " + jsonType(v)}}
	}
	var errs []FieldError
	add := func(field, msg string) {
		errs = append(errs, FieldError{Field: fieldPath(prefix, field), Message: msg})
	}
	for _, k := range sortedKeys(obj) {
		if !slices.Contains(applicationFields, k) {
			add(k, "unknown field; allowed: "+strings.Join(applicationFields, ", "))
		}
	}
	app := &application{}
	switch id, present := obj["application_id"]; {
	case !present || id == nil:
		add("application_id", "required")
	default:
		str, ok := id.(string)
		switch {
		case !ok:
			add("application_id", "must be a string, not "+jsonType(id))
		case !validApplicationID(str):
			add("application_id", fmt.Sprintf("must be 1 to %d characters: letters, digits, '.', '_', ':' or '-'", maxApplicationIDLen))
		default:
			app.ID = str
		}
	}
	modelID := s.defaultModel
	if mv, present := obj["model"]; present {
		str, ok := mv.(string)
		switch {
		case !ok:
			add("model", "must be a string, not "+jsonType(mv))
			modelID = ""
		case s.models[str] == nil:
			add("model", fmt.Sprintf("unknown model %q; available: %s", str, strings.Join(s.modelIDs, ", ")))
			modelID = ""
		default:
			modelID = str
		}
	}
	fv, present := obj["features"]
	feats, isObj := fv.(map[string]any)
	switch {
	case !present || fv == nil:
		add("features", "required")
	case !isObj:
		add("features", "must be an object, not "+jsonType(fv))
	case modelID != "":
		sm := s.models[modelID]
		x, err := sm.model.Vectorize(feats)
		if err != nil {
			ve, ok := err.(*scoring.ValidationError)
			if !ok {
				add("features", err.Error())
			} else {
				for _, p := range ve.Problems {
					add("features."+p.Field, p.Message)
				}
			}
		}
		app.Model, app.X = sm, x
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return app, nil
}

func fieldPath(prefix, field string) string {
	switch {
	case prefix == "":
		return field
	case field == "":
		return prefix
	}
	return prefix + "." + field
}

func validApplicationID(s string) bool {
	if len(s) == 0 || len(s) > maxApplicationIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.' || b == ':') {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
