# METADATA
# title: Decision rules
# description: >-
#   Turns a model's probability of default into approve, refer (human
#   review), decline or incomplete, and chooses the principal reasons an
#   adverse outcome carries. Input: {"model_id", "probability_of_default",
#   "score", "features": {name: value}, "reasons": [{"code", "feature",
#   "meaning", "contribution", "direction", "fallback"}]} with candidate
#   reasons ranked most important first. "reasons" is absent on the first
#   evaluation of an application: candidate reasons cost a baseline
#   explanation, which the caller computes only when the outcome answers
#   "reasons_needed": true, and then evaluates again with them (the
#   engine asks reasons_outcome, with the first outcome's decision and
#   rules, and outcome only when that gives no answer). A violation means
#   the decision must not be issued.
package glassbox.decision

import data.config.decision as cfg
import data.glassbox.lib

# The engine passes a PD in [0, 1] truncated toward zero to 15 significant
# digits (OPA compares longer numbers through math/big, slowly). That keeps
# pd < t and pd >= t exactly as for the full value for every cut-off t with
# at most 15 decimals, so cut-off rules are written in those two forms.

params := cfg.models[input.model_id]

valid_pd if {
	is_number(input.probability_of_default)
	input.probability_of_default >= 0
	input.probability_of_default <= 1
}

# An incomplete application gets no decision; otherwise the most adverse
# outcome any rule asks for wins: a referral rule can stop an automatic
# approval but never soften a decline.
default verdict := ""

verdict := "incomplete" if {
	some r in outcome_rules
	r.outcome == "incomplete"
} else := "decline" if {
	some r in outcome_rules
	r.outcome == "decline"
} else := "refer" if {
	some r in outcome_rules
	r.outcome == "refer"
} else := "approve" if {
	some r in outcome_rules
	r.outcome == "approve"
}

# The rules that rest on the model's score. Model reasons are disclosed
# only when one of them asks for the outcome reached: a referral made only
# because of the amount names the amount rule, not the model's factors.
model_rules := {"DEC-DECLINE", "DEC-REFER-BAND", "DEC-REFER-MARGIN"}

model_driven if {
	some r in outcome_rules
	r.outcome == verdict
	r.id in model_rules
}

# The reason method (comment 9(b)(2)-5) and the materiality floor, in
# log-odds of default, below which a factor is not a principal reason.
default reason_method := "cutoff"

reason_method := params.reason_method

default materiality_floor := 0.05

materiality_floor := params.materiality_floor

# Features without which no decision is made (12 CFR 1002.9(c)).
required_missing := [f |
	some f in object.get(params, "required_features", [])
	object.get(input.features, f, null) == null
]

reasons_given if "reasons" in object.keys(input)

default reasons_needed := false

reasons_needed if {
	model_driven
	verdict in {"refer", "decline"}
	not reasons_given
}

candidates := object.get(input, "reasons", [])

# Rule reasons come first: one per rule asking for the outcome reached
# whose rulebook entry carries a reason code and text, in rule id order.
rule_reasons := [{"code": data.rulebook[id].reason_code, "text": data.rulebook[id].reason_text, "rule": id, "feature": null} |
	some id in sort([r.id | some r in outcome_rules; r.outcome == verdict])
	data.rulebook[id].reason_code != ""
]

# Model reasons: the candidates at or above the floor; when none is, the
# fallback the caller offers (a candidate with "fallback": true).
material := [r |
	some r in candidates
	not r.fallback
	is_number(r.contribution)
	r.contribution >= materiality_floor
]

model_reasons := material if count(material) > 0

model_reasons := [r | some r in candidates; r.fallback] if count(material) == 0

chosen := array.concat(rule_reasons, model_reasons) if model_driven

chosen := rule_reasons if not model_driven

# Reasons are ranked by the caller; the notice carries the top ones only,
# never filled up to the cap.
default reasons := []

reasons := array.slice(chosen, 0, cfg.max_reasons) if {
	verdict in {"refer", "decline"}
	not reasons_needed
}

reasons := rule_reasons if verdict == "incomplete"

# full_outcome is the reference: every rule evaluated, violations included.
full_outcome := {
	"decision": verdict,
	"rules": outcome_rules | reason_rules,
	"reasons": reasons,
	"reasons_needed": reasons_needed,
	"reason_method": reason_method,
	"violations": violations,
}

