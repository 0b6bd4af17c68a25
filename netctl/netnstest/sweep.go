package netnstest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// takeLock creates and flocks lockDir/<prefix>.lock for a new rig. The
// file is flocked under a temporary name and then linked into place, so a
// concurrent Sweep never sees it unlocked. os.ErrExist means the prefix
// is taken.
func takeLock(prefix string) (*os.File, error) {
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, fmt.Errorf("create lock dir: %w", err)
	}
	f, err := os.CreateTemp(lockDir, prefix+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("create lock file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", tmp, err)
	}
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Link(tmp, lockPath(prefix)); err != nil { // fails if it exists
		f.Close()
		return nil, err
	}
	return f, nil
}

func lockPath(prefix string) string { return filepath.Join(lockDir, prefix+".lock") }

// releaseLock removes the lock file while still holding the lock, then
// closes it.
func releaseLock(prefix string, f *os.File) {
	_ = os.Remove(lockPath(prefix))
	_ = f.Close()
}

// Sweep removes what crashed earlier test runs left behind: every named
// namespace whose name matches the rig pattern ("sh" + 6 hex digits + "-"
// + name) and whose rig lock is free (the process that created it is
// dead) is deleted, after killing any process still running inside it.
// Namespaces of live rigs, in this or any other process, are left alone,
// as is every namespace whose name does not match the pattern.
func Sweep() error {
	ents, err := os.ReadDir(netnsDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("netnstest: sweep: %w", err)
	}
	byPrefix := map[string][]string{}
	for _, e := range ents {
		if m := rigName.FindStringSubmatch(e.Name()); m != nil {
			byPrefix[m[1]] = append(byPrefix[m[1]], e.Name())
		}
	}
	var errs []error
	for prefix, names := range byPrefix {
		f, err := os.Open(lockPath(prefix))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			// The lock file is created before the first namespace and
			// removed after the last, so its owner is gone. Hold a
			// fresh lock while sweeping so two sweepers do not race.
			f, err = takeLock(prefix)
			if err != nil {
				continue // someone else is sweeping it
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("open lock of %s: %w", prefix, err))
			continue
		default:
			if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil || !samePath(f, lockPath(prefix)) {
				f.Close() // a live rig holds it, or it just went away
				continue
			}
		}
		var failed bool
		for _, name := range names {
			if err := deleteStale(name); err != nil {
				errs = append(errs, err)
				failed = true
			}
		}
		if failed {
			f.Close()
		} else {
			releaseLock(prefix, f)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("netnstest: sweep: %w", err)
	}
	return nil
}

// deleteStale kills the processes inside the named namespace and deletes
// it.
func deleteStale(name string) error {
	path := filepath.Join(netnsDir, name)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err == nil {
		killInNetns(st.Ino)
	}
	err := netns.DeleteNamed(name)
	if err != nil {
		// A mount point whose unmount failed (already unmounted by a
		// previous sweep, say) is still worth removing.
		if rmErr := os.Remove(path); rmErr == nil || errors.Is(rmErr, fs.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("delete stale ns %s: %w", name, err)
	}
	return nil
}

// Main is a TestMain helper: it sweeps stale namespaces, runs the tests,
// removes the binaries built by BuildBinary and exits.
//
//	func TestMain(m *testing.M) { netnstest.Main(m) }
func Main(m *testing.M) {
	if os.Geteuid() == 0 {
		if err := Sweep(); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
		sweepOnce.Do(func() {}) // done; New need not sweep again
	}
	code := m.Run()
	removeBuilds()
	os.Exit(code)
}

// samePath reports whether path still names the open file f (the lock
// file was not removed and replaced while we waited for it).
func samePath(f *os.File, path string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Stat(path, &b) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}
