package power

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/hal"
)

// Trigger is why a sequence runs.
type Trigger struct {
	// Reason is one of report.ShutdownPlanned, ShutdownRestart,
	// ShutdownBattery, ShutdownLowBattery, ShutdownFSD.
	Reason string
	// Cause says it for people ("UPS on battery for 2m0s: sim: OB").
	Cause string
	// At is when the shutdown was decided; the zero time is when Run starts.
	At time.Time
	// Window is the planned window or restart (ID empty when none).
	Window Window
}

// StepResult is one step's outcome.
type StepResult struct {
	Step     string
	Err      error
	TimedOut bool
	Elapsed  time.Duration
}

// Report is a sequence's outcome. If the power-off was accepted, the process
// is normally killed before anyone reads it; it matters when it was refused,
// in tests and in the bench.
type Report struct {
	Trigger Trigger
	Steps   []StepResult
	// SafeToCut is set when the flush and the arm succeeded; SafeToCutAfter
	// is then the time from Trigger.At (the bench's safe_to_cut_s).
	SafeToCut      bool
	SafeToCutAfter time.Duration
	// Total is the time from Trigger.At until hal.Power answered (the
	// bench's shutdown_total_s).
	Total time.Duration
	// Return is how the box comes back; Shutdown what hal.Power was last
	// asked; PoweredOff whether it accepted.
	Return     Return
	Shutdown   hal.Shutdown
	PoweredOff bool
	// Err joins the steps' errors.
	Err error
}

// Step returns the result of the named step (the last one, for power_off).
func (r Report) Step(name string) (StepResult, bool) {
	for i := len(r.Steps) - 1; i >= 0; i-- {
		if r.Steps[i].Step == name {
			return r.Steps[i], true
		}
	}
	return StepResult{}, false
}

// Sequencer runs the safe-shutdown sequence (see the package comment).
type Sequencer struct {
	opts Options
	path string     // the Record
	mu   sync.Mutex // one sequence at a time
}

// NewSequencer returns a sequencer. The Machine makes its own; the daemon
// may use one directly (the bench does).
func NewSequencer(opts Options) (*Sequencer, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Sequencer{opts: opts, path: filepath.Join(opts.StateDir, RecordFile)}, nil
}

// ErrStepTimeout is matched by a step's error when it ran out of time.
var ErrStepTimeout = errors.New("power: step ran out of time")

// step runs fn under ctx (which carries the step's deadline) and returns
// when fn does or the deadline passes, whichever is first. A panic in fn is
// turned into an error: the sequence must go on.
func step(ctx context.Context, name string, fn func(ctx context.Context) error) StepResult {
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("power: step %s panicked: %v", name, p)
			}
		}()
		done <- fn(ctx)
	}()
	var r StepResult
	select {
	case err := <-done:
		r = StepResult{Step: name, Err: err}
	case <-ctx.Done():
		r = StepResult{Step: name, Err: fmt.Errorf("%w: %s (%w)", ErrStepTimeout, name, context.Cause(ctx)), TimedOut: true}
	}
	r.Elapsed = time.Since(start)
	if r.Err != nil && !r.TimedOut {
		r.Err = fmt.Errorf("power: step %s: %w", name, r.Err)
	}
	return r
}

func seconds(d time.Duration) float64 { return math.Round(d.Seconds()*1000) / 1000 }

func (s *Sequencer) add(r *Report, res StepResult) bool {
	r.Steps = append(r.Steps, res)
	if res.Err == nil {
		return true
	}
	r.Err = errors.Join(r.Err, res.Err)
	s.opts.Logger.Warn("shutdown step failed; going on", "step", res.Step, "err", res.Err)
	s.opts.event(KindPowerStepFailed, fmt.Sprintf("shutdown step %s failed; going on: %v", res.Step, res.Err), map[string]any{
		"step": res.Step, "error": res.Err.Error(), "timeout": res.TimedOut, "elapsed_s": seconds(res.Elapsed),
	})
	return false
}

// within runs fn as the named step under parent and the step's deadline.
func (s *Sequencer) within(parent context.Context, name string, fn func(ctx context.Context) error) StepResult {
	ctx, cancel := context.WithTimeout(parent, s.opts.timeout(name))
	defer cancel()
	return step(ctx, name, fn)
}

