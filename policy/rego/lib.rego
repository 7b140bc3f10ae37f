# METADATA
# title: Shared helpers
# description: >-
#   Identifier matching and the finding objects every glassbox policy
#   returns. Matching lives here so that model admission, decision reasons
#   and ledger minimisation agree on what "names a prohibited basis" means.
package glassbox.lib

# words splits an identifier at separators and camel-case boundaries, so
# that "BirthYear", "birth_year" and "birth-year" all give ["birth", "year"].
words(s) := [lower(w) | some w in regex.find_n(`[A-Z]+[a-z0-9]*|[a-z0-9]+`, s, -1)]

# terms are the keys an identifier is looked up under: the whole identifier
# without separators, every word, and every run of two or three adjacent
# words ("applicant_date_of_birth" gives "dateofbirth"). Whole words only,
# so "Mortgage" never matches "age" and "Seniority" never matches "senior".
# Written without numbers.range: this runs for every reason of every
# decision.
terms(s) := ts if {
	ws := words(s)
	ts := (({concat("", ws)} | {w | some w in ws}) | {concat("", [ws[i - 1], w]) | some i, w in ws; i > 0}) | {concat("", [ws[i - 2], ws[i - 1], w]) | some i, w in ws; i > 1}
}

# bases are the prohibited bases (keys of data.config.prohibited.bases)
# that an identifier names.
bases(s) := {b | some t in terms(s); b := data.config.prohibited.terms[t]}

# feature_bases looks at both the declared meaning and the name: a manifest
# could declare a harmless meaning for a column that is plainly "Gender".
feature_bases(name, meaning) := bases(name) | bases(meaning)

labels(bs) := concat(", ", sort([data.config.prohibited.bases[b].label | some b in bs]))

# finding builds the object Go decodes into policy.Finding. The id, title
# and citation come from the calling rule's METADATA so that the text a
# regulator reads is the text reviewed with the rule.
finding(md, msg) := {
	"id": md.custom.id,
	"title": md.title,
	"citation": md.custom.citation,
	"message": msg,
}

# feature_finding is a finding that also lists the features it concerns.
feature_finding(md, msg, features) := {
	"id": md.custom.id,
	"title": md.title,
	"citation": md.custom.citation,
	"message": msg,
	"features": features,
}
