package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultInterval is how often the supervisor evaluates the checks when
// neither systemd nor a device gives it a timeout to pet within.
const DefaultInterval = 10 * time.Second

// Options configure a [Supervisor].
type Options struct {
	// Notifier receives READY, STATUS, WATCHDOG and STOPPING. nil is
	// SystemdNotifier, which sends to $NOTIFY_SOCKET and does nothing
	// when it is unset.
	Notifier Notifier
	// Device is a hardware watchdog to pet with the same rule; nil is
	// none. The supervisor owns it: Run closes it when it returns. The
	// daemon opens one (OpenDevice) only when not under systemd (see
	// UnderSystemd).
	Device Device
	// Interval is how often the checks are evaluated and, if all are
	// fresh, the watchdogs petted. Zero picks half of systemd's watchdog
	// timeout (WATCHDOG_USEC, when the Notifier has a
	// WatchdogTimeout() (time.Duration, error) method as SystemdNotifier
	// does) or a third of the Device's timeout, whichever is shorter, or
	// else DefaultInterval.
	Interval time.Duration
	// Logger receives the supervisor's events, with job=watchdog; nil
	// discards them.
	Logger *slog.Logger
	// OnStuck, if set, is called from Run once per stuck episode of a
	// check, with how long the check has been silent, in the tick that
	// first withholds the pet, before the next one is due: the daemon
	// journals it there. It must not block for long: the box resets one
	// watchdog timeout after the last pet.
	OnStuck func(name string, silentFor time.Duration)
}

// A Supervisor pets the watchdogs while every registered [Check] is fresh.
// Its methods are safe for concurrent use; Run is called once.
type Supervisor struct {
	notifier Notifier
	device   Device
	interval time.Duration
	log      *slog.Logger
	onStuck  func(string, time.Duration)
	epoch    time.Time // origin of the monotonic offsets in Check.last
	running  atomic.Bool

	mu     sync.Mutex
	checks map[*Check]struct{}

	// Owned by Run's goroutine.
	withheldSince time.Duration // offset of the first withheld pet; -1 while petting
	notifyErr     string        // last Notify error logged, "" once it works again
	deviceErr     string        // likewise for the device
}

// New returns a Supervisor; call Run to start it.
func New(opts Options) *Supervisor {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{
		notifier:      opts.Notifier,
		device:        opts.Device,
		interval:      opts.Interval,
		log:           log.With("job", "watchdog"),
		onStuck:       opts.OnStuck,
		epoch:         time.Now(),
		checks:        make(map[*Check]struct{}),
		withheldSince: -1,
	}
	if s.notifier == nil {
		s.notifier = SystemdNotifier{}
	}

	// The shortest watchdog timeout the supervisor must pet within.
	var limit time.Duration
	var limitBy string
	if t, ok := s.notifier.(interface {
		WatchdogTimeout() (time.Duration, error)
	}); ok {
		d, err := t.WatchdogTimeout()
		if err != nil {
			s.log.Warn("watchdog: ignoring systemd's watchdog timeout", "err", err)
		} else if d > 0 {
			limit, limitBy = d, "systemd"
			if s.interval == 0 {
				s.interval = d / 2
			}
		}
	}
	if s.device != nil {
		if d := s.device.Timeout(); d > 0 && (limit == 0 || d < limit) {
			limit, limitBy = d, "device"
			if opts.Interval == 0 && (s.interval == 0 || d/3 < s.interval) {
				s.interval = d / 3
			}
		}
	}
	if s.interval <= 0 {
		s.interval = DefaultInterval
	}
	if limit > 0 && s.interval >= limit {
		s.log.Warn("watchdog: interval is not shorter than the watchdog timeout; the box will reset", "interval", s.interval, "timeout", limit, "timeout_by", limitBy)
	}
	return s
}

// Interval is how often Run evaluates the checks and pets.
func (s *Supervisor) Interval() time.Duration { return s.interval }

// now is the monotonic time since the supervisor was created.
func (s *Supervisor) now() time.Duration { return time.Since(s.epoch) }

// A Check is one job's liveness: the job calls Report from its own loop at
// least once per deadline.
type Check struct {
	s        *Supervisor
	name     string
	deadline time.Duration
	last     atomic.Int64 // nanoseconds since s.epoch of the last report or the registration

	stuck bool // owned by Run's goroutine: the stuck episode has been reported
}

// Register adds a check named name that is stale when it has not reported
// for longer than deadline; until its first report it counts from now.
// Names should be unique; they name the job in logs. deadline must be
// positive.
func (s *Supervisor) Register(name string, deadline time.Duration) *Check {
	if deadline <= 0 {
		panic(fmt.Sprintf("watchdog: Register(%q, %v): deadline must be positive", name, deadline))
	}
	c := &Check{s: s, name: name, deadline: deadline}
	c.last.Store(int64(s.now()))
	s.mu.Lock()
	s.checks[c] = struct{}{}
	s.mu.Unlock()
	s.log.Debug("watchdog: check registered", "check", name, "deadline", deadline)
	return c
}

// Name is the check's name.
func (c *Check) Name() string { return c.name }

// Report records that the job is alive now. It is cheap (one atomic store
// of the monotonic time) and safe from any goroutine, but belongs in the
// job's own loop: reporting from anywhere else defeats the watchdog.
func (c *Check) Report() {
	c.last.Store(int64(c.s.now()))
}

