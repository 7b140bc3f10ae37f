// Package audit is the regulator's library: the figures an examiner
// computes from a lender's decisions and, where known, their outcomes —
// discrimination (AUC, KS), calibration (per band, Hosmer–Lemeshow),
// population stability (PSI) and fair-lending measures (adverse impact
// ratio with a confidence interval, standardized mean difference,
// Cramér's V, point-biserial correlation, attributions by group).
//
// Every function is a pure computation over plain slices, deterministic
// to the bit for a given input order, so that a report computed from a
// signed log prefix can be recomputed by anyone holding the records and
// compared byte for byte. docs/monitoring.md states each formula.
//
// Conventions: a label is true for a bad outcome (default); a
// probability of default is higher for riskier applicants.
package audit
