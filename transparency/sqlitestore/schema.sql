-- Schema for the glassbox SQLite storage provider for Trillian.
--
-- Every statement is idempotent: Open runs this file on every start and then
-- records schemaVersion in PRAGMA user_version.
--
-- Integer times are nanoseconds since the Unix epoch. Hashes are raw bytes.

-- One row per tree. TreeId is the rowid so that lookups and foreign-key checks
-- from the leaf tables are a single b-tree probe.
CREATE TABLE IF NOT EXISTS Trees (
  TreeId               INTEGER PRIMARY KEY,
  TreeState            TEXT    NOT NULL,
  TreeType             TEXT    NOT NULL,
  DisplayName          TEXT    NOT NULL DEFAULT '',
  Description          TEXT    NOT NULL DEFAULT '',
  CreateTimeNanos      INTEGER NOT NULL,
  UpdateTimeNanos      INTEGER NOT NULL,
  MaxRootDurationNanos INTEGER NOT NULL,
  -- Serialized google.protobuf.Any, kept verbatim; NULL when unset.
  StorageSettings      BLOB,
  Deleted              INTEGER NOT NULL DEFAULT 0 CHECK (Deleted IN (0, 1)),
  DeleteTimeNanos      INTEGER
);

-- Every log root ever stored. Revision increases by one per stored root, so
-- the newest root is the one with the highest revision, independent of the
-- (caller-supplied) timestamp.
CREATE TABLE IF NOT EXISTS TreeHeads (
  TreeId         INTEGER NOT NULL REFERENCES Trees(TreeId) ON DELETE CASCADE,
  Revision       INTEGER NOT NULL CHECK (Revision >= 0),
  TreeSize       INTEGER NOT NULL CHECK (TreeSize >= 0),
  TimestampNanos INTEGER NOT NULL,
  RootHash       BLOB    NOT NULL,
  -- The exact serialized types.LogRootV1, so metadata round-trips untouched.
  LogRoot        BLOB    NOT NULL,
  PRIMARY KEY (TreeId, Revision)
) WITHOUT ROWID;

-- Merkle tree tiles (storagepb.SubtreeProto). Only the latest version of a
-- tile is kept: SQLite transactions are snapshot-isolated and there is a
-- single writer, so readers never need an older revision. Tiles can reach
-- several KiB, so this is a rowid table rather than WITHOUT ROWID.
CREATE TABLE IF NOT EXISTS Subtrees (
  TreeId    INTEGER NOT NULL REFERENCES Trees(TreeId) ON DELETE CASCADE,
  SubtreeId BLOB    NOT NULL,
  Nodes     BLOB    NOT NULL,
  UNIQUE (TreeId, SubtreeId)
);

-- Leaf contents, written once when a leaf is queued (or added pre-sequenced).
-- The unique key is what makes duplicate submissions detectable.
CREATE TABLE IF NOT EXISTS Leaves (
  TreeId              INTEGER NOT NULL REFERENCES Trees(TreeId) ON DELETE CASCADE,
  LeafIdentityHash    BLOB    NOT NULL,
  MerkleLeafHash      BLOB    NOT NULL,
  LeafValue           BLOB    NOT NULL,
  ExtraData           BLOB,
  QueueTimestampNanos INTEGER NOT NULL,
  UNIQUE (TreeId, LeafIdentityHash)
);

-- Position of each integrated (or pre-ordered) leaf. Kept apart from Leaves
-- so that sequencing writes ~100 bytes per leaf instead of rewriting the
-- leaf value.
CREATE TABLE IF NOT EXISTS SequencedLeaves (
  TreeId                  INTEGER NOT NULL REFERENCES Trees(TreeId) ON DELETE CASCADE,
  SequenceNumber          INTEGER NOT NULL CHECK (SequenceNumber >= 0),
  LeafIdentityHash        BLOB    NOT NULL,
  MerkleLeafHash          BLOB    NOT NULL,
  IntegrateTimestampNanos INTEGER NOT NULL,
  PRIMARY KEY (TreeId, SequenceNumber)
) WITHOUT ROWID;

-- Inclusion proofs by hash look leaves up by Merkle hash.
CREATE INDEX IF NOT EXISTS SequencedLeavesByMerkleHash
  ON SequencedLeaves (TreeId, MerkleLeafHash);

-- The work queue of the sequencer. The key order is the dequeue order
-- (oldest first), so a dequeue is a range scan of the primary key that stops
-- at the guard-window cutoff.
CREATE TABLE IF NOT EXISTS Unsequenced (
  TreeId              INTEGER NOT NULL REFERENCES Trees(TreeId) ON DELETE CASCADE,
  QueueTimestampNanos INTEGER NOT NULL,
  LeafIdentityHash    BLOB    NOT NULL,
  MerkleLeafHash      BLOB    NOT NULL,
  PRIMARY KEY (TreeId, QueueTimestampNanos, LeafIdentityHash)
) WITHOUT ROWID;

-- How far the intake (the segment files QueueLeaves appends to, next to
-- the database) has been moved into Leaves and Unsequenced: entries up to
-- ConsumedSeq are here. Updated in the transaction that moves them.
CREATE TABLE IF NOT EXISTS IntakeState (
  Id          INTEGER PRIMARY KEY CHECK (Id = 0),
  ConsumedSeq INTEGER NOT NULL CHECK (ConsumedSeq >= 0)
);

-- A write to the newest intake segment that failed and could not be cut
-- off at once: the segment that starts at entry SegmentSeq must be cut
-- back to Offset bytes before it is read, since nothing past that offset
-- was acknowledged. Written only while appends are refused, deleted once
-- the cut has been made.
CREATE TABLE IF NOT EXISTS IntakeVoid (
  Id         INTEGER PRIMARY KEY CHECK (Id = 0),
  SegmentSeq INTEGER NOT NULL,
  Offset     INTEGER NOT NULL CHECK (Offset >= 0)
);
