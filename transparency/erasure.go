package transparency

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/glassbox-ledger/glassbox/transparency/recordstore"
)

// MaxRequester bounds an erasure's requester, in bytes (like
// MaxLegalBasis).
const MaxRequester = 200

// ErrNotErasable: the record cannot be erased by crypto-shredding (a
// format 1 leaf holds it in clear; a governance record holds no
// applicant data). Maps to 409.
var ErrNotErasable = errors.New("record cannot be erased")

// CheckErasureText checks a legal basis or requester: non-blank, valid
// UTF-8, at most max bytes, no control characters.
func CheckErasureText(field, s string, max int) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("%s is required", field)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", field)
	case len(s) > max:
		return fmt.Errorf("%s may be at most %d bytes", field, max)
	case strings.ContainsFunc(s, unicode.IsControl):
		return fmt.Errorf("%s may not contain control characters", field)
	}
	return nil
}

// ErasureRequest asks the ledger to erase a decision.
type ErasureRequest struct {
	Decision   ID
	LegalBasis string
	// Requester is who asked (personal data: kept encrypted in the record
	// store, never in the log).
	Requester string
	// Related are other records holding the same applicant's data, to be
	// shredded with the decision (its recourse records). Ids without a
	// record in the store (format 1 leaves) are skipped.
	Related []ID
	// Time stamps the erasure record (default now).
	Time time.Time
}

// ErasureInfo is an erasure as the ledger keeps it.
type ErasureInfo struct {
	// Record is the erasure record; ID its id (the leaf hash) and Data
	// its leaf bytes.
	Record *Record
	ID     ID
	Data   []byte
	// Already is true when the decision had been erased before: Record is
	// that earlier erasure's.
	Already bool
}

// erasureJournal is what the record store keeps of an erasure under the
// journal id of its decision (journalID): written, pending, before any
// step of the erasure, and committed once every step is done, so that a
// retry or the next start-up completes an erasure cut short, with the very
// same erasure record.
type erasureJournal struct {
	Decision string   `json:"decision_id"`
	Record   []byte   `json:"erasure_record"`
	Related  []string `json:"related"`
	// Requester is personal data, which is why the journal is in the
	// (encrypted, erasable) record store.
	Requester string `json:"requester"`
}

// journalDomain separates journal ids from leaf ids: a leaf id is
// SHA-256(0x00 ‖ leaf), a journal id SHA-256 of this text ‖ the decision
// id, so neither can be made to equal the other.
const journalDomain = "glassbox erasure journal v1\x00"

