# METADATA
# title: Access control
# description: >-
#   Who may call which glassbox endpoint. The API asks this policy on every
#   request; Go code holds no role logic. Access is denied unless a role (or
#   the public list) grants the action and no deny rule fires.
package glassbox.access

import data.config.access as cfg
import data.glassbox.lib

# The rules read cfg.actions[input.action] (undefined for an unknown
# action; its flags say whether anyone may call it and whether it acts on
# one decision) and cfg.roles[input.role] directly rather than through
# helper rules: every helper is one more rule evaluation on every request,
# and this policy runs on every API call.

granted if cfg.actions[input.action].public

granted if input.action in cfg.roles[input.role].actions

owns if {
	input.subject != ""
	input.resource_owner == input.subject
}

token_bound if {
	input.decision_id != ""
	input.token_decision_id == input.decision_id
}

# allow is the reference definition: granted and no deny rule fires.
default allow := false

allow if {
	granted
	count(deny) == 0
}

# decision is what the API asks. Its first branches are a fast path that
# grants in one rule evaluation what allow grants after evaluating every
# deny rule (about 7 µs instead of 50 on the request path); only a refusal
# evaluates the deny rules to say why. access_test.rego checks that the two
# agree on every combination of role, action, subject, owner and token, so
# an edit to one that is not made to the other fails the tests.
decision := granted_decision if {
	action := cfg.actions[input.action]
	role := cfg.roles[input.role]
	role.scope == "owner"
	input.action in role.actions
	input.subject != ""
	object.get(action, "decision", false) == false
} else := granted_decision if {
	cfg.actions[input.action].decision
	role := cfg.roles[input.role]
	role.scope == "owner"
	input.action in role.actions
	input.subject != ""
	input.resource_owner == input.subject
} else := granted_decision if {
	cfg.actions[input.action].decision
	role := cfg.roles[input.role]
	role.scope == "token"
	input.action in role.actions
	input.decision_id != ""
	input.token_decision_id == input.decision_id
} else := granted_decision if {
	# Scopes other than owner and token read every decision.
	cfg.actions[input.action]
	role := cfg.roles[input.role]
	input.action in role.actions
	not object.get(role, "scope", "") in {"owner", "token"}
} else := granted_decision if {
	cfg.actions[input.action].public
	input.role == ""
} else := granted_decision if {
	cfg.actions[input.action].public
	cfg.roles[input.role]
	input.subject != ""
} else := granted_decision if {
	cfg.actions[input.action].public
	role := cfg.roles[input.role]
	object.get(role, "scope", "") != "owner"
} else := granted_decision if {
	action := cfg.actions[input.action]
	role := cfg.roles[input.role]
	role.scope == "token"
	input.action in role.actions
	object.get(action, "decision", false) == false
} else := {"allow": allow, "deny": deny}

granted_decision := {"allow": true, "deny": set()}

# METADATA
# title: Unknown actions are denied
# custom:
#   id: ACC-UNKNOWN-ACTION
#   citation: "glassbox access policy AP-1 (deny by default); 16 CFR 314.4(c)(1)"
deny contains lib.finding(rego.metadata.rule(), sprintf("unknown action %q", [input.action])) if {
	not cfg.actions[input.action]
}

# METADATA
# title: Unknown roles are denied
# custom:
#   id: ACC-UNKNOWN-ROLE
#   citation: "glassbox access policy AP-1 (deny by default); 16 CFR 314.4(c)(1)"
deny contains lib.finding(rego.metadata.rule(), sprintf("unknown role %q", [input.role])) if {
	input.role != ""
	not cfg.roles[input.role]
}

# METADATA
# title: Non-public endpoints require authentication
# custom:
#   id: ACC-AUTHENTICATION
#   citation: "16 CFR 314.4(c)(1)(i) (authenticate and permit access only to authorized users)"
deny contains lib.finding(rego.metadata.rule(), sprintf("action %q requires authentication", [input.action])) if {
	input.role == ""
	cfg.actions[input.action]
	not cfg.actions[input.action].public
}

# METADATA
# title: A role may perform only the actions granted to it
# custom:
#   id: ACC-ROLE
#   citation: "16 CFR 314.4(c)(1)(ii) (limit access to what users need for their duties)"
deny contains lib.finding(rego.metadata.rule(), sprintf("role %q may not perform %q", [input.role, input.action])) if {
	cfg.roles[input.role]
	cfg.actions[input.action]
	not granted
}

# METADATA
# title: Lenders must be identified
# description: A lender's decisions are tied to its identity; without one it could neither own nor be refused anything.
# custom:
#   id: ACC-SUBJECT
#   citation: "16 CFR 314.4(c)(1)(i) (authenticate and permit access only to authorized users)"
deny contains lib.finding(rego.metadata.rule(), sprintf("role %q requires a subject", [input.role])) if {
	cfg.roles[input.role].scope == "owner"
	input.subject == ""
	not cfg.actions[input.action].public
}

# METADATA
# title: Lenders read only the decisions they created
# custom:
#   id: ACC-OWNER
#   citation: "15 U.S.C. 6802 (disclosure of nonpublic personal information); 16 CFR 314.4(c)(1)(ii)"
deny contains lib.finding(rego.metadata.rule(), msg) if {
	cfg.roles[input.role].scope == "owner"
	cfg.actions[input.action].decision
	granted
	not owns
	msg := sprintf("%q may not %q decision %q created by %q", [input.subject, input.action, input.decision_id, input.resource_owner])
}

# METADATA
# title: An applicant token opens only the decision it was issued for
# custom:
#   id: ACC-TOKEN
#   citation: "15 U.S.C. 6802 (disclosure of nonpublic personal information); 16 CFR 314.4(c)(1)(ii)"
deny contains lib.finding(rego.metadata.rule(), msg) if {
	cfg.roles[input.role].scope == "token"
	cfg.actions[input.action].decision
	granted
	not token_bound
	msg := sprintf("applicant token is bound to decision %q, not %q", [input.token_decision_id, input.decision_id])
}
