// Package readability measures how hard a text is to read, for tests that
// hold consumer-facing wording to a reading level: the Flesch–Kincaid
// grade for English and the Fernández-Huerta ease for Spanish.
//
// Fernández-Huerta (1959) is the Flesch reading ease refitted to Spanish;
// its scale reads like Flesch's: 70–80 "fairly easy" (about seventh
// grade), 60–70 "standard" (eighth to ninth grade). It is used here
// rather than Szigriszt-Pazos because its published grade bands line up
// with the English grade 8 target.
package readability

import (
	"strings"
	"unicode"
)

// Stats are the counts both formulas use.
type Stats struct {
	Sentences, Words, Syllables int
}

// Sentences splits text into sentences: on . ! ? and line breaks (a list
// item or heading is a sentence of its own).
func Sentences(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		start := 0
		rs := []rune(line)
		for i, r := range rs {
			if r == '.' || r == '!' || r == '?' || r == ':' || r == ';' {
				// A full stop between digits (12.5) does not end a sentence.
				if r == '.' && i > 0 && i+1 < len(rs) && unicode.IsDigit(rs[i-1]) && unicode.IsDigit(rs[i+1]) {
					continue
				}
				if s := strings.TrimSpace(string(rs[start : i+1])); hasWord(s) {
					out = append(out, s)
				}
				start = i + 1
			}
		}
		if s := strings.TrimSpace(string(rs[start:])); hasWord(s) {
			out = append(out, s)
		}
	}
	return out
}

func hasWord(s string) bool { return len(Words(s)) > 0 }

// Words are the runs of letters (with inner apostrophes and hyphens) or
// digits.
func Words(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'' || r == '’' || r == '-')
	})
}

// Count computes the statistics of text with a syllable counter.
func Count(text string, syllables func(string) int) Stats {
	var st Stats
	for _, s := range Sentences(text) {
		st.Sentences++
		for _, w := range Words(s) {
			st.Words++
			st.Syllables += syllables(w)
		}
	}
	return st
}

// FleschKincaidGrade is 0.39 words/sentence + 11.8 syllables/word − 15.59.
func FleschKincaidGrade(text string) float64 {
	st := Count(text, EnglishSyllables)
	if st.Words == 0 {
		return 0
	}
	return 0.39*float64(st.Words)/float64(st.Sentences) + 11.8*float64(st.Syllables)/float64(st.Words) - 15.59
}

// FernandezHuerta is 206.84 − 0.60 P − 1.02 F, P syllables and F
// sentences per 100 words. Higher is easier.
func FernandezHuerta(text string) float64 {
	st := Count(text, SpanishSyllables)
	if st.Words == 0 {
		return 100
	}
	p := 100 * float64(st.Syllables) / float64(st.Words)
	f := 100 * float64(st.Sentences) / float64(st.Words)
	return 206.84 - 0.60*p - 1.02*f
}

// EnglishSyllables estimates a word's syllables: groups of vowels (y
// counting as one after a consonant), less a silent final e, at least one.
// Numbers count one syllable per digit group, roughly as spoken.
func EnglishSyllables(w string) int {
	w = strings.ToLower(strings.Trim(w, "'’-"))
	if w == "" {
		return 0
	}
	if unicode.IsDigit([]rune(w)[0]) {
		return max(1, (len(w)+2)/3)
	}
	vowel := func(r rune) bool { return strings.ContainsRune("aeiouy", r) }
	n, prev := 0, false
	rs := []rune(w)
	for _, r := range rs {
		v := vowel(r)
		if v && !prev {
			n++
		}
		prev = v
	}
	if len(rs) > 2 && rs[len(rs)-1] == 'e' && !vowel(rs[len(rs)-2]) && !(rs[len(rs)-2] == 'l' && !vowel(rs[len(rs)-3])) {
		n-- // silent e (make, state), but not -ble, -tle
	}
	if strings.HasSuffix(w, "ed") && len(rs) > 3 && !strings.ContainsRune("td", rs[len(rs)-3]) {
		n-- // -ed is silent after most consonants (used, asked)
	}
	return max(1, n)
}

// SpanishSyllables counts a Spanish word's syllables: vowel groups, where
// two strong vowels (a, e, o, or an accented í/ú) start a new syllable and
// a weak unaccented i/u joins its neighbour in a diphthong.
func SpanishSyllables(w string) int {
	w = strings.ToLower(w)
	if w == "" {
		return 0
	}
	if unicode.IsDigit([]rune(w)[0]) {
		return max(1, (len(w)+1)/2)
	}
	strong := func(r rune) bool { return strings.ContainsRune("aeoáéóíú", r) }
	weak := func(r rune) bool { return strings.ContainsRune("iuü", r) }
	n := 0
	var prev rune
	for i, r := range []rune(w) {
		switch {
		case !(strong(r) || weak(r)):
			prev = 0
			continue
		case prev == 0:
			n++
		case strong(r) && strong(prev):
			n++ // hiatus: le-er, pa-ís
		case weak(r) && weak(prev) && i > 0:
			// two weak vowels form a diphthong (ui, iu)
		}
		prev = r
	}
	return max(1, n)
}
