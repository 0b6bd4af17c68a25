package hal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/coreos/go-systemd/v22/login1"
)

// Systemd powers the box off through systemd over D-Bus: it starts
// poweroff.target (or reboot.target) with the "replace-irreversibly" job
// mode, whose error it returns (login1.PowerOff would drop it), and takes
// logind "delay" inhibitor locks on "shutdown".
//
// A delay lock holds back shutdowns started through logind (the power button,
// `systemctl poweroff` as a user) for at most logind's InhibitDelayMaxSec (5 s
// by default); it does not hold back the job PowerOff starts itself, so
// release it once state is flushed and before PowerOff.
type Systemd struct {
	units  unitStarter
	login  inhibitorConn
	wake   WakeAlarm
	who    string
	log    *slog.Logger
	closer func()
	once   sync.Once
}

var (
	_ Power             = (*Systemd)(nil)
	_ ShutdownInhibitor = (*Systemd)(nil)
)

// unitStarter is the part of go-systemd's dbus.Conn that Systemd uses.
type unitStarter interface {
	StartUnitContext(ctx context.Context, name, mode string, ch chan<- string) (int, error)
}

// inhibitorConn is the part of go-systemd's login1.Conn that Systemd uses.
type inhibitorConn interface {
	Inhibit(what, who, why, mode string) (*os.File, error)
}

// SystemdOptions configures NewSystemd.
type SystemdOptions struct {
	// Wake is the RTC wake alarm, nil when the board has none.
	Wake WakeAlarm
	// Who names the inhibitor's owner in `systemd-inhibit --list`.
	Who string
	// Logger; nil discards.
	Logger *slog.Logger
}

// ErrNoSystemBus is matched by NewSystemd's error when the system D-Bus or
// logind cannot be reached.
var ErrNoSystemBus = errors.New("hal: cannot reach systemd over the system D-Bus")

// NewSystemd connects to systemd and logind on the system bus.
func NewSystemd(ctx context.Context, opts SystemdOptions) (*Systemd, error) {
	units, err := sddbus.NewSystemConnectionContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w (is dbus-daemon running, with systemd as PID 1? in tests and the demo use halsim.Power)", ErrNoSystemBus, err)
	}
	login, err := login1.New()
	if err != nil {
		units.Close()
		return nil, fmt.Errorf("%w: logind: %w (is systemd-logind running?)", ErrNoSystemBus, err)
	}
	s := newSystemd(units, login, opts)
	s.closer = func() { units.Close(); login.Close() }
	return s, nil
}

func newSystemd(units unitStarter, login inhibitorConn, opts SystemdOptions) *Systemd {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Who == "" {
		opts.Who = "shisad"
	}
	return &Systemd{units: units, login: login, wake: opts.Wake, who: opts.Who, log: log.With("power", "systemd", "who", opts.Who), closer: func() {}}
}

// PowerOff arms the wake alarm when sh.WakeAt is set, then starts
// poweroff.target (reboot.target when sh.Reboot) and returns once systemd
// has queued the job.
func (s *Systemd) PowerOff(ctx context.Context, sh Shutdown) error {
	if !sh.WakeAt.IsZero() {
		if s.wake == nil {
			return fmt.Errorf("hal: power off with wake at %s: %w", sh.WakeAt.Format("2006-01-02 15:04:05 MST"), ErrNoWakeAlarm)
		}
		if err := s.wake.SetWakeAlarm(sh.WakeAt); err != nil {
			return fmt.Errorf("hal: power off: arm the wake alarm: %w", err)
		}
	}
	target := "poweroff.target"
	if sh.Reboot {
		target = "reboot.target"
	}
	s.log.Info("starting "+target, "reason", sh.Reason, "wake_at", sh.WakeAt)
	if _, err := s.units.StartUnitContext(ctx, target, "replace-irreversibly", nil); err != nil {
		err = fmt.Errorf("hal: start %s: %w", target, err)
		if !sh.WakeAt.IsZero() {
			err = errors.Join(err, s.wake.ClearWakeAlarm())
		}
		return err
	}
	return nil
}

// Inhibit takes a logind "delay" lock on "shutdown".
func (s *Systemd) Inhibit(ctx context.Context, why string) (func() error, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := s.login.Inhibit("shutdown", s.who, why, "delay")
	if err != nil {
		return nil, fmt.Errorf("hal: take the logind shutdown delay lock: %w", err)
	}
	return closeOnce(f), nil
}

func closeOnce(c io.Closer) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() { err = c.Close() })
		return err
	}
}

// Close closes the D-Bus connections. It can be called twice.
func (s *Systemd) Close() error {
	s.once.Do(s.closer)
	return nil
}
