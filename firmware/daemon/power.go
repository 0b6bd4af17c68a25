package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/config"
	"github.com/shisa-gw/shisa/firmware/power"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/hal"
	"github.com/shisa-gw/shisa/hal/board"
	"github.com/shisa-gw/shisa/hal/nut"
	"github.com/shisa-gw/shisa/watchdog"
)

// The power job (issue 4): the UPS source and the power controller built
// from the config (or injected through Options), package power's state
// machine with the outage schedule, and the daemon's steps of the
// safe-shutdown sequence:
//
//  1. journal: the power.shutdown event and the record are written by the
//     sequencer (each journal append is fdatasynced); the step syncs the
//     journal's and the state directory's file systems;
//  2. notify: the power state (shutting_down, with the reason) goes into
//     the status and the metrics the datacenter reads, and the status line;
//  3. tunnel down: the tunnel job's own stop path (its context ends, the
//     supervisor removes the datacenter peers and reports stopped);
//  4. flush: syncfs of the journal's and the state directory's file
//     systems;
//  5. arm the return and 6. power off: package power.
//
// A power-off that is refused (no systemd over D-Bus, say) leaves the box
// up with its tunnel down; the job then ends with an error, so shisad
// exits and its supervisor starts it again with the tunnel.

var _ api.PowerBackend = (*Daemon)(nil)

// announceBefore is how long before its shutdown a planned outage is
// reported in progress (shisa_outage_planned_active): the datacenter's
// Prometheus must scrape it at least once before the box goes dark.
const announceBefore = time.Minute

// powerJob is the power job's state.
type powerJob struct {
	m     *power.Machine
	sched *power.Schedule
	ups   hal.UPS // nil without one
	site  *config.Site
	ctl   string // "systemd", "simulated", "unavailable: …"
	check *watchdog.Check

	closeOnce sync.Once
	closers   []func() error

	halted chan struct{} // the machine reached halted; one slot

	mu       sync.Mutex
	stopTun  context.CancelFunc // ends the tunnel job's context
	tunDone  chan struct{}      // closed when the tunnel job returned
	back     *api.BackReport
	shutdown string // the cause while shutting down
}

// powerEvents passes the power package's events to the journal and keeps
// what the status needs.
type powerEvents struct {
	d *Daemon
}

// Event implements power.EventLog.
func (e powerEvents) Event(kind, msg string, fields map[string]any) {
	d := e.d
	d.event(kind, msg, fields)
	p := d.pw
	switch kind {
	case report.KindPowerBack:
		b := &api.BackReport{Msg: msg}
		b.GoneS, _ = fields["gone_s"].(float64)
		b.Reason, _ = fields["reason"].(string)
		b.Window, _ = fields["window"].(string)
		p.mu.Lock()
		p.back = b
		p.mu.Unlock()
	case report.KindPowerState:
		to, _ := fields["to"].(string)
		cause, _ := fields["cause"].(string)
		p.mu.Lock()
		p.shutdown = cause
		p.mu.Unlock()
		if to == power.Halted.String() {
			select {
			case p.halted <- struct{}{}:
			default:
			}
		}
	}
}

// openPower builds the power job. Only an unusable state directory or
// schedule fails the start; a UPS source or a power controller that
// cannot be had is journaled (power.unavailable) and the job runs without.
func (d *Daemon) openPower() error {
	site, log := d.site, d.log.With("job", "power")
	pc := site.Power
	p := &powerJob{site: site, halted: make(chan struct{}, 1), tunDone: make(chan struct{})}
	d.pw = p
	if err := os.MkdirAll(pc.StateDir, 0o755); err != nil {
		return fmt.Errorf("daemon: power state directory: %w", err)
	}
	ev := powerEvents{d}
	var err error
	p.sched, err = power.OpenSchedule(filepath.Join(pc.StateDir, power.ScheduleFile), power.ScheduleOptions{
		Location: site.Location(), Events: ev,
	})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}

	p.ups = d.opts.UPS
	if p.ups == nil {
		p.ups, err = d.openUPS(log)
		if err != nil {
			p.ups = nil // not a typed nil from a failed constructor
			log.Error("no UPS: the box will not shut down on battery", "err", err)
			d.event(report.KindPowerUnavailable, fmt.Sprintf("the UPS (%s) cannot be watched; the box will not shut down before its battery runs dry: %v", site.UPS.Source, err),
				map[string]any{"what": "ups", "error": err.Error()})
		} else if p.ups != nil {
			p.closers = append(p.closers, p.ups.Close)
		}
	}

	ctl, inh := d.opts.Power, d.opts.Inhibitor
	p.ctl = "injected"
	if ctl == nil {
		ctl, inh, p.ctl = d.testPower()
	}
	if ctl == nil {
		ctl, inh, p.ctl = d.openSystemd(log)
	}
	if inh == nil {
		inh, _ = ctl.(hal.ShutdownInhibitor)
	}

	p.check = d.wd.Register("power", 30*time.Second)
	p.m, err = power.New(power.Options{
		UPS: p.ups, Power: ctl, Inhibitor: inh, Schedule: p.sched,
		StateDir: pc.StateDir, Events: ev, Logger: log,
		Grace: pc.Grace.D(), Lead: pc.Lead.D(), StepTimeout: pc.StepTimeout.D(), Budget: pc.Budget.D(),
		OffDelay: site.UPS.OffDelay.D(), OnDelay: site.UPS.OnDelay.D(), RebootAfter: pc.RebootAfter.D(),
		Alive: p.check.Report, AliveEvery: 5 * time.Second,
		Steps: power.Steps{
			Journal:    func(ctx context.Context, _ power.Trigger) error { return d.syncState(ctx) },
			Notify:     d.notifyShutdown,
			TunnelDown: d.stopTunnel,
			Flush:      d.syncState,
		},
	})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	return nil
}