# outcome is what the API asks: the hot path's answer when it has one,
# the full evaluation's otherwise. decision_test.rego checks outcome ==
# full_outcome over a grid of inputs, clean and unclean, so the hot path
# cannot drift from the rules.
outcome := o if {
	o := fast_outcome
} else := full_outcome

# fast_outcome is the rules above evaluated in one body, for the common
# case: a complete application (no required feature missing) for an
# admitted model, with its thresholds, a PD in [0, 1], a numeric amount,
# and, when the outcome carries model reasons, candidates that admission
# vetted. It is undefined otherwise, and outcome falls back to the full
# evaluation.
#
# In OPA's evaluator each rule or function evaluation costs as much as a
# dozen expressions, and this runs on every decision (for an adverse
# outcome of the model without candidates; with them, reasons_outcome
# answers unless the engine has no first outcome to build on). So each
# decision rule appears here as a comprehension that holds its finding when
# the rule's conditions hold and is empty otherwise (a failing condition
# costs one expression, and only fired rules format a message), and the
# findings' titles, citations and reason texts come from data.rulebook,
# which the engine fills from the rules' METADATA.
fast_outcome := o if {
	# One read of the configuration, then local lookups.
	c := cfg
	p := c.models[input.model_id]
	pd := input.probability_of_default
	is_number(pd)
	pd >= 0
	pd <= 1
	feats := input.features
	amount := feats[p.amount_feature]
	is_number(amount)
	every f in object.get(p, "required_features", []) {
		object.get(feats, f, null) != null
	}
	book := data.rulebook
	method := object.get(p, "reason_method", "cutoff")

	approve := {f |
		pd < p.approve_below
		f := {"id": "DEC-APPROVE", "title": book["DEC-APPROVE"].title, "citation": book["DEC-APPROVE"].citation, "outcome": "approve", "message": sprintf("probability of default %.4f is below the approval cut-off %v", [pd, p.approve_below])}
	}
	band := {f |
		pd >= p.approve_below
		pd < p.decline_at
		f := {"id": "DEC-REFER-BAND", "title": book["DEC-REFER-BAND"].title, "citation": book["DEC-REFER-BAND"].citation, "outcome": "refer", "message": sprintf("probability of default %.4f is between the approval cut-off %v and the decline cut-off %v", [pd, p.approve_below, p.decline_at])}
	}
	decline := {f |
		pd >= p.decline_at
		f := {"id": "DEC-DECLINE", "title": book["DEC-DECLINE"].title, "citation": book["DEC-DECLINE"].citation, "outcome": "decline", "message": sprintf("probability of default %.4f is at or above the decline cut-off %v", [pd, p.decline_at])}
	}
	margin := {f |
		pd < p.approve_below
		pd >= p.approve_below - p.approve_margin
		f := {"id": "DEC-REFER-MARGIN", "title": book["DEC-REFER-MARGIN"].title, "citation": book["DEC-REFER-MARGIN"].citation, "outcome": "refer", "message": sprintf("probability of default %.4f is within %v of the approval cut-off %v", [pd, p.approve_margin, p.approve_below])}
	}
	large := {f |
		amount > p.amount_limit
		f := {"id": "DEC-REFER-AMOUNT", "title": book["DEC-REFER-AMOUNT"].title, "citation": book["DEC-REFER-AMOUNT"].citation, "outcome": "refer", "message": sprintf("requested %s %v is above the automated limit %v", [p.amount_feature, amount, p.amount_limit])}
	}
	referrals := (band | margin) | large
	fired := (approve | decline) | referrals

	# verdict: the most adverse outcome fired. For a PD in [0, 1] at least
	# one band rule fires whatever the cut-offs: pd < t or pd >= t holds
	# for every t in OPA's total order of values.
	v := {[true, true]: "approve", [true, false]: "refer", [false, true]: "decline", [false, false]: "decline"}[[count(decline) == 0, count(referrals) == 0]]

	# Approvals, 60% of decisions, stop here; an adverse outcome works out
	# the rest in its own comprehension, so an approval pays for none of it.
	results := {x | v == "approve"; x := {"decision": v, "rules": fired, "reasons": [], "violations": set(), "reasons_needed": false, "reason_method": method}} | {x |
		v != "approve"

		# Whether a rule on the model's score asks for v, and the rule
		# reasons (only the amount rule has one, and asks only for a
		# referral).
		model := {"decline": true, "refer": count(band | margin) > 0}[v]
		rule_rs := [{"code": book["DEC-REFER-AMOUNT"].reason_code, "text": book["DEC-REFER-AMOUNT"].reason_text, "rule": "DEC-REFER-AMOUNT", "feature": null} | v == "refer"; count(large) > 0]
		given := "reasons" in object.keys(input)
		cands := object.get(input, "reasons", [])
		adverse := {y |
			# Adverse for the model, no candidates yet: ask for them.
			model
			not given
			y := {"decision": v, "rules": fired, "reasons": [], "violations": set(), "reasons_needed": true, "reason_method": method}
		} | {y |
			# Adverse for a rule alone: its reason, and no model reasons.
			not model
			count(rule_rs) > 0
			y := {"decision": v, "rules": fired | {{"id": "DEC-REASONS", "title": book["DEC-REASONS"].title, "citation": book["DEC-REASONS"].citation, "message": sprintf("%s carries %d principal reason(s) of %d candidate(s)", [v, count(rule_rs), count(cands)])}}, "reasons": rule_rs, "violations": set(), "reasons_needed": false, "reason_method": method}
		} | {y |
			# Adverse for the model, with candidates: the rule reasons, then
			# the material candidates (or the fallback), each one admission
			# vetted for this model.
			model
			given
			rs := fast_reasons(p, c.max_reasons, rule_rs, cands)
			y := {"decision": v, "rules": fired | {{"id": "DEC-REASONS", "title": book["DEC-REASONS"].title, "citation": book["DEC-REASONS"].citation, "message": sprintf("%s carries %d principal reason(s) of %d candidate(s)", [v, count(rs), count(cands)])}}, "reasons": rs, "violations": set(), "reasons_needed": false, "reason_method": method}
		}
		some x in adverse
	}
	some o in results
}