// Run runs the sequence for t and returns once hal.Power answered. It is not
// cancelled by ctx: once begun, a shutdown finishes (within the budget).
func (s *Sequencer) Run(ctx context.Context, t Trigger) Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if t.At.IsZero() {
		t.At = time.Now()
	}
	r := Report{Trigger: t}
	// Steps 1–5 share the budget less the power-off step's own deadline.
	pre, cancel := context.WithDeadline(ctx, t.At.Add(s.opts.Budget-s.opts.timeout(StepPowerOff)))
	defer cancel()
	log := s.opts.Logger.With("reason", t.Reason)
	log.Warn("safe shutdown begins", "cause", t.Cause, "window", t.Window.ID)

	release := s.inhibit(pre, &r, t)

	s.add(&r, s.within(pre, StepJournal, func(ctx context.Context) error {
		fields := map[string]any{"reason": t.Reason}
		if t.Window.ID != "" {
			fields["window"] = t.Window.ID
		}
		s.opts.event(report.KindPowerShutdown, "shutting down: "+t.Cause, fields)
		err := WriteRecord(s.path, Record{Reason: t.Reason, At: t.At, Window: t.Window.ID, End: t.Window.End, Cause: t.Cause})
		if s.opts.Steps.Journal != nil {
			err = errors.Join(err, s.opts.Steps.Journal(ctx, t))
		}
		return err
	}))
	if f := s.opts.Steps.Notify; f != nil {
		s.add(&r, s.within(pre, StepNotify, func(ctx context.Context) error { return f(ctx, t) }))
	}
	if f := s.opts.Steps.TunnelDown; f != nil {
		s.add(&r, s.within(pre, StepTunnelDown, f))
	}
	flushed := true
	if f := s.opts.Steps.Flush; f != nil {
		flushed = s.add(&r, s.within(pre, StepFlush, f))
	}

	// Step 5. The step's goroutine hands the plan over on a channel: after
	// a timeout it may still be running.
	plans := make(chan returnPlan, 1)
	res := s.within(pre, StepArm, func(ctx context.Context) error {
		p, err := s.arm(ctx, t)
		plans <- p
		return err
	})
	var plan returnPlan
	select {
	case plan = <-plans:
	default: // timed out (or panicked)
		plan = s.fallback(t, time.Now())
	}
	armed := s.add(&r, res)
	if flushed && armed {
		r.SafeToCut, r.SafeToCutAfter = true, time.Since(t.At)
		log.Info("safe to cut", "after", r.SafeToCutAfter, "return", plan.ret)
		s.opts.event(KindPowerSafe, fmt.Sprintf("state flushed and return armed after %s: safe to cut", r.SafeToCutAfter), map[string]any{
			"safe_to_cut_s": seconds(r.SafeToCutAfter), "reason": t.Reason, "return": string(plan.ret),
		})
	}

	if release != nil {
		if err := release(); err != nil {
			log.Warn("releasing the shutdown inhibitor", "err", err)
		}
	}
	// The power-off gets the rest of the budget (at least its own deadline
	// was kept for it); retries only what is left after that.
	all, cancelAll := context.WithDeadline(ctx, t.At.Add(s.opts.Budget))
	defer cancelAll()
	s.powerOff(all, &r, plan)
	r.Total = time.Since(t.At)
	return r
}

// inhibit takes the delay lock as the sequence's first step; the release
// is nil when there is none. A lock granted after the step's deadline is
// given back at once.
func (s *Sequencer) inhibit(ctx context.Context, r *Report, t Trigger) func() error {
	inh := s.opts.Inhibitor
	if inh == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout(StepInhibit))
	defer cancel()
	var release func() error
	res := step(ctx, StepInhibit, func(ctx context.Context) error {
		rel, err := inh.Inhibit(ctx, "shisa: safe shutdown ("+t.Reason+"): flushing state and arming the return")
		if err == nil && ctx.Err() != nil {
			return errors.Join(ctx.Err(), rel())
		}
		release = rel
		return err
	})
	if !s.add(r, res) {
		return nil
	}
	return release
}

// returnPlan is the outcome of the arm step.
type returnPlan struct {
	ret Return
	sh  hal.Shutdown
}

