// Package faultfs is a storefs.FS that fails chosen file operations on
// demand, for tests of what the intake does when a disk fills up, a write
// or an fsync reports EIO, or its directory turns read-only: faults a real
// disk cannot be made to produce at a chosen moment.
package faultfs

import (
	"os"
	"sync"

	"github.com/glassbox-ledger/glassbox/transparency/sqlitestore/storefs"
)

// Op is a kind of file operation.
type Op int

// Operations a fault can hit.
const (
	// Create: opening a file with O_CREATE (a new segment, the probe
	// file). A read-only directory fails these.
	Create Op = iota
	// Write to an open file.
	Write
	// Sync (fsync) of a file or directory.
	Sync
	// Truncate an open file.
	Truncate
	// Remove a file.
	Remove
)

func (o Op) String() string {
	switch o {
	case Create:
		return "create"
	case Write:
		return "write"
	case Sync:
		return "sync"
	case Truncate:
		return "truncate"
	case Remove:
		return "remove"
	}
	return "unknown"
}

// Fault is one armed failure.
type Fault struct {
	Op  Op
	Err error // e.g. syscall.ENOSPC, syscall.EIO, syscall.EROFS
	// Partial makes a failing Write first write this fraction (0 to 1) of
	// its buffer, as a write that runs out of space part-way does.
	Partial float64
	// Skip is how many matching operations succeed before the first
	// failure; Count is how many fail after that (negative: all, until
	// Clear).
	Skip, Count int
}

// FS passes operations to the operating system unless an armed fault
// matches. Safe for concurrent use.
type FS struct {
	base storefs.OSFS

	mu       sync.Mutex
	faults   []*Fault
	injected int
	byOp     map[Op]int
}

var _ storefs.FS = (*FS)(nil)

// New returns an FS with nothing armed.
func New() *FS { return &FS{byOp: map[Op]int{}} }

// Arm adds a fault.
func (fs *FS) Arm(f Fault) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = append(fs.faults, &f)
}

// Clear disarms every fault: the cause is gone.
func (fs *FS) Clear() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.faults = nil
}

// Injected returns how many operations have been failed so far.
func (fs *FS) Injected() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.injected
}

// InjectedOp returns how many operations of kind op have been failed.
func (fs *FS) InjectedOp(op Op) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.byOp[op]
}

// hit returns the fault that fails this operation, if any, consuming it.
func (fs *FS) hit(op Op) *Fault {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.faults {
		if f.Op != op {
			continue
		}
		if f.Skip > 0 {
			f.Skip--
			continue
		}
		hit := *f
		if f.Count > 0 {
			f.Count--
			if f.Count == 0 {
				fs.faults = append(fs.faults[:i:i], fs.faults[i+1:]...)
			}
		}
		fs.injected++
		fs.byOp[op]++
		return &hit
	}
	return nil
}

// OpenFile fails with an armed Create fault when flag has O_CREATE.
func (fs *FS) OpenFile(name string, flag int, perm os.FileMode) (storefs.File, error) {
	if flag&os.O_CREATE != 0 {
		if f := fs.hit(Create); f != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: f.Err}
		}
	}
	f, err := fs.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: fs, name: name}, nil
}

// ReadFile never fails by injection: recovery reads what is on disk.
func (fs *FS) ReadFile(name string) ([]byte, error) { return fs.base.ReadFile(name) }

// ReadDir never fails by injection.
func (fs *FS) ReadDir(name string) ([]os.DirEntry, error) { return fs.base.ReadDir(name) }

// Mkdir fails with an armed Create fault.
func (fs *FS) Mkdir(name string, perm os.FileMode) error {
	if f := fs.hit(Create); f != nil {
		return &os.PathError{Op: "mkdir", Path: name, Err: f.Err}
	}
	return fs.base.Mkdir(name, perm)
}

// Remove fails with an armed Remove fault.
func (fs *FS) Remove(name string) error {
	if f := fs.hit(Remove); f != nil {
		return &os.PathError{Op: "remove", Path: name, Err: f.Err}
	}
	return fs.base.Remove(name)
}

type file struct {
	storefs.File
	fs   *FS
	name string
}

func (f *file) Write(b []byte) (int, error) {
	if fault := f.fs.hit(Write); fault != nil {
		n := 0
		if fault.Partial > 0 {
			n, _ = f.File.Write(b[:int(float64(len(b))*min(fault.Partial, 1))])
		}
		return n, &os.PathError{Op: "write", Path: f.name, Err: fault.Err}
	}
	return f.File.Write(b)
}

// Sync fails after the data was handed to the kernel, as a real fsync
// error does: the bytes may be in the file when the error is returned.
func (f *file) Sync() error {
	if fault := f.fs.hit(Sync); fault != nil {
		return &os.PathError{Op: "sync", Path: f.name, Err: fault.Err}
	}
	return f.File.Sync()
}

func (f *file) Truncate(size int64) error {
	if fault := f.fs.hit(Truncate); fault != nil {
		return &os.PathError{Op: "truncate", Path: f.name, Err: fault.Err}
	}
	return f.File.Truncate(size)
}