// openUPS builds the configured UPS source; nil, nil for none.
func (d *Daemon) openUPS(log *slog.Logger) (hal.UPS, error) {
	u := d.site.UPS
	switch u.Source {
	case config.UPSNUT:
		o := nut.Options{UPS: u.NUT.Name, User: u.NUT.User, Interval: u.NUT.Interval.D(), Logger: log.With("ups", "nut")}
		if u.NUT.PasswordFile != "" {
			pw, err := nut.ReadPasswordFile(u.NUT.PasswordFile)
			if err != nil {
				return nil, err
			}
			o.Password = pw
		}
		log.Info("watching the UPS through NUT", "address", u.NUT.Address, "ups", u.NUT.Name, "user", u.NUT.User)
		return nut.NewSource(u.NUT.Address, o)
	case config.UPSContacts:
		reg, err := board.Open()
		if err != nil {
			return nil, err
		}
		c := u.Contacts
		line := func(name, pin string) hal.Line {
			return hal.Line{Name: name, Pin: pin, ActiveLow: *c.ActiveLow, Debounce: c.Debounce.D()}
		}
		cfg := hal.ContactsConfig{KillPulse: c.KillPulse.D(), CutsWithMains: *c.CutsWithMains, Logger: log.With("ups", "contacts")}
		if cfg.OnBattery, err = hal.OpenInput(reg, line("ups-onbatt", c.OnBattery)); err != nil {
			return nil, err
		}
		if c.LowBattery != "" {
			if cfg.LowBattery, err = hal.OpenInput(reg, line("ups-lowbatt", c.LowBattery)); err != nil {
				return nil, err
			}
		}
		if c.Kill != "" {
			if cfg.Kill, err = hal.OpenOutput(reg, line("ups-kill", c.Kill)); err != nil {
				return nil, err
			}
		}
		log.Info("watching the UPS's dry contacts", "on_battery", c.OnBattery, "low_battery", c.LowBattery, "kill", c.Kill)
		return hal.NewContacts(cfg)
	}
	return nil, nil
}

