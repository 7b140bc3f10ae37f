package notice

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/glassbox-ledger/glassbox/transparency"
)

// ErrNoNotice means a final action needs no notice: the applicant
// withdrew the application (12 CFR 1002.9(e)).
var ErrNoNotice = errors.New("a withdrawn application gets no notice of action taken")

// BuildFinal assembles the notice of a final action (record action, id
// actionID) taken on the decision record dec (id decisionID), from the two
// ledger records alone: the action and its reasons from the final action,
// the score and its key factors from the decision.
func BuildFinal(decisionID string, dec *transparency.Record, actionID string, action *transparency.Record, o Options) (*Notice, error) {
	if dec == nil || dec.Decision == nil {
		return nil, ErrNotDecision
	}
	if action == nil || action.FinalAction == nil || action.FinalAction.DecisionID != decisionID {
		return nil, fmt.Errorf("record %s is not a final action on decision %s", actionID, decisionID)
	}
	fa := action.FinalAction
	if fa.Action == transparency.ActionWithdrawn {
		return nil, ErrNoNotice
	}
	d := *dec.Decision
	d.Decision = fa.Action
	d.Reasons = make([]transparency.Reason, len(fa.Reasons))
	for i, r := range fa.Reasons {
		d.Reasons[i] = transparency.Reason{Code: r.Code, Text: r.Text}
	}
	derived := &transparency.Record{Format: dec.Format, Type: transparency.TypeDecision, Timestamp: action.Timestamp, Decision: &d}
	n, err := Build(decisionID, derived, o)
	if err != nil {
		return nil, err
	}
	n.FinalActionID = actionID
	n.PolicyRevision = fa.Policy.Revision
	lang := n.Lang
	n.FinalActionLabel = pick(lang == Spanish, "Final action record", "Registro de la decisión final")
	// The score disclosure's key factors are the model's reasons, which
	// only the decision record holds.
	if n.Adverse {
		for _, r := range dec.Decision.Reasons {
			if r.Rule == "" && r.Feature != "" && len(n.KeyFactors) < maxReasons {
				n.KeyFactors = append(n.KeyFactors, reasonFor(r, o.Manifest, lang).Text)
			}
		}
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range fa.Counteroffer {
			if !yield(k) {
				return
			}
		}
	}) {
		v := fa.Counteroffer[k]
		name := k
		if o.Manifest != nil {
			if i := o.Manifest.FeatureIndex(k); i >= 0 {
				name = o.Manifest.Features[i].DisplayName(lang)
			}
		}
		var s string
		if x, ok := v.Number(); ok {
			s = strconv.FormatFloat(x, 'f', -1, 64)
		} else if l, ok := v.Level(); ok {
			s = l
		}
		n.Terms = append(n.Terms, name+": "+s)
	}
	return n, nil
}
