package glassbox.lifecycle_test

import data.glassbox.lifecycle

ids(findings) := {f.id | some f in findings}

model_reasons := {"F07": "Income insufficient for amount of credit requested", "R00": "No single factor"}

base := {
	"action": "approve", "reasons": [], "has_terms": false,
	"actor": "reviewer", "model_decision": "refer", "contested": false,
	"model_reasons": model_reasons, "amends": "", "note_chars": 25,
}

with_(overrides) := object.union(base, overrides)

verdict(req) := r if {
	r := lifecycle.result with input as req
}

test_reviewer_approves_referral if {
	r := verdict(base)
	r.allowed
	not r.override
}

test_approving_a_referral_needs_a_note if {
	ids(verdict(with_({"note_chars": 3})).violations) == {"LIF-REFERRAL-APPROVAL-JUSTIFIED"}
	r := lifecycle.result with input as with_({"note_chars": 3})
		with data.config.lifecycle.justify_referral_approval as false
	r.allowed
	verdict(with_({"note_chars": 0, "action": "decline", "reasons": ["F07"]})).allowed
}

test_adverse_needs_reasons if {
	r := verdict(with_({"action": "decline"}))
	not r.allowed
	ids(r.violations) == {"LIF-REASONS-REQUIRED"}
}

test_reasons_from_rulebook_and_manifest if {
	r := verdict(with_({"action": "decline", "reasons": ["F07", "P01"]}))
	r.allowed
	r.reasons == [
		{"code": "F07", "text": "Income insufficient for amount of credit requested"},
		{"code": "P01", "text": "Amount of credit requested is above the limit for automatic approval"},
	]
}

test_unknown_reason if {
	r := verdict(with_({"action": "decline", "reasons": ["F07", "Z99"]}))
	ids(r.violations) == {"LIF-REASON-UNKNOWN"}
}

test_too_many_reasons if {
	r := verdict(with_({"action": "decline", "reasons": ["F07", "F07", "F07", "F07", "F07"]}))
	ids(r.violations) == {"LIF-REASONS-MAX"}
}

test_approval_takes_no_reasons if {
	r := verdict(with_({"reasons": ["F07"]}))
	ids(r.violations) == {"LIF-REASONS-UNEXPECTED"}
}

test_counteroffer_terms if {
	verdict(with_({"action": "counteroffer", "reasons": ["F07"], "has_terms": true})).allowed
	ids(verdict(with_({"action": "counteroffer", "reasons": ["F07"]})).violations) == {"LIF-COUNTEROFFER-TERMS"}
	ids(verdict(with_({"has_terms": true})).violations) == {"LIF-COUNTEROFFER-TERMS"}
}

test_system_may_not_finish_a_referral if {
	r := verdict(with_({"actor": "system"}))
	ids(r.violations) == {"LIF-HUMAN-REVIEW"}
}

test_system_may_not_finish_a_contest if {
	r := verdict(with_({"actor": "system", "model_decision": "decline", "action": "decline", "reasons": ["F07"], "contested": true}))
	ids(r.violations) == {"LIF-HUMAN-REVIEW"}
}

test_system_records_automatic_outcome if {
	verdict(with_({"actor": "system", "model_decision": "approve"})).allowed
	verdict(with_({"actor": "system", "model_decision": "decline", "action": "decline", "reasons": ["F07"]})).allowed
}

test_override_needs_justification if {
	r := verdict(with_({"model_decision": "decline", "note_chars": 0}))
	r.override
	ids(r.violations) == {"LIF-OVERRIDE-JUSTIFIED"}
	verdict(with_({"model_decision": "decline", "note_chars": 20})).allowed
	ids(verdict(with_({"model_decision": "decline", "note_chars": 19})).violations) == {"LIF-OVERRIDE-JUSTIFIED"}
}

test_declining_an_approval_overrides if {
	r := verdict(with_({"model_decision": "approve", "action": "decline", "reasons": ["F07"], "actor": "system", "note_chars": 0}))
	r.override
	ids(r.violations) == {"LIF-OVERRIDE-REVIEWER", "LIF-OVERRIDE-JUSTIFIED"}
}

test_referral_outcomes_never_override if {
	every a in ["approve", "withdrawn", "incomplete"] {
		not verdict(with_({"action": a})).override
	}
	not verdict(with_({"action": "decline", "reasons": ["F07"]})).override
}

test_second_final_action_refused if {
	r := verdict(with_({"current_action": {"id": "a1"}}))
	ids(r.violations) == {"LIF-ONE-FINAL"}
}

test_amendment_of_the_action_in_force if {
	verdict(with_({"current_action": {"id": "a1"}, "amends": "a1", "note_chars": 30})).allowed
	ids(verdict(with_({"current_action": {"id": "a1"}, "amends": "a0", "note_chars": 30})).violations) == {"LIF-AMEND-CURRENT"}
	ids(verdict(with_({"amends": "a0", "note_chars": 30})).violations) == {"LIF-AMEND-CURRENT"}
}

test_amendment_rules if {
	r := verdict(with_({"current_action": {"id": "a1"}, "amends": "a1", "actor": "system", "model_decision": "approve", "note_chars": 0}))
	ids(r.violations) == {"LIF-AMEND-RULES"}
	count(r.violations) == 2
}

test_amendments_can_be_switched_off if {
	r := lifecycle.result with input as with_({"current_action": {"id": "a1"}, "amends": "a1", "note_chars": 30})
		with data.config.lifecycle.amendments as false
	ids(r.violations) == {"LIF-AMEND-RULES"}
}

test_settings if {
	lifecycle.settings == {"review_deadline_days": 30, "notice_deadline_days": 30}
}
