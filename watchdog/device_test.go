package watchdog_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/shisa-gw/shisa/watchdog"
	"github.com/shisa-gw/shisa/watchdog/watchdogtest"
)

// TestIoctlNumbers checks the request numbers golang.org/x/sys/unix gives
// for this GOARCH against linux/watchdog.h's macros.
func TestIoctlNumbers(t *testing.T) {
	const read, write = 2, 1
	const sizeofInt = 4
	ioc := func(dir, typ, nr, size uint) uint { return dir<<30 | size<<16 | typ<<8 | nr }
	assert.Equal(t, ioc(read, 'W', 5, sizeofInt), uint(unix.WDIOC_KEEPALIVE), "_IOR('W', 5, int)")
	assert.Equal(t, ioc(read|write, 'W', 6, sizeofInt), uint(unix.WDIOC_SETTIMEOUT), "_IOWR('W', 6, int)")
	assert.Equal(t, ioc(read, 'W', 7, sizeofInt), uint(unix.WDIOC_GETTIMEOUT), "_IOR('W', 7, int)")
	assert.Equal(t, uint(0x80045705), uint(unix.WDIOC_KEEPALIVE))
	assert.Equal(t, uint(0xc0045706), uint(unix.WDIOC_SETTIMEOUT))
	assert.Equal(t, uint(0x80045707), uint(unix.WDIOC_GETTIMEOUT))
}

func TestHardwareDeviceSetsTheTimeout(t *testing.T) {
	for _, tc := range []struct {
		name      string
		driver    int // driver's timeout, s
		max       int // driver's maximum, s
		timeout   time.Duration
		wantCalls []string
		want      time.Duration
	}{
		{"whole seconds", 60, 0, 15 * time.Second, []string{"SETTIMEOUT 15", "GETTIMEOUT"}, 15 * time.Second},
		{"rounded up", 60, 0, 1500 * time.Millisecond, []string{"SETTIMEOUT 2", "GETTIMEOUT"}, 2 * time.Second},
		{"zero keeps the driver's", 60, 0, 0, []string{"GETTIMEOUT"}, 60 * time.Second},
		{"clamped by the driver", 60, 10, 30 * time.Second, []string{"SETTIMEOUT 30", "GETTIMEOUT"}, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ff := watchdogtest.NewFakeFile(tc.driver)
			ff.MaxTimeoutSecs = tc.max
			d, err := watchdog.NewHardwareDevice("/dev/watchdog", ff, tc.timeout)
			require.NoError(t, err)
			calls, _, armed, closed := ff.State()
			assert.Equal(t, tc.wantCalls, calls)
			assert.Equal(t, tc.want, d.Timeout())
			assert.True(t, armed)
			assert.False(t, closed)
			assert.Equal(t, "/dev/watchdog", d.Path())
		})
	}
}

func TestHardwareDeviceKeepaliveAndMagicClose(t *testing.T) {
	ff := watchdogtest.NewFakeFile(60)
	d, err := watchdog.NewHardwareDevice("/dev/watchdog0", ff, 15*time.Second)
	require.NoError(t, err)
	for range 3 {
		require.NoError(t, d.Keepalive())
	}
	require.NoError(t, d.Close())
	require.NoError(t, d.Close(), "a second Close does nothing")
	require.NoError(t, d.Abandon(), "nor does an Abandon after Close")

	calls, keepalives, armed, closed := ff.State()
	assert.Equal(t, []string{"SETTIMEOUT 15", "GETTIMEOUT", "KEEPALIVE", "KEEPALIVE", "KEEPALIVE", `write "V"`, "close"}, calls)
	assert.Equal(t, 3, keepalives)
	assert.False(t, armed)
	assert.True(t, closed)

	err = d.Keepalive()
	require.ErrorIs(t, err, watchdog.ErrDeviceClosed)
	assert.Contains(t, err.Error(), "/dev/watchdog0")
}

func TestHardwareDeviceAbandonLeavesItArmed(t *testing.T) {
	ff := watchdogtest.NewFakeFile(60)
	d, err := watchdog.NewHardwareDevice("/dev/watchdog", ff, 0)
	require.NoError(t, err)
	require.NoError(t, d.Abandon())
	require.NoError(t, d.Close(), "Close after Abandon does nothing")
	calls, _, armed, closed := ff.State()
	assert.Equal(t, []string{"GETTIMEOUT", "close"}, calls)
	assert.True(t, armed)
	assert.True(t, closed)
}

