package transparency

import (
	"context"
	"errors"
	"fmt"

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
	// ErrInvalidRecord: bytes offered as a record are not a canonical,
	// well-formed record. Wraps ErrInvalidArgument.
	ErrInvalidRecord = fmt.Errorf("%w: invalid record", ErrInvalidArgument)
	// ErrInconsistent: the log presented a root that does not extend the last
	// signed checkpoint. Nothing is signed when this happens; it indicates a
	// storage fault or a misbehaving backend and needs an operator.
	ErrInconsistent = errors.New("log is inconsistent with the last signed checkpoint")
)

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