// Unregister removes the check, for a job that ends on purpose. It is safe
// to call more than once.
func (c *Check) Unregister() {
	s := c.s
	s.mu.Lock()
	_, ok := s.checks[c]
	delete(s.checks, c)
	s.mu.Unlock()
	if ok {
		s.log.Debug("watchdog: check unregistered", "check", c.name)
	}
}

// silentFor is how long the check has not reported at now, and whether
// that makes it stale.
func (c *Check) silentFor(now time.Duration) (silent time.Duration, stale bool) {
	silent = now - time.Duration(c.last.Load())
	return silent, silent > c.deadline
}

// snapshot returns the registered checks sorted by name.
func (s *Supervisor) snapshot() []*Check {
	s.mu.Lock()
	cs := make([]*Check, 0, len(s.checks))
	for c := range s.checks {
		cs = append(cs, c)
	}
	s.mu.Unlock()
	slices.SortFunc(cs, func(a, b *Check) int { return strings.Compare(a.name, b.name) })
	return cs
}

// Stale returns the sorted names of the checks that are stale now.
func (s *Supervisor) Stale() []string {
	now := s.now()
	var names []string
	for _, c := range s.snapshot() {
		if _, stale := c.silentFor(now); stale {
			names = append(names, c.name)
		}
	}
	return names
}

// Ready tells systemd that start-up is finished (READY=1) with a status
// line; an empty status sends READY=1 alone.
func (s *Supervisor) Ready(status string) {
	state := StateReady
	if status != "" {
		state += "\nSTATUS=" + oneLine(status)
	}
	if err := s.notifier.Notify(state); err != nil {
		s.log.Warn("watchdog: could not tell systemd we are ready", "err", err)
	}
}

// Status sets the short human status line systemd shows (STATUS=), such
// as "active, tunnel up via dc1, UPS on mains".
func (s *Supervisor) Status(status string) {
	if err := s.notifier.Notify("STATUS=" + oneLine(status)); err != nil {
		s.log.Warn("watchdog: could not send status to systemd", "err", err)
	}
}

// oneLine keeps a status from breaking the newline-separated protocol.
func oneLine(s string) string {
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}

// ErrRunning is returned by a second call of Run.
var ErrRunning = errors.New("watchdog: Run called twice")

// Run evaluates the checks at once and then every interval, pets the
// watchdogs while all are fresh and withholds the pets while any is stale.
// When ctx ends it sends STOPPING=1 and closes the device: with the magic
// close if every check is fresh (a clean stop), without it otherwise, so
// that a stop with a hung job still ends in a reset. It returns nil on a
// clean stop, or the errors of stopping.
//
// Cancel ctx only after the other jobs have stopped: once the device is
// disarmed nothing resets a box that hangs on the way out.
func (s *Supervisor) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	s.log.Info("watchdog: started", "interval", s.interval, "device", s.device != nil)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	s.tick()
	for {
		select {
		case <-ctx.Done():
			return s.stop()
		case <-t.C:
			s.tick()
		}
	}
}

// tick evaluates the checks once and pets if all are fresh.
func (s *Supervisor) tick() {
	now := s.now()
	fresh := true
	for _, c := range s.snapshot() {
		silent, stale := c.silentFor(now)
		switch {
		case stale:
			fresh = false
			if !c.stuck {
				c.stuck = true
				s.log.Error("watchdog: check stuck, withholding the watchdog pet", "check", c.name, "silent_for", silent.Round(time.Millisecond), "deadline", c.deadline)
				if s.onStuck != nil {
					s.onStuck(c.name, silent)
				}
			}
		case c.stuck:
			c.stuck = false
			s.log.Warn("watchdog: check recovered", "check", c.name)
		}
	}
	if !fresh {
		if s.withheldSince < 0 {
			s.withheldSince = now
		}
		return
	}
	if s.withheldSince >= 0 {
		s.log.Warn("watchdog: every check fresh again, pets resumed", "withheld_for", (now - s.withheldSince).Round(time.Millisecond))
		s.withheldSince = -1
	}
	s.pet()
}

// pet sends WATCHDOG=1 and pets the device, logging a failure once until
// it changes or clears.
func (s *Supervisor) pet() {
	s.notifyErr = s.logOnce(s.notifyErr, "systemd", s.notifier.Notify(StateWatchdog))
	if s.device != nil {
		s.deviceErr = s.logOnce(s.deviceErr, "device", s.device.Keepalive())
	}
}

func (s *Supervisor) logOnce(prev, target string, err error) string {
	if err == nil {
		if prev != "" {
			s.log.Info("watchdog: pet works again", "target", target)
		}
		return ""
	}
	if msg := err.Error(); msg != prev {
		s.log.Error("watchdog: pet failed", "target", target, "err", err)
		return msg
	}
	return prev
}

// stop sends STOPPING=1 and releases the device.
func (s *Supervisor) stop() error {
	var errs []error
	if err := s.notifier.Notify(StateStopping); err != nil {
		errs = append(errs, err)
	}
	if s.device != nil {
		stale := s.Stale()
		a, canAbandon := s.device.(Abandoner)
		if len(stale) > 0 && canAbandon {
			errs = append(errs, fmt.Errorf("watchdog: stopped with stale checks %s; the hardware watchdog is left armed", strings.Join(stale, ", ")), a.Abandon())
		} else {
			errs = append(errs, s.device.Close())
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		s.log.Error("watchdog: stopped with errors", "err", err)
	} else {
		s.log.Info("watchdog: stopped")
	}
	return err
}
