# METADATA
# title: Model admission
# description: >-
#   Whether a model package may serve decisions. Input: {"manifest": the
#   package's manifest.json, "actual_sha256": hash of model.txt computed by
#   the caller, "reference": the package's reference.json or null}. Every violated rule is reported, not only the first, so a
#   model owner can fix a package in one round.
package glassbox.admission

import data.config.admission as cfg
import data.glassbox.lib

m := input.manifest

default admitted := false

admitted if count(violations) == 0

result := {"admitted": admitted, "violations": violations, "reasons": reasons}

# reasons are the principal reasons a decision for this model may
# disclose, each as the engine passes it to the decision rules: one per
# feature that has a reason code and names no prohibited basis, word by
# word, in its name or its meaning. The engine records them for an
# admitted model, and the decision rules' hot path vets a disclosed reason
# with one set lookup instead of normalising its strings (see fast_outcome
# in decision.rego). Word-by-word matching finds at least what the
# decision rules' whole-identifier check finds, so a reason listed here
# never trips that check.
reasons := {{"code": f.reason_code, "feature": f.name, "meaning": f.meaning} |
	some f in features
	f.reason_code != ""
	count(f.bases) == 0
}

# features, with absent optional fields filled so rules need no guards.
features contains {
	"name": f.name,
	"meaning": object.get(f, "meaning", ""),
	"type": object.get(f, "type", ""),
	"monotone": object.get(f, "monotone", 0),
	"justification": object.get(f, "justification", ""),
	"reason_code": object.get(f, ["reason", "code"], ""),
	"texts": object.get(f, ["reason", "texts"], {}),
	"min": object.get(f, "min", null),
	"max": object.get(f, "max", null),
	"bases": lib.feature_bases(f.name, object.get(f, "meaning", "")),
} if {
	some f in object.get(m, "features", [])
}

describe(f) := sprintf("feature %q", [f.name]) if f.meaning == ""

describe(f) := sprintf("feature %q (meaning %q)", [f.name, f.meaning]) if f.meaning != ""

# METADATA
# title: Model must be approved before use
# custom:
#   id: ADM-APPROVAL
#   citation: "SR 11-7 / OCC 2011-12 §VI (model approval and use governance)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	status := object.get(m, ["approval", "status"], "")
	status != "approved"
	msg := sprintf("model %q is not approved (approval status %q)", [object.get(m, "id", ""), status])
}

# METADATA
# title: Model file must match the hash in its manifest
# custom:
#   id: ADM-HASH
#   citation: "SR 11-7 / OCC 2011-12 §VI (model inventory and change control)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	want := lower(object.get(m, "model_sha256", ""))
	got := lower(object.get(input, "actual_sha256", ""))
	not hash_matches(want, got)
	msg := sprintf("model file SHA-256 %q does not match manifest model_sha256 %q", [got, want])
}

hash_matches(want, got) if {
	want != ""
	want == got
}

ev := input.evidence

# METADATA
# title: Admission needs measured validation evidence
# description: >-
#   The gate reads figures measured by running the model through the
#   decision path on a labelled validation set, never the manifest's
#   claims about itself; the evidence must be about this model file.
# custom:
#   id: ADM-EVIDENCE
#   citation: "SR 11-7 / OCC 2011-12 §V (independent validation; outcomes analysis)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	some msg in evidence_problems
}

evidence_problems contains "the package ships no validation evidence (evidence.json, written by glassbox models check --validation)" if {
	object.get(input, "evidence", null) == null
}

# The evidence names the model file it measured; it must be the one the
# manifest names (ADM-HASH ties the manifest to the file served).
evidence_problems contains msg if {
	ev != null
	want := lower(object.get(m, "model_sha256", ""))
	want != ""
	lower(object.get(ev, "model_sha256", "")) != want
	msg := sprintf("the validation evidence measured model file %q, not the manifest's %q", [object.get(ev, "model_sha256", ""), want])
}

evidence_problems contains "the validation evidence has no fair-lending figures (run glassbox models check with --groups)" if {
	ev != null
	cfg.fairness_required
	object.get(ev, "fairness", null) == null
}

# METADATA
# title: Measured AUC must reach the policy floor
# custom:
#   id: ADM-AUC
#   citation: "12 CFR 1002.2(p)(1)(iii) (validated using accepted statistical principles); SR 11-7 §V (outcomes analysis)"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	ev != null
	ev.auc < cfg.min_auc
	msg := sprintf("measured AUC %.4f on the validation set (%d decisions) is below the floor %v", [ev.auc, ev.decided, cfg.min_auc])
}

# METADATA
# title: Measured adverse impact ratio must reach the policy floor
# description: >-
#   Each group's approval rate over the most favoured group's, measured on
#   the validation set with out-of-band group labels. Groups smaller than
#   the policy's minimum size are reported in the evidence but not gated.
# custom:
#   id: ADM-ADVERSE-IMPACT
#   citation: "12 CFR 1002.6(a) and comment 6(a)-2 (effects test); Interagency Fair Lending Examination Procedures"
violations contains lib.finding(rego.metadata.rule(), msg) if {
	ev != null
	some a in object.get(ev, ["fairness", "attributes"], [])
	some g in a.groups
	not g.favoured
	g.n >= cfg.fairness_min_group_size
	g.adverse_impact_ratio < cfg.min_adverse_impact_ratio
	fav := [f.group | some f in a.groups; f.favoured]
	msg := sprintf("%s group %q: measured adverse impact ratio %.3f (%d of %d approved) against the most favoured group %q is below the floor %v", [a.attribute, g.group, g.adverse_impact_ratio, g.approved, g.n, concat(", ", fav), cfg.min_adverse_impact_ratio])
}

