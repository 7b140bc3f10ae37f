// Package recordstore keeps the full records of decisions beside the log,
// encrypted and erasable, while the log itself holds only commitments to
// them (leaf format 2, issue 18).
//
// # Encryption
//
// Every record gets its own random 256-bit data key. The record and its
// salt are sealed with AES-256-GCM under that key, with the record's id
// (the decision id, the RFC 6962 leaf hash of its envelope) in the
// additional data, so a ciphertext cannot be passed off as another
// record's. The data key is in turn sealed (wrapped) with AES-256-GCM under
// the key-encryption key (KEK), again bound to the id. The KEK is kept
// outside the store (by default the file records.kek in the data
// directory; see CreateKEK and LoadKEK), so neither store alone, nor both
// stores without the KEK, reveal a record. The salt is encrypted too: with
// it, anyone holding a leaf could confirm a guessed record against the
// leaf's commitment. The store checks the KEK it is opened with against a
// value sealed under the KEK it was created with, and refuses another
// (ErrWrongKEK); RotateKEK re-wraps every data key with a new KEK in one
// transaction, cheaply, since only the small wrapped keys change.
//
// # Erasure by crypto-shredding
//
// The wrapped data keys live apart from the ciphertexts: in SQLite in a
// database file of their own (KeysFile beside RecordsFile), in MariaDB in a
// table of their own. Erase destroys the wrapped data key and leaves a
// tombstone in the ciphertext store. A backup of the ciphertext store taken
// before the erasure therefore holds the ciphertext but never its key, and
// even with the KEK and everything left in the key store it cannot be
// decrypted: the key that could open it no longer exists anywhere the
// store writes to. SQLite runs with secure_delete, so deleted keys are
// overwritten in the database pages, and after an erasure the write-ahead
// logs are checkpointed and truncated so the old page images go too. In
// MariaDB the key is overwritten with zeros before the row is deleted;
// InnoDB may still hold old images in its undo and redo logs until they are
// purged and recycled, and in binary logs if those are enabled (see
// docs/record-store.md). Backups of the key store are the one thing that
// must follow an erasure: a key-store backup taken before it, together with
// a ciphertext backup and the KEK, can still open the record.
//
// # Lifecycle
//
// Put stores a record in state pending and is durable when it returns; a
// decision is acknowledged only after its record and its leaf are both
// durable. Commit marks records whose leaves are durable in the log.
// Pending lists records put but never committed, so that start-up can
// Discard those whose leaf never made it into the log. Erase may be applied
// to a pending or a committed record; it keeps the tombstone for good, so
// Get answers ErrErased rather than ErrNotFound.
//
// Concurrent Puts are written in groups: a single writer goroutine takes
// every Put waiting at the moment and writes them in one transaction per
// store, so that many decisions share each fsync instead of paying two
// each.
//
// A store is meant to be written by one process. Decision ids are leaf
// hashes over a random salt, so two processes never put the same id in
// practice; if they did, the second's insert fails rather than overwriting.
package recordstore
