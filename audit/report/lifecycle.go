package report

import (
	"bytes"
	"encoding/json"
	"slices"
	"time"
)

// Event is a lifecycle record of the prefix (a final action or a loan
// outcome), read from the record's JSON form. Reading the JSON rather than
// a decoded body lets a build that predates a record type still count it,
// and keeps this package to the record format as the ledger writes it
// (docs/lifecycle.md).
type Event struct {
	Index      uint64
	Type       string // "final_action" or "outcome"
	Timestamp  time.Time
	DecisionID string
	// Action and Override are a final action's.
	Action   string
	Override bool
	// Status and AsOf are an outcome's.
	Status string
	AsOf   string
}

// ParseEvent reads a final_action or outcome record; ok is false for any
// other record.
func ParseEvent(index uint64, data []byte) (Event, bool) {
	var env struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Body      json.RawMessage `json:"body"`
	}
	if json.Unmarshal(data, &env) != nil || (env.Type != "final_action" && env.Type != "outcome") {
		return Event{}, false
	}
	var b struct {
		DecisionID string `json:"decision_id"`
		Action     string `json:"action"`
		Override   bool   `json:"override"`
		Status     string `json:"status"`
		AsOf       string `json:"as_of"`
	}
	ts, err := time.Parse(time.RFC3339Nano, env.Timestamp)
	if err != nil || json.NewDecoder(bytes.NewReader(env.Body)).Decode(&b) != nil || b.DecisionID == "" {
		return Event{}, false
	}
	return Event{Index: index, Type: env.Type, Timestamp: ts, DecisionID: b.DecisionID, Action: b.Action, Override: b.Override, Status: b.Status, AsOf: b.AsOf}, true
}

// Matured loan statuses: a bad outcome (default, charge-off) or a good
// one (repaid). Current and delinquent loans have not matured.
var maturedBad = map[string]bool{"defaulted": true, "charged_off": true}

const maturedGood = "repaid"

// Outcomes reads matured outcomes from the prefix's outcome records, by
// decision id, true for bad. A decision's latest outcome (by as_of, then
// log order) is the one that counts; a decision whose latest outcome has
// not matured has none.
func Outcomes(p *Prefix) map[string]bool {
	latest := map[string]Event{}
	for _, e := range p.Events {
		if e.Type != "outcome" {
			continue
		}
		if prev, ok := latest[e.DecisionID]; !ok || e.AsOf >= prev.AsOf {
			latest[e.DecisionID] = e
		}
	}
	out := map[string]bool{}
	for id, e := range latest {
		switch {
		case maturedBad[e.Status]:
			out[id] = true
		case e.Status == maturedGood:
			out[id] = false
		}
	}
	return out
}

// NoticeDays is Regulation B's notification period: a creditor notifies
// action taken within 30 days after receiving a completed application
// (12 CFR 1002.9(a)(1)(i)).
const NoticeDays = 30

// FinalActions summarises what lenders finally did about a segment's
// decisions.
type FinalActions struct {
	// Decided counts decisions with a final action; ByAction counts their
	// latest final action.
	Decided  int            `json:"decided"`
	ByAction map[string]int `json:"by_action"`
	// Overrides counts final actions against the model's outcome,
	// OverrideRate divides by Decided, and Directions counts them as
	// "model decision→final action".
	Overrides    int            `json:"overrides"`
	OverrideRate float64        `json:"override_rate"`
	Directions   map[string]int `json:"directions"`
	// Referrals counts referred decisions, Resolved those with a final
	// action, and MedianResolutionHours the median time from the decision
	// to its first final action.
	Referrals             int      `json:"referrals"`
	Resolved              int      `json:"resolved"`
	MedianResolutionHours *float64 `json:"median_resolution_hours"`
	// Overdue counts referrals resolved after NoticeDays, or unresolved
	// NoticeDays after the decision as of the prefix's latest timestamp.
	Overdue int `json:"overdue"`
}

func finalActions(es []Entry, events []Event, asOf time.Time) *FinalActions {
	first, last := map[string]Event{}, map[string]Event{}
	for _, e := range events {
		if e.Type != "final_action" {
			continue
		}
		if _, ok := first[e.DecisionID]; !ok {
			first[e.DecisionID] = e
		}
		last[e.DecisionID] = e
	}
	fa := &FinalActions{ByAction: map[string]int{}, Directions: map[string]int{}}
	var hours []float64
	limit := NoticeDays * 24 * time.Hour
	for _, e := range es {
		d := e.Record.Decision
		l, acted := last[e.ID]
		if acted {
			fa.Decided++
			fa.ByAction[l.Action]++
			if l.Override {
				fa.Overrides++
				fa.Directions[d.Decision+"→"+l.Action]++
			}
		}
		if d.Decision != "refer" {
			continue
		}
		fa.Referrals++
		if f, ok := first[e.ID]; ok {
			fa.Resolved++
			took := f.Timestamp.Sub(e.Record.Timestamp)
			hours = append(hours, took.Hours())
			if took > limit {
				fa.Overdue++
			}
		} else if asOf.Sub(e.Record.Timestamp) > limit {
			fa.Overdue++
		}
	}
	if fa.Decided == 0 && fa.Referrals == 0 {
		return nil
	}
	if fa.Decided > 0 {
		fa.OverrideRate = float64(fa.Overrides) / float64(fa.Decided)
	}
	if len(hours) > 0 {
		m := median(hours)
		fa.MedianResolutionHours = &m
	}
	return fa
}

func median(x []float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
