package halsim

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/hal"
)

// UPS is a simulated UPS source: Set changes its state; ArmReturn and the
// rest are recorded on the board's log. Its exported fields may be changed
// before use or under Lock.
type UPS struct {
	board  *Board
	events chan hal.UPSState

	sync.Mutex
	// St is the current state; change it with Set.
	St hal.UPSState
	// ArmErr is returned by ArmReturn (for instance an error matching
	// hal.ErrArmUnsupported).
	ArmErr error
	// StateErr is returned by State beside St (a lost UPS).
	StateErr error
	// CutsWithMains is CanCutWithMains's answer.
	CutsWithMains bool
	// Armed records ArmReturn's calls.
	Armed []Arm
	// Closed is set by Close.
	Closed bool
}

// Arm is one ArmReturn call.
type Arm struct{ Off, On time.Duration }

var _ hal.UPS = (*UPS)(nil)

// NewUPS returns a simulated UPS, online with a full battery.
func (b *Board) NewUPS() *UPS {
	st := hal.Unknown("sim")
	st.Online, st.ChargePct, st.RuntimeS, st.Status = true, 100, 1800, "OL"
	return &UPS{board: b, events: make(chan hal.UPSState, 1), St: st, CutsWithMains: true}
}

// Set changes the state and sends it on Events.
func (u *UPS) Set(st hal.UPSState) {
	u.Lock()
	defer u.Unlock()
	if u.Closed {
		return
	}
	if st.Source == "" {
		st.Source = "sim"
	}
	u.St = st
	u.board.record("ups %s", st)
	hal.SendLatest(u.events, st)
}

// State implements hal.UPS.
func (u *UPS) State(context.Context) (hal.UPSState, error) {
	u.Lock()
	defer u.Unlock()
	return u.St, u.StateErr
}

// Events implements hal.UPS.
func (u *UPS) Events() <-chan hal.UPSState { return u.events }

// ArmReturn implements hal.UPS: recorded, then ArmErr.
func (u *UPS) ArmReturn(ctx context.Context, off, on time.Duration) error {
	u.Lock()
	defer u.Unlock()
	u.Armed = append(u.Armed, Arm{off, on})
	if u.ArmErr != nil {
		u.board.record("ups arm-return off=%s on=%s: %v", off, on, u.ArmErr)
		return fmt.Errorf("halsim: %w", u.ArmErr)
	}
	u.board.record("ups arm-return off=%s on=%s", off, on)
	return ctx.Err()
}

// CanCutWithMains implements hal.UPS.
func (u *UPS) CanCutWithMains() bool {
	u.Lock()
	defer u.Unlock()
	return u.CutsWithMains
}

// Close implements hal.UPS.
func (u *UPS) Close() error {
	u.Lock()
	defer u.Unlock()
	if !u.Closed {
		u.Closed = true
		close(u.events)
	}
	return nil
}

// Power is a simulated power controller: it records what it was asked and
// returns Err.
type Power struct {
	board *Board

	sync.Mutex
	// Err is returned by PowerOff (the box stays up).
	Err error
	// InhibitErr is returned by Inhibit.
	InhibitErr error
	// Shutdowns records PowerOff's requests, including refused ones.
	Shutdowns []hal.Shutdown
	// Held counts inhibitor locks taken and not yet released.
	Held int
}

var (
	_ hal.Power             = (*Power)(nil)
	_ hal.ShutdownInhibitor = (*Power)(nil)
)

// NewPower returns a simulated power controller on b's log.
func (b *Board) NewPower() *Power { return &Power{board: b} }

// PowerOff implements hal.Power.
func (p *Power) PowerOff(ctx context.Context, sh hal.Shutdown) error {
	p.Lock()
	defer p.Unlock()
	p.Shutdowns = append(p.Shutdowns, sh)
	what := "poweroff"
	if sh.Reboot {
		what = "reboot"
	}
	if !sh.WakeAt.IsZero() {
		what += " wake=" + sh.WakeAt.UTC().Format(time.RFC3339)
	}
	if p.Err != nil {
		p.board.record("power %s reason=%q: %v", what, sh.Reason, p.Err)
		return p.Err
	}
	p.board.record("power %s reason=%q", what, sh.Reason)
	return ctx.Err()
}

// Inhibit implements hal.ShutdownInhibitor.
func (p *Power) Inhibit(ctx context.Context, why string) (func() error, error) {
	p.Lock()
	defer p.Unlock()
	if p.InhibitErr != nil {
		return nil, p.InhibitErr
	}
	p.Held++
	p.board.record("inhibit %q", why)
	var once sync.Once
	return func() error {
		once.Do(func() {
			p.Lock()
			p.Held--
			p.Unlock()
			p.board.record("release %q", why)
		})
		return nil
	}, nil
}