# METADATA
# title: Key features must declare a monotone direction
# description: >-
#   Reasons for adverse action must be specific and accurate; a declared
#   direction keeps a feature's reason consistent across applicants.
# custom:
#   id: ADM-MONOTONE
#   citation: "12 CFR 1002.9(b)(2) (specific principal reasons); CFPB Circular 2022-03"
violations contains lib.feature_finding(rego.metadata.rule(), msg, [f.name]) if {
	some f in features
	f.type != "categorical"
	f.monotone == 0
	ts := lib.terms(f.name) | lib.terms(f.meaning)
	needs := {cfg.monotone_required[t] | some t in ts}
	count(needs) > 0
	msg := sprintf("%s is a %s feature and must declare a monotone direction (+1 or -1)", [describe(f), concat(", ", sort(needs))])
}

# METADATA
# title: No feature may be a prohibited basis
# custom:
#   id: ADM-PROHIBITED-BASIS
#   citation: "12 CFR 1002.6(b)(1); prohibited basis as defined in 12 CFR 1002.2(z)"
violations contains lib.feature_finding(rego.metadata.rule(), msg, [f.name]) if {
	some f in features
	unconditional := f.bases - {"age"}
	count(unconditional) > 0
	msg := sprintf("%s is a prohibited basis: %s", [describe(f), lib.labels(unconditional)])
}

# METADATA
# title: Age may be used only with a declared justification
# description: >-
#   An empirically derived, demonstrably and statistically sound scoring
#   system may use age; the manifest must say under which provision.
# custom:
#   id: ADM-AGE-JUSTIFICATION
#   citation: "12 CFR 1002.6(b)(2)(ii)"
violations contains lib.feature_finding(rego.metadata.rule(), msg, [f.name]) if {
	some f in features
	"age" in f.bases
	trim_space(f.justification) == ""
	msg := sprintf("%s is age, a prohibited basis unless justified under 12 CFR 1002.6(b)(2); the manifest declares no justification", [describe(f)])
}

# METADATA
# title: Age must never lower the score of an older applicant
# description: >-
#   The age of an elderly applicant may not be assigned a negative factor or
#   value, so the probability of default must not rise with age: the
#   monotone constraint must be declared as one of the allowed directions
#   (-1). Undeclared (0) is not enough, the trees could still go either way.
# custom:
#   id: ADM-AGE-MONOTONE
#   citation: "12 CFR 1002.6(b)(2)(ii)"
violations contains lib.feature_finding(rego.metadata.rule(), msg, [f.name]) if {
	some f in features
	"age" in f.bases
	not f.monotone in cfg.age_allowed_monotone
	msg := sprintf("%s is age and declares monotone %v; it must be one of %v so that probability of default never rises with age", [describe(f), f.monotone, cfg.age_allowed_monotone])
}

# The reference method policy names for this model, and its values.
reason_method := object.get(data.config.decision.models, [object.get(m, "id", ""), "reason_method"], "cutoff")

reference_values := input.reference.methods[reason_method].values

# What a direction's text claims: that changing the feature that way
# lowers the risk. refusals holds [feature, direction, why] for every claim
# a feature cannot support.
claims contains [f, dir] if {
	some f in features
	some dir, _ in f.texts
}

refusals contains [f, dir, "a categorical feature is never increased or decreased"] if {
	some [f, dir] in claims
	dir in {"increase", "decrease"}
	f.type == "categorical"
}

refusals contains [f, "other", "only a categorical feature has other levels"] if {
	some [f, "other"] in claims
	f.type != "categorical"
}

refusals contains [f, "increase", "its monotone constraint (+1) says raising it never lowers the risk"] if {
	some [f, "increase"] in claims
	f.type != "categorical"
	f.monotone == 1
}

refusals contains [f, "decrease", "its monotone constraint (-1) says lowering it never lowers the risk"] if {
	some [f, "decrease"] in claims
	f.type != "categorical"
	f.monotone == -1
}

refusals contains [f, dir, "the package ships no reference.json to measure it against"] if {
	some [f, dir] in claims
	dir != "provide"
	not reference_values
}

refusals contains [f, dir, sprintf("the reference (method %q) has no value for it", [reason_method])] if {
	some [f, dir] in claims
	dir != "provide"
	reference_values
	not f.name in object.keys(reference_values)
}

refusals contains [f, "increase", sprintf("its reference value %v is the feature's minimum, so no applicant is below it", [f.min])] if {
	some [f, "increase"] in claims
	f.type != "categorical"
	reference_values[f.name] == f.min
}

refusals contains [f, "decrease", sprintf("its reference value %v is the feature's maximum, so no applicant is above it", [f.max])] if {
	some [f, "decrease"] in claims
	f.type != "categorical"
	reference_values[f.name] == f.max
}

# METADATA
# title: Reason texts may claim only directions the model can support
# description: >-
#   A reason text for a direction says that changing the feature that way
#   would lower the risk. The monotone constraint rules some directions out,
#   a category has only other levels, and a direction needs a reference
#   value the applicant can be on the wrong side of.
# custom:
#   id: ADM-REASON-DIRECTION
#   citation: "12 CFR 1002.9(b)(2) and comment 9(b)(2)-5 (specific, accurate principal reasons for the factors scored)"
violations contains lib.feature_finding(rego.metadata.rule(), msg, [f.name]) if {
	some [f, dir, why] in refusals
	msg := sprintf("%s has a %q reason text, but %s", [describe(f), dir, why])
}
