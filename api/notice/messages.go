package notice

import "fmt"

// SpecimenMark heads every notice while the creditor is not configured.
// It is the same in every language so operators can search for it.
const SpecimenMark = "SPECIMEN — creditor not configured"

// messages are a notice's fixed texts in one language. Sentences aimed at
// the applicant are kept short and in plain words (the tests hold them to
// a reading grade of 8); the legal statements are also given in the
// regulation's own wording, marked as such.
type messages struct {
	Lang, Title, Specimen, SpecimenNote                          string
	Date, From, ActionHeading, ReasonsHeading, ReferReasonsHead  string
	ScoreHeading, ScoreUsed, YourScore, ScoreRangeLabel          string
	ScoreDate, ScoreBy, KeyFactors, NoRange                      string
	ReconHeading, DefaultRecon, CheckHeading, Check              string
	RecourseHeading, RecourseNote, NeededHeading                 string
	FCRAHeading, FCRAUsed, FCRAFacts, FCRANotDecided             string
	FCRAFreeReport, FCRADispute, CRAName, CRAAddress, CRAPhone   string
	ECOAHeading, ECOAPlain, LawWords, ECOALegal, AgencyIntro     string
	ReferenceHeading, ReferenceNote, DecisionNumber, Application string
	ReasonCodes, Model, ModelHash, PolicyRevision, NotSet        string
}

func messagesFor(lang string) messages {
	if lang == Spanish {
		return spanish()
	}
	return english()
}

// The ECOA statement of §1002.9(b)(1), in the regulation's words.
const ecoaLegalEN = "The Federal Equal Credit Opportunity Act prohibits creditors from discriminating against credit applicants on the basis of race, color, religion, national origin, sex, marital status, age (provided the applicant has the capacity to enter into a binding contract); because all or part of the applicant's income derives from any public assistance program; or because the applicant has in good faith exercised any right under the Consumer Credit Protection Act."

func english() messages {
	return messages{
		Lang:             English,
		Title:            "Notice of action taken on your credit application",
		Specimen:         SpecimenMark,
		SpecimenNote:     "This is a sample, not a real notice. The lender has not yet set its name, its address and its federal agency.",
		Date:             "Date",
		From:             "From",
		ActionHeading:    "What we decided",
		ReasonsHeading:   "The main reasons for our decision",
		ReferReasonsHead: "The main reasons it did not pass the automatic check",
		ScoreHeading:     "Your credit score",
		ScoreUsed:        "We used a credit score to decide on your application.",
		YourScore:        "Your score",
		ScoreRangeLabel:  "Possible scores",
		ScoreDate:        "Date of the score",
		ScoreBy:          "Who made the score",
		KeyFactors:       "The main things that lowered your score:",
		NoRange:          "not known for this model",
		ReconHeading:     "How to ask us to look again",
		DefaultRecon:     "Write to us at the address above within 60 days. Give the decision number from the reference part at the end. Tell us about any facts you think were wrong or missing.",
		NeededHeading:    "Information we need",
		RecourseHeading:  "What would have changed the decision",
		RecourseNote:     "Your decision page may show changes that would have led to approval under our current model and policy. They are not an offer of credit. They are not a promise that you will be approved.",
		CheckHeading:     "Checking this decision",
		Check:            "We wrote a sealed code for this decision into a ledger. The ledger holds no details about you. Only you, the lender, a regulator and the people who run this service can see the decision and its reasons. The ledger shows if anyone changes a record later. You can check the record with the decision number.",
		FCRAHeading:      "Your rights about your consumer report",
		FCRAUsed:         "We used facts from a consumer report to make our decision. The report came from this consumer reporting agency:",
		FCRAFacts:        "The facts we used from the report:",
		FCRANotDecided:   "The agency did not make this decision. It cannot tell you why we made it.",
		FCRAFreeReport:   "You have the right to get a free copy of your report from the agency. Ask for it within 60 days after you get this notice.",
		FCRADispute:      "You have the right to tell the agency if facts in your report are wrong or not complete. The agency must look into it.",
		CRAName:          "Name",
		CRAAddress:       "Address",
		CRAPhone:         "Free phone",
		ECOAHeading:      "Your rights under the Equal Credit Opportunity Act",
		ECOAPlain:        "A federal law protects you. Lenders may not treat you worse because of your race, color, religion, national origin, sex, marital status, or age. Age counts if you are old enough to sign a contract. They may not treat you worse because some of your income comes from public aid. They also may not do so because you used your rights under consumer credit law in good faith.",
		LawWords:         "The law's own words:",
		ECOALegal:        ecoaLegalEN,
		AgencyIntro:      "The federal agency that checks that this lender obeys this law is:",
		ReferenceHeading: "Reference",
		ReferenceNote:    "These codes are for the lender's staff and for checking the record. You do not need them to read this notice.",
		DecisionNumber:   "Decision number",
		Application:      "Application",
		ReasonCodes:      "Reason codes",
		Model:            "Scoring model",
		ModelHash:        "Model SHA-256",
		PolicyRevision:   "Policy revision",
		NotSet:           "not set",
	}
}

