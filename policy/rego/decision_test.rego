package glassbox.decision_test

import data.glassbox.decision

# Candidate reasons as the engine passes them: verified feature reasons
# with their baseline contributions, most important first, then the
# fallback.
reasons := [
	{"code": "R01", "feature": "Income", "meaning": "income", "contribution": 0.9, "direction": "increase", "fallback": false},
	{"code": "R02", "feature": "Debt", "meaning": "debt", "contribution": 0.5, "direction": "decrease", "fallback": false},
	{"code": "R03", "feature": "Seniority", "meaning": "employment_seniority", "contribution": 0.3, "direction": "increase", "fallback": false},
	{"code": "R04", "feature": "Records", "meaning": "credit_records", "contribution": 0.2, "direction": "other", "fallback": false},
	{"code": "R05", "feature": "Amount", "meaning": "requested_amount", "contribution": 0.1, "direction": "decrease", "fallback": false},
]

fallback := {"code": "R00", "feature": null, "meaning": "", "contribution": null, "direction": null, "fallback": true}

reason(code, feature, meaning) := {"code": code, "feature": feature, "meaning": meaning, "contribution": 1, "direction": "increase", "fallback": false}

app(pd, amount) := {
	"model_id": "credit-risk-v1",
	"probability_of_default": pd,
	"score": 600,
	"features": {"Amount": amount, "Income": 130},
	"reasons": array.concat(reasons, [fallback]),
}

amount_reason := {"code": "P01", "text": data.rulebook["DEC-REFER-AMOUNT"].reason_text, "rule": "DEC-REFER-AMOUNT", "feature": null}

ids(findings) := {f.id | some f in findings}

test_approve_below_cutoff if {
	o := decision.outcome with input as app(0.10, 1000)
	o.decision == "approve"
	ids(o.rules) == {"DEC-APPROVE"}
	o.reasons == []
	count(o.violations) == 0
}

test_refer_within_margin_of_cutoff if {
	o := decision.outcome with input as app(0.235, 1000)
	o.decision == "refer"
	ids(o.rules) == {"DEC-APPROVE", "DEC-REFER-MARGIN", "DEC-REASONS"}
	o.reasons == array.slice(reasons, 0, 4)
}

test_refer_between_cutoffs if {
	o := decision.outcome with input as app(0.25, 1000)
	o.decision == "refer"
	ids(o.rules) == {"DEC-REFER-BAND", "DEC-REASONS"}
	o.reasons == array.slice(reasons, 0, 4)
}

test_decline_at_cutoff if {
	o := decision.outcome with input as app(0.50, 1000)
	o.decision == "decline"
	ids(o.rules) == {"DEC-DECLINE", "DEC-REASONS"}
	count(o.reasons) == 4
	some f in o.rules
	f.id == "DEC-REASONS"
	contains(f.citation, "1002.9(b)(2)")
}

test_large_amount_referred if {
	o := decision.outcome with input as app(0.05, 4001)
	o.decision == "refer"
	ids(o.rules) == {"DEC-APPROVE", "DEC-REFER-AMOUNT", "DEC-REASONS"}
	at_limit := decision.outcome with input as app(0.05, 4000)
	at_limit.decision == "approve"
}

# Referred only for its amount: the rule is the reason, the model's
# factors are not (the model would have approved).
test_amount_referral_names_the_rule_only if {
	o := decision.outcome with input as app(0.05, 4001)
	o.reasons == [amount_reason]
	amount_reason.text != ""

	# Needs no explanation: the caller is not asked for candidates.
	first := decision.outcome with input as object.remove(app(0.05, 4001), ["reasons"])
	first.reasons_needed == false
	first.reasons == [amount_reason]
	count(first.violations) == 0
}

# Referred by both the amount rule and the model: the rule reason first,
# then the model's, four in all.
test_rule_reason_comes_first if {
	o := decision.outcome with input as app(0.3, 4001)
	o.reasons == array.concat([amount_reason], array.slice(reasons, 0, 3))
}

