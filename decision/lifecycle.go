package decision

import (
	"slices"
	"sync"
	"time"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// Linked is a ledger record that belongs to a decision.
type Linked struct {
	ID     transparency.ID
	Record *transparency.Record
}

// Review is a decision awaiting a person's final action.
type Review struct {
	DecisionID    string
	Lender        string
	ApplicationID string
	// Kind is "referral" (the model referred it) or "contest".
	Kind string
	// Since is when it started waiting: the decision's time.
	Since time.Time
}

// Age is how long the review has waited at now.
func (r Review) Age(now time.Time) time.Duration { return now.Sub(r.Since) }

// Index finds the records linked to a decision, and the decisions
// awaiting review, without scanning the ledger on every request. It is
// derived state: the ledger is the source of truth, and an Index is
// rebuilt by feeding it the log's records (Add is idempotent, so a record
// seen both when appended and when read back counts once). It is safe for
// concurrent use.
type Index struct {
	mu     sync.Mutex
	linked map[string][]Linked
	seen   map[transparency.ID]bool
	open   map[string]Review
	// decisions are the decisions seen (id → what the queue needs), so
	// that a final action seen before its decision still closes it.
	closed map[string]bool
	// size is how many leaves of the log have been fed in order (Synced).
	size uint64
}

// NewIndex returns an empty index.
func NewIndex() *Index {
	return &Index{linked: map[string][]Linked{}, seen: map[transparency.ID]bool{}, open: map[string]Review{}, closed: map[string]bool{}}
}

// Add records one ledger record. Decisions matter only when referred
// (they open a review); lifecycle records are linked to their decision
// and a final action closes its decision's review.
func (x *Index) Add(id transparency.ID, rec *transparency.Record) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.seen[id] {
		return
	}
	switch {
	case rec.Type == transparency.TypeDecision:
		d := rec.Decision
		if d.Decision != "refer" || d.Lender == "" {
			return
		}
		x.seen[id] = true
		if !x.closed[id.String()] {
			x.open[id.String()] = Review{DecisionID: id.String(), Lender: d.Lender, ApplicationID: d.ApplicationID, Kind: "referral", Since: rec.Timestamp}
		}
	case rec.LinkedDecision() != "":
		x.seen[id] = true
		did := rec.LinkedDecision()
		x.linked[did] = append(x.linked[did], Linked{ID: id, Record: rec})
		switch rec.Type {
		case transparency.TypeFinalAction:
			x.closed[did] = true
			delete(x.open, did)
		case transparency.TypeContest:
			// A contest asks a person again, whatever was decided before;
			// the next final action answers it.
			x.open[did] = Review{DecisionID: did, Lender: rec.Contest.Lender, ApplicationID: rec.Contest.ApplicationID, Kind: "contest", Since: rec.Timestamp}
		}
	}
}

// AddReferral records a referral just appended, from what its record
// says (lender, application id, time), without decoding it: the same
// review Add makes of the record.
func (x *Index) AddReferral(id transparency.ID, lender, applicationID string, at time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.seen[id] || lender == "" {
		return
	}
	x.seen[id] = true
	if !x.closed[id.String()] {
		x.open[id.String()] = Review{DecisionID: id.String(), Lender: lender, ApplicationID: applicationID, Kind: "referral", Since: at}
	}
}

// Linked returns the records linked to a decision, in the order seen.
func (x *Index) Linked(decisionID string) []Linked {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.linked[decisionID])
}

// Synced returns how many leaves of the log have been fed in order.
func (x *Index) Synced() uint64 {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.size
}

// SetSynced records that the first n leaves have been fed.
func (x *Index) SetSynced(n uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.size = max(x.size, n)
}

// Reviews returns the reviews awaiting a final action, of one lender
// ("" for all), oldest first.
func (x *Index) Reviews(lender string) []Review {
	x.mu.Lock()
	var out []Review
	for _, r := range x.open {
		if lender == "" || r.Lender == lender {
			out = append(out, r)
		}
	}
	x.mu.Unlock()
	slices.SortFunc(out, func(a, b Review) int {
		if c := a.Since.Compare(b.Since); c != 0 {
			return c
		}
		return compareStrings(a.DecisionID, b.DecisionID)
	})
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Overdue counts the reviews that have waited longer than deadline at now.
func (x *Index) Overdue(now time.Time, deadline time.Duration) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := 0
	for _, r := range x.open {
		if r.Age(now) > deadline {
			n++
		}
	}
	return n
}

// State is what the ledger says of a decision after it was made, from
// its linked records.
type State struct {
	// Current is the final action in force (the last of the chain of
	// amendments); nil if none.
	Current *Linked
	// Outcome is the loan outcome in force: the latest as_of, and of two
	// with the same date the later record.
	Outcome *Linked
	// Notices are the notice_sent records.
	Notices []Linked
	// Contest is the latest contest, and Contested whether no final
	// action followed it.
	Contest   *Linked
	Contested bool
	// Rescores are the rescore records (decisions re-made from this one).
	Rescores []Linked
}

// StateOf folds linked records (in ledger order) into a State.
func StateOf(linked []Linked) State {
	var s State
	for i := range linked {
		l := &linked[i]
		switch l.Record.Type {
		case transparency.TypeFinalAction:
			// Policy lets an action in only as the first or as the
			// amendment of the one in force, so the last one is in force.
			s.Current = l
			s.Contested = false
		case transparency.TypeContest:
			s.Contest, s.Contested = l, true
		case transparency.TypeRescore:
			s.Rescores = append(s.Rescores, *l)
		case transparency.TypeOutcome:
			if s.Outcome == nil || l.Record.Outcome.AsOf >= s.Outcome.Record.Outcome.AsOf {
				s.Outcome = l
			}
		case transparency.TypeNoticeSent:
			s.Notices = append(s.Notices, *l)
		}
	}
	return s
}
