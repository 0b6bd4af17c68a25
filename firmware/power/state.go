package power

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/hal"
)

// State is the machine's state.
type State int32

// The states, in the order the box goes through them.
const (
	Online State = iota
	OnBattery
	ShuttingDown
	Halted
)

func (s State) String() string {
	switch s {
	case Online:
		return "online"
	case OnBattery:
		return "on_battery"
	case ShuttingDown:
		return "shutting_down"
	case Halted:
		return "halted"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// EventLog receives the package's events (the daemon writes them to the
// journal); tunnel.EventLog has the same shape.
type EventLog interface {
	Event(kind, msg string, fields map[string]any)
}

// Event kinds of this package, defined with the others in firmware/report
// (the journal's vocabulary lives in one place).
const (
	KindPowerState      = report.KindPowerState
	KindPowerStepFailed = report.KindPowerStepFailed
	KindPowerSafe       = report.KindPowerSafe
	KindPowerOffFailed  = report.KindPowerOffFailed
	KindOutageClosed    = report.KindOutageClosed
	KindOutageCancelled = report.KindOutageCancelled
)

// Return says how the box comes back after the power-off.
type Return string

// The ways back.
const (
	ReturnUPS    Return = "ups"    // the armed UPS cuts and restores the load
	ReturnWake   Return = "wake"   // the RTC wake alarm powers the box on
	ReturnReboot Return = "reboot" // the box reboots at once
)

// Steps are the daemon's parts of the sequence. A nil step is skipped. Each
// gets a context with its deadline and must return when it is done; a step
// that ignores its context is abandoned at the deadline, not waited for.
type Steps struct {
	// Journal runs after the power.shutdown event and the Record are
	// written: make them durable (fsync the journal).
	Journal func(ctx context.Context, t Trigger) error
	// Notify tells the datacenter: push the event, set the health state.
	Notify func(ctx context.Context, t Trigger) error
	// TunnelDown takes the tunnel down cleanly.
	TunnelDown func(ctx context.Context) error
	// Flush flushes and fsyncs the daemon's state.
	Flush func(ctx context.Context) error
}

// Step names, as in StepResult and power.step_failed.
const (
	StepInhibit    = "inhibit"
	StepJournal    = "journal"
	StepNotify     = "notify"
	StepTunnelDown = "tunnel_down"
	StepFlush      = "flush"
	StepArm        = "arm"
	StepPowerOff   = "power_off"
)

// Options configures a Machine and its Sequencer. Zero values take the
// defaults noted.
type Options struct {
	// UPS is watched for mains and battery and armed for the return; nil
	// means no UPS (planned windows and restarts still work).
	UPS hal.UPS
	// Power powers the box off. Required.
	Power hal.Power
	// Inhibitor delays others' shutdowns during the sequence; nil skips it.
	Inhibitor hal.ShutdownInhibitor
	// Schedule holds the planned windows; nil means none.
	Schedule *Schedule
	// Steps are the daemon's steps.
	Steps Steps
	// StateDir holds the Record (RecordFile). Required.
	StateDir string
	// Events receives the events; nil drops them.
	Events EventLog
	// Logger; nil discards.
	Logger *slog.Logger

	// Grace is how long the box stays up on battery before shutting down
	// (unless the battery is low first). Default 2m.
	Grace time.Duration
	// Lead is how long before a planned window's start the box shuts down.
	// Default 5m.
	Lead time.Duration
	// StepTimeout is each step's deadline unless Timeouts says otherwise.
	// Default 5s.
	StepTimeout time.Duration
	// Timeouts overrides StepTimeout for some steps (by Step… name).
	Timeouts map[string]time.Duration
	// Budget bounds the whole sequence, power-off included; keep it well
	// inside the UPS runtime. Default 30s.
	Budget time.Duration
	// OffDelay and OnDelay are given to UPS.ArmReturn: the UPS cuts the
	// load OffDelay after arming (the box must be halted by then) and
	// restores it OnDelay later once mains is present. OffDelay < OnDelay.
	// Defaults 20s and 30s. For a planned window the on-delay is stretched
	// to reach the window's end.
	OffDelay, OnDelay time.Duration
	// RebootAfter is when the box wakes (RTC) after an unplanned shutdown
	// whose return the UPS cannot make. Default 2m.
	RebootAfter time.Duration

	// Alive, when set, is called by Machine.Run's loop every AliveEvery
	// (default 5s), also while a sequence runs: the daemon's watchdog
	// check of the power job.
	Alive      func()
	AliveEvery time.Duration
}

func (o *Options) setDefaults() error {
	if o.Power == nil {
		return errors.New("power: no power controller (hal.Power) given")
	}
	if o.StateDir == "" {
		return errors.New("power: no state directory given for the shutdown record")
	}
	setDefault(&o.Grace, 2*time.Minute)
	setDefault(&o.Lead, 5*time.Minute)
	setDefault(&o.StepTimeout, 5*time.Second)
	setDefault(&o.Budget, 30*time.Second)
	setDefault(&o.OffDelay, 20*time.Second)
	setDefault(&o.OnDelay, 30*time.Second)
	setDefault(&o.RebootAfter, 2*time.Minute)
	setDefault(&o.AliveEvery, 5*time.Second)
	if o.OffDelay >= o.OnDelay {
		return fmt.Errorf("power: the UPS off delay (%s) must be shorter than its on delay (%s), or the UPS restores the load before cutting it", o.OffDelay, o.OnDelay)
	}
	if o.Budget <= o.timeout(StepPowerOff) {
		return fmt.Errorf("power: the shutdown budget (%s) leaves no time before the power-off step (%s)", o.Budget, o.timeout(StepPowerOff))
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

func (o *Options) timeout(step string) time.Duration {
	if d, ok := o.Timeouts[step]; ok && d > 0 {
		return d
	}
	return o.StepTimeout
}

func (o *Options) event(kind, msg string, fields map[string]any) {
	if o.Events != nil {
		o.Events.Event(kind, msg, fields)
	}
}

// reasonOf is the shutdown reason a UPS state asks for at once, or "".
func reasonOf(st hal.UPSState) string {
	switch {
	case st.ForcedShutdown:
		return report.ShutdownFSD
	case st.LowBattery:
		return report.ShutdownLowBattery
	}
	return ""
}
