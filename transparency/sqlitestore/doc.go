// Package sqlitestore is a Trillian storage provider (storage.LogStorage and
// storage.AdminStorage) backed by a single SQLite database file, using the
// pure-Go driver modernc.org/sqlite so that binaries stay free of cgo.
//
// # Connections and write serialization
//
// SQLite admits one writer at a time. Rather than letting writers collide and
// retry on SQLITE_BUSY, the Provider owns exactly one write connection
// (database/sql pool capped at one connection) and every write transaction
// (log read-write transactions, admin read-write transactions, QueueLeaves and
// AddSequencedLeaves) runs on it, in turn. Write transactions begin with
// BEGIN IMMEDIATE so the write lock is taken before the first read and the
// transaction's snapshot is always the latest state, even if another process
// opens the same file. Snapshots (SnapshotForTree, admin Snapshot) use a
// separate pool of query-only connections; in WAL mode they never block and
// are never blocked by the writer.
//
// A consequence: code running inside a read-write transaction must not start
// another write on the same Provider (for example call QueueLeaves from inside
// ReadWriteTransaction's callback); it would wait for the connection it holds.
// Trillian's servers never nest transactions.
//
// # Queueing and group commit
//
// Concurrent QueueLeaves calls are not given a transaction each. They are
// handed to one goroutine per Provider which drains every request waiting at
// that moment and writes them all in one transaction; each caller returns
// only after that transaction has committed. A request that fails does not
// fail the others: the batch is rolled back and rewritten without it. Under load this turns
// many small fsyncs into one, which is what makes synchronous=FULL affordable.
//
// # Durability
//
// The database runs in WAL mode with synchronous=FULL: the WAL is fsynced on
// every commit, so a QueueLeaves or sequencing pass that returned success
// survives both a SIGKILL of the process and a power loss or kernel crash.
// synchronous=NORMAL would survive SIGKILL (committed frames are in the OS page
// cache) but could lose the last commits on power loss; for a ledger of
// credit decisions that is not acceptable, and group commit keeps the cost of
// FULL low.
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
