// Package decision is glassbox's decision path and the life of a decision
// after it: score → explain → decide → record, and the records that follow
// a decision on the ledger.
//
// The HTTP API (package api) and the command line (`glassbox audit
// replay`) both decide through Evaluate, so that a replayed decision is
// re-made by exactly the code that made it. Record builds the canonical
// ledger record of an evaluated application with only the fields policy
// lets into the ledger. Nothing here writes to the ledger: callers append
// what this package seals.
package decision