func spanish() messages {
	return messages{
		Lang:             Spanish,
		Title:            "Aviso sobre su solicitud de crédito",
		Specimen:         SpecimenMark + " (MUESTRA: acreedor sin configurar)",
		SpecimenNote:     "Esto es una muestra. No es un aviso real. El prestamista aún no puso su nombre, su dirección ni su agencia federal.",
		Date:             "Fecha",
		From:             "De",
		ActionHeading:    "Lo que decidimos",
		ReasonsHeading:   "Las razones principales de la decisión",
		ReferReasonsHead: "Las razones principales por las que no pasó la revisión automática",
		ScoreHeading:     "Su puntaje de crédito",
		ScoreUsed:        "Usamos un puntaje de crédito para decidir sobre su solicitud.",
		YourScore:        "Su puntaje",
		ScoreRangeLabel:  "Puntajes posibles",
		ScoreDate:        "Fecha del puntaje",
		ScoreBy:          "Quién hizo el puntaje",
		KeyFactors:       "Lo que más bajó su puntaje:",
		NoRange:          "no se conoce para este modelo",
		ReconHeading:     "Cómo pedir que lo veamos otra vez",
		DefaultRecon:     "Escríbanos a la dirección de arriba antes de 60 días. Dé el número de decisión que está en la parte final. Cuéntenos qué datos cree que estaban mal o faltaban.",
		NeededHeading:    "Datos que necesitamos",
		RecourseHeading:  "Lo que habría cambiado la decisión",
		RecourseNote:     "Su página de decisión puede mostrar cambios que habrían llevado a la aprobación con nuestro modelo y reglas de hoy. No son una oferta de crédito. No son una promesa de aprobación.",
		CheckHeading:     "Cómo revisar esta decisión",
		Check:            "Guardamos un código sellado de esta decisión en un registro. El registro no guarda datos sobre usted. Solo usted, el prestamista, un regulador y quienes operan este servicio pueden ver la decisión y sus razones. El registro muestra si alguien cambia algo más tarde. Puede revisarlo con el número de decisión.",
		FCRAHeading:      "Sus derechos sobre su informe de crédito",
		FCRAUsed:         "Usamos datos de un informe de crédito para decidir. El informe vino de esta agencia de informes de crédito:",
		FCRAFacts:        "Los datos que usamos del informe:",
		FCRANotDecided:   "La agencia no tomó esta decisión. No puede decirle por qué la tomamos.",
		FCRAFreeReport:   "Tiene derecho a una copia gratis de su informe. Pídala a la agencia antes de 60 días desde que reciba este aviso.",
		FCRADispute:      "Tiene derecho a decirle a la agencia si hay datos malos o incompletos en su informe. La agencia debe revisarlos.",
		CRAName:          "Nombre",
		CRAAddress:       "Dirección",
		CRAPhone:         "Teléfono gratis",
		ECOAHeading:      "Sus derechos según la Ley de Igualdad de Oportunidades de Crédito",
		ECOAPlain:        "Una ley federal lo protege. Los prestamistas no pueden tratarlo peor por su raza, color, religión, origen, sexo, estado civil o edad. La edad cuenta si puede firmar un contrato. No pueden tratarlo peor porque parte de su ingreso viene de ayuda pública. Tampoco pueden hacerlo porque usó de buena fe sus derechos de crédito.",
		LawWords:         "Las palabras de la ley (en inglés):",
		ECOALegal:        ecoaLegalEN,
		AgencyIntro:      "La agencia federal que vigila que este prestamista cumpla esta ley es:",
		ReferenceHeading: "Referencia",
		ReferenceNote:    "Estos códigos son para el personal del prestamista y para revisar el registro. No los necesita para leer este aviso.",
		DecisionNumber:   "Número de decisión",
		Application:      "Solicitud",
		ReasonCodes:      "Códigos de razón",
		Model:            "Modelo de puntaje",
		ModelHash:        "SHA-256 del modelo",
		PolicyRevision:   "Versión de la política",
		NotSet:           "sin configurar",
	}
}

