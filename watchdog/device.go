package watchdog

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Device is the supervisor's view of a hardware watchdog. [HardwareDevice]
// is the real one.
type Device interface {
	// Keepalive pets the watchdog, restarting its countdown.
	Keepalive() error
	// Timeout is the countdown after which the watchdog resets the box.
	Timeout() time.Duration
	// Close disarms the watchdog (magic close) and releases it. It is
	// safe to call more than once.
	Close() error
}

// Abandoner is implemented by a [Device] that can be released while left
// armed, so that the box resets unless someone pets it again. The
// supervisor uses it when it stops while a check is stale.
type Abandoner interface {
	// Abandon releases the device without the magic close.
	Abandon() error
}

// DeviceFile is the OS seam under [HardwareDevice]: an open watchdog
// character device. watchdogtest.FakeFile is a fake that records the calls.
type DeviceFile interface {
	// Ioctl performs ioctl(2) with req and a pointer to a C int holding
	// *arg; on success *arg holds what the kernel left there.
	Ioctl(req uint, arg *int) error
	Write(p []byte) (int, error)
	Close() error
}

// The Linux watchdog API's ioctl requests (linux/watchdog.h), from
//
//	#define WATCHDOG_IOCTL_BASE 'W'
//	#define WDIOC_KEEPALIVE  _IOR(WATCHDOG_IOCTL_BASE, 5, int)  // 0x80045705
//	#define WDIOC_SETTIMEOUT _IOWR(WATCHDOG_IOCTL_BASE, 6, int) // 0xc0045706
//	#define WDIOC_GETTIMEOUT _IOR(WATCHDOG_IOCTL_BASE, 7, int)  // 0x80045707
//
// where _IOC(dir, type, nr, size) = dir<<30 | size<<16 | type<<8 | nr with
// _IOC_READ = 2, _IOC_WRITE = 1 and sizeof(int) = 4 on every Linux ABI we
// ship (arm, arm64, amd64); golang.org/x/sys/unix has them per GOARCH.
const (
	ioctlKeepalive  uint = unix.WDIOC_KEEPALIVE
	ioctlSetTimeout uint = unix.WDIOC_SETTIMEOUT
	ioctlGetTimeout uint = unix.WDIOC_GETTIMEOUT
)

// magicClose is the byte that, written just before close, tells a driver
// with WDIOF_MAGICCLOSE that the close is deliberate and disarms it.
var magicClose = []byte("V")

// HardwareDevice drives a Linux watchdog device (/dev/watchdog) through
// the watchdog API: WDIOC_SETTIMEOUT and WDIOC_GETTIMEOUT when opened,
// WDIOC_KEEPALIVE to pet, and the magic close on Close. Opening the device
// arms it: from then on the box resets unless it is petted within
// [HardwareDevice.Timeout] or closed with [HardwareDevice.Close].
type HardwareDevice struct {
	path    string
	timeout time.Duration

	mu     sync.Mutex
	f      DeviceFile // nil once closed
	closed bool
}

var (
	_ Device    = (*HardwareDevice)(nil)
	_ Abandoner = (*HardwareDevice)(nil)
)

// ErrDeviceClosed is returned by Keepalive after Close.
var ErrDeviceClosed = errors.New("watchdog: device closed")

// OpenDevice opens the watchdog device at path (usually /dev/watchdog),
// which arms it, and sets its timeout, rounded up to whole seconds; a zero
// timeout keeps the driver's. The driver may adjust the timeout to what
// the hardware supports: [HardwareDevice.Timeout] says what it took.
func OpenDevice(path string, timeout time.Duration) (*HardwareDevice, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return nil, fmt.Errorf("watchdog: open %s: %w (another process holds it: systemd's RuntimeWatchdogSec= or a watchdog daemon?)", path, err)
		}
		return nil, fmt.Errorf("watchdog: open %s: %w", path, err)
	}
	return NewHardwareDevice(path, osFile{f}, timeout)
}