# fast_reasons are the reasons an adverse outcome of the model discloses
# on the hot path: the rule reasons, then the material candidates (or the
# fallback), each one admission vetted for this model; undefined when
# there are none or one is not vetted. One call per decision: the checks
# run inline, since a call per candidate cost more than all the rest.
fast_reasons(p, max, rule_rs, cands) := rs if {
	floor := object.get(p, "materiality_floor", 0.05)
	material := [r | some r in cands; not r.fallback; is_number(r.contribution); r.contribution >= floor]

	# The fallbacks only when nothing is material (the first condition
	# fails at once otherwise): collecting candidates copies each one.
	fallbacks := [r | count(material) == 0; some r in cands; r.fallback]
	model_rs := array.concat(material, fallbacks)
	rs := array.slice(array.concat(rule_rs, model_rs), 0, max)
	count(rs) > 0
	vetted := data.admitted[input.model_id].reasons

	# A material candidate's code, feature and meaning are what admission
	# recorded for the model; the fallback carries a code and names no
	# feature. Counted, not collected.
	vetted_material := [1 | some r in material; {"code": r.code, "feature": r.feature, "meaning": r.meaning} in vetted]
	vetted_fallback := [1 | some r in fallbacks; r.code != ""; r.feature == null]
	count(vetted_material) + count(vetted_fallback) == count(model_rs)
}

# reasons_outcome is the second evaluation of an outcome adverse because of
# the model: input is the first one's with the candidate "reasons" and
# "prior": {"decision", "rules"}, the decision and rules outcome gave
# without candidates (the engine passes them only for that same input).
# The rules' findings are not formatted again: the verdict is recomputed
# from the cut-offs as plain comparisons and must be the prior's, and the
# outcome is the prior's rules with the reasons and their finding added.
# It holds under the hot path's conditions and is undefined otherwise, and
# the engine then evaluates outcome. decision_test.rego checks it equals
# full_outcome over the grid wherever it is defined.
reasons_outcome := o if {
	c := cfg
	p := c.models[input.model_id]
	pd := input.probability_of_default
	is_number(pd)
	pd >= 0
	pd <= 1
	feats := input.features
	amount := feats[p.amount_feature]
	is_number(amount)
	every f in object.get(p, "required_features", []) {
		object.get(feats, f, null) != null
	}
	prior := input.prior

	# The rules' conditions, as in fast_outcome.
	decline := pd >= p.decline_at
	band := [pd >= p.approve_below, pd < p.decline_at] == [true, true]
	margin := [pd < p.approve_below, pd >= p.approve_below - p.approve_margin] == [true, true]
	large := amount > p.amount_limit
	v := {[true, true]: "approve", [true, false]: "refer", [false, true]: "decline", [false, false]: "decline"}[[decline == false, [band, margin, large] == [false, false, false]]]
	v == prior.decision
	{"approve": false, "decline": true, "refer": [band, margin] != [false, false]}[v]

	book := data.rulebook
	rule_rs := [{"code": book["DEC-REFER-AMOUNT"].reason_code, "text": book["DEC-REFER-AMOUNT"].reason_text, "rule": "DEC-REFER-AMOUNT", "feature": null} | v == "refer"; large]
	cands := input.reasons
	rs := fast_reasons(p, c.max_reasons, rule_rs, cands)
	o := {"decision": v, "rules": prior.rules | {{"id": "DEC-REASONS", "title": book["DEC-REASONS"].title, "citation": book["DEC-REASONS"].citation, "message": sprintf("%s carries %d principal reason(s) of %d candidate(s)", [v, count(rs), count(cands)])}}, "reasons": rs, "violations": set(), "reasons_needed": false, "reason_method": object.get(p, "reason_method", "cutoff")}
}

