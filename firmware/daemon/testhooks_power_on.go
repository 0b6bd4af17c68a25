//go:build shisa_testhooks

package daemon

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/shisa-gw/shisa/hal"
)

// EnvTestPower, in builds with the shisa_testhooks tag only (the
// integration tests), makes shisad record its power-off instead of asking
// systemd: with SHISA_TEST_POWER=record every PowerOff and inhibitor lock
// is journaled as a test.poweroff or test.inhibit event and accepted, and
// the box stays up (with its tunnel down) for the test to look at.
const EnvTestPower = "SHISA_TEST_POWER"

func (d *Daemon) testPower() (hal.Power, hal.ShutdownInhibitor, string) {
	if os.Getenv(EnvTestPower) != "record" {
		return nil, nil, ""
	}
	d.log.Warn("test hook: power-off is recorded, not done", "job", "power")
	r := recordingPower{d}
	return r, r, "recording (test hook)"
}

type recordingPower struct{ d *Daemon }

// PowerOff records sh. Like hal.Systemd, it refuses a wake time when the
// configured wake alarm (power.wake_alarm) is none or missing.
func (r recordingPower) PowerOff(ctx context.Context, sh hal.Shutdown) error {
	f := map[string]any{"reboot": sh.Reboot, "reason": sh.Reason}
	if !sh.WakeAt.IsZero() {
		f["wake_at"] = sh.WakeAt.UTC().Format(time.RFC3339)
		path := r.d.site.Power.WakeAlarm
		if _, err := hal.OpenRTCWake(path); path == "" || err != nil {
			f["refused"] = "no wake alarm"
			r.d.event("test.poweroff", "test hook: power-off refused: no RTC wake alarm", f)
			return fmt.Errorf("test hook: %w", hal.ErrNoWakeAlarm)
		}
	}
	r.d.event("test.poweroff", "test hook: power-off recorded", f)
	return ctx.Err()
}

// Inhibit records the lock and grants it.
func (r recordingPower) Inhibit(_ context.Context, why string) (func() error, error) {
	r.d.event("test.inhibit", "test hook: inhibitor lock taken: "+why, nil)
	return func() error { return nil }, nil
}
