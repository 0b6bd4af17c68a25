package power

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/hal"
)

// Machine is the power state machine (see the package comment). Create it
// with New, run it with Run.
type Machine struct {
	opts    Options
	seq     *Sequencer
	path    string      // the Record
	restart chan string // Restart's requests; one slot

	mu     sync.Mutex // guards the fields below
	state  State
	last   hal.UPSState
	report *Report

	// Owned by Run's goroutine.
	since time.Time       // of the on-battery state
	gone  map[string]bool // windows the box already shut down for
}

// New returns a machine.
func New(opts Options) (*Machine, error) {
	seq, err := NewSequencer(opts)
	if err != nil {
		return nil, err
	}
	return &Machine{
		opts:    seq.opts,
		seq:     seq,
		path:    filepath.Join(seq.opts.StateDir, RecordFile),
		restart: make(chan string, 1),
		gone:    map[string]bool{},
	}, nil
}

// State returns the current state.
func (m *Machine) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// UPS returns the UPS's state as the machine last saw it; ok is false
// before the first one (or without a UPS).
func (m *Machine) UPS() (st hal.UPSState, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.last, m.last.Source != ""
}

// LastReport returns the sequence's report once it has run.
func (m *Machine) LastReport() (Report, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.report == nil {
		return Report{}, false
	}
	return *m.report, true
}

// ErrBusy is returned by Restart when a shutdown is already under way.
var ErrBusy = errors.New("power: a shutdown is already under way")

// Restart asks for a restart now (the same sequence, reason restart, an
// immediate return). It returns at once.
func (m *Machine) Restart(why string) error {
	if m.State() >= ShuttingDown {
		return ErrBusy
	}
	select {
	case m.restart <- why:
		return nil
	default:
		return ErrBusy
	}
}

func (m *Machine) setState(to State, cause string, extra map[string]any) {
	m.mu.Lock()
	from := m.state
	m.state = to
	m.mu.Unlock()
	if from == to {
		return
	}
	fields := map[string]any{"from": from.String(), "to": to.String(), "cause": cause}
	for k, v := range extra {
		fields[k] = v
	}
	m.opts.Logger.Info("power state", "from", from, "to", to, "cause", cause)
	m.opts.event(KindPowerState, fmt.Sprintf("%s → %s: %s", from, to, cause), fields)
}

// Run reports the last outage (if the box is back from one), then watches
// the UPS and the schedule until ctx is done. A sequence under way is
// finished (within the budget) before Run returns.
func (m *Machine) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()

	m.boot(time.Now())

	grace := time.NewTimer(time.Hour)
	grace.Stop()
	defer grace.Stop()
	windows := time.NewTimer(time.Hour)
	windows.Stop()
	defer windows.Stop()

	done := make(chan Report, 1)
	start := func(t Trigger) {
		grace.Stop()
		t.At = time.Now()
		if t.Window.ID != "" {
			m.gone[t.Window.ID] = true
		}
		m.setState(ShuttingDown, t.Cause, map[string]any{"reason": t.Reason})
		wg.Go(func() { done <- m.seq.Run(ctx, t) })
	}

	var upsC <-chan hal.UPSState
	if u := m.opts.UPS; u != nil {
		upsC = u.Events()
		sctx, scancel := context.WithTimeout(ctx, m.opts.StepTimeout)
		st, err := u.State(sctx)
		scancel()
		if err == nil || st.Stale {
			m.onUPS(st, grace, start)
		}
	}
	var schedC <-chan struct{}
	if m.opts.Schedule != nil {
		schedC = m.opts.Schedule.Changed()
	}
	var aliveC <-chan time.Time
	if m.opts.Alive != nil {
		alive := time.NewTicker(m.opts.AliveEvery)
		defer alive.Stop()
		aliveC = alive.C
		m.opts.Alive()
	}

	for {
		m.windows(time.Now(), windows, start)
		select {
		case <-ctx.Done():
			return nil
		case st, ok := <-upsC:
			if !ok {
				upsC = nil
				m.opts.Logger.Warn("the UPS source closed; no longer watching it")
				continue
			}
			m.onUPS(st, grace, start)
		case <-grace.C:
			if m.State() == OnBattery {
				m.mu.Lock()
				st := m.last
				m.mu.Unlock()
				start(Trigger{Reason: report.ShutdownBattery, Cause: fmt.Sprintf("on battery for %s, longer than the grace period (%s)", time.Since(m.since).Round(time.Second), st)})
			}
		case <-aliveC:
			m.opts.Alive()
		case <-schedC:
		case <-windows.C:
		case why := <-m.restart:
			if m.State() < ShuttingDown {
				start(Trigger{Reason: report.ShutdownRestart, Cause: "restart asked: " + why})
			}
		case r := <-done:
			m.mu.Lock()
			m.report = &r
			m.mu.Unlock()
			cause := fmt.Sprintf("powering off, return by %s", r.Return)
			if !r.PoweredOff {
				cause = "power-off refused; the box is up with the tunnel down (restart shisad or power-cycle it)"
			}
			extra := map[string]any{"shutdown_total_s": seconds(r.Total), "return": string(r.Return)}
			if r.SafeToCut {
				extra["safe_to_cut_s"] = seconds(r.SafeToCutAfter)
			}
			m.setState(Halted, cause, extra)
		}
	}
}

