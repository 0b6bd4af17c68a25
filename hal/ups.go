package hal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// UPS is a source of UPS state: dry contacts on GPIO lines (Contacts) or a
// NUT server (package hal/nut), or the simulated one (package hal/halsim).
type UPS interface {
	// State returns the UPS's state now. A source that has to ask something
	// (a NUT server) asks within ctx; when it cannot, it returns the last
	// known state with Stale set and the error that made it stale.
	State(ctx context.Context) (UPSState, error)
	// Events delivers the state each time it changes. The channel holds one
	// value and coalesces: a slow reader sees the newest state, never a
	// backlog. It is closed by Close.
	Events() <-chan UPSState
	// ArmReturn makes the UPS cut the load after offDelay and restore it
	// after onDelay once mains is present. offDelay must be shorter than
	// onDelay. A source that cannot do it returns an error matching
	// ErrArmUnsupported; the caller then relies on its own reboot timer.
	ArmReturn(ctx context.Context, offDelay, onDelay time.Duration) error
	// CanCutWithMains reports whether an armed return cuts (and so
	// power-cycles) the load even when mains came back before offDelay ran
	// out. When false, a box that halts after mains returned may stay off:
	// the caller must reboot instead of halting.
	CanCutWithMains() bool
	// Close stops the source and closes Events. It can be called twice.
	Close() error
}

// UPSState is what a UPS source knows.
//
// Online and OnBattery are the UPS's own flags (NUT's OL and OB); both may be
// false (NUT's OFF or BYPASS), never both true from a sane UPS. LowBattery is
// the UPS's LB flag, or forced by the lost-UPS rule below. ForcedShutdown is
// NUT's FSD: the NUT primary is shutting everything down; shut down at once.
//
// Stale means the data is not current (the NUT server is unreachable, or it
// answers DATA-STALE or DRIVER-NOT-CONNECTED). The flags are then the last
// known ones, with NUT's upsmon rule applied: a UPS lost while on battery
// counts as low battery (LowBattery is set), and a UPS lost while online (or
// never seen) changes nothing.
type UPSState struct {
	Online         bool
	OnBattery      bool
	LowBattery     bool
	ForcedShutdown bool

	Charging       bool // CHRG
	Discharging    bool // DISCHRG
	ReplaceBattery bool // RB
	Bypass         bool // BYPASS
	Overload       bool // OVER
	Off            bool // OFF: the UPS's output is off

	// ChargePct is battery.charge in percent, -1 when unknown.
	ChargePct float64
	// RuntimeS is battery.runtime in seconds, -1 when unknown.
	RuntimeS float64
	// Status is the raw status as the source reported it ("OB DISCHRG").
	Status string

	Stale bool
	// Reason says why the state is stale, for people; empty when fresh.
	Reason string
	// Source names where the state came from ("nut:ups@host:3493",
	// "contacts").
	Source string
}

// Unknown is a state with no data: the charge and runtime unknown, nothing set.
func Unknown(source string) UPSState {
	return UPSState{ChargePct: -1, RuntimeS: -1, Source: source}
}

// Lost returns s marked stale for reason, with the lost-UPS rule applied: a
// UPS last seen on battery counts as low battery.
func (s UPSState) Lost(reason string) UPSState {
	s.Stale = true
	s.Reason = reason
	if s.OnBattery {
		s.LowBattery = true
	}
	return s
}

// ShouldShutDown reports whether the state alone asks for a shutdown now,
// without a grace period: low battery or a forced shutdown.
func (s UPSState) ShouldShutDown() bool {
	return s.LowBattery || s.ForcedShutdown
}

func (s UPSState) String() string {
	var b strings.Builder
	b.WriteString(s.Source)
	b.WriteString(":")
	for _, f := range []struct {
		on   bool
		name string
	}{
		{s.Online, "OL"}, {s.OnBattery, "OB"}, {s.LowBattery, "LB"}, {s.ForcedShutdown, "FSD"},
		{s.Charging, "CHRG"}, {s.Discharging, "DISCHRG"}, {s.ReplaceBattery, "RB"},
		{s.Bypass, "BYPASS"}, {s.Overload, "OVER"}, {s.Off, "OFF"},
	} {
		if f.on {
			b.WriteString(" ")
			b.WriteString(f.name)
		}
	}
	if s.ChargePct >= 0 {
		fmt.Fprintf(&b, " charge=%g%%", s.ChargePct)
	}
	if s.RuntimeS >= 0 {
		fmt.Fprintf(&b, " runtime=%gs", s.RuntimeS)
	}
	if s.Stale {
		fmt.Fprintf(&b, " STALE(%s)", s.Reason)
	}
	return b.String()
}

// ErrArmUnsupported is matched (errors.Is) by ArmReturn's error when the UPS
// cannot be armed to cut and restore the load: no kill-power line, or a NUT
// UPS without the shutdown.return instant command. The caller falls back to
// its own reboot timer.
var ErrArmUnsupported = errors.New("hal: the UPS cannot be armed to cut and restore the load")

// SendLatest delivers st on a one-slot channel, replacing a value not yet
// read, so that a slow reader sees the newest state. Only one goroutine may
// send on ch. For UPS sources (here, hal/nut, hal/halsim).
func SendLatest(ch chan UPSState, st UPSState) {
	for {
		select {
		case ch <- st:
			return
		default:
		}
		select {
		case <-ch:
		default:
		}
	}
}
