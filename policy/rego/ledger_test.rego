package glassbox.ledger_test

import data.glassbox.ledger

test_policy_fields_are_clean if {
	r := ledger.result with input as {"fields": ledger.fields}
	r.ok
	count(r.violations) == 0
}

test_direct_identifiers_rejected if {
	r := ledger.result with input as {"fields": ["decision_id", "applicant_name", "EmailAddress", "ssn", "home_address", "phone_number", "score"]}
	not r.ok
	{f.features[0] | some f in r.violations} == {"applicant_name", "EmailAddress", "ssn", "home_address", "phone_number"}
	every f in r.violations {
		f.id == "LED-DIRECT-IDENTIFIER"
		contains(f.citation, "5(1)(c)")
	}
}

test_quasi_identifiers_named_like_features_pass if {
	r := ledger.result with input as {"fields": ["features", "reasons", "lender", "created_at"]}
	r.ok
}