// arm is step 5: arm the UPS and choose how to power off.
func (s *Sequencer) arm(ctx context.Context, t Trigger) (returnPlan, error) {
	now := time.Now()
	if t.Reason == report.ShutdownRestart {
		return returnPlan{ret: ReturnReboot, sh: hal.Shutdown{Reboot: true, Reason: t.Reason}}, nil
	}
	ups := s.opts.UPS
	if ups == nil {
		return s.fallback(t, now), errors.New("power: no UPS to arm; coming back by the RTC wake alarm or a reboot")
	}
	off, on := s.opts.OffDelay, s.opts.OnDelay
	if end := t.Window.End; !end.IsZero() {
		on = max(on, end.Sub(now).Round(time.Second))
	}
	armErr := ups.ArmReturn(ctx, off, on)
	st, stErr := ups.State(ctx)
	// Unsure whether mains is back (stale, no answer): assume it is, so the
	// box does not halt for good with mains present.
	mains := stErr != nil || st.Stale || st.Online && !st.OnBattery
	switch {
	case armErr != nil && errors.Is(armErr, hal.ErrArmUnsupported):
		return s.fallback(t, now), fmt.Errorf("power: the UPS cannot be armed to restore the load (%w); falling back to an RTC wake (or a reboot where there is none)", armErr)
	case armErr != nil:
		return s.fallback(t, now), fmt.Errorf("power: arming the UPS's return failed (%w); falling back to an RTC wake (or a reboot where there is none)", armErr)
	case mains && !ups.CanCutWithMains():
		return s.fallback(t, now), fmt.Errorf("power: mains is back (%s) and this UPS cannot cut a load that has mains; falling back to an RTC wake (or a reboot) instead of halting", st)
	}
	sh := hal.Shutdown{Reason: t.Reason}
	if !t.Window.End.IsZero() {
		sh.WakeAt = t.Window.End // belt and braces; dropped if no RTC
	}
	return returnPlan{ret: ReturnUPS, sh: sh}, nil
}

// fallback is the return without the UPS: an RTC wake at the window's end
// or after RebootAfter (a reboot where there is no RTC, see powerOff).
func (s *Sequencer) fallback(t Trigger, now time.Time) returnPlan {
	if t.Reason == report.ShutdownRestart {
		return returnPlan{ret: ReturnReboot, sh: hal.Shutdown{Reboot: true, Reason: t.Reason}}
	}
	at := t.Window.End
	if at.IsZero() {
		at = now.Add(s.opts.RebootAfter)
	}
	return returnPlan{ret: ReturnWake, sh: hal.Shutdown{WakeAt: at, Reason: t.Reason}}
}

// powerOff is step 6. Without an RTC (hal.ErrNoWakeAlarm), an armed UPS
// halts plainly and anything else reboots; a refused power-off is tried
// once more as a reboot.
func (s *Sequencer) powerOff(ctx context.Context, r *Report, plan returnPlan) {
	try := func(sh hal.Shutdown) error {
		r.Shutdown = sh
		res := s.within(ctx, StepPowerOff, func(ctx context.Context) error { return s.opts.Power.PowerOff(ctx, sh) })
		s.add(r, res)
		return res.Err
	}
	err := try(plan.sh)
	if err != nil && errors.Is(err, hal.ErrNoWakeAlarm) {
		if plan.ret == ReturnUPS {
			plan.sh.WakeAt = time.Time{}
		} else {
			plan = returnPlan{ret: ReturnReboot, sh: hal.Shutdown{Reboot: true, Reason: plan.sh.Reason}}
		}
		err = try(plan.sh)
	}
	if err != nil && !plan.sh.Reboot {
		s.opts.event(KindPowerOffFailed, fmt.Sprintf("power-off refused (%v); rebooting instead", err), map[string]any{"error": err.Error(), "return": string(plan.ret)})
		plan = returnPlan{ret: ReturnReboot, sh: hal.Shutdown{Reboot: true, Reason: plan.sh.Reason}}
		err = try(plan.sh)
	}
	r.Return = plan.ret
	if err != nil {
		s.opts.event(KindPowerOffFailed, fmt.Sprintf("power-off and reboot refused; the box stays up with the tunnel down: %v", err), map[string]any{"error": err.Error(), "return": string(plan.ret)})
		return
	}
	r.PoweredOff = true
}