func TestHardwareDeviceErrorsNameTheDevice(t *testing.T) {
	boom := errors.New("boom")
	t.Run("set timeout fails: magic close, not left armed", func(t *testing.T) {
		ff := watchdogtest.NewFakeFile(60)
		ff.SetFail("SETTIMEOUT", syscall.EINVAL)
		_, err := watchdog.NewHardwareDevice("/dev/watchdog1", ff, 500*time.Second)
		require.ErrorIs(t, err, syscall.EINVAL)
		assert.Contains(t, err.Error(), "watchdog: /dev/watchdog1: set timeout to 500s")
		calls, _, armed, closed := ff.State()
		assert.Equal(t, []string{"SETTIMEOUT 500", `write "V"`, "close"}, calls)
		assert.False(t, armed)
		assert.True(t, closed)
	})
	t.Run("not a watchdog", func(t *testing.T) {
		ff := watchdogtest.NewFakeFile(60)
		ff.SetFail("GETTIMEOUT", syscall.ENOTTY)
		_, err := watchdog.NewHardwareDevice("/dev/ttyS0", ff, 0)
		require.ErrorIs(t, err, syscall.ENOTTY)
		assert.Contains(t, err.Error(), "/dev/ttyS0")
		assert.Contains(t, err.Error(), "is it a watchdog device?")
	})
	t.Run("driver reports no timeout", func(t *testing.T) {
		_, err := watchdog.NewHardwareDevice("/dev/watchdog", watchdogtest.NewFakeFile(0), 0)
		require.ErrorContains(t, err, "watchdog: /dev/watchdog: driver reports a timeout of 0s")
	})
	t.Run("negative timeout", func(t *testing.T) {
		_, err := watchdog.NewHardwareDevice("/dev/watchdog", watchdogtest.NewFakeFile(60), -time.Second)
		require.ErrorContains(t, err, "negative timeout")
	})
	t.Run("keepalive", func(t *testing.T) {
		ff := watchdogtest.NewFakeFile(60)
		d, err := watchdog.NewHardwareDevice("/dev/watchdog", ff, 0)
		require.NoError(t, err)
		ff.SetFail("KEEPALIVE", boom)
		err = d.Keepalive()
		require.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "watchdog: /dev/watchdog: keepalive")
	})
	t.Run("magic close write fails: still closed, says it stays armed", func(t *testing.T) {
		ff := watchdogtest.NewFakeFile(60)
		d, err := watchdog.NewHardwareDevice("/dev/watchdog", ff, 0)
		require.NoError(t, err)
		ff.SetFail("write", boom)
		err = d.Close()
		require.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "watchdog: /dev/watchdog: magic close")
		assert.Contains(t, err.Error(), "stays armed")
		_, _, armed, closed := ff.State()
		assert.True(t, armed)
		assert.True(t, closed)
		require.NoError(t, d.Close())
	})
	t.Run("close fails", func(t *testing.T) {
		ff := watchdogtest.NewFakeFile(60)
		d, err := watchdog.NewHardwareDevice("/dev/watchdog", ff, 0)
		require.NoError(t, err)
		ff.SetFail("close", boom)
		err = d.Close()
		require.ErrorIs(t, err, boom)
		assert.Contains(t, err.Error(), "watchdog: /dev/watchdog: close")
	})
}

// TestOpenDeviceOnARegularFile runs the real code path, open and ioctl on
// a real file descriptor: the kernel refuses the watchdog ioctls on a
// regular file (ENOTTY), the error says so and names the file, and the
// failed set-up magic-closes it.
func TestOpenDeviceOnARegularFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-a-watchdog")
	require.NoError(t, os.WriteFile(path, nil, 0o600))
	_, err := watchdog.OpenDevice(path, 15*time.Second)
	require.Error(t, err)
	if errors.Is(err, syscall.ENOSYS) {
		t.Skipf("the emulator does not pass watchdog ioctls through: %v", err)
	}
	require.ErrorIs(t, err, syscall.ENOTTY)
	assert.Contains(t, err.Error(), "watchdog: "+path+": set timeout to 15s (WDIOC_SETTIMEOUT")
	assert.Contains(t, err.Error(), "is it a watchdog device?")
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "V", string(b), "the magic close was written before closing")
}

func TestOpenDeviceMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchdog")
	_, err := watchdog.OpenDevice(path, 15*time.Second)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), "watchdog: open "+path)
}

// TestIoctlPassesACInt checks the real Ioctl's argument handling on this
// GOARCH (a pointer to a 32-bit int both ways) with ioctls that work on
// ordinary files: FIONBIO reads an int, FIONREAD (TIOCINQ) writes one.
func TestIoctlPassesACInt(t *testing.T) {
	f, err := os.OpenFile(filepath.Join(t.TempDir(), "f"), os.O_CREATE|os.O_RDWR, 0o600)
	require.NoError(t, err)
	defer f.Close()
	df := watchdog.NewOSFile(f)

	const fionbio = 0x5421 // asm-generic/ioctls.h, as on arm, arm64 and amd64
	on := 1
	if err := df.Ioctl(fionbio, &on); errors.Is(err, syscall.ENOSYS) {
		t.Skipf("the emulator does not pass FIONBIO through: %v", err)
	} else {
		require.NoError(t, err)
	}
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	require.NoError(t, err)
	assert.NotZero(t, flags&unix.O_NONBLOCK, "FIONBIO read the 1 we passed")

	_, err = f.WriteString("hello")
	require.NoError(t, err)
	_, err = f.Seek(0, 0)
	require.NoError(t, err)
	n := -1
	require.NoError(t, df.Ioctl(unix.TIOCINQ, &n)) // FIONREAD
	assert.Equal(t, 5, n, "FIONREAD wrote the bytes left to read")

	k := 0
	err = df.Ioctl(unix.WDIOC_KEEPALIVE, &k)
	if !errors.Is(err, syscall.ENOSYS) {
		assert.ErrorIs(t, err, syscall.ENOTTY)
	}
}
