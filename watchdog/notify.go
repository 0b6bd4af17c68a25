package watchdog

import (
	"fmt"
	"os"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// The sd_notify states the supervisor sends (see sd_notify(3)).
const (
	StateReady    = daemon.SdNotifyReady    // "READY=1"
	StateWatchdog = daemon.SdNotifyWatchdog // "WATCHDOG=1"
	StateStopping = daemon.SdNotifyStopping // "STOPPING=1"
)

// Notifier sends sd_notify states to the service manager. It must be safe
// for concurrent use.
type Notifier interface {
	// Notify sends one datagram of newline-separated KEY=VALUE
	// assignments, such as "READY=1\nSTATUS=up".
	Notify(state string) error
}

// SystemdNotifier is the real [Notifier]: it sends to the socket named by
// $NOTIFY_SOCKET with [daemon.SdNotify] and is a no-op when that variable
// is unset (not started by systemd, or Type= is not notify).
type SystemdNotifier struct{}

var _ Notifier = SystemdNotifier{}

// Notify sends state to $NOTIFY_SOCKET, if it is set.
func (SystemdNotifier) Notify(state string) error {
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("watchdog: sd_notify to NOTIFY_SOCKET=%s: %w", os.Getenv("NOTIFY_SOCKET"), err)
	}
	return nil
}

// WatchdogTimeout returns systemd's watchdog timeout for this process
// (WatchdogSec=, passed as $WATCHDOG_USEC and $WATCHDOG_PID), or 0 when
// systemd's watchdog is off for it.
func (SystemdNotifier) WatchdogTimeout() (time.Duration, error) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return 0, fmt.Errorf("watchdog: systemd watchdog settings: %w", err)
	}
	return d, nil
}

// UnderSystemd reports whether the process was started by systemd with a
// notify socket ($NOTIFY_SOCKET is set). The daemon opens /dev/watchdog
// itself only when it is not: under systemd, the service watchdog
// (WatchdogSec=) and systemd's own hardware watchdog (RuntimeWatchdogSec=)
// do that job.
func UnderSystemd() bool {
	return os.Getenv("NOTIFY_SOCKET") != ""
}