test_model_driven_adverse_asks_for_reasons if {
	o := decision.outcome with input as object.remove(app(0.3, 1000), ["reasons"])
	o.decision == "refer"
	o.reasons_needed == true
	o.reasons == []
	count(o.violations) == 0
	again := decision.outcome with input as app(0.3, 1000)
	again.reasons_needed == false
	count(again.reasons) == 4
}

test_materiality_floor_and_no_padding if {
	# Two of five at or above a floor of 0.4: two reasons, not four.
	o := decision.outcome with input as app(0.6, 1000)
		with data.config.decision.models["credit-risk-v1"].materiality_floor as 0.4
	o.reasons == array.slice(reasons, 0, 2)

	# The default floor is 0.05.
	small := [object.union(r, {"contribution": 0.049}) | some r in reasons]
	o2 := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": array.concat(small, [fallback])})
		with data.config.decision.models["credit-risk-v1"] as object.remove(data.config.decision.models["credit-risk-v1"], ["materiality_floor"])
	o2.reasons == [fallback]
	count(o2.violations) == 0
}

test_fallback_only_when_nothing_is_material if {
	o := decision.outcome with input as app(0.6, 1000)
	not fallback in o.reasons
	o2 := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": [fallback]})
	o2.reasons == [fallback]
	count(o2.violations) == 0
}

test_incomplete_application if {
	params := object.union(data.config.decision.models["credit-risk-v1"], {"required_features": ["Income", "Debt"]})
	x := object.union(app(0.6, 1000), {"features": {"Amount": 1000, "Income": null}})
	o := decision.outcome with input as x with data.config.decision.models["credit-risk-v1"] as params
	o.decision == "incomplete"
	o.reasons == [{"code": "P02", "text": "Credit application incomplete", "rule": "DEC-INCOMPLETE", "feature": null}]
	some f in o.rules
	f.id == "DEC-INCOMPLETE"
	f.features == ["Income", "Debt"]
	contains(f.citation, "1002.9(c)")
	count(o.violations) == 0
	o.reasons_needed == false

	# With everything required present, the model decides.
	full := object.union(app(0.6, 1000), {"features": {"Amount": 1000, "Income": 1, "Debt": 0}})
	decided := decision.outcome with input as full with data.config.decision.models["credit-risk-v1"] as params
	decided.decision == "decline"
}

test_large_amount_never_softens_a_decline if {
	o := decision.outcome with input as app(0.70, 9000)
	o.decision == "decline"
}

test_amount_must_be_a_number if {
	o := decision.outcome with input as app(0.05, "lots")
	o.decision == "approve"
}

test_thresholds_come_from_data if {
	o := decision.outcome with input as app(0.10, 1000)
		with data.config.decision.models["credit-risk-v1"].approve_below as 0.05
	o.decision == "refer"
}

test_unknown_model_rejected if {
	o := decision.outcome with input as object.union(app(0.1, 1000), {"model_id": "nope"})
	ids(o.violations) == {"DEC-UNKNOWN-MODEL"}
	o.decision == ""
}

invalid_pd_ids(x) := ids(o.violations) if {
	o := decision.outcome with input as x
}

test_invalid_pd_rejected if {
	invalid_pd_ids(app(1.5, 1000)) == {"DEC-PD-INVALID"}
	invalid_pd_ids(app(-0.1, 1000)) == {"DEC-PD-INVALID"}
	invalid_pd_ids(app("0.3", 1000)) == {"DEC-PD-INVALID"}
	invalid_pd_ids(object.remove(app(0.3, 1000), ["probability_of_default"])) == {"DEC-PD-INVALID"}
}

test_adverse_without_reasons_rejected if {
	o := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": []})
	o.decision == "decline"
	ids(o.violations) == {"DEC-REASONS-MISSING"}
}

test_approval_needs_no_reasons if {
	o := decision.outcome with input as object.union(app(0.1, 1000), {"reasons": []})
	count(o.violations) == 0
}

test_incomplete_reasons_rejected if {
	rs := [reason("", "Income", "income"), reason("R02", "", ""), reason("R03", null, "")]
	o := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": rs})
	ids(o.violations) == {"DEC-REASON-INCOMPLETE"}
	count(o.violations) == 3
}

