package glassbox.decision_test

import data.glassbox.decision

reasons := [
	{"code": "R01", "feature": "Income", "meaning": "income"},
	{"code": "R02", "feature": "Debt", "meaning": "debt"},
	{"code": "R03", "feature": "Seniority", "meaning": "employment_seniority"},
	{"code": "R04", "feature": "Records", "meaning": "credit_records"},
	{"code": "R05", "feature": "Amount", "meaning": "requested_amount"},
]

app(pd, amount) := {
	"model_id": "credit-risk-v1",
	"probability_of_default": pd,
	"score": 600,
	"features": {"Amount": amount, "Income": 130},
	"reasons": reasons,
}

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
	o2 := decision.outcome with input as object.remove(app(0.3, 1000), ["reasons"])
	ids(o2.violations) == {"DEC-REASONS-MISSING"}
}

test_approval_needs_no_reasons if {
	o := decision.outcome with input as object.union(app(0.1, 1000), {"reasons": []})
	count(o.violations) == 0
}

test_incomplete_reasons_rejected if {
	rs := [{"code": "", "feature": "Income", "meaning": "income"}, {"code": "R02", "feature": "", "meaning": ""}]
	o := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": rs})
	ids(o.violations) == {"DEC-REASON-INCOMPLETE"}
	count(o.violations) == 2
}

test_prohibited_reason_rejected if {
	rs := [{"code": "R01", "feature": "Income", "meaning": "income"}, {"code": "R09", "feature": "Marital", "meaning": "marital_status"}, {"code": "R10", "feature": "X", "meaning": "Sex"}]
	o := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": rs})
	ids(o.violations) == {"DEC-PROHIBITED-REASON"}
	{f.features[0] | some f in o.violations} == {"Marital", "X"}
	every f in o.violations {
		contains(f.citation, "1002.6(b)(1)")
	}
}

test_prohibited_reason_beyond_the_fourth_is_not_disclosed_and_not_checked if {
	rs := array.concat(array.slice(reasons, 0, 4), [{"code": "R09", "feature": "Marital", "meaning": "marital_status"}])
	o := decision.outcome with input as object.union(app(0.6, 1000), {"reasons": rs})
	count(o.violations) == 0
	count(o.reasons) == 4
}

# What the engine records for the default model when it admits it (see
# reasons in admission.rego), for the reasons above.
admitted := {"credit-risk-v1": {"reasons": {r | some r in reasons}}}

# outcome takes a fast path for clean inputs; full_outcome evaluates every
# rule. They must agree on every input, clean or not, admitted or not.
grid_inputs := [x |
	some pd in [-0.1, 0, 0.1, 0.229, 0.23, 0.235, 0.25, 0.31, 0.4999, 0.5, 0.7, 1, 1.5, "0.3", null]
	some amount in [1000, 4000, 4001, "lots"]
	some rs in [
		reasons,
		[],
		array.slice(reasons, 0, 1),
		[{"code": "", "feature": "Income", "meaning": "income"}],
		[{"code": "R01", "feature": "", "meaning": ""}],
		[{"code": "R01", "feature": "Income", "meaning": "marital_status"}],
		[{"code": "R01", "feature": "Income"}],
		array.concat([{"code": "R09", "feature": "Marital", "meaning": "marital_status"}], reasons),
		array.concat(array.slice(reasons, 0, 4), [{"code": "R09", "feature": "Sex", "meaning": "sex"}]),
	]
	some model in ["credit-risk-v1", "nope"]
	x := {"model_id": model, "probability_of_default": pd, "score": 600, "features": {"Amount": amount}, "reasons": rs}
]

test_fast_path_agrees_with_full_evaluation if {
	count(grid_inputs) > 1000
	disagreements := [x |
		some x in grid_inputs
		fast := decision.outcome with input as x with data.admitted as admitted
		full := decision.full_outcome with input as x with data.admitted as admitted
		fast != full
	]
	disagreements == []
}

test_fast_path_taken_only_for_vetted_reasons if {
	decision.fast_outcome with input as app(0.31, 1000) with data.admitted as admitted
	not decision.fast_outcome with input as app(0.31, 1000)
	relabelled := [{"code": "R01", "feature": "Income", "meaning": "marital_status"}]
	not decision.fast_outcome with input as object.union(app(0.31, 1000), {"reasons": relabelled}) with data.admitted as admitted
	recoded := [{"code": "R99", "feature": "Income", "meaning": "income"}]
	not decision.fast_outcome with input as object.union(app(0.31, 1000), {"reasons": recoded}) with data.admitted as admitted

	# An approval discloses no reasons: fast whatever the candidates.
	decision.fast_outcome with input as app(0.1, 1000)
	decision.fast_outcome with input as object.union(app(0.1, 1000), {"reasons": relabelled})
	not decision.fast_outcome with input as object.union(app(0.1, 1000), {"model_id": "nope"})

	# Referred for its amount, it discloses reasons again.
	not decision.fast_outcome with input as object.union(app(0.1, 9000), {"reasons": relabelled}) with data.admitted as admitted
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
