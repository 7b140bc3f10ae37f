package glassbox.admission_test

import data.glassbox.admission

sha := "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"

feature(name, meaning, monotone) := {"name": name, "meaning": meaning, "type": "numeric", "monotone": monotone}

compliant := {
	"id": "credit-risk-v1",
	"version": "1.0.0",
	"model_sha256": sha,
	"features": [
		feature("Seniority", "employment_seniority", -1),
		feature("Income", "income", -1),
		feature("Debt", "debt", 1),
		feature("Amount", "requested_amount", 1),
		{"name": "Home", "meaning": "housing", "type": "categorical", "monotone": 0},
		feature("Records", "credit_records", 1),
	],
	"provenance": {"test_auc": 0.827},
	"approval": {"status": "approved"},
}

with_features(fs) := object.union(compliant, {"features": array.concat(compliant.features, fs)})

ids(findings) := {f.id | some f in findings}

test_compliant_model_admitted if {
	r := admission.result with input as {"evidence": evidence, "manifest": compliant, "actual_sha256": sha}
	r.admitted
	count(r.violations) == 0
}

test_hash_compared_case_insensitively if {
	admission.admitted with input as {"evidence": evidence, "manifest": compliant, "actual_sha256": upper(sha)}
}

test_unapproved_refused if {
	r := admission.result with input as {"evidence": evidence, "manifest": object.union(compliant, {"approval": {"status": "pending"}}), "actual_sha256": sha}
	not r.admitted
	ids(r.violations) == {"ADM-APPROVAL"}
}

test_missing_approval_refused if {
	r := admission.result with input as {"evidence": evidence, "manifest": object.remove(compliant, ["approval"]), "actual_sha256": sha}
	ids(r.violations) == {"ADM-APPROVAL"}
}

test_hash_mismatch_refused if {
	r := admission.result with input as {"evidence": evidence, "manifest": compliant, "actual_sha256": concat("", ["ff", substring(sha, 2, 62)])}
	not r.admitted
	ids(r.violations) == {"ADM-HASH"}
}

test_empty_hashes_never_match if {
	r := admission.result with input as {"evidence": evidence, "manifest": object.union(compliant, {"model_sha256": ""}), "actual_sha256": ""}
	ids(r.violations) == {"ADM-HASH"}
}

group(name, n, approved, ratio, favoured) := {"group": name, "n": n, "approved": approved, "adverse_impact_ratio": ratio, "favoured": favoured}

# evidence passes every gate: AUC 0.83, the lowest gated ratio 0.75.
evidence := {
	"model_sha256": sha,
	"auc": 0.83,
	"decided": 890,
	"fairness": {"attributes": [{"attribute": "Age", "groups": [
		group("18-24", 100, 60, 0.75, false),
		group("35-44", 100, 80, 1, true),
		group("65+", 20, 4, 0.25, false),
	]}]},
}

test_auc_floor if {
	low := object.union(evidence, {"auc": 0.69})
	r := admission.result with input as {"evidence": low, "manifest": compliant, "actual_sha256": sha}
	ids(r.violations) == {"ADM-AUC"}
	at := object.union(evidence, {"auc": 0.70})
	admission.admitted with input as {"evidence": at, "manifest": compliant, "actual_sha256": sha}
}

test_auc_floor_from_data if {
	r := admission.result with input as {"evidence": evidence, "manifest": compliant, "actual_sha256": sha}
		with data.config.admission.min_auc as 0.9
	ids(r.violations) == {"ADM-AUC"}
}

# The manifest's own claim is not what the gate reads.
test_manifest_auc_ignored if {
	claims := object.union(compliant, {"provenance": {"test_auc": 0.99}})
	r := admission.result with input as {"evidence": object.union(evidence, {"auc": 0.6}), "manifest": claims, "actual_sha256": sha}
	ids(r.violations) == {"ADM-AUC"}
}

test_no_evidence_refused if {
	r := admission.result with input as {"manifest": compliant, "actual_sha256": sha}
	ids(r.violations) == {"ADM-EVIDENCE"}
	r2 := admission.result with input as {"evidence": null, "manifest": compliant, "actual_sha256": sha}
	ids(r2.violations) == {"ADM-EVIDENCE"}
}

