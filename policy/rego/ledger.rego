# METADATA
# title: Ledger contents
# description: >-
#   Which fields of a decision record enter the verifiable log. The log is
#   append-only and cannot forget, so direct identifiers never go in.
#   Input for checks: {"fields": [names]}.
package glassbox.ledger

import data.config.ledger as cfg
import data.glassbox.lib

fields := cfg.fields

result := {"ok": count(violations) == 0, "violations": violations}

# METADATA
# title: No direct identifiers in the ledger
# custom:
#   id: LED-DIRECT-IDENTIFIER
#   citation: "data minimisation, GDPR Art. 5(1)(c); 16 CFR 314.4(c)(6)"
violations contains lib.feature_finding(rego.metadata.rule(), msg, [f]) if {
	some f in input.fields
	kinds := {cfg.direct_identifiers[t] | some t in lib.terms(f)}
	count(kinds) > 0
	msg := sprintf("field %q is a direct identifier (%s) and may not enter the ledger", [f, concat(", ", sort(kinds))])
}
