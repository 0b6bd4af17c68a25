package hal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// Shutdown says how to power off and how to come back.
type Shutdown struct {
	// Reboot restarts the box instead of powering it off: the fallback when
	// mains is present and the UPS cannot cut the load.
	Reboot bool
	// WakeAt, when set, arms the RTC wake alarm before powering off. With no
	// alarm on the board, PowerOff fails with ErrNoWakeAlarm before doing
	// anything, so the caller can choose another way back.
	WakeAt time.Time
	// Reason is recorded (the simulated controller's log; systemd's logs).
	Reason string
}

// Power powers the box off.
type Power interface {
	// PowerOff asks the system to power off (or reboot) as sh says. It
	// returns once the request is accepted; the process is then killed by
	// the shutdown. An error means the box is still up.
	PowerOff(ctx context.Context, sh Shutdown) error
}

// ShutdownInhibitor delays shutdowns that others start (the power button
// handled by logind, a technician's `systemctl poweroff`) while state is
// being flushed.
type ShutdownInhibitor interface {
	// Inhibit takes the lock; release gives it back (and can be called
	// twice).
	Inhibit(ctx context.Context, why string) (release func() error, err error)
}

// WakeAlarm is the RTC's wake alarm.
type WakeAlarm interface {
	// SetWakeAlarm arms the alarm to power the box on at t.
	SetWakeAlarm(t time.Time) error
	// ClearWakeAlarm disarms it.
	ClearWakeAlarm() error
}

// ErrNoWakeAlarm is returned when a wake time is asked for and the board has
// no RTC wake alarm.
var ErrNoWakeAlarm = errors.New("hal: no RTC wake alarm on this board")

// DefaultWakeAlarmPath is the first RTC's wake alarm in sysfs.
const DefaultWakeAlarmPath = "/sys/class/rtc/rtc0/wakealarm"

// RTCWake is the wake alarm of a Linux RTC through sysfs: the file takes the
// alarm time in seconds since the epoch, "0" clears it, and a set alarm must
// be cleared before another is written (the kernel answers EBUSY). The
// kernel converts assuming the RTC keeps UTC.
type RTCWake struct {
	// Path is the wakealarm file; tests point it at a temporary file.
	Path string
}

var _ WakeAlarm = (*RTCWake)(nil)

// OpenRTCWake returns the wake alarm at path (DefaultWakeAlarmPath when
// empty), or an error matching ErrNoWakeAlarm when the file is not there.
func OpenRTCWake(path string) (*RTCWake, error) {
	if path == "" {
		path = DefaultWakeAlarmPath
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrNoWakeAlarm, path, err)
	}
	return &RTCWake{Path: path}, nil
}

// SetWakeAlarm clears the alarm, then writes t's epoch seconds.
func (w *RTCWake) SetWakeAlarm(t time.Time) error {
	if err := w.ClearWakeAlarm(); err != nil {
		return err
	}
	return w.write(strconv.FormatInt(t.Unix(), 10))
}

// ClearWakeAlarm writes "0".
func (w *RTCWake) ClearWakeAlarm() error { return w.write("0") }

func (w *RTCWake) write(v string) error {
	// No O_CREATE: on the board the file exists or there is no alarm.
	f, err := os.OpenFile(w.Path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("hal: wake alarm: %w", err)
	}
	_, err = f.WriteString(v + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("hal: wake alarm: write %q to %s: %w", v, w.Path, err)
	}
	return nil
}