test_prohibited_reason_rejected if {
	rs := [reason("R01", "Income", "income"), reason("R09", "Marital", "marital_status"), reason("R10", "X", "Sex")]
	o := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": rs})
	ids(o.violations) == {"DEC-PROHIBITED-REASON"}
	{f.features[0] | some f in o.violations} == {"Marital", "X"}
	every f in o.violations {
		contains(f.citation, "1002.6(b)(1)")
	}
}

test_prohibited_reason_beyond_the_fourth_is_not_disclosed_and_not_checked if {
	rs := array.concat(array.slice(reasons, 0, 4), [reason("R09", "Marital", "marital_status")])
	o := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": rs})
	count(o.violations) == 0
	count(o.reasons) == 4
}

# outcome takes a fast path for clean inputs; full_outcome evaluates every
# rule. They must agree on every input, clean or not.
grid_inputs := [x |
	some pd in [-0.1, 0, 0.1, 0.229, 0.23, 0.235, 0.25, 0.31, 0.4999, 0.5, 0.7, 1, 1.5, "0.3", null]
	some amount in [1000, 4000, 4001, "lots"]
	some rs in [
		reasons,
		[],
		[fallback],
		array.slice(reasons, 0, 1),
		[reason("", "Income", "income")],
		[reason("R01", "", "")],
		[reason("R01", "Income", "marital_status")],
		[{"code": "R01", "feature": "Income"}],
		array.concat([reason("R09", "Marital", "marital_status")], reasons),
		array.concat(array.slice(reasons, 0, 4), [reason("R09", "Sex", "sex")]),
		null,
	]
	some model in ["credit-risk-v1", "nope"]
	some income in [130, null]
	base := {"model_id": model, "probability_of_default": pd, "score": 600, "features": {"Amount": amount, "Income": income}}
	x := object.union(base, {k: rs | k := "reasons"; rs != null})
]

# What the engine records for the default model when it admits it (see
# reasons in admission.rego), for the reasons above.
admitted := {"credit-risk-v1": {"reasons": {{"code": r.code, "feature": r.feature, "meaning": r.meaning} | some r in reasons}}}

grid_params := object.union(data.config.decision.models["credit-risk-v1"], {"required_features": ["Income"]})

test_fast_path_agrees_with_full_evaluation if {
	count(grid_inputs) > 1000
	# Income is required (grid_params) where it is missing, so that both
	# incomplete applications and complete ones are on the grid.
	disagreements := [x |
		some x in grid_inputs
		params := {true: grid_params, false: data.config.decision.models["credit-risk-v1"]}[x.features.Income == null]
		fast := decision.outcome with input as x with data.config.decision.models["credit-risk-v1"] as params with data.admitted as admitted
		full := decision.full_outcome with input as x with data.config.decision.models["credit-risk-v1"] as params with data.admitted as admitted
		fast != full
	]
	disagreements == []
}

test_fast_path_taken_for_clean_inputs if {
	decision.fast_outcome with input as app(0.1, 1000)
	decision.fast_outcome with input as object.remove(app(0.31, 1000), ["reasons"])
	decision.fast_outcome with input as app(0.05, 4001)
	decision.fast_outcome with input as app(0.31, 1000) with data.admitted as admitted
	decision.fast_outcome with input as object.union(app(0.31, 1000), {"reasons": [fallback]}) with data.admitted as admitted

	# Candidates admission did not record (or none at all) take the
	# full evaluation.
	not decision.fast_outcome with input as app(0.31, 1000)
	relabelled := [object.union(reasons[0], {"meaning": "marital_status"})]
	not decision.fast_outcome with input as object.union(app(0.31, 1000), {"reasons": relabelled}) with data.admitted as admitted
	recoded := [object.union(reasons[0], {"code": "R99"})]
	not decision.fast_outcome with input as object.union(app(0.31, 1000), {"reasons": recoded}) with data.admitted as admitted
	not decision.fast_outcome with input as object.union(app(0.31, 1000), {"reasons": []}) with data.admitted as admitted
	not decision.fast_outcome with input as object.union(app(0.1, 1000), {"model_id": "nope"})
	not decision.fast_outcome with input as object.union(app(0.1, 1000), {"features": {"Amount": 1000, "Income": null}})
		with data.config.decision.models["credit-risk-v1"] as grid_params
}

