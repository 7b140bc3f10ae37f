// Package storefs is the file-system seam of sqlitestore's intake: the
// interface its segment files are created, written, fsynced, truncated and
// removed through, and the operating system's implementation. It is a
// package of its own so that fault-injecting implementations (package
// faultfs) can be used by sqlitestore's own tests.
package storefs

import "os"

// FS is the file-system seam of the intake: every create, write, fsync,
// truncation and removal of a segment file goes through it. The default is
// the operating system's; tests pass one that injects faults (see package
// faultfs), since ENOSPC, EIO and a failed fsync cannot be produced on
// demand on a real disk.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	ReadFile(name string) ([]byte, error)
	ReadDir(name string) ([]os.DirEntry, error)
	Mkdir(name string, perm os.FileMode) error
	Remove(name string) error
}

// File is an open file of an FS.
type File interface {
	Write(b []byte) (int, error)
	Sync() error
	Truncate(size int64) error
	Stat() (os.FileInfo, error)
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

var _ FS = OSFS{}

// OpenFile opens a file with os.OpenFile.
func (OSFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		// A typed nil *os.File would make a non-nil File.
		return nil, err
	}
	return f, nil
}

// ReadFile reads a whole file with os.ReadFile.
func (OSFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }

// ReadDir lists a directory with os.ReadDir.
func (OSFS) ReadDir(name string) ([]os.DirEntry, error) { return os.ReadDir(name) }

// Mkdir creates a directory with os.Mkdir.
func (OSFS) Mkdir(name string, perm os.FileMode) error { return os.Mkdir(name, perm) }

// Remove removes a file with os.Remove.
func (OSFS) Remove(name string) error { return os.Remove(name) }
