package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// Steps of writeFile, in order, as passed to hooks.after. A failure at any
// step before stepRename leaves the old file intact.
const (
	stepCreate  = "create"   // temporary file created (O_EXCL, random suffix)
	stepWrite   = "write"    // data written to the temporary file
	stepSync    = "sync"     // temporary file fsynced
	stepClose   = "close"    // temporary file closed
	stepChmod   = "chmod"    // permissions set on the temporary file
	stepRename  = "rename"   // temporary file renamed over the target
	stepSyncDir = "sync-dir" // directory fsynced: the rename is durable
)

// hooks lets tests stop writeFile between steps, simulating a crash or a
// failing disk. The zero value does nothing.
type hooks struct {
	// after, if not nil, is called after each step succeeds; a non-nil
	// error is treated as that step failing.
	after func(step string) error
}

func (h hooks) step(name string) error {
	if h.after == nil {
		return nil
	}
	return h.after(name)
}

// WriteFile atomically replaces the file at path with data and permission
// perm (not subject to umask). It writes a temporary file in the same
// directory, fsyncs and closes it, sets its mode, renames it over path and
// fsyncs the directory. On any error the temporary file is removed and the
// returned error names path; if only the final directory fsync failed, path
// already holds the new contents but their durability is unknown.
//
// If path is a symbolic link, the link itself is replaced by a regular file.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, data, perm, hooks{})
}

func writeFile(path string, data []byte, perm os.FileMode, h hooks) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("atomicfile: write %s: %w", path, err)
	}
	tmp := f.Name()
	closed, renamed := false, false
	defer func() {
		if err == nil {
			return
		}
		if !closed {
			err = errors.Join(err, f.Close())
		}
		if !renamed {
			if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		err = fmt.Errorf("atomicfile: write %s: %w", path, err)
	}()
	if err := h.step(stepCreate); err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := h.step(stepWrite); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := h.step(stepSync); err != nil {
		return err
	}
	closed = true
	if err := f.Close(); err != nil {
		return err
	}
	if err := h.step(stepClose); err != nil {
		return err
	}
	if err := os.Chmod(tmp, perm); err != nil {
		return err
	}
	if err := h.step(stepChmod); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	renamed = true
	if err := h.step(stepRename); err != nil {
		return err
	}
	if err := SyncDir(dir); err != nil {
		return err
	}
	return h.step(stepSyncDir)
}

// SyncDir fsyncs the directory dir, making the creation, removal or renaming
// of entries in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("atomicfile: sync dir: %w", err)
	}
	if err := d.Sync(); err != nil {
		return errors.Join(fmt.Errorf("atomicfile: sync dir %s: %w", dir, err), d.Close())
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("atomicfile: sync dir %s: %w", dir, err)
	}
	return nil
}

// WipeFile overwrites the regular file at path with zeros, in place, and
// fsyncs it: for secrets about to be removed. On flash the old blocks may
// survive in the translation layer until reused; this is the most a
// program can do.
func WipeFile(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Mode().IsRegular() {
		_, err = f.WriteAt(make([]byte, fi.Size()), 0)
		if err == nil {
			err = f.Sync()
		}
	}
	return errors.Join(err, f.Close())
}
