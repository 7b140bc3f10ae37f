package web

import "fmt"

// Languages of the applicant page. The audit page, read by supervisors,
// is English only.
const (
	English = "en"
	Spanish = "es"
)

// pageText holds the applicant page's fixed texts in one language. They
// are kept short and plain (tests hold them to a reading grade of 8).
type pageText struct {
	Skip, Footer, Title, Eyebrow                         string
	ScoreHeading, ScaleFmt, PDLabel                      string
	ReasonsHeading, NoReasons                            string
	ChartHeading, ChartIntro, ChartCaption, TableSummary string
	TableCaption, ColInfo, ColValue, ColEffect, ColSize  string
	LowersRisk, RaisesRisk                               string
	ChangeHeading, ChangeIntro, NoChange                 string
	CheckHeading, CheckIntro, CheckButton, NoScript      string
	MetaHeading, MetaNote, DecisionID, MadeOn, Model     string
	PolicyRevision, ReasonCodes, NotRecorded, NotGiven   string
}

func textFor(lang string) pageText {
	if lang == Spanish {
		return pageText{
			Skip: "Ir al contenido", Footer: "glassbox guarda cada decisión en un registro que usted puede revisar. Esta página funciona sin scripts. Solo la revisión del registro los necesita.",
			Title: "Su decisión de crédito", Eyebrow: "Decisión sobre su solicitud",
			ScoreHeading: "Su puntaje", ScaleFmt: "en una escala de %s a %s. Más alto es mejor.", PDLabel: "Posibilidad estimada de no pagar el préstamo:",
			ReasonsHeading: "Razones principales", NoReasons: "No se guardaron razones para esta decisión.",
			ChartHeading: "Lo que cambió su riesgo estimado",
			ChartIntro:   "Cada barra muestra cuánto un dato subió o bajó el riesgo estimado de no pagar. Se compara con una persona promedio. Las barras largas pesaron más.",
			ChartCaption: "Las barras rayadas a la derecha subieron su riesgo. Las barras lisas a la izquierda lo bajaron. El tamaño está en puntos del puntaje.",
			TableSummary: "Ver lo mismo en una tabla", TableCaption: "Efecto de cada dato en su riesgo estimado",
			ColInfo: "Dato", ColValue: "Su valor", ColEffect: "Efecto", ColSize: "Puntos",
			LowersRisk: "baja el riesgo", RaisesRisk: "sube el riesgo",
			ChangeHeading: "Lo que cambiaría la decisión", ChangeIntro: "Revisamos cada cambio con nuestro modelo y reglas de hoy, con el resto de su solicitud igual, en cada valor que nombra. No son una oferta de crédito:",
			NoChange:     "Revisamos los datos que usted puede cambiar, dentro de límites reales. Ningún cambio de ellos solo llevaría a la aprobación. Puede pedir al prestamista que revise la decisión.",
			CheckHeading: "Revise esta decisión en el registro",
			CheckIntro:   "El registro guarda un código sellado de esta decisión, no sus datos. Cualquiera puede ver que el código está ahí. Solo usted, el prestamista, un regulador y quienes operan este servicio pueden ver la decisión. Su navegador puede revisar que el código coincide con esta decisión.",
			CheckButton:  "Revisar esta decisión", NoScript: "La revisión necesita JavaScript. También puede revisar la prueba en %s/decisions/%s/proof con cualquier herramienta RFC 6962.",
			MetaHeading: "Referencia", MetaNote: "Estos códigos son para el personal del prestamista y para revisar el registro.",
			DecisionID: "Número de decisión", MadeOn: "Fecha", Model: "Modelo", PolicyRevision: "Versión de la política", ReasonCodes: "Códigos de razón",
			NotRecorded: "no guardado", NotGiven: "no indicado",
		}
	}
	return pageText{
		Skip: "Skip to content", Footer: "glassbox records every decision in a ledger you can check. This page works without scripts. Only the ledger check needs them.",
		Title: "Your credit decision", Eyebrow: "Decision on your application",
		ScoreHeading: "Your score", ScaleFmt: "on a scale from %s to %s. Higher is better.", PDLabel: "Estimated chance of not repaying the loan:",
		ReasonsHeading: "Main reasons", NoReasons: "No reasons were recorded for this decision.",
		ChartHeading: "What moved your estimated risk",
		ChartIntro:   "Each bar shows how much one fact raised or lowered our estimate of the risk that the loan is not repaid. We compare you with an average applicant. Longer bars mattered more.",
		ChartCaption: "Striped bars to the right raised your risk. Solid bars to the left lowered it. Sizes are in score points.",
		TableSummary: "Show the same facts as a table", TableCaption: "How each fact changed your estimated risk",
		ColInfo: "Fact", ColValue: "Your value", ColEffect: "Effect", ColSize: "Points",
		LowersRisk: "lowers risk", RaisesRisk: "raises risk",
		ChangeHeading: "What would change the decision", ChangeIntro: "We checked each of these changes against our current model and policy, with the rest of your application the same, at every value it names. They are not an offer of credit:",
		NoChange:     "We checked the facts you could change, within real limits. No change of them alone would lead to approval. You can ask the lender to review the decision.",
		CheckHeading: "Check this decision in the ledger",
		CheckIntro:   "The ledger keeps a sealed code for this decision, not your details. Anyone may see that the code is there. Only you, the lender, a regulator and the people who run this service can see the decision. Your browser can check that the code matches exactly this decision.",
		CheckButton:  "Check this decision", NoScript: "The check needs JavaScript. You can also check the proof at %s/decisions/%s/proof with any RFC 6962 tool.",
		MetaHeading: "Reference", MetaNote: "These codes are for the lender's staff and for checking the record.",
		DecisionID: "Decision number", MadeOn: "Made on", Model: "Model", PolicyRevision: "Policy revision", ReasonCodes: "Reason codes",
		NotRecorded: "not recorded", NotGiven: "not provided",
	}
}

