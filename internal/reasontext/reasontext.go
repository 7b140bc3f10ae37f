// Package reasontext translates the reasons that name no feature — the
// shipped rulebook's rule reasons and the explainer's fallback — for
// notices and pages in other languages. Feature reasons are translated by
// their manifest's display texts; these have no manifest.
//
// A translation is given only when both the code and the recorded English
// text are exactly the shipped ones, so a custom rulebook that reuses a
// code with another meaning is shown as recorded, never mistranslated.
package reasontext

// translation is one shipped reason in English and its translations.
type translation struct {
	code, english string
	other         map[string]string
}

func shipped() []translation {
	return []translation{
		{"P01", "Amount of credit requested is above the limit for automatic approval",
			map[string]string{"es": "La suma pedida supera el límite para la aprobación automática"}},
		{"P02", "Credit application incomplete",
			map[string]string{"es": "Solicitud de crédito incompleta"}},
		{"R00", "No single factor, changed to that of the applicants we compare with, would lower the estimated risk; the risk comes from the combination of the application's factors",
			map[string]string{"es": "Ningún dato por sí solo, cambiado al de los solicitantes con que comparamos, bajaría el riesgo estimado; el riesgo viene de la combinación de los datos de la solicitud"}},
	}
}

// Translate returns the reason's text in lang, or text itself when lang is
// English, the reason is not a shipped one, or it has no translation.
func Translate(lang, code, text string) string {
	for _, t := range shipped() {
		if t.code == code && t.english == text {
			if s, ok := t.other[lang]; ok {
				return s
			}
		}
	}
	return text
}