// journalID is where a decision's erasure journal is kept in the record
// store.
func journalID(decision ID) [32]byte {
	h := sha256.New()
	h.Write([]byte(journalDomain))
	h.Write(decision[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// Erase crypto-shreds a decision's record: it records the erasure in the
// record store's journal, appends an "erasure" record (in clear: decision
// id, legal basis, time) to the log, destroys the data keys of the
// decision's record and of req.Related, and marks the journal done. The
// log and every proof stay as they are. Erasing an erased decision
// returns the earlier erasure (Already) and appends nothing.
//
// ErrNotFound: no such leaf. ErrNotErasable: the leaf is foreign, in
// format 1 (its record is in clear in the log), or no decision.
func (l *Ledger) Erase(ctx context.Context, req ErasureRequest) (*ErasureInfo, error) {
	if l.recs.store == nil {
		return nil, fmt.Errorf("%w: this ledger keeps no record store, so every record is in clear in the log", ErrNotErasable)
	}
	if err := CheckErasureText("legal_basis", req.LegalBasis, MaxLegalBasis); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	if err := CheckErasureText("requester", req.Requester, MaxRequester); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	e, err := l.GetEntry(ctx, req.Decision)
	if err != nil {
		return nil, err
	}
	if err := erasable(e); err != nil {
		return nil, err
	}
	jid := journalID(req.Decision)
	if j, err := l.journal(ctx, jid); err == nil {
		return l.completeErasure(ctx, jid, j, true)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if req.Time.IsZero() {
		req.Time = time.Now()
	}
	rec, err := NewRecord(req.Time, &Erasure{DecisionID: req.Decision.String(), LegalBasis: req.LegalBasis})
	if err != nil {
		return nil, err
	}
	data, err := rec.Encode()
	if err != nil {
		return nil, err
	}
	j := &erasureJournal{Decision: req.Decision.String(), Record: data, Related: []string{}, Requester: req.Requester}
	for _, id := range req.Related {
		j.Related = append(j.Related, id.String())
	}
	raw, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("encoding erasure journal: %w", err)
	}
	salt, err := NewSalt()
	if err != nil {
		return nil, err
	}
	switch err := l.recs.store.Put(ctx, jid, salt, raw); {
	case errors.Is(err, recordstore.ErrConflict):
		// A concurrent erasure of the same decision journalled first:
		// it is the erasure, this one completes it.
		j, err := l.journal(ctx, jid)
		if err != nil {
			return nil, err
		}
		return l.completeErasure(ctx, jid, j, true)
	case err != nil:
		return nil, fmt.Errorf("%w: record store: %w", ErrUnavailable, err)
	}
	return l.completeErasure(ctx, jid, j, false)
}

// erasable says why e cannot be crypto-shredded, or nil.
func erasable(e *Entry) error {
	switch {
	case e.Foreign:
		return fmt.Errorf("%w: leaf %s was not written by this ledger: it is no decision", ErrNotErasable, e.ID)
	case e.Format != EnvelopeFormat:
		return fmt.Errorf("%w: %s is a format 1 leaf: its record is in clear in the log, which cannot be changed, so there is no key to destroy", ErrNotErasable, e.ID)
	case e.Type != TypeDecision:
		return fmt.Errorf("%w: %s is a %s record, not a decision", ErrNotErasable, e.ID, e.Type)
	}
	return nil
}

// Steps of an erasure, named for the seam tests cut them at.
const (
	eraseStepAppended = "appended" // the erasure record is queued; no key destroyed yet
	eraseStepShredded = "shredded" // keys destroyed; journal not yet committed
)

// completeErasure runs the steps of a journalled erasure; each is
// idempotent, so running them again after a crash at any point finishes
// the erasure with the same record. The erasure record is appended before
// the keys are destroyed: a crash in between leaves the record readable
// and its erasure announced, which the retry or start-up completes; the
// other order would leave a record gone with no erasure record to say why.
func (l *Ledger) completeErasure(ctx context.Context, jid [32]byte, j *erasureJournal, already bool) (*ErasureInfo, error) {
	rec, err := DecodeRecord(j.Record)
	if err != nil || rec.Type != TypeErasure || rec.Erasure.DecisionID != j.Decision {
		return nil, fmt.Errorf("%w: the erasure journal of %s holds no erasure record of it", ErrInconsistent, j.Decision)
	}
	sealed, err := rec.Seal()
	if err != nil {
		return nil, err
	}
	if _, err := l.AppendSealed(ctx, sealed); err != nil {
		return nil, err
	}
	if err := l.seam(eraseStepAppended); err != nil {
		return nil, err
	}
	ids := []string{j.Decision}
	ids = append(ids, j.Related...)
	for _, s := range ids {
		id, err := ParseID(s)
		if err != nil {
			return nil, fmt.Errorf("%w: erasure journal of %s: %w", ErrInconsistent, j.Decision, err)
		}
		_, err = l.recs.store.Erase(ctx, id)
		if errors.Is(err, recordstore.ErrNotFound) && s != j.Decision {
			continue // a related record in clear (format 1): nothing to shred
		}
		if err != nil {
			return nil, fmt.Errorf("%w: erasing %s: %w", ErrUnavailable, s, err)
		}
		l.forgetRecord(id)
	}
	if err := l.seam(eraseStepShredded); err != nil {
		return nil, err
	}
	if err := l.recs.store.Commit(ctx, jid); err != nil {
		return nil, fmt.Errorf("%w: record store: %w", ErrUnavailable, err)
	}
	return &ErasureInfo{Record: rec, ID: sealed.ID(), Data: sealed.Bytes(), Already: already}, nil
}

// forgetRecord drops the copy of an erased record that a leaf this
// process queued, and no checkpoint covers yet, keeps in memory.
func (l *Ledger) forgetRecord(id ID) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if pr := l.pending[id]; pr != nil && pr.record != nil {
		pr.erased = true
	}
}

// seam is the test's fault injection point between erasure steps.
func (l *Ledger) seam(step string) error {
	if l.eraseSeam == nil {
		return nil
	}
	return l.eraseSeam(step)
}

// journal reads and checks the erasure journal kept under jid.
func (l *Ledger) journal(ctx context.Context, jid [32]byte) (*erasureJournal, error) {
	_, raw, err := l.recs.store.Get(ctx, jid)
	switch {
	case errors.Is(err, recordstore.ErrNotFound):
		return nil, fmt.Errorf("%w: no erasure journal", ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("%w: record store: %w", ErrUnavailable, err)
	}
	j, ok := decodeJournal(jid, raw)
	if !ok {
		return nil, fmt.Errorf("%w: the record store holds something else under an erasure journal id", ErrInconsistent)
	}
	return j, nil
}

// decodeJournal parses raw as the journal kept under jid; ok is false if
// it is none (a decision's record, say).
func decodeJournal(jid [32]byte, raw []byte) (*erasureJournal, bool) {
	if !bytes.HasPrefix(raw, []byte(`{"decision_id":`)) {
		return nil, false
	}
	var j erasureJournal
	if err := strictUnmarshal(raw, &j); err != nil {
		return nil, false
	}
	id, err := ParseID(j.Decision)
	if err != nil || journalID(id) != jid {
		return nil, false
	}
	return &j, true
}

// Erasure returns the erasure of a decision: ErrNotFound if it was never
// erased (nor its erasure begun).
func (l *Ledger) Erasure(ctx context.Context, decision ID) (*ErasureInfo, error) {
	if l.recs.store == nil {
		return nil, fmt.Errorf("%w: no record store", ErrNotFound)
	}
	j, err := l.journal(ctx, journalID(decision))
	if err != nil {
		return nil, err
	}
	rec, err := DecodeRecord(j.Record)
	if err != nil || rec.Type != TypeErasure {
		return nil, fmt.Errorf("%w: the erasure journal of %s holds no erasure record", ErrInconsistent, decision)
	}
	return &ErasureInfo{Record: rec, ID: RecordID(j.Record), Data: j.Record, Already: true}, nil
}

// resumeErasures completes the erasures among the pending records ids that
// a crash (or a failed step) left unfinished. It returns the ids that are
// erasure journals, finished or not.
func (l *Ledger) resumeErasures(ctx context.Context, ids [][32]byte) (map[[32]byte]bool, error) {
	journals := map[[32]byte]bool{}
	var errs []error
	for _, id := range ids {
		_, raw, err := l.recs.store.Get(ctx, id)
		if err != nil {
			// Erased or gone meanwhile, or unreadable: not for this pass.
			continue
		}
		j, ok := decodeJournal(id, raw)
		if !ok {
			continue
		}
		journals[id] = true
		if _, err := l.completeErasure(ctx, id, j, true); err != nil {
			errs = append(errs, fmt.Errorf("completing the erasure of %s: %w", j.Decision, err))
			continue
		}
		l.logger.InfoContext(ctx, "completed an interrupted erasure", "decision", j.Decision, "erasure_record", RecordID(j.Record).String())
	}
	return journals, errors.Join(errs...)
}

// resumeAllErasures completes, at start-up, every erasure left unfinished.
func (l *Ledger) resumeAllErasures(ctx context.Context) error {
	if l.recs.store == nil {
		return nil
	}
	// Every pending record, however recent: the previous process is gone.
	ids, err := l.recs.store.Pending(ctx, time.Now().Add(time.Hour))
	if err != nil {
		return fmt.Errorf("listing pending records: %w", err)
	}
	_, err = l.resumeErasures(ctx, ids)
	return err
}

// erasureOf returns the id of the erasure record of an erased decision,
// or the zero ID if no journal names one.
func (l *Ledger) erasureOf(ctx context.Context, id ID) ID {
	info, err := l.Erasure(ctx, id)
	if err != nil {
		return ID{}
	}
	return info.ID
}

// EraseRelated destroys the data keys of records that hold an erased
// decision's applicant data and were found only after its erasure: a
// recourse record stored by a computation that ran concurrently with the
// erasure, or on another replica. Ids without a record in the store are
// skipped. ErrNotFound: the decision has no erasure.
func (l *Ledger) EraseRelated(ctx context.Context, decision ID, ids ...ID) error {
	if l.recs.store == nil {
		return fmt.Errorf("%w: no record store", ErrNotFound)
	}
	if _, err := l.journal(ctx, journalID(decision)); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := l.recs.store.Erase(ctx, id); err != nil && !errors.Is(err, recordstore.ErrNotFound) {
			return fmt.Errorf("%w: erasing %s: %w", ErrUnavailable, id, err)
		}
		l.forgetRecord(id)
	}
	return nil
}