test_evidence_for_another_model_refused if {
	other := object.union(evidence, {"model_sha256": concat("", ["ff", substring(sha, 2, 62)])})
	r := admission.result with input as {"evidence": other, "manifest": compliant, "actual_sha256": sha}
	ids(r.violations) == {"ADM-EVIDENCE"}
}

test_fairness_required if {
	r := admission.result with input as {"evidence": object.remove(evidence, ["fairness"]), "manifest": compliant, "actual_sha256": sha}
	ids(r.violations) == {"ADM-EVIDENCE"}
	admission.admitted with input as {"evidence": object.remove(evidence, ["fairness"]), "manifest": compliant, "actual_sha256": sha}
		with data.config.admission.fairness_required as false
}

test_adverse_impact_floor if {
	r := admission.result with input as {"evidence": evidence, "manifest": compliant, "actual_sha256": sha}
		with data.config.admission.min_adverse_impact_ratio as 0.8
	ids(r.violations) == {"ADM-ADVERSE-IMPACT"}
	[v] := [v | some v in r.violations]
	contains(v.message, `Age group "18-24"`)
	contains(v.message, "0.750 (60 of 100 approved)")
	contains(v.message, `"35-44"`)
}

# A group below the minimum size is reported, not gated.
test_small_group_not_gated if {
	admission.admitted with input as {"evidence": evidence, "manifest": compliant, "actual_sha256": sha}
		with data.config.admission.min_adverse_impact_ratio as 0.7
	r := admission.result with input as {"evidence": evidence, "manifest": compliant, "actual_sha256": sha}
		with data.config.admission.min_adverse_impact_ratio as 0.7
		with data.config.admission.fairness_min_group_size as 10
	ids(r.violations) == {"ADM-ADVERSE-IMPACT"}
}

test_monotone_required_for_key_features if {
	m := object.union(compliant, {"features": [feature("Income", "income", 0), feature("LoanAmount", "", 0), feature("Time", "loan_term_months", 0)]})
	r := admission.result with input as {"evidence": evidence, "manifest": m, "actual_sha256": sha}
	ids(r.violations) == {"ADM-MONOTONE"}
	{f.features[0] | some f in r.violations} == {"Income", "LoanAmount"}
}

test_prohibited_bases_refused_by_name_and_meaning if {
	m := with_features([
		feature("Marital", "marital_status", 0),
		feature("Gender", "", 0),
		feature("X7", "race", 0),
		feature("CivilStatus", "household", 0),
		feature("Nationality", "", 0),
		feature("Religion", "", 0),
		feature("SkinColor", "", 0),
		feature("PublicAssistance", "", 0),
	])
	r := admission.result with input as {"evidence": evidence, "manifest": m, "actual_sha256": sha}
	not r.admitted
	ids(r.violations) == {"ADM-PROHIBITED-BASIS"}
	{f.features[0] | some f in r.violations} == {"Marital", "Gender", "X7", "CivilStatus", "Nationality", "Religion", "SkinColor", "PublicAssistance"}
	every f in r.violations {
		contains(f.citation, "12 CFR 1002.6(b)(1)")
	}
}

test_age_without_justification_refused if {
	r := admission.result with input as {"evidence": evidence, "manifest": with_features([feature("Age", "age", -1)]), "actual_sha256": sha}
	ids(r.violations) == {"ADM-AGE-JUSTIFICATION"}
	some f in r.violations
	f.citation == "12 CFR 1002.6(b)(2)(ii)"
	f.features == ["Age"]
}

for_age(monotone) := r if {
	justified := object.union(feature("BirthYear", "", monotone), {"justification": "12 CFR 1002.6(b)(2)(ii): empirically derived system"})
	r := admission.result with input as {"evidence": evidence, "manifest": with_features([justified]), "actual_sha256": sha}
}

test_age_must_be_monotone_decreasing if {
	ids(for_age(0).violations) == {"ADM-AGE-MONOTONE"}
	ids(for_age(1).violations) == {"ADM-AGE-MONOTONE"}
	for_age(-1).admitted
}