// openSystemd connects to systemd over D-Bus; where it cannot (no D-Bus,
// no systemd: a development machine, a container), the job runs with a
// controller that refuses, and says so.
func (d *Daemon) openSystemd(log *slog.Logger) (hal.Power, hal.ShutdownInhibitor, string) {
	var wake hal.WakeAlarm
	if path := d.site.Power.WakeAlarm; path != "" {
		if w, err := hal.OpenRTCWake(path); err == nil {
			wake = w
		} else {
			log.Warn("no RTC wake alarm: the box reboots instead of waking later", "err", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sd, err := hal.NewSystemd(ctx, hal.SystemdOptions{Wake: wake, Who: "shisad", Logger: log})
	if err != nil {
		d.event(report.KindPowerUnavailable, fmt.Sprintf("the box cannot power itself off (%v); before a power cut it will still flush its state and take the tunnel down, then shisad exits", err),
			map[string]any{"what": "controller", "error": err.Error()})
		return refusingPower{err}, nil, "unavailable: " + err.Error()
	}
	d.pw.closers = append(d.pw.closers, sd.Close)
	return sd, sd, "systemd"
}

// refusingPower is the controller of a box that has none.
type refusingPower struct{ err error }

// PowerOff refuses, saying why there is no controller.
func (r refusingPower) PowerOff(context.Context, hal.Shutdown) error {
	return fmt.Errorf("daemon: no power controller: %w", r.err)
}

// runPower runs the state machine; it ends with an error when a
// power-off was refused, so that shisad is started again with its tunnel.
func (d *Daemon) runPower(ctx context.Context) error {
	p := d.pw
	defer p.check.Unregister()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.m.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case <-p.halted:
			if r, ok := p.m.LastReport(); ok && !r.PoweredOff {
				cancel()
				<-done
				return fmt.Errorf("power-off refused after the safe-shutdown sequence (%v); exiting so that shisad starts again with its tunnel", r.Err)
			}
		}
	}
}

// runTunnelJob is the tunnel job under a context of its own, which the
// shutdown sequence ends (stopTunnel): the tunnel supervisor, or in a
// hot-standby pair the election (ending it steps this unit down and tells
// the peer, which takes over at once).
func (d *Daemon) runTunnelJob(ctx context.Context) error {
	p := d.pw
	ctx, cancel := context.WithCancel(ctx)
	p.mu.Lock()
	p.stopTun = cancel
	done := p.tunDone
	p.mu.Unlock()
	defer close(done)
	defer cancel()
	if d.pair != nil {
		return d.pair.run(ctx)
	}
	return d.runTunnel(ctx)
}

// stopTunnel is step 3: end the tunnel job and wait until the supervisor
// has removed the datacenter peers.
func (d *Daemon) stopTunnel(ctx context.Context) error {
	p := d.pw
	p.mu.Lock()
	stop, done := p.stopTun, p.tunDone
	p.mu.Unlock()
	if stop == nil {
		return errors.New("daemon: the tunnel job is not running")
	}
	stop()
	select {
	case <-done:
		d.log.Info("tunnel down for the shutdown", "job", "power")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("daemon: the tunnel did not stop in time: %w", ctx.Err())
	}
}

// notifyShutdown is step 2: the shutdown goes into the status (power
// state, problems), the metrics and systemd's status line. The
// power.shutdown event is already in the journal.
func (d *Daemon) notifyShutdown(_ context.Context, t power.Trigger) error {
	d.pw.mu.Lock()
	d.pw.shutdown = t.Cause
	d.pw.mu.Unlock()
	select {
	case d.kick <- struct{}{}:
	default:
	}
	return nil
}

// syncState flushes the file systems of the journal and the power state
// directory (syncfs), and their directories.
func (d *Daemon) syncState(ctx context.Context) error {
	var errs []error
	for _, dir := range []string{d.site.Journal.Dir, d.site.Power.StateDir} {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		f, err := os.Open(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unix.Syncfs(int(f.Fd())); err != nil {
			errs = append(errs, fmt.Errorf("syncfs %s: %w", dir, err))
		}
		if err := f.Sync(); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("fsync %s: %w", dir, err))
		}
		f.Close()
	}
	return errors.Join(errs...)
}

// closePower stops the UPS source and the controller's connection.
func (d *Daemon) closePower() error {
	p := d.pw
	if p == nil {
		return nil
	}
	var errs []error
	p.closeOnce.Do(func() {
		for _, c := range p.closers {
			errs = append(errs, c())
		}
	})
	return errors.Join(errs...)
}

// upsStatus is the status's UPS part; nil without a UPS.
func (p *powerJob) upsStatus() *api.UPSStatus {
	if p == nil || p.ups == nil {
		return nil
	}
	st, ok := p.m.UPS()
	if !ok {
		st = hal.Unknown(p.site.UPS.Source).Lost("not read yet")
	}
	u := &api.UPSStatus{Source: st.Source, State: api.UPSOnline, ChargePct: st.ChargePct, RuntimeS: st.RuntimeS,
		Flags: st.Status, Stale: st.Stale, Reason: st.Reason}
	switch {
	case st.LowBattery || st.ForcedShutdown:
		u.State = api.UPSLowBattery
	case st.OnBattery:
		u.State = api.UPSOnBattery
	case !st.Online:
		u.State = api.UPSUnknown
	}
	if u.Flags == "" {
		u.Flags = strings.TrimPrefix(st.String(), st.Source+":")
	}
	return u
}

// outage turns a window into the API's outage.
func (p *powerJob) outage(w power.Window) api.Outage {
	o := api.Outage{ID: w.ID, Start: w.Start, End: w.End, Reason: w.Reason, Restart: w.Restart, ShutdownAt: w.Start}
	if !w.Restart {
		o.ShutdownAt = w.Start.Add(-p.site.Power.Lead.D())
	}
	o.From = o.ShutdownAt.Add(-announceBefore)
	return o
}

// nextOutage is the status's next (or current) outage.
func (p *powerJob) nextOutage(now time.Time) *api.Outage {
	if p == nil {
		return nil
	}
	w, ok := p.sched.Next(now)
	if !ok {
		return nil
	}
	o := p.outage(w)
	return &o
}