# METADATA
# title: Approve below the approval cut-off
# custom:
#   id: DEC-APPROVE
#   citation: "glassbox credit policy CP-1 (PD cut-offs of the scoring system, 12 CFR 1002.2(p))"
outcome_rules contains {"id": md.custom.id, "title": md.title, "citation": md.custom.citation, "message": msg, "outcome": "approve"} if {
	p := cfg.models[input.model_id]
	pd := input.probability_of_default
	is_number(pd)
	pd >= 0
	pd < p.approve_below
	md := rego.metadata.rule()
	msg := sprintf("probability of default %.4f is below the approval cut-off %v", [pd, p.approve_below])
}

# METADATA
# title: Refer between the approval and decline cut-offs
# custom:
#   id: DEC-REFER-BAND
#   citation: "glassbox credit policy CP-1 (PD cut-offs of the scoring system, 12 CFR 1002.2(p))"
outcome_rules contains {"id": md.custom.id, "title": md.title, "citation": md.custom.citation, "message": msg, "outcome": "refer"} if {
	p := cfg.models[input.model_id]
	pd := input.probability_of_default
	is_number(pd)
	pd >= p.approve_below
	pd < p.decline_at
	md := rego.metadata.rule()
	msg := sprintf("probability of default %.4f is between the approval cut-off %v and the decline cut-off %v", [pd, p.approve_below, p.decline_at])
}

# METADATA
# title: Decline at or above the decline cut-off
# custom:
#   id: DEC-DECLINE
#   citation: "glassbox credit policy CP-1 (PD cut-offs of the scoring system, 12 CFR 1002.2(p))"
outcome_rules contains {"id": md.custom.id, "title": md.title, "citation": md.custom.citation, "message": msg, "outcome": "decline"} if {
	p := cfg.models[input.model_id]
	pd := input.probability_of_default
	is_number(pd)
	pd >= p.decline_at
	pd <= 1
	md := rego.metadata.rule()
	msg := sprintf("probability of default %.4f is at or above the decline cut-off %v", [pd, p.decline_at])
}

# METADATA
# title: Refer approvals close to the cut-off
# description: >-
#   Model error near the cut-off is of the same order as the margin; a
#   person looks at these instead of the model approving alone.
# custom:
#   id: DEC-REFER-MARGIN
#   citation: "glassbox credit policy CP-2 (borderline cases to human review)"
outcome_rules contains {"id": md.custom.id, "title": md.title, "citation": md.custom.citation, "message": msg, "outcome": "refer"} if {
	p := cfg.models[input.model_id]
	pd := input.probability_of_default
	is_number(pd)
	pd >= 0
	pd < p.approve_below
	pd >= p.approve_below - p.approve_margin
	md := rego.metadata.rule()
	msg := sprintf("probability of default %.4f is within %v of the approval cut-off %v", [pd, p.approve_margin, p.approve_below])
}

# METADATA
# title: Refer large requested amounts
# custom:
#   id: DEC-REFER-AMOUNT
#   citation: "glassbox credit policy CP-3 (exposure limit for automated approval)"
#   reason_code: P01
#   reason_text: "Amount of credit requested is above the limit for automatic approval"
outcome_rules contains {"id": md.custom.id, "title": md.title, "citation": md.custom.citation, "message": msg, "outcome": "refer"} if {
	p := cfg.models[input.model_id]
	amount := input.features[p.amount_feature]
	is_number(amount)
	amount > p.amount_limit
	md := rego.metadata.rule()
	msg := sprintf("requested %s %v is above the automated limit %v", [p.amount_feature, amount, p.amount_limit])
}

