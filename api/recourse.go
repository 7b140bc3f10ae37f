package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/glassbox-ledger/glassbox/decision"
	"github.com/glassbox-ledger/glassbox/explain"
	"github.com/glassbox-ledger/glassbox/policy"
	"github.com/glassbox-ledger/glassbox/recoursestore"
	"github.com/glassbox-ledger/glassbox/scoring"
	"github.com/glassbox-ledger/glassbox/transparency"
)

// RecourseStore keeps the recourse shown for each decision
// (*recoursestore.Store satisfies it). Put never replaces an entry.
type RecourseStore interface {
	Get(ctx context.Context, decisionID string) (recoursestore.Entry, bool, error)
	Put(ctx context.Context, e recoursestore.Entry) (stored recoursestore.Entry, inserted bool, err error)
	MarkAppended(ctx context.Context, decisionID string) error
	// Delete removes a decision's entry when its record is erased.
	Delete(ctx context.Context, decisionID string) (bool, error)
}

// memoryRecourse is the store used when Config.Recourse is nil (tests,
// embedded use): the same semantics, for the life of the process.
type memoryRecourse struct {
	mu sync.Mutex
	m  map[string]recoursestore.Entry
}

func (s *memoryRecourse) Get(_ context.Context, id string) (recoursestore.Entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[id]
	return e, ok, nil
}

func (s *memoryRecourse) Put(_ context.Context, e recoursestore.Entry) (recoursestore.Entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.m[e.DecisionID]; ok {
		return old, false, nil
	}
	e.Appended = false
	s.m[e.DecisionID] = e
	return e, true, nil
}

func (s *memoryRecourse) Delete(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[id]
	delete(s.m, id)
	return ok, nil
}

func (s *memoryRecourse) MarkAppended(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[id]
	e.Appended = true
	s.m[id] = e
	return nil
}

// newRecourser prepares recourse for m under the policy's thresholds.
func (s *Server) newRecourser(ctx context.Context, m *scoring.Model) (*explain.Recourser, error) {
	return decision.NewRecourser(ctx, s.policy, m)
}

// recourseView is what the explanation and the page show of recourse.
type recourseView struct {
	Counterfactuals []explain.Counterfactual
	// RecordID is the ledger id of the recourse record ("" for an
	// approval, which gets none).
	RecordID string
	// Message is said instead of suggestions when there are none, or when
	// they cannot be shown.
	Message string
}

// Messages about recourse.
const (
	noRecourse         = "No change to the details you can change (within the ranges seen in our data, at most two at a time) would have led to approval under our current model and policy."
	recourseUnknown    = "What would change the decision cannot be worked out here: the model or the features of this decision are not available to this service."
	recourseUnrecorded = "What would change the decision could not be recorded in the ledger just now; it is shown only once recorded. Retry later."
)

// recourseTimeout bounds one computation; it runs detached from the
// request so that a caller who gives up does not waste it for the others.
const recourseTimeout = 10 * time.Second

// recourseFor returns the recourse of a logged decision: from the store
// if it was computed before, else computed once (concurrent first
// requests share one computation), stored, and recorded in the ledger as
// a "recourse" record before it is shown.
func (s *Server) recourseFor(ctx context.Context, entry *transparency.Entry, rec *transparency.Record) recourseView {
	d := rec.Decision
	if d.Decision == string(policy.Approve) {
		return recourseView{Counterfactuals: []explain.Counterfactual{}}
	}
	id := entry.ID.String()
	e, ok, err := s.recourse.Get(ctx, id)
	if err != nil {
		s.log.ErrorContext(ctx, "reading recourse store", slog.String("decision", id), slog.Any("err", err))
		return recourseView{Counterfactuals: []explain.Counterfactual{}, Message: recourseUnrecorded}
	}
	if !ok {
		v, err, _ := s.recourseOnce.Do(id, func() (any, error) {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recourseTimeout)
			defer cancel()
			return s.computeRecourse(cctx, id, rec)
		})
		if errors.Is(err, errNotReplayable) {
			return recourseView{Counterfactuals: []explain.Counterfactual{}, Message: recourseUnknown}
		}
		if err != nil {
			s.log.ErrorContext(ctx, "computing recourse", slog.String("decision", id), slog.Any("err", err))
			return recourseView{Counterfactuals: []explain.Counterfactual{}, Message: recourseUnrecorded}
		}
		e = v.(recoursestore.Entry)
	}
	if !e.Appended {
		// Stored but not (known to be) in the ledger: append the same
		// bytes, which the ledger takes as the same leaf.
		if err := s.appendRecourse(ctx, e); err != nil {
			s.log.ErrorContext(ctx, "recording recourse", slog.String("decision", id), slog.Any("err", err))
			return recourseView{Counterfactuals: []explain.Counterfactual{}, Message: recourseUnrecorded}
		}
	}
	var cfs []explain.Counterfactual
	if err := json.Unmarshal(e.Counterfactuals, &cfs); err != nil {
		s.log.ErrorContext(ctx, "stored recourse does not decode", slog.String("decision", id), slog.Any("err", err))
		return recourseView{Counterfactuals: []explain.Counterfactual{}, Message: recourseUnrecorded}
	}
	v := recourseView{Counterfactuals: cfs, RecordID: e.RecordID}
	if len(cfs) == 0 {
		v.Message = noRecourse
	}
	return v
}