func outcomeIn(lang, d string) outcomeView {
	if lang == Spanish {
		switch d {
		case OutcomeApprove:
			return outcomeView{"approve", "Aprobada", "Su solicitud fue aprobada."}
		case OutcomeRefer:
			return outcomeView{"refer", "Pasó a revisión", "Aún no hay una decisión final. Su solicitud no pasó la revisión automática y espera la revisión del prestamista. Este sistema no le envía la decisión final. Pregunte al prestamista por ella."}
		case OutcomeDecline:
			return outcomeView{"decline", "Rechazada", "Su solicitud fue rechazada. Abajo están las razones principales."}
		case "incomplete":
			// 12 CFR 1002.9(c): no decision; the reasons name what is missing.
			return outcomeView{"incomplete", "Incompleta", "No se tomó una decisión: a su solicitud le falta lo que se indica abajo."}
		}
		return outcomeView{"unknown", "Decisión guardada", "Se tomó una decisión sobre su solicitud."}
	}
	switch d {
	case OutcomeApprove:
		return outcomeView{"approve", "Approved", "Your application was approved."}
	case OutcomeRefer:
		return outcomeView{"refer", "Referred for review", "There is no final decision yet. Your application did not pass the automatic check and waits for the lender's review. This system does not send you the final decision. Ask the lender for it."}
	case OutcomeDecline:
		return outcomeView{"decline", "Declined", "Your application was declined. The main reasons are below."}
	case "incomplete":
		// 12 CFR 1002.9(c): no decision; the reasons name what is missing.
		return outcomeView{"incomplete", "Incomplete", "No decision was made. Your application is missing what is listed below."}
	}
	return outcomeView{"unknown", "Decision recorded", "A decision was made on your application."}
}

// chartWords are the chart's texts in one language.
type chartWords struct {
	Title, Raises, Lowers, None, Points, DescFmt, BarFmt string
}

func chartWordsFor(lang string) chartWords {
	if lang == Spanish {
		return chartWords{
			Title: "Cómo cada dato cambió su riesgo estimado", Raises: "sube el riesgo", Lowers: "baja el riesgo", None: "sin efecto", Points: "%d puntos",
			DescFmt: "Gráfico de barras de %d datos, primero el de mayor efecto. %d subieron su riesgo estimado de no pagar (barras rayadas a la derecha de la línea central) y %d lo bajaron (barras lisas a la izquierda). El tamaño está en puntos del puntaje.",
			BarFmt:  "%s (%s): %s, %s",
		}
	}
	return chartWords{
		Title: "How each fact moved your estimated risk", Raises: "raises risk", Lowers: "lowers risk", None: "no effect", Points: "%d points",
		DescFmt: "Bar chart of %d facts, largest effect first. %d raised your estimated risk of not repaying (striped bars to the right of the centre line) and %d lowered it (solid bars to the left). Sizes are in score points.",
		BarFmt:  "%s (%s): %s, %s",
	}
}

func gaugeLabel(lang, score, lo, hi string) string {
	if lang == Spanish {
		return fmt.Sprintf("Puntaje %s en una escala de %s a %s; más alto es mejor.", score, lo, hi)
	}
	return fmt.Sprintf("Score %s on a scale from %s to %s; higher is better.", score, lo, hi)
}
