package sqlitestore

import (
	"errors"

	"github.com/glassbox-ledger/glassbox/transparency/sqlitestore/storefs"
)

// FS is the intake's file-system seam (see package storefs).
type FS = storefs.FS

// File is an open file of an FS.
type File = storefs.File

// OSFS is the operating system's file system, the default.
type OSFS = storefs.OSFS

// Errors of QueueLeaves that say what became of the leaves. Trillian's log
// server passes storage errors through unchanged, so a caller in the same
// process can tell them apart with errors.Is.
var (
	// ErrNotRecorded: the intake could not make the leaves durable and
	// made sure they are not in it (a partial write was cut off, or the
	// append was refused before anything was written). They will not
	// appear after a restart; retrying is safe.
	ErrNotRecorded = errors.New("sqlitestore: leaves not recorded")
	// ErrOutcomeUnknown: the leaves may or may not be durable (a partial
	// write could not be cut off and its extent could not be recorded, or
	// the caller stopped waiting). Look them up before retrying.
	ErrOutcomeUnknown = errors.New("sqlitestore: leaves may or may not be recorded")
)
