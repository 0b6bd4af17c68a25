// Package watchdogtest provides fakes for package watchdog: a recording
// [watchdog.Notifier], a fake watchdog character device under
// [watchdog.HardwareDevice] that models arming and the magic close, and a
// real sd_notify socket to listen on in tests.
package watchdogtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shisa-gw/shisa/watchdog"
)

// eventBuffer is the capacity of the fakes' event channels; events beyond
// it are dropped from the channel (never from the recorded state).
const eventBuffer = 1024

// FakeNotifier records the sd_notify states sent to it. Set its exported
// fields before use; read them through the methods while it is in use.
type FakeNotifier struct {
	mu sync.Mutex
	// States are the states sent, in order.
	States []string
	// Timeout is what WatchdogTimeout returns, as if systemd had set
	// WATCHDOG_USEC; zero is no systemd watchdog.
	Timeout time.Duration
	// Err, if set, is returned by Notify (the state is still recorded).
	Err error
	// C receives every state sent, without blocking (dropped when full).
	C chan string
}

var _ watchdog.Notifier = (*FakeNotifier)(nil)

// NewFakeNotifier returns a FakeNotifier with systemd's watchdog timeout
// set to timeout (zero for none).
func NewFakeNotifier(timeout time.Duration) *FakeNotifier {
	return &FakeNotifier{Timeout: timeout, C: make(chan string, eventBuffer)}
}

// Notify records state.
func (f *FakeNotifier) Notify(state string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.States = append(f.States, state)
	select {
	case f.C <- state:
	default:
	}
	return f.Err
}

// WatchdogTimeout returns f.Timeout.
func (f *FakeNotifier) WatchdogTimeout() (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Timeout, nil
}

// SetErr sets the error Notify returns from now on.
func (f *FakeNotifier) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Err = err
}

// Sent returns a copy of the states sent so far.
func (f *FakeNotifier) Sent() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.States)
}

// Count returns how many times state was sent.
func (f *FakeNotifier) Count(state string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, s := range f.States {
		if s == state {
			n++
		}
	}
	return n
}

// FakeFile is a fake watchdog character device for
// [watchdog.NewHardwareDevice]: it records the ioctls and writes and
// models a driver with WDIOF_SETTIMEOUT, WDIOF_KEEPALIVEPING and
// WDIOF_MAGICCLOSE, armed from open until closed right after a 'V'.
// Set its exported fields before use; read them through the methods while
// it is in use.
type FakeFile struct {
	mu sync.Mutex
	// TimeoutSecs is the driver's timeout in seconds; WDIOC_SETTIMEOUT
	// sets it, clamped to MaxTimeoutSecs when that is positive.
	TimeoutSecs    int
	MaxTimeoutSecs int
	// Calls records every call: "SETTIMEOUT 15", "GETTIMEOUT",
	// "KEEPALIVE", "ioctl 0x1234" for others, `write "V"`, "close".
	Calls []string
	// Keepalives counts WDIOC_KEEPALIVE calls.
	Keepalives int
	// Written is everything written.
	Written []byte
	// Armed is whether the watchdog counts down: true until a close that
	// follows a write ending in 'V'.
	Armed bool
	// Closed is whether Close was called; later calls fail.
	Closed bool
	// FailOn makes calls fail: keys "SETTIMEOUT", "GETTIMEOUT",
	// "KEEPALIVE", "write", "close".
	FailOn map[string]error
	// C receives every entry of Calls, without blocking (dropped when full).
	C chan string
}

var _ watchdog.DeviceFile = (*FakeFile)(nil)

// NewFakeFile returns an armed FakeFile whose driver timeout is
// timeoutSecs.
func NewFakeFile(timeoutSecs int) *FakeFile {
	return &FakeFile{TimeoutSecs: timeoutSecs, Armed: true, FailOn: map[string]error{}, C: make(chan string, eventBuffer)}
}

func (f *FakeFile) recordLocked(call, key string) error {
	f.Calls = append(f.Calls, call)
	select {
	case f.C <- call:
	default:
	}
	if f.Closed {
		return os.ErrClosed
	}
	return f.FailOn[key]
}

// Ioctl implements the watchdog API's SETTIMEOUT, GETTIMEOUT and KEEPALIVE;
// other requests fail with ENOTTY, as a driver does.
func (f *FakeFile) Ioctl(req uint, arg *int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch req {
	case unix.WDIOC_SETTIMEOUT:
		if err := f.recordLocked(fmt.Sprintf("SETTIMEOUT %d", *arg), "SETTIMEOUT"); err != nil {
			return err
		}
		if *arg <= 0 {
			return unix.EINVAL
		}
		f.TimeoutSecs = *arg
		if f.MaxTimeoutSecs > 0 && f.TimeoutSecs > f.MaxTimeoutSecs {
			f.TimeoutSecs = f.MaxTimeoutSecs
		}
		*arg = f.TimeoutSecs
	case unix.WDIOC_GETTIMEOUT:
		if err := f.recordLocked("GETTIMEOUT", "GETTIMEOUT"); err != nil {
			return err
		}
		*arg = f.TimeoutSecs
	case unix.WDIOC_KEEPALIVE:
		if err := f.recordLocked("KEEPALIVE", "KEEPALIVE"); err != nil {
			return err
		}
		f.Keepalives++
	default:
		if err := f.recordLocked(fmt.Sprintf("ioctl %#x", req), ""); err != nil {
			return err
		}
		return unix.ENOTTY
	}
	return nil
}

// Write records p.
func (f *FakeFile) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.recordLocked(fmt.Sprintf("write %q", p), "write"); err != nil {
		return 0, err
	}
	f.Written = append(f.Written, p...)
	return len(p), nil
}

// Close closes the fake, disarming it if the last byte written was 'V'.
func (f *FakeFile) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.recordLocked("close", "close"); err != nil {
		return err
	}
	f.Closed = true
	if n := len(f.Written); n > 0 && f.Written[n-1] == 'V' {
		f.Armed = false
	}
	return nil
}

// SetFail makes calls of kind key (see FailOn) fail with err from now on;
// a nil err clears it.
func (f *FakeFile) SetFail(key string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.FailOn == nil {
		f.FailOn = map[string]error{}
	}
	if err == nil {
		delete(f.FailOn, key)
		return
	}
	f.FailOn[key] = err
}

// State returns a copy of the calls, the keepalive count and whether the
// fake is armed and closed.
func (f *FakeFile) State() (calls []string, keepalives int, armed, closed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.Calls), f.Keepalives, f.Armed, f.Closed
}

// ListenNotify listens on a unixgram socket in a temporary directory, as
// systemd's notify socket, until the test ends. It returns the socket's
// path, to pass as NOTIFY_SOCKET, and a channel of the datagrams received
// (each one is one sd_notify call, such as "READY=1\nSTATUS=up").
func ListenNotify(t testing.TB) (path string, msgs <-chan string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "sdnotify")
	if err != nil {
		t.Fatalf("watchdogtest: notify socket dir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A short directory: socket paths are limited to 107 bytes.
	path = filepath.Join(dir, "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("watchdogtest: listen on notify socket: %v", err)
	}
	ch := make(chan string, eventBuffer)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(ch)
		buf := make([]byte, 64<<10)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("watchdogtest: read notify socket: %v", err)
				}
				return
			}
			ch <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		// Drain so that a blocked send cannot keep the reader alive.
		for range ch {
		}
		<-done
	})
	return path, ch
}