# METADATA
# title: No decision without the information policy requires
# description: >-
#   An application lacking a feature the policy names as required is not
#   declined for it: it is incomplete, and the applicant is told what is
#   missing and by when to provide it.
# custom:
#   id: DEC-INCOMPLETE
#   citation: "12 CFR 1002.9(c) (incomplete applications; notice of incompleteness)"
#   reason_code: P02
#   reason_text: "Credit application incomplete"
outcome_rules contains {"id": md.custom.id, "title": md.title, "citation": md.custom.citation, "message": msg, "outcome": "incomplete", "features": required_missing} if {
	count(required_missing) > 0
	md := rego.metadata.rule()
	msg := sprintf("required information missing: %s", [concat(", ", required_missing)])
}

# METADATA
# title: Adverse outcomes state their principal reasons, at most four
# custom:
#   id: DEC-REASONS
#   citation: "12 CFR 1002.9(b)(2) and comment 9(b)(2)-1 (specific principal reasons; more than four not likely helpful)"
reason_rules contains {"id": md.custom.id, "title": md.title, "citation": md.custom.citation, "message": msg} if {
	verdict in {"refer", "decline"}
	count(reasons) > 0
	md := rego.metadata.rule()
	msg := sprintf("%s carries %d principal reason(s) of %d candidate(s)", [verdict, count(reasons), count(candidates)])
}

# METADATA
# title: Decisions need thresholds for their model
# custom:
#   id: DEC-UNKNOWN-MODEL
#   citation: "SR 11-7 / OCC 2011-12 §VI (models used only as approved)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	not params
	msg := sprintf("policy has no decision thresholds for model %q", [input.model_id])
}

# METADATA
# title: Probability of default must be a number in [0, 1]
# custom:
#   id: DEC-PD-INVALID
#   citation: "glassbox credit policy CP-1 (PD cut-offs of the scoring system, 12 CFR 1002.2(p))"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	not valid_pd
	msg := sprintf("probability of default %v is not a number in [0, 1]", [object.get(input, "probability_of_default", null)])
}

# METADATA
# title: Adverse outcomes must carry at least one reason
# custom:
#   id: DEC-REASONS-MISSING
#   citation: "12 CFR 1002.9(b)(2) (statement of specific reasons)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	verdict in {"refer", "decline"}
	not reasons_needed
	count(reasons) == 0
	msg := sprintf("a %s needs at least one principal reason and none was given", [verdict])
}

# METADATA
# title: Every reason needs a code and a feature
# custom:
#   id: DEC-REASON-INCOMPLETE
#   citation: "12 CFR 1002.9(b)(2) (statement of specific reasons)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	some i, r in reasons
	object.get(r, "code", "") == ""
	msg := sprintf("reason %d has no code", [i + 1])
}

# METADATA
# title: Every reason needs a code and a feature
# custom:
#   id: DEC-REASON-INCOMPLETE
#   citation: "12 CFR 1002.9(b)(2) (statement of specific reasons)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	some i, r in reasons
	object.get(r, "rule", null) == null
	not object.get(r, "fallback", false)
	object.get(r, "feature", null) in {null, ""}
	msg := sprintf("reason %d (code %q) names no feature", [i + 1, object.get(r, "code", "")])
}

# METADATA
# title: No reason may name a prohibited basis
# description: >-
#   Checked on the disclosed reasons, by feature name and by meaning, each
#   as a whole identifier with case and underscores ignored. Model admission
#   already matched every feature word by word; this check runs on every
#   decision, so it stays to one lookup per string, and stops a decision if
#   anything slipped through admission.
# custom:
#   id: DEC-PROHIBITED-REASON
#   citation: "12 CFR 1002.6(b)(1); 12 CFR 1002.9(b)(2)"
violations contains lib.feature_finding(rego.metadata.rule(), msg, [r.feature]) if {
	# Bound once: indexing a local value is a map lookup, where
	# data.config.prohibited.terms[key] would be a store read per key.
	terms := data.config.prohibited.terms
	some r in reasons
	some s in [object.get(r, "feature", null), object.get(r, "meaning", null)]
	is_string(s)
	basis := terms[concat("", split(lower(s), "_"))]
	msg := sprintf("reason %q names feature %q, a prohibited basis: %s", [r.code, r.feature, data.config.prohibited.bases[basis].label])
}