// onUPS handles a UPS state.
func (m *Machine) onUPS(st hal.UPSState, grace *time.Timer, start func(Trigger)) {
	m.mu.Lock()
	m.last = st
	state := m.state
	m.mu.Unlock()
	if state >= ShuttingDown {
		return // mains back or not, the sequence finishes; arm decides the return
	}
	if reason := reasonOf(st); reason != "" {
		cause := "UPS battery low: " + st.String()
		switch {
		case st.ForcedShutdown:
			cause = "forced shutdown from the UPS's primary: " + st.String()
		case st.Stale:
			cause = "UPS lost while on battery, counted as low battery: " + st.String()
		}
		start(Trigger{Reason: reason, Cause: cause})
		return
	}
	switch {
	case st.Stale:
		// Lost while online (or never seen): nothing changes.
	case state == Online && st.OnBattery:
		m.since = time.Now()
		grace.Reset(m.opts.Grace)
		m.setState(OnBattery, fmt.Sprintf("mains lost, on battery (%s); shutting down after %s unless it comes back", st, m.opts.Grace), nil)
	case state == OnBattery && !st.OnBattery:
		grace.Stop()
		m.setState(Online, fmt.Sprintf("mains back after %s on battery (%s)", time.Since(m.since).Round(time.Second), st), nil)
	}
}

// boot reports the outage the box is back from and closes the windows that
// ended meanwhile.
func (m *Machine) boot(now time.Time) {
	rec, ok, err := ReadRecord(m.path)
	if err != nil {
		m.opts.Logger.Error("reading the shutdown record", "err", err)
	}
	if ok {
		b := Back(rec, now)
		m.opts.Logger.Info("back from a shutdown", "gone", b.Gone, "reason", b.Reason, "window", b.Window)
		m.opts.event(report.KindPowerBack, b.Message(), b.Fields())
		if rec.Window != "" {
			m.gone[rec.Window] = true
		}
	}
	// Reported once, or corrupt: either way it is done with.
	if err := RemoveRecord(m.path); err != nil {
		m.opts.Logger.Error("removing the shutdown record", "err", err)
	}
	if s := m.opts.Schedule; s != nil {
		for _, w := range s.List() {
			if !w.End.After(now) {
				m.close(w)
			}
		}
	}
}

// close removes a window that is over and reports it.
func (m *Machine) close(w Window) {
	s := m.opts.Schedule
	if _, err := s.remove(w.ID); err != nil {
		m.opts.Logger.Error("closing an outage window", "window", w.ID, "err", err)
		return
	}
	f := windowFields(w)
	f["shutdown"] = m.gone[w.ID]
	msg := "closed " + s.describe(w)
	if m.gone[w.ID] {
		msg += ": the box went down for it and is back"
	} else {
		msg += ": the box did not go down for it"
	}
	m.opts.event(KindOutageClosed, msg, f)
	delete(m.gone, w.ID)
}

// windows starts the sequence for a window that is due, closes the ones
// that ended while the box stayed up, and sets the timer for the next.
func (m *Machine) windows(now time.Time, timer *time.Timer, start func(Trigger)) {
	timer.Stop()
	s := m.opts.Schedule
	if s == nil {
		return
	}
	var next time.Time
	soonest := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	up := m.State() < ShuttingDown
	for _, w := range s.List() {
		at := w.Start.Add(-m.opts.Lead)
		if w.Restart {
			at = w.Start
		}
		due := !now.Before(at) && (w.Restart || now.Before(w.End))
		switch {
		case due && up && !m.gone[w.ID]:
			reason, cause := report.ShutdownPlanned, fmt.Sprintf("planned outage %s, %s before it starts", s.describe(w), m.opts.Lead)
			if w.Restart {
				reason, cause = report.ShutdownRestart, "scheduled "+s.describe(w)
			}
			if w.Reason != "" {
				cause += ": " + w.Reason
			}
			start(Trigger{Reason: reason, Cause: cause, Window: w})
			up = false
		case !now.Before(w.End) && up:
			m.close(w)
		case !now.Before(w.End):
			// closed after the boot
		case now.Before(at) && !m.gone[w.ID]:
			soonest(at)
		default:
			soonest(w.End)
		}
	}
	if !next.IsZero() {
		timer.Reset(next.Sub(now))
	}
}