test_protected_manifest_reports_every_violation if {
	m := object.union(with_features([feature("Marital", "marital_status", 0), feature("Age", "age", 0)]), {"approval": {"status": "approved"}})
	r := admission.result with input as {"evidence": evidence, "manifest": m, "actual_sha256": sha}
	not r.admitted
	ids(r.violations) == {"ADM-PROHIBITED-BASIS", "ADM-AGE-JUSTIFICATION", "ADM-AGE-MONOTONE"}
}

test_describe_without_meaning if {
	admission.describe({"name": "Gender", "meaning": ""}) == `feature "Gender"`
}

# The reasons admission vets are the features' manifest reasons, skipping
# features without a reason code and features that name a prohibited basis.
coded(name, meaning, code) := object.union(feature(name, meaning, 1), {"reason": {"code": code, "text": "t"}})

test_vetted_reasons if {
	m := object.union(compliant, {"features": [
		coded("Income", "income", "R07"),
		coded("Debt", "", "R09"),
		feature("Seniority", "employment_seniority", -1),
		coded("MaritalStatus", "household", "R10"),
		coded("Savings", "race", "R11"),
	]})
	r := admission.result with input as {"evidence": evidence, "manifest": m, "actual_sha256": sha}
	r.reasons == {
		{"code": "R07", "feature": "Income", "meaning": "income"},
		{"code": "R09", "feature": "Debt", "meaning": ""},
	}
}

# Reason texts per direction, against the monotone constraints and the
# reference the policy's method names.
texted(f, texts) := object.union(f, {"min": 0, "max": 100, "reason": {"code": "R1", "text": "t", "texts": texts}})

reference_for(values) := {"methods": {"cutoff": {"values": values}}}

direction_findings(fs, ref) := {[v.features[0], v.message] |
	r := admission.result with input as {"evidence": evidence, "manifest": with_features(fs), "actual_sha256": sha, "reference": ref}
	some v in r.violations
	v.id == "ADM-REASON-DIRECTION"
}

test_direction_texts_supported if {
	fs := [
		texted(feature("Assets", "assets", -1), {"increase": "Insufficient assets", "provide": "Assets not provided"}),
		texted(feature("Price", "price", 0), {"increase": "Down payment too small", "decrease": "Price too high"}),
		object.union({"name": "Job", "type": "categorical", "monotone": 0}, {"reason": {"code": "R5", "text": "t", "texts": {"other": "Temporary or irregular employment"}}}),
	]
	direction_findings(fs, reference_for({"Assets": 50, "Price": 50, "Job": "fixed"})) == set()
}

test_direction_texts_refused if {
	fs := [
		texted(feature("Assets", "assets", -1), {"decrease": "Too many assets"}),
		texted(feature("Debt2", "debt", 1), {"increase": "Too little debt"}),
		texted(feature("Price", "price", 0), {"other": "Other price", "increase": "Down payment too small"}),
		object.union({"name": "Job", "type": "categorical", "monotone": 0}, {"reason": {"code": "R5", "text": "t", "texts": {"increase": "More job"}}}),
		texted(feature("Time", "loan_term", 0), {"decrease": "Term too long"}),
	]
	found := direction_findings(fs, reference_for({"Assets": 50, "Debt2": 50, "Price": 0, "Job": "fixed", "Time": 100}))
	{f | some [f, _] in found} == {"Assets", "Debt2", "Price", "Job", "Time"}
	some [_, m1] in found
	contains(m1, "monotone constraint (-1)")
	some [_, m2] in found
	contains(m2, "only a categorical feature")
	some [_, m3] in found
	contains(m3, "is the feature's minimum")
	some [_, m4] in found
	contains(m4, "is the feature's maximum")
	some [_, m5] in found
	contains(m5, "never increased or decreased")
}

test_direction_texts_need_a_reference if {
	fs := [texted(feature("Assets", "assets", -1), {"increase": "Insufficient assets", "provide": "Assets not provided"})]
	found := direction_findings(fs, null)
	count(found) == 1
	some [_, m] in found
	contains(m, "no reference.json")
	missing := direction_findings(fs, reference_for({"Other": 1}))
	some [_, m2] in missing
	contains(m2, "has no value for it")
}
