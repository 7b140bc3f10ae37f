# METADATA
# title: The life of a decision after the model
# description: >-
#   Who may take the final action on a decision, with which reasons, when
#   going against the model needs a justification, and when a final action
#   may be amended. The API asks `action_result` before it appends a
#   final_action record; a finding refuses the action and nothing is
#   written. Parameters are data.config.lifecycle.
package glassbox.lifecycle

import data.config.lifecycle as cfg
import data.glassbox.lib

adverse_actions := {"decline", "counteroffer"}

adverse if input.action in adverse_actions

# The reason codes a final action may give: those of the rulebook's rules
# and those of the decision's model (input.model_reasons, code → text,
# from its manifest and the fallback).
rule_reasons := {entry.reason_code: entry.reason_text |
	some entry in data.rulebook
	entry.reason_code != ""
}

reason_text(code) := rule_reasons[code]

reason_text(code) := input.model_reasons[code] if not rule_reasons[code]

# Going against the model: approving what it declined, or refusing (or
# counter-offering) what it approved. A referral leaves the decision to a
# person, so no final action on a referral overrides.
override if {
	input.model_decision == "decline"
	input.action == "approve"
}

override if {
	input.model_decision == "approve"
	adverse
}

amending if input.amends != ""

result := {
	"allowed": count(violations) == 0,
	"violations": violations,
	"override": override,
	"reasons": [{"code": c, "text": reason_text(c)} | some c in input.reasons; reason_text(c)],
}

default override := false

# settings are the parameters the API applies itself (deadlines).
settings := {
	"review_deadline_days": cfg.review_deadline_days,
	"notice_deadline_days": cfg.notice_deadline_days,
}

# METADATA
# title: An adverse final action states its principal reasons
# custom:
#   id: LIF-REASONS-REQUIRED
#   citation: "12 CFR 1002.9(a)(2)(i) and (b)(2) (statement of specific reasons for adverse action)"
violations contains lib.finding(rego.metadata.rule(), sprintf("a %s needs at least one reason code", [input.action])) if {
	adverse
	count(input.reasons) == 0
}

# METADATA
# title: At most four principal reasons
# custom:
#   id: LIF-REASONS-MAX
#   citation: "12 CFR 1002.9(b)(2), comment 9(b)(2)-1 (more than four reasons not likely helpful)"
violations contains lib.finding(rego.metadata.rule(), sprintf("%d reasons given; at most %d", [count(input.reasons), cfg.max_reasons])) if {
	count(input.reasons) > cfg.max_reasons
}

# METADATA
# title: Reasons come from the rulebook or the model's manifest
# custom:
#   id: LIF-REASON-UNKNOWN
#   citation: "12 CFR 1002.9(b)(2) (specific reasons); glassbox credit policy CP-5 (approved reason texts only)"
violations contains lib.finding(rego.metadata.rule(), sprintf("reason code %q is neither a rule's nor the model's", [code])) if {
	some code in input.reasons
	not reason_text(code)
}

# METADATA
# title: Reasons are given for adverse actions and incompleteness only
# custom:
#   id: LIF-REASONS-UNEXPECTED
#   citation: "12 CFR 1002.9(a)(1) (notice of action taken); glassbox credit policy CP-5"
violations contains lib.finding(rego.metadata.rule(), sprintf("a final action %q takes no reasons", [input.action])) if {
	input.action in {"approve", "withdrawn"}
	count(input.reasons) > 0
}

# METADATA
# title: Terms go with a counteroffer, and a counteroffer states its terms
# custom:
#   id: LIF-COUNTEROFFER-TERMS
#   citation: "12 CFR 1002.9(a)(1)(iv) (counteroffer); 12 CFR 1002.2(c)(1)(i)"
violations contains lib.finding(rego.metadata.rule(), "a counteroffer needs its terms, and only a counteroffer has terms") if {
	(input.action == "counteroffer") != input.has_terms
}

# METADATA
# title: A referred or contested decision is finally decided by a person
# custom:
#   id: LIF-HUMAN-REVIEW
#   citation: "GDPR Art. 22(3) (right to human intervention); EU AI Act Art. 14 (human oversight)"
violations contains lib.finding(rego.metadata.rule(), "the final action on a referred or contested decision must be a reviewer's") if {
	input.actor != "reviewer"
	needs_human
}

needs_human if input.model_decision == "refer"

needs_human if input.contested

# METADATA
# title: Only a reviewer overrides the model
# custom:
#   id: LIF-OVERRIDE-REVIEWER
#   citation: "EU AI Act Art. 14(4)(d) (decide not to use, or override, the system's output)"
violations contains lib.finding(rego.metadata.rule(), sprintf("a %s of a model %s overrides the model: only a reviewer may", [input.action, input.model_decision])) if {
	override
	input.actor != "reviewer"
}

# METADATA
# title: Overriding the model needs a justification
# custom:
#   id: LIF-OVERRIDE-JUSTIFIED
#   citation: "EU AI Act Art. 14(4)(d); 12 CFR 1002.12(b) (records of actions taken)"
violations contains lib.finding(rego.metadata.rule(), sprintf("overriding the model needs a note of at least %d characters", [cfg.override_note_min_chars])) if {
	override
	input.note_chars < cfg.override_note_min_chars
}

# METADATA
# title: One final action per decision unless it is amended
# custom:
#   id: LIF-ONE-FINAL
#   citation: "12 CFR 1002.9(a)(1) (notice of the action taken); 12 CFR 1002.12(b)"
violations contains lib.finding(rego.metadata.rule(), sprintf("decision already has final action %s; amend it instead", [input.current_action.id])) if {
	input.current_action
	not amending
}

# METADATA
# title: An amendment amends the final action in force
# custom:
#   id: LIF-AMEND-CURRENT
#   citation: "12 CFR 1002.12(b) (records of actions taken)"
violations contains lib.finding(rego.metadata.rule(), sprintf("amends %s, which is not the final action in force", [input.amends])) if {
	amending
	object.get(object.get(input, "current_action", {}), "id", "") != input.amends
}

# METADATA
# title: Amendments are allowed by policy, by a reviewer, with a justification
# custom:
#   id: LIF-AMEND-RULES
#   citation: "EU AI Act Art. 14(4)(d); 12 CFR 1002.12(b)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	amending
	some msg in amend_problems
}

amend_problems contains "this policy does not allow amending a final action" if not cfg.amendments

amend_problems contains "only a reviewer amends a final action" if input.actor != "reviewer"

amend_problems contains sprintf("an amendment needs a note of at least %d characters", [cfg.override_note_min_chars]) if {
	input.note_chars < cfg.override_note_min_chars
}

# METADATA
# title: Approving a referral needs a justification
# description: >-
#   The model referred the application because it could not approve it
#   automatically; a person who approves it anyway says why.
# custom:
#   id: LIF-REFERRAL-APPROVAL-JUSTIFIED
#   citation: "EU AI Act Art. 14(4)(b)-(d) (awareness of automation bias; override); glassbox credit policy CP-2"
violations contains lib.finding(rego.metadata.rule(), sprintf("approving a referral needs a note of at least %d characters", [cfg.override_note_min_chars])) if {
	cfg.justify_referral_approval
	input.model_decision == "refer"
	input.action == "approve"
	input.note_chars < cfg.override_note_min_chars
}