// powerLine begins systemd's status line while the box shuts down.
func (d *Daemon) powerLine() string {
	if s := d.pw.state(); s == api.PowerShuttingDown || s == api.PowerHalted {
		return "POWER " + strings.ToUpper(s) + "; "
	}
	return ""
}

// state is the power state for the status; "" before the job exists.
func (p *powerJob) state() string {
	if p == nil {
		return ""
	}
	return p.m.State().String()
}

// Power implements api.PowerBackend.
func (d *Daemon) Power() api.PowerStatus {
	p := d.pw
	st := api.PowerStatus{
		State: p.state(), UPS: p.upsStatus(), Controller: p.ctl, TimeZone: d.site.Location().String(),
		Outages: []api.Outage{},
		GraceS:  d.site.Power.Grace.D().Seconds(), LeadS: d.site.Power.Lead.D().Seconds(), BudgetS: d.site.Power.Budget.D().Seconds(),
	}
	for _, w := range p.sched.List() {
		st.Outages = append(st.Outages, p.outage(w))
	}
	p.mu.Lock()
	if st.State != api.PowerOnline {
		st.Cause = p.shutdown
	}
	st.Back = p.back
	p.mu.Unlock()
	if r, ok := p.m.LastReport(); ok {
		sr := &api.ShutdownReport{
			Reason: r.Trigger.Reason, Cause: r.Trigger.Cause, At: r.Trigger.At.Format(time.RFC3339Nano),
			SafeToCut: r.SafeToCut, SafeToCutS: r.SafeToCutAfter.Seconds(), TotalS: r.Total.Seconds(),
			Return: string(r.Return), PoweredOff: r.PoweredOff,
		}
		for _, s := range r.Steps {
			if s.Err != nil {
				sr.Failed = append(sr.Failed, s.Step+": "+s.Err.Error())
			}
		}
		st.Last = sr
	}
	return st
}

// ParseTime implements api.PowerBackend: a time in the site's zone.
func (d *Daemon) ParseTime(s string) (time.Time, error) {
	t, err := power.ParseTime(s, d.site.Location())
	if err != nil {
		return t, errors.New(strings.TrimPrefix(err.Error(), "power: "))
	}
	return t, nil
}

// windowError names the field a schedule refusal is about.
func windowError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "power: ")
	switch {
	case errors.Is(err, power.ErrWindowPast), errors.Is(err, power.ErrWindowOverlap):
		return &api.FieldError{Field: "start", Reason: msg}
	case errors.Is(err, power.ErrWindowOrder):
		return &api.FieldError{Field: "end", Reason: msg}
	case errors.Is(err, power.ErrWindowID):
		return &api.FieldError{Field: "id", Reason: msg}
	case errors.Is(err, power.ErrNoWindow):
		return fmt.Errorf("%s: %w", msg, api.ErrNotFound)
	}
	return err
}

// AddOutage implements api.PowerBackend.
func (d *Daemon) AddOutage(o api.Outage) (api.Outage, error) {
	w, err := d.pw.sched.Add(power.Window{ID: o.ID, Start: o.Start, End: o.End, Reason: o.Reason})
	if err != nil {
		return api.Outage{}, windowError(err)
	}
	return d.pw.outage(w), nil
}

// CancelOutage implements api.PowerBackend. A window the box is already
// shutting down for cannot be cancelled.
func (d *Daemon) CancelOutage(id string) (api.Outage, error) {
	if s := d.pw.m.State(); s >= power.ShuttingDown {
		return api.Outage{}, fmt.Errorf("the box is %s; nothing can be cancelled now: %w", s, api.ErrConflict)
	}
	w, err := d.pw.sched.Cancel(id)
	if err != nil {
		return api.Outage{}, windowError(err)
	}
	return d.pw.outage(w), nil
}

// Restart implements api.PowerBackend: now (at zero) or a scheduled
// restart window.
func (d *Daemon) Restart(at time.Time, reason string) (api.RestartAnswer, error) {
	if at.IsZero() {
		why := "asked through the API"
		if reason != "" {
			why += ": " + reason
		}
		if err := d.pw.m.Restart(why); err != nil {
			return api.RestartAnswer{}, fmt.Errorf("%v: %w", err, api.ErrConflict)
		}
		return api.RestartAnswer{Now: true}, nil
	}
	w, err := d.pw.sched.Add(power.Window{Start: at, Reason: reason, Restart: true})
	if err != nil {
		err = windowError(err)
		var fe *api.FieldError
		if errors.As(err, &fe) && fe.Field == "start" {
			fe.Field = "at"
		}
		return api.RestartAnswer{}, err
	}
	o := d.pw.outage(w)
	return api.RestartAnswer{Scheduled: &o}, nil
}
