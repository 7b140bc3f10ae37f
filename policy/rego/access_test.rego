package glassbox.access_test

import data.glassbox.access

ids(findings) := {f.id | some f in findings}

req(role, subject, action) := {"role": role, "subject": subject, "action": action, "resource_owner": "", "decision_id": "", "token_decision_id": ""}

test_public_actions_allowed_for_everyone if {
	every a in ["health", "ledger.checkpoint", "ledger.public_key", "log.read", "models.list", "openapi"] {
		every r in ["", "lender", "applicant", "regulator", "admin"] {
			access.allow with input as req(r, "bank-a", a)
		}
	}
}

test_anonymous_needs_authentication if {
	d := access.decision with input as req("", "", "decisions.read")
	not d.allow
	ids(d.deny) == {"ACC-AUTHENTICATION"}
}

test_unknown_action_denied if {
	d := access.decision with input as req("regulator", "fed", "decisions.delete")
	not d.allow
	ids(d.deny) == {"ACC-UNKNOWN-ACTION"}
}

test_unknown_role_denied if {
	d := access.decision with input as req("superuser", "x", "decisions.read")
	not d.allow
	ids(d.deny) == {"ACC-UNKNOWN-ROLE"}
}

test_lender_creates if {
	access.allow with input as req("lender", "bank-a", "decisions.create")
}

test_lender_needs_subject if {
	d := access.decision with input as req("lender", "", "decisions.create")
	not d.allow
	ids(d.deny) == {"ACC-SUBJECT"}
}

test_lender_reads_own_decision if {
	every a in ["decisions.read", "decisions.explanation", "decisions.proof", "decisions.notice"] {
		access.allow with input as object.union(req("lender", "bank-a", a), {"resource_owner": "bank-a", "decision_id": "d1"})
	}
}

test_lender_cannot_read_other_lenders_decision if {
	d := access.decision with input as object.union(req("lender", "bank-a", "decisions.read"), {"resource_owner": "bank-b", "decision_id": "d1"})
	not d.allow
	ids(d.deny) == {"ACC-OWNER"}
	some f in d.deny
	contains(f.message, "bank-b")
	contains(f.citation, "314.4(c)(1)")
}

test_lender_without_subject_does_not_own_unowned_decision if {
	d := access.decision with input as req("lender", "", "decisions.read")
	not d.allow
	ids(d.deny) == {"ACC-SUBJECT", "ACC-OWNER"}
}

test_lender_role_limits if {
	every a in ["audit.read", "ledger.entries", "ledger.consistency", "decisions.replay", "models.read", "metrics"] {
		d := access.decision with input as req("lender", "bank-a", a)
		not d.allow
		ids(d.deny) == {"ACC-ROLE"}
	}
}

test_applicant_reads_bound_decision if {
	every a in ["decisions.explanation", "decisions.proof", "decisions.notice"] {
		access.allow with input as object.union(req("applicant", "tok", a), {"decision_id": "d1", "token_decision_id": "d1", "resource_owner": "bank-a"})
	}
}

test_applicant_token_bound_elsewhere_denied if {
	d := access.decision with input as object.union(req("applicant", "tok", "decisions.explanation"), {"decision_id": "d2", "token_decision_id": "d1"})
	not d.allow
	ids(d.deny) == {"ACC-TOKEN"}
}

test_applicant_token_without_decision_denied if {
	d := access.decision with input as req("applicant", "tok", "decisions.notice")
	not d.allow
	ids(d.deny) == {"ACC-TOKEN"}
}

test_applicant_reads_nothing_else if {
	every a in ["decisions.read", "decisions.create", "ledger.entries", "audit.read", "models.read"] {
		d := access.decision with input as object.union(req("applicant", "tok", a), {"decision_id": "d1", "token_decision_id": "d1"})
		not d.allow
		ids(d.deny) == {"ACC-ROLE"}
	}
}

test_regulator_reads_everything_it_supervises if {
	every a in ["decisions.read", "decisions.explanation", "decisions.proof", "decisions.notice", "decisions.replay", "ledger.entries", "ledger.consistency", "audit.read"] {
		access.allow with input as object.union(req("regulator", "cfpb", a), {"resource_owner": "bank-b", "decision_id": "d9"})
	}
}

test_regulator_does_not_score_or_administer if {
	every a in ["decisions.create", "models.admit", "policy.read", "metrics"] {
		d := access.decision with input as req("regulator", "cfpb", a)
		not d.allow
		ids(d.deny) == {"ACC-ROLE"}
	}
}

test_admin_administers_models if {
	every a in ["models.read", "models.admit", "policy.read", "metrics"] {
		access.allow with input as req("admin", "ops", a)
	}
}

test_admin_reads_no_decisions if {
	d := access.decision with input as object.union(req("admin", "ops", "decisions.read"), {"resource_owner": "bank-a", "decision_id": "d1"})
	not d.allow
	ids(d.deny) == {"ACC-ROLE"}
}

test_deny_rules_carry_metadata if {
	d := access.decision with input as req("", "", "audit.read")
	some f in d.deny
	f.title == "Non-public endpoints require authentication"
	startswith(f.citation, "16 CFR 314.4")
}

# Every combination of role, action and identity fields, including unknown
# roles and actions and empty strings: the fast path in access.decision must
# agree with the reference allow (granted and no deny rule) on each.
matrix_roles := array.concat([r | some r, _ in data.config.access.roles], ["", "superuser"])

matrix_actions := array.concat([a | some a, _ in data.config.access.actions], ["decisions.delete"])

test_fast_path_agrees_with_deny_rules_everywhere if {
	cases := [c |
		some role in matrix_roles
		some action in matrix_actions
		some subject in ["", "bank-a"]
		some owner in ["", "bank-a", "bank-b"]
		some id in ["", "d1"]
		some token in ["", "d1", "d2"]
		c := {"role": role, "subject": subject, "action": action, "resource_owner": owner, "decision_id": id, "token_decision_id": token}
	]
	count(cases) > 4000
	disagreements := [c |
		some c in cases
		d := access.decision with input as c
		reference := access.allow with input as c
		d.allow != reference
	]
	disagreements == []
}

test_fast_path_grants_with_empty_denials if {
	d := access.decision with input as req("lender", "bank-a", "decisions.create")
	d == {"allow": true, "deny": set()}
}

# A token role granted an action that names no decision: the shipped data
# has none, so the fast path's branch for it is checked on altered data.
test_token_role_non_decision_action if {
	granted := array.concat(data.config.access.roles.applicant.actions, ["models.read"])
	d := access.decision with input as req("applicant", "tok", "models.read")
		with data.config.access.roles.applicant.actions as granted
	d.allow
	reference := access.allow with input as req("applicant", "tok", "models.read")
		with data.config.access.roles.applicant.actions as granted
	reference
}