// NewHardwareDevice sets up the watchdog device already open as f, named
// path in errors, as [OpenDevice] does. On error it has closed f with the
// magic close, so a failed set-up does not leave the box armed.
func NewHardwareDevice(path string, f DeviceFile, timeout time.Duration) (*HardwareDevice, error) {
	d := &HardwareDevice{path: path, f: f}
	fail := func(err error) (*HardwareDevice, error) {
		return nil, errors.Join(err, d.Close())
	}
	if timeout < 0 {
		return fail(fmt.Errorf("watchdog: %s: negative timeout %v", path, timeout))
	}
	if timeout > 0 {
		secs := int((timeout + time.Second - 1) / time.Second)
		arg := secs
		if err := f.Ioctl(ioctlSetTimeout, &arg); err != nil {
			return fail(d.ioctlErr(fmt.Sprintf("set timeout to %ds (WDIOC_SETTIMEOUT; pass 0 to keep the driver's)", secs), err))
		}
	}
	var secs int
	if err := f.Ioctl(ioctlGetTimeout, &secs); err != nil {
		return fail(d.ioctlErr("get timeout (WDIOC_GETTIMEOUT)", err))
	}
	if secs <= 0 {
		return fail(fmt.Errorf("watchdog: %s: driver reports a timeout of %ds", path, secs))
	}
	d.timeout = time.Duration(secs) * time.Second
	return d, nil
}

func (d *HardwareDevice) ioctlErr(what string, err error) error {
	if errors.Is(err, syscall.ENOTTY) {
		return fmt.Errorf("watchdog: %s: %s: %w (is it a watchdog device?)", d.path, what, err)
	}
	return fmt.Errorf("watchdog: %s: %s: %w", d.path, what, err)
}

// Path is the device's path.
func (d *HardwareDevice) Path() string { return d.path }

// Timeout is the countdown the driver reported when the device was opened.
func (d *HardwareDevice) Timeout() time.Duration { return d.timeout }

// Keepalive pets the watchdog (WDIOC_KEEPALIVE).
func (d *HardwareDevice) Keepalive() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("watchdog: %s: keepalive: %w", d.path, ErrDeviceClosed)
	}
	var arg int
	if err := d.f.Ioctl(ioctlKeepalive, &arg); err != nil {
		return d.ioctlErr("keepalive (WDIOC_KEEPALIVE)", err)
	}
	return nil
}

// Close writes the magic close character and closes the device, which
// disarms drivers that support the magic close (WDIOF_MAGICCLOSE) and are
// not built with nowayout. The file is closed even if the write fails; a
// second Close does nothing and returns nil.
func (d *HardwareDevice) Close() error {
	return d.release(true)
}

// Abandon closes the device without the magic close, leaving it armed: the
// box resets after the timeout unless the device is opened and petted
// again. A later Close or Abandon does nothing.
func (d *HardwareDevice) Abandon() error {
	return d.release(false)
}

func (d *HardwareDevice) release(magic bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var werr error
	if magic {
		if _, err := d.f.Write(magicClose); err != nil {
			werr = fmt.Errorf("watchdog: %s: magic close: %w (the watchdog stays armed)", d.path, err)
		}
	}
	if err := d.f.Close(); err != nil {
		return errors.Join(werr, fmt.Errorf("watchdog: %s: close: %w", d.path, err))
	}
	return werr
}

// osFile is the real DeviceFile.
type osFile struct{ f *os.File }

func (o osFile) Write(p []byte) (int, error) { return o.f.Write(p) }
func (o osFile) Close() error                { return o.f.Close() }

// Ioctl passes a pointer to a 32-bit C int, whatever the size of Go's int
// (4 bytes on arm, 8 on arm64), and copies back what the kernel wrote
// there (WDIOC_SETTIMEOUT writes back the timeout it set).
func (o osFile) Ioctl(req uint, arg *int) error {
	rc, err := o.f.SyscallConn()
	if err != nil {
		return err
	}
	v := int32(*arg)
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, uintptr(req), uintptr(unsafe.Pointer(&v)))
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	*arg = int(v)
	return nil
}