var errNotReplayable = errors.New("decision cannot be replayed here")

// computeRecourse searches, seals the recourse record and stores both.
func (s *Server) computeRecourse(ctx context.Context, id string, rec *transparency.Record) (recoursestore.Entry, error) {
	d := rec.Decision
	sm := s.models[d.Model.ID]
	if sm == nil || sm.recourse == nil || sm.model.SHA256 != d.Model.SHA256 || len(d.Features) == 0 {
		return recoursestore.Entry{}, errNotReplayable
	}
	x, err := sm.model.Vectorize(d.Inputs())
	if err != nil {
		return recoursestore.Entry{}, errNotReplayable
	}
	cfs, canon, digest, err := decision.Recourse(ctx, s.policy, sm.model, sm.explainer, sm.recourse, x)
	if err != nil {
		return recoursestore.Entry{}, err
	}
	r, err := transparency.NewRecord(s.now(), &transparency.Recourse{
		DecisionID:  id,
		Digest:      digest,
		Suggestions: len(cfs),
		Model:       d.Model,
		Policy:      transparency.PolicyRef{Revision: s.policy.Revision()},
	})
	if err != nil {
		return recoursestore.Entry{}, err
	}
	sealed, err := s.ledger.Seal(r)
	if err != nil {
		return recoursestore.Entry{}, err
	}
	// The recourse store keeps the leaf; a format 2 leaf's record goes
	// to the record store first, for appendRecourse to find.
	if err := s.ledger.PutRecord(ctx, sealed); err != nil {
		return recoursestore.Entry{}, err
	}
	e, _, err := s.recourse.Put(ctx, recoursestore.Entry{DecisionID: id, Counterfactuals: canon, Record: sealed.Bytes(), RecordID: sealed.ID().String()})
	if err != nil {
		return recoursestore.Entry{}, err
	}
	// An erasure that began while this ran may have missed what was just
	// stored: its journal is written before it looks, so it is seen here.
	if did, err := transparency.ParseID(id); err == nil {
		if _, err := s.ledger.Erasure(ctx, did); err == nil {
			if err := s.dropRecourse(ctx, did); err != nil {
				return recoursestore.Entry{}, err
			}
			return recoursestore.Entry{}, errors.New("the decision was erased meanwhile")
		}
	}
	return e, nil
}

// appendRecourse appends the stored record and marks it appended.
func (s *Server) appendRecourse(ctx context.Context, e recoursestore.Entry) error {
	sealed, err := s.ledger.Reseal(ctx, e.Record)
	if err != nil {
		return fmt.Errorf("stored recourse record: %w", err)
	}
	if sealed.ID().String() != e.RecordID {
		return fmt.Errorf("stored recourse record has id %s, store says %s", sealed.ID(), e.RecordID)
	}
	if _, err := s.ledger.AppendSealed(ctx, sealed); err != nil {
		return fmt.Errorf("appending recourse record: %w", err)
	}
	return s.recourse.MarkAppended(ctx, e.DecisionID)
}
