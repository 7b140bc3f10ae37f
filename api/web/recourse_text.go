package web

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/models"
)

// recourseWords are the fixed parts of a suggestion's sentence per
// language. The sentence is hedged (what the current model and policy
// would have done, not a promise or an offer: Regulation B
// 1002.9(a)(1)(iv)) and names exactly what was verified.
type recourseWords struct {
	prefix, suffix, and, or, between, exactly, provided string
}

func recourseWordsFor(lang string) recourseWords {
	if lang == Spanish {
		return recourseWords{
			prefix:   "Con nuestro modelo y reglas de hoy, una solicitud con ",
			suffix:   " habría sido aprobada.",
			and:      " y ",
			or:       " o ",
			between:  "%s entre %s y %s",
			exactly:  "%s de exactamente %s",
			provided: "%s (que usted no indicó)",
		}
	}
	return recourseWords{
		prefix:   "Based on our current model and policy, an application with ",
		suffix:   " would have been approved.",
		and:      " and ",
		or:       " or ",
		between:  "%s between %s and %s",
		exactly:  "%s of exactly %s",
		provided: "%s (which you did not give)",
	}
}

// RecourseText words a verified counterfactual for the applicant in lang
// from its structured changes, with the manifest's display names, units
// and level names: the same claim as the recorded text, in plain words.
// Bounds are printed exactly (never rounded), so the sentence states no
// value that was not checked.
func RecourseText(lang string, m *models.Manifest, changes []explain.Change) string {
	w := recourseWordsFor(lang)
	parts := make([]string, 0, len(changes))
	for _, c := range changes {
		f := feature(m, c.Feature)
		name := c.Feature
		unit := ""
		if f != nil {
			name = f.DisplayName(lang)
			unit = f.DisplayUnit(lang)
		}
		name = lowerFirstRune(name)
		if lang != Spanish {
			name = "the " + name
		}
		if c.From == nil {
			name = fmt.Sprintf(w.provided, name)
		}
		var part string
		switch {
		case c.Levels != nil:
			levels := make([]string, len(c.Levels))
			for i, l := range c.Levels {
				levels[i] = "“" + l + "”"
				if f != nil {
					levels[i] = "“" + f.DisplayLevel(lang, l) + "”"
				}
			}
			part = name + ": " + joinOr(levels, w.or)
		case c.Low != nil && c.High != nil && *c.Low == *c.High:
			part = fmt.Sprintf(w.exactly, name, withUnit(exactNumber(*c.Low), unit))
		case c.Low != nil && c.High != nil:
			part = fmt.Sprintf(w.between, name, exactNumber(*c.Low), withUnit(exactNumber(*c.High), unit))
		default:
			part = name
		}
		parts = append(parts, part)
	}
	return w.prefix + strings.Join(parts, w.and) + w.suffix
}

func joinOr(s []string, or string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + or + s[len(s)-1]
}

func withUnit(s, unit string) string {
	if unit == "" {
		return s
	}
	return s + " " + unit
}

// exactNumber prints x with every digit it has and thousands separators.
func exactNumber(x float64) string {
	return grouped(x < 0, strconv.FormatFloat(math.Abs(x), 'f', -1, 64))
}

func lowerFirstRune(s string) string {
	if s != "" && s[0] < 0x80 {
		return strings.ToLower(s[:1]) + s[1:]
	}
	return s
}
