package readability

import (
	"math"
	"testing"
)

func TestSyllables(t *testing.T) {
	en := map[string]int{"the": 1, "credit": 2, "applicant": 3, "make": 1, "table": 2, "used": 1, "decided": 3, "agency": 3, "you": 1, "every": 3}
	for w, want := range en {
		if got := EnglishSyllables(w); got != want {
			t.Errorf("English %q: %d syllables, want %d", w, got, want)
		}
	}
	es := map[string]int{"crédito": 3, "solicitud": 4, "decisión": 3, "agencia": 3, "país": 2, "leer": 2, "ciudad": 2, "ley": 1, "puntaje": 3, "información": 4}
	for w, want := range es {
		if got := SpanishSyllables(w); got != want {
			t.Errorf("Spanish %q: %d syllables, want %d", w, got, want)
		}
	}
}

// TestFormulas checks the formulas on texts whose counts are worked out
// by hand.
func TestFormulas(t *testing.T) {
	// 2 sentences, 9 words, 10 syllables (happy has two).
	text := "The cat sat on the mat. It was happy."
	want := 0.39*4.5 + 11.8*10.0/9 - 15.59
	if got := FleschKincaidGrade(text); math.Abs(got-want) > 1e-9 {
		t.Errorf("grade %v, want %v", got, want)
	}
	// A long sentence of long words reads far above grade 8.
	hard := "Notwithstanding the aforementioned considerations, the institution's determination regarding creditworthiness necessitated comprehensive evaluation of multidimensional characteristics."
	if g := FleschKincaidGrade(hard); g < 16 {
		t.Errorf("hard text grade %v", g)
	}
	// "El gato come." 1 sentence, 3 words, 1+2+2 = 5 syllables.
	wantES := 206.84 - 0.60*100*5/3 - 1.02*100*1/3
	if got := FernandezHuerta("El gato come."); math.Abs(got-wantES) > 1e-9 {
		t.Errorf("Fernández-Huerta %v, want %v", got, wantES)
	}
	if n := len(Sentences("Score 12.5 here. Next: one\nTwo")); n != 4 {
		t.Errorf("%d sentences", n)
	}
}
