package netctl

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ErrSocketInUse: another process still answers on the socket's path.
var ErrSocketInUse = errors.New("netctl: socket in use by another process")

// ListenUnixSocket listens on a unix socket at path with the given mode,
// creating its directory (0755). A socket left behind by a crash is taken
// over; one that another process still answers is refused with
// ErrSocketInUse, and a path that is not a socket is refused too. Used by
// the UAPI socket of wireguard-go devices and by shisad's local API.
func ListenUnixSocket(path string, mode os.FileMode) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("netctl: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("netctl: %s exists and is not a socket; remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%w: %s", ErrSocketInUse, path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("netctl: removing the stale socket %s: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("netctl: %w", err)
	}
	// Under the usual umask (022) the socket is created without group or
	// other write permission, so nobody can connect before this.
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("netctl: %w", err)
	}
	return ln, nil
}
