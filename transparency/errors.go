package transparency

import (
	"context"
	"errors"
	"fmt"

	"github.com/glassbox-ledger/glassbox/transparency/sqlitestore"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Sentinel errors. Every error returned by this package that is caused by the
// caller's input or by the state of the log wraps one of these, so the API
// layer can map them to HTTP statuses with errors.Is.
var (
	// ErrInvalidArgument: the request itself is malformed (bad hex, a tree
	// size beyond the signed tree, first > second, count out of range).
	// Maps to 400.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrNotFound: well-formed request for something the log does not hold
	// (unknown decision id, no checkpoint signed at that size). Maps to 404.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the log backend cannot serve the request right now
	// (Trillian unreachable, shutting down). Maps to 503; retrying is safe.
	ErrUnavailable = errors.New("ledger unavailable")
	// ErrNotRecorded: an append failed and the record is known not to be in
	// the log, now or after a restart (the storage refused it or cut its
	// partial write off). Wraps ErrUnavailable; retrying is safe.
	ErrNotRecorded = fmt.Errorf("%w: the record was not written", ErrUnavailable)
	// ErrOutcomeUnknown: an append failed in a way that leaves open whether
	// the record was queued (a remote Trillian that timed out or dropped
	// the connection after receiving it; a partial write whose cut failed
	// and could not be recorded). Look the record up by id before
	// retrying. Wraps ErrUnavailable.
	ErrOutcomeUnknown = fmt.Errorf("%w: the record may or may not have been written", ErrUnavailable)
	// ErrInvalidRecord: bytes offered as a record are not a canonical,
	// well-formed record. Wraps ErrInvalidArgument.
	ErrInvalidRecord = fmt.Errorf("%w: invalid record", ErrInvalidArgument)
	// ErrInconsistent: the log presented a root that does not extend the last
	// signed checkpoint. Nothing is signed when this happens; it indicates a
	// storage fault or a misbehaving backend and needs an operator.
	ErrInconsistent = errors.New("log is inconsistent with the last signed checkpoint")
)

// appendErr says what became of a record whose QueueLeaf failed. Only
// errors that prove the record was never queued count as ErrNotRecorded:
// the storage's own word for it, or a status Trillian returns before it
// writes anything. Anything else (a deadline, a lost connection, an
// internal error after the request reached the server) is
// ErrOutcomeUnknown, because the leaf may be durably queued already.
func appendErr(err error) error {
	switch {
	case errors.Is(err, sqlitestore.ErrNotRecorded):
		return fmt.Errorf("%w: %w", ErrNotRecorded, err)
	case errors.Is(err, sqlitestore.ErrOutcomeUnknown):
		return fmt.Errorf("%w: %w", ErrOutcomeUnknown, err)
	}
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.NotFound, codes.OutOfRange,
		codes.PermissionDenied, codes.Unauthenticated, codes.ResourceExhausted, codes.Unimplemented:
		return fmt.Errorf("%w: %w", ErrNotRecorded, grpcErr("queueing leaf", err))
	}
	return fmt.Errorf("%w: %w", ErrOutcomeUnknown, grpcErr("queueing leaf", err))
}

// grpcErr translates an error from a Trillian RPC into one wrapping this
// package's sentinels, keeping the original for the message.
func grpcErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch st.Code() {
	case codes.NotFound:
		return fmt.Errorf("%s: %w: %s", op, ErrNotFound, st.Message())
	case codes.InvalidArgument, codes.OutOfRange:
		return fmt.Errorf("%s: %w: %s", op, ErrInvalidArgument, st.Message())
	case codes.Unavailable, codes.ResourceExhausted, codes.Aborted:
		return fmt.Errorf("%s: %w: %s", op, ErrUnavailable, st.Message())
	case codes.Canceled:
		return fmt.Errorf("%s: %w", op, context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", op, context.DeadlineExceeded)
	}
	return fmt.Errorf("%s: %w", op, err)
}