test_fast_path_needs_numbers_and_ordered_cutoffs if {
	not decision.fast_outcome with input as app(0.1, "lots")
	not decision.fast_outcome with input as app("0.1", 1000)
}

# Cut-offs in the wrong order, or not numbers at all, are a policy error,
# but the hot path must still agree with the rules.
test_fast_path_agrees_with_full_evaluation_on_odd_cutoffs if {
	disagreements := [[cutoffs, pd] |
		some cutoffs in [
			{"approve_below": 0.4, "decline_at": 0.2},
			{"approve_below": 0.3, "decline_at": 0.3},
			{"approve_below": "0.3", "decline_at": 0.5},
			{"approve_below": 0.25, "decline_at": null},
		]
		some pd in [0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 1]
		params := object.union(data.config.decision.models["credit-risk-v1"], cutoffs)
		x := app(pd, 1000)
		fast := decision.outcome with input as x with data.admitted as admitted
			with data.config.decision.models["credit-risk-v1"] as params
		full := decision.full_outcome with input as x with data.admitted as admitted
			with data.config.decision.models["credit-risk-v1"] as params
		fast != full
	]
	disagreements == []
}

# reasons_outcome answers the second evaluation of an outcome adverse
# because of the model from the first one's decision and rules. Wherever it
# is defined it must equal the full evaluation of the input with candidates.
reasons_outcome_input(x, prior) := object.union(x, {"prior": {"decision": prior.decision, "rules": prior.rules}})

test_reasons_outcome_agrees_with_full_evaluation if {
	second := [x |
		some x in grid_inputs
		"reasons" in object.keys(x)
		params := {true: grid_params, false: data.config.decision.models["credit-risk-v1"]}[x.features.Income == null]
		prior := decision.outcome with input as object.remove(x, ["reasons"]) with data.config.decision.models["credit-risk-v1"] as params
		prior.reasons_needed
	]
	# The grid has second evaluations, and the rule answers for some.
	count(second) > 100
	answered := [x |
		some x in second
		prior := decision.outcome with input as object.remove(x, ["reasons"])
		decision.reasons_outcome with input as reasons_outcome_input(x, prior) with data.admitted as admitted
	]
	count(answered) > 50
	disagreements := [x |
		some x in second
		params := {true: grid_params, false: data.config.decision.models["credit-risk-v1"]}[x.features.Income == null]
		prior := decision.outcome with input as object.remove(x, ["reasons"]) with data.config.decision.models["credit-risk-v1"] as params
		fast := decision.reasons_outcome with input as reasons_outcome_input(x, prior) with data.config.decision.models["credit-risk-v1"] as params with data.admitted as admitted
		full := decision.full_outcome with input as x with data.config.decision.models["credit-risk-v1"] as params with data.admitted as admitted
		fast != full
	]
	disagreements == []
}

test_reasons_outcome_needs_the_prior_of_the_same_verdict if {
	x := app(0.31, 1000)
	prior := decision.outcome with input as object.remove(x, ["reasons"])
	prior.reasons_needed
	decision.reasons_outcome with input as reasons_outcome_input(x, prior) with data.admitted as admitted

	# A prior of another verdict, none at all, or candidates admission did
	# not record: no answer, and the engine evaluates outcome.
	declined := decision.outcome with input as object.remove(app(0.7, 1000), ["reasons"])
	not decision.reasons_outcome with input as reasons_outcome_input(x, declined) with data.admitted as admitted
	not decision.reasons_outcome with input as x with data.admitted as admitted
	not decision.reasons_outcome with input as reasons_outcome_input(x, prior)

	# An approval never needs a second evaluation.
	approved := decision.outcome with input as object.remove(app(0.1, 1000), ["reasons"])
	not decision.reasons_outcome with input as reasons_outcome_input(app(0.1, 1000), approved) with data.admitted as admitted
}
