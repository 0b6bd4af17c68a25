package power

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/halsim"
	"github.com/shisa-gw/shisa/hal/nut"
)

// events records events.
type events struct {
	mu  sync.Mutex
	evs []event
}

type event struct {
	kind, msg string
	fields    map[string]any
}

func (e *events) Event(kind, msg string, fields map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.evs = append(e.evs, event{kind, msg, maps.Clone(fields)})
}

func (e *events) all() []event {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.evs)
}

// kinds lists the kinds, power.state as "power.state:from>to".
func (e *events) kinds() string {
	var out []string
	for _, ev := range e.all() {
		k := ev.kind
		if k == KindPowerState {
			k += fmt.Sprintf(":%v>%v", ev.fields["from"], ev.fields["to"])
		}
		out = append(out, k)
	}
	return strings.Join(out, " ")
}

func (e *events) find(kind string) (event, bool) {
	for _, ev := range e.all() {
		if ev.kind == kind {
			return ev, true
		}
	}
	return event{}, false
}

// noWake is a power controller on a board without an RTC wake alarm, as
// hal.Systemd without SystemdOptions.Wake.
type noWake struct{ *halsim.Power }

func (p noWake) PowerOff(ctx context.Context, sh hal.Shutdown) error {
	if !sh.WakeAt.IsZero() {
		return fmt.Errorf("hal: power off with wake: %w", hal.ErrNoWakeAlarm)
	}
	return p.Power.PowerOff(ctx, sh)
}

// rig is a machine on the simulated board; make it inside a synctest
// bubble.
type rig struct {
	t     *testing.T
	t0    time.Time
	dir   string
	board *halsim.Board
	ups   *halsim.UPS
	pw    *halsim.Power
	ev    *events
	sched *Schedule
	opts  Options
	m     *Machine
	// during runs inside the tunnel-down step (mains back mid-sequence).
	during func()
	// steps records the daemon steps run.
	stepsMu sync.Mutex
	steps   []string

	cancel context.CancelFunc
	done   chan error
}

func newRig(t *testing.T, dir string, tweak func(r *rig)) *rig {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	r := &rig{t: t, t0: time.Now(), dir: dir, board: halsim.NewBoard(), ev: &events{}}
	r.ups = r.board.NewUPS()
	r.pw = r.board.NewPower()
	sched, err := OpenSchedule(filepath.Join(dir, ScheduleFile), ScheduleOptions{Events: r.ev})
	if err != nil {
		t.Fatal(err)
	}
	r.sched = sched
	step := func(name string) func(context.Context) error {
		return func(context.Context) error {
			r.stepsMu.Lock()
			r.steps = append(r.steps, name)
			r.stepsMu.Unlock()
			if name == StepTunnelDown && r.during != nil {
				r.during()
			}
			return nil
		}
	}
	r.opts = Options{
		UPS:       r.ups,
		Power:     r.pw,
		Inhibitor: r.pw,
		Schedule:  r.sched,
		StateDir:  dir,
		Events:    r.ev,
		Grace:     time.Minute,
		Steps: Steps{
			Journal:    func(ctx context.Context, _ Trigger) error { return step(StepJournal)(ctx) },
			Notify:     func(ctx context.Context, _ Trigger) error { return step(StepNotify)(ctx) },
			TunnelDown: step(StepTunnelDown),
			Flush:      step(StepFlush),
		},
	}
	if tweak != nil {
		tweak(r)
	}
	return r
}

// start runs the machine and waits until it is idle.
func (r *rig) start() *rig {
	r.t.Helper()
	m, err := New(r.opts)
	if err != nil {
		r.t.Fatal(err)
	}
	r.m = m
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan error, 1)
	go func() { r.done <- m.Run(ctx) }()
	synctest.Wait()
	return r
}

func (r *rig) stop() {
	r.t.Helper()
	r.cancel()
	if err := <-r.done; err != nil {
		r.t.Errorf("Run: %v", err)
	}
}

// set changes the UPS's state and lets the machine react.
func (r *rig) set(status string, mod ...func(*hal.UPSState)) {
	st := hal.Unknown("sim")
	nut.ParseStatus(&st, status)
	for _, f := range mod {
		f(&st)
	}
	r.ups.Set(st)
	synctest.Wait()
}

func online() hal.UPSState {
	st := hal.Unknown("sim")
	st.Online, st.Status = true, "OL"
	return st
}

// after lets d pass (fake time) and lets the machine react.
func after(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// shutdowns prints hal.Power's requests, wake times relative to t0.
func (r *rig) shutdowns() string {
	r.pw.Lock()
	defer r.pw.Unlock()
	var out []string
	for _, sh := range r.pw.Shutdowns {
		s := "poweroff"
		if sh.Reboot {
			s = "reboot"
		}
		if !sh.WakeAt.IsZero() {
			s += " wake=+" + sh.WakeAt.Sub(r.t0).String()
		}
		out = append(out, s+" "+sh.Reason)
	}
	return strings.Join(out, "; ")
}

func (r *rig) armed() string {
	r.ups.Lock()
	defer r.ups.Unlock()
	var out []string
	for _, a := range r.ups.Armed {
		out = append(out, fmt.Sprintf("off=%s on=%s", a.Off, a.On))
	}
	return strings.Join(out, "; ")
}

func (r *rig) report() Report {
	r.t.Helper()
	rep, ok := r.m.LastReport()
	if !ok {
		r.t.Fatal("no sequence report")
	}
	return rep
}

func writeFile(path, data string) error { return os.WriteFile(path, []byte(data), 0o644) }
