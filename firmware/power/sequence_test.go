package power

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/hal"
)

// TestStepTimeouts: a step that hangs (ignoring its context) is abandoned
// at its deadline and the sequence goes on; safe-to-cut is still reported
// when flush and arm succeeded, never when the flush hung; the total stays
// within the budget even when every step hangs.
func TestStepTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name      string
		hang      []string
		safe      bool
		safeAfter time.Duration
		total     time.Duration
	}{
		{name: "none", safe: true},
		{name: "notify hangs", hang: []string{StepNotify}, safe: true, safeAfter: 2 * time.Second, total: 2 * time.Second},
		{name: "flush hangs", hang: []string{StepFlush}, safe: false, total: 3 * time.Second},
		{name: "arm hangs", hang: []string{StepArm}, safe: false, total: 2 * time.Second},
		// 2+2+3 = 7s of steps 1-4 hit the 10s-2s budget at 8s; the arm step
		// has none left, the power-off its own 2s.
		{name: "everything hangs", hang: []string{StepJournal, StepNotify, StepTunnelDown, StepFlush, StepArm, StepPowerOff}, total: 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				hangs := map[string]bool{}
				for _, s := range tc.hang {
					hangs[s] = true
				}
				// hang ignores its context: the worst a daemon step can do.
				hang := func(name string) error {
					if hangs[name] {
						<-release
					}
					return nil
				}
				b := hangingBoard{hang: hang}
				r := newRig(t, "", func(r *rig) {
					b.Power = r.pw
					b.UPS = r.ups
					r.opts.Power, r.opts.UPS = b, b
					r.opts.StepTimeout, r.opts.Budget = 2*time.Second, 10*time.Second
					r.opts.Timeouts = map[string]time.Duration{StepFlush: 3 * time.Second}
					r.opts.Steps = Steps{
						Journal:    func(context.Context, Trigger) error { return hang(StepJournal) },
						Notify:     func(context.Context, Trigger) error { return hang(StepNotify) },
						TunnelDown: func(context.Context) error { return hang(StepTunnelDown) },
						Flush:      func(context.Context) error { return hang(StepFlush) },
					}
				})
				seq, err := NewSequencer(r.opts)
				if err != nil {
					t.Fatal(err)
				}
				rep := seq.Run(t.Context(), Trigger{Reason: "low_battery", Cause: "test"})
				if rep.SafeToCut != tc.safe || rep.SafeToCutAfter != tc.safeAfter {
					t.Errorf("safe to cut %v after %s, want %v after %s", rep.SafeToCut, rep.SafeToCutAfter, tc.safe, tc.safeAfter)
				}
				if rep.Total != tc.total {
					t.Errorf("total %s, want %s", rep.Total, tc.total)
				}
				if rep.Total > 10*time.Second {
					t.Errorf("total %s beyond the 10s budget", rep.Total)
				}
				timedOut := map[string]bool{}
				for _, s := range rep.Steps {
					if s.TimedOut {
						timedOut[s.Step] = true
						if !errors.Is(s.Err, ErrStepTimeout) {
							t.Errorf("step %s: %v", s.Step, s.Err)
						}
					}
				}
				if len(timedOut) != len(tc.hang) {
					t.Errorf("%d steps timed out, want %d: %+v", len(timedOut), len(tc.hang), rep.Steps)
				}
				if n := len(r.pw.Shutdowns); n == 0 && !hangs[StepPowerOff] {
					t.Error("never powered off")
				}
			})
		})
	}
}

// hangingBoard hangs the UPS's arm and the power-off on demand.
type hangingBoard struct {
	hal.UPS
	hal.Power
	hang func(step string) error
}

func (b hangingBoard) ArmReturn(ctx context.Context, off, on time.Duration) error {
	if err := b.hang(StepArm); err != nil {
		return err
	}
	return b.UPS.ArmReturn(ctx, off, on)
}

func (b hangingBoard) PowerOff(ctx context.Context, sh hal.Shutdown) error {
	if err := b.hang(StepPowerOff); err != nil {
		return err
	}
	return b.Power.PowerOff(ctx, sh)
}

// TestStepPanics: a panicking step is a failed step, not a dead daemon.
func TestStepPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := newRig(t, "", func(r *rig) {
			r.opts.Steps.TunnelDown = func(context.Context) error { panic("nil tunnel") }
		})
		seq, err := NewSequencer(r.opts)
		if err != nil {
			t.Fatal(err)
		}
		rep := seq.Run(t.Context(), Trigger{Reason: "fsd"})
		if res, _ := rep.Step(StepTunnelDown); res.Err == nil || !rep.SafeToCut || !rep.PoweredOff {
			t.Errorf("tunnel_down %v, safe %v, powered off %v", res.Err, rep.SafeToCut, rep.PoweredOff)
		}
	})
}

// TestInhibitorHeld: the delay lock is held during the daemon's steps and
// released before the power-off; a refused lock does not stop anything.
func TestInhibitorHeld(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var during []int
		r := newRig(t, "", nil)
		held := func() int { r.pw.Lock(); defer r.pw.Unlock(); return r.pw.Held }
		r.opts.Steps.Flush = func(context.Context) error { during = append(during, held()); return nil }
		r.opts.Power = powerFunc(func(ctx context.Context, sh hal.Shutdown) error {
			during = append(during, held())
			return r.pw.PowerOff(ctx, sh)
		})
		seq, _ := NewSequencer(r.opts)
		seq.Run(t.Context(), Trigger{Reason: "battery"})
		if len(during) != 2 || during[0] != 1 || during[1] != 0 {
			t.Errorf("locks held at flush and power-off: %v, want [1 0]", during)
		}

		r.pw.InhibitErr = errors.New("logind: access denied")
		rep := seq.Run(t.Context(), Trigger{Reason: "battery"})
		if res, _ := rep.Step(StepInhibit); res.Err == nil || !rep.PoweredOff || !rep.SafeToCut {
			t.Errorf("inhibit %v, powered off %v, safe %v", res.Err, rep.PoweredOff, rep.SafeToCut)
		}
	})
}

type powerFunc func(ctx context.Context, sh hal.Shutdown) error

func (f powerFunc) PowerOff(ctx context.Context, sh hal.Shutdown) error { return f(ctx, sh) }

func TestOptionsRefused(t *testing.T) {
	dir := t.TempDir()
	p := powerFunc(func(context.Context, hal.Shutdown) error { return nil })
	for _, o := range []Options{
		{StateDir: dir},
		{Power: p},
		{Power: p, StateDir: dir, OffDelay: time.Minute, OnDelay: time.Second},
		{Power: p, StateDir: dir, Budget: time.Second, StepTimeout: 2 * time.Second},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		} else {
			t.Log(err)
		}
	}
}
