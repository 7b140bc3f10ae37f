package notice

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Languages notices and the applicant page are written in; English is
// the default.
const (
	English = "en"
	Spanish = "es"
)

// Languages lists the supported languages, the default first.
func Languages() []string { return []string{English, Spanish} }

// PickLanguage chooses the language of a notice or page: the lang query
// parameter when given (it must be a supported language), else the
// supported language the Accept-Language header prefers most (RFC 9110
// §12.5.4; only the primary subtag counts, so es-MX is Spanish), else
// English.
func PickLanguage(query string, hasQuery bool, acceptLanguage string) (string, error) {
	if hasQuery {
		q := strings.ToLower(strings.TrimSpace(query))
		if !slices.Contains(Languages(), q) {
			return "", fmt.Errorf("lang must be one of %s", strings.Join(Languages(), ", "))
		}
		return q, nil
	}
	best, bestQ := English, 0.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue // a malformed weight: ignore that entry, as browsers do
			}
			q = f
		}
		if slices.Contains(Languages(), primary) && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best, nil
}
