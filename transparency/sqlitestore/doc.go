// Package sqlitestore is a Trillian storage provider (storage.LogStorage and
// storage.AdminStorage) backed by a single SQLite database file, using the
// pure-Go driver modernc.org/sqlite so that binaries stay free of cgo.
//
// # Connections and write serialization
//
// SQLite admits one writer at a time. Rather than letting writers collide and
// retry on SQLITE_BUSY, the Provider owns exactly one write connection
// (database/sql pool capped at one connection) and every write transaction
// (log read-write transactions, admin read-write transactions,
// AddSequencedLeaves and the intake's moves, see below) runs on it, in turn. Write transactions begin with
// BEGIN IMMEDIATE so the write lock is taken before the first read and the
// transaction's snapshot is always the latest state, even if another process
// opens the same file. Snapshots (SnapshotForTree, admin Snapshot) use a
// separate pool of query-only connections; in WAL mode they never block and
// are never blocked by the writer.
//
// A consequence: code running inside a read-write transaction must not start
// another write on the same Provider (for example call AddSequencedLeaves from
// inside ReadWriteTransaction's callback); it would wait for the connection it
// holds.
// Trillian's servers never nest transactions.
//
// # Queueing: the intake
//
// QueueLeaves does not write to the database. Its leaves are appended to
// the intake, a directory of segment files next to the database file
// (path + ".intake"), by one goroutine that takes every call waiting at that
// moment, writes their new leaves with one write and one fsync, and only
// then answers them. Acknowledging a leaf therefore never waits for the
// single write connection, which a sequencing pass holds for several
// milliseconds (and a WAL checkpoint for longer); under load that wait was
// the whole latency tail of queueing.
//
// Leaves move from the intake into the database (Leaves and Unsequenced)
// inside the next write transaction that calls DequeueLeaves, normally the
// sequencer's pass, which can then sequence them at once; if no such
// transaction comes for half a second, the intake moves them in a
// transaction of its own, so they arrive even where no sequencer runs in
// this process. The moving transaction also records, in IntakeState, the
// highest intake sequence number it moved, which makes the hand-over
// atomic: on Open, exactly the entries above that number are read back
// from the segments, and segments holding nothing above it are deleted.
// Duplicates are found against the pending entries first and then the
// database; an entry leaves the pending set only after the transaction
// that moved it has committed, so a duplicate is never missed in between.
//
// A record torn by a crash can only be the tail of the newest segment (an
// entry is acknowledged after its fsync) and is cut off on Open; any other
// damage (including a bad record followed by a valid one in the newest
// segment), or a missing segment, makes Open fail rather than silently drop
// acknowledged leaves. If an append cannot be made durable, its partial
// write is cut off (or, if even that fails, the offset is recorded so
// recovery cuts it) and QueueLeaves fails with ErrNotRecorded; later
// appends are refused the same way until a repair probe finds the
// directory writable again, which the intake retries by itself. Writable
// reports the cause meanwhile. File operations go through an FS (package
// storefs), so tests can inject faults (package faultfs).
//
// The intake belongs to the process that opened the Provider; two
// processes must not queue into the same database file.
//
// # Durability
//
// The intake's segments are fsynced before an append is acknowledged. The
// database runs in WAL mode with synchronous=FULL: the WAL is fsynced on
// every commit, so a sequencing pass that returned success survives both a
// SIGKILL of the process and a power loss or kernel crash.
// synchronous=NORMAL would survive SIGKILL (committed frames are in the OS
// page cache) but could lose the last commits on power loss; for a ledger
// of credit decisions that is not acceptable.
//
// # Schema and semantics
//
// The schema lives in schema.sql (embedded) and is applied idempotently by
// Open. Merkle tiles are stored without revisions: a reader's snapshot
// isolation already guarantees that tiles and the tree head it reads belong
// together. Duplicate leaves (same LeafIdentityHash) are reported by
// QueueLeaves with codes.AlreadyExists and the stored leaf; AddSequencedLeaves
// reports AlreadyExists for an identical leaf at the same index and
// FailedPrecondition for conflicting indices or identity hashes.
package sqlitestore