// actionText states the action taken (§1002.9(a)(2)(i)) in lang.
func actionText(lang, decision string) (string, bool) {
	es := lang == Spanish
	switch decision {
	case "approve":
		return pick(es, "We approved your application for credit.", "Aprobamos su solicitud de crédito."), true
	case "refer":
		return pick(es, "We have not made a final decision on your application yet.", "Aún no tomamos una decisión final sobre su solicitud."), true
	case "decline":
		return pick(es, "We cannot approve your application for credit on the terms you asked for.", "No podemos aprobar su solicitud de crédito en los términos que pidió."), true
	case "incomplete":
		// 12 CFR 1002.9(c)(2): a notice of incompleteness, no decision.
		return pick(es, "Your application is missing some facts, so we have not made a decision on it. Please send us what is listed below within 30 days of the date of this notice. If you do not, we cannot look at your application further.", "A su solicitud le faltan datos, así que no tomamos una decisión. Envíenos lo que se indica abajo antes de 30 días desde la fecha de este aviso. Si no lo hace, no podremos seguir revisando su solicitud."), true
	}
	return "", false
}

// referSteps say exactly what happens after a referral. glassbox records
// the referral and does nothing more: it neither reviews the application
// nor sends the final decision, so these sentences promise neither.
func referSteps(lang, creditor string) []string {
	if lang == Spanish {
		return []string{
			"Su solicitud no pasó nuestra revisión automática. Ahora espera que una persona de " + creditor + " la revise.",
			"Este sistema no le envía la decisión final. " + creditor + " debe darle su decisión. La ley le da 30 días desde que su solicitud está completa.",
			"Para preguntar por su solicitud, escriba a " + creditor + " a la dirección de arriba. Dé el número de decisión que está en la parte final.",
		}
	}
	return []string{
		"Your application did not pass our automatic check. It now waits for a person at " + creditor + " to review it.",
		"This system does not send you the final decision. " + creditor + " must tell you its decision. The law gives it 30 days from when your application is complete.",
		"To ask about your application, write to " + creditor + " at the address above. Give the decision number from the reference part at the end.",
	}
}

// rangeText describes the score range.
func rangeText(lang string, lo, hi string) string {
	if lang == Spanish {
		return fmt.Sprintf("De %s a %s. Un puntaje más alto indica menos riesgo. Con este modelo nadie obtiene un puntaje fuera de este rango.", lo, hi)
	}
	return fmt.Sprintf("From %s to %s. A higher score means less risk. No one gets a score outside this range from this model.", lo, hi)
}

// scoreByText names who provided the score (FCRA §609(f)(1)(E)).
func scoreByText(lang, creditor string) string {
	if lang == Spanish {
		return creditor + ", con su propio modelo de puntaje."
	}
	return creditor + ", with its own scoring model."
}

func pick(es bool, en, spanish string) string {
	if es {
		return spanish
	}
	return en
}
