package selfcheck

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
)

// EventLog receives the scheduler's events (the daemon writes them to the
// journal); tunnel.EventLog has the same shape.
type EventLog interface {
	Event(kind, msg string, fields map[string]any)
}

// EventResult is the kind of the event of each self-check.
const EventResult = "selfcheck.result"

// SchedulerOptions configures a Scheduler.
type SchedulerOptions struct {
	// At is the time of day, "HH:MM" (self_check.at), in Location (the
	// site's time_zone; nil is UTC).
	At       string
	Location *time.Location
	// Inputs are what each check reads.
	Inputs Inputs
	// Events receives selfcheck.result; nil drops it.
	Events EventLog
	Logger *slog.Logger
	// Alive is called on every round of the loop, at least every
	// AliveEvery (default 30s), as the job's watchdog check. The wall
	// clock is compared with the next check's time on every round too, so
	// a clock stepped by NTP after boot moves the check with it.
	Alive      func()
	AliveEvery time.Duration
	// Timeout bounds one self-check. Default 30s.
	Timeout time.Duration
}

// Scheduler runs the self-check every day at the configured time.
type Scheduler struct {
	opts   SchedulerOptions
	hh, mm int
	loc    *time.Location
	log    *slog.Logger

	mu   sync.Mutex // guards last and next
	last *api.SelfCheck
	next time.Time
}

// ParseAt reads "HH:MM" (00:00 to 23:59).
func ParseAt(at string) (hh, mm int, err error) {
	t, err := time.Parse("15:04", at)
	if err != nil || len(at) != 5 {
		return 0, 0, fmt.Errorf("selfcheck: time of day %q: want HH:MM, 00:00 to 23:59", at)
	}
	return t.Hour(), t.Minute(), nil
}

// NewScheduler checks opts and returns a scheduler.
func NewScheduler(opts SchedulerOptions) (*Scheduler, error) {
	hh, mm, err := ParseAt(opts.At)
	if err != nil {
		return nil, err
	}
	if opts.AliveEvery <= 0 {
		opts.AliveEvery = 30 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Scheduler{opts: opts, hh: hh, mm: mm, loc: loc, log: log.With("job", "selfcheck")}, nil
}

// Next returns the first hh:mm in loc strictly after t. On a day when
// hh:mm does not exist or occurs twice (daylight saving) it is where
// time.Date puts it.
func Next(t time.Time, hh, mm int, loc *time.Location) time.Time {
	lt := t.In(loc)
	for d := 0; ; d++ {
		n := time.Date(lt.Year(), lt.Month(), lt.Day()+d, hh, mm, 0, 0, loc)
		if n.After(t) {
			return n
		}
	}
}

// Last returns the latest self-check, nil before the first.
func (s *Scheduler) Last() *api.SelfCheck {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last == nil {
		return nil
	}
	c := *s.last
	c.Items = append([]api.CheckItem(nil), s.last.Items...)
	return &c
}

// NextAt returns when the next daily check is due (zero before Run).
func (s *Scheduler) NextAt() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.next
}

// Run waits for each day's check time and runs the check, until ctx ends;
// it returns nil then.
func (s *Scheduler) Run(ctx context.Context) error {
	next := s.setNext(time.Now())
	s.log.Info("next self-check", "at", next)
	for {
		if s.opts.Alive != nil {
			s.opts.Alive()
		}
		now := time.Now()
		if !now.Before(next) {
			s.RunNow(ctx)
			next = s.setNext(time.Now())
		} else if next.Sub(now) > 25*time.Hour {
			// The wall clock stepped back (set by NTP after a boot with
			// a clock in the future): plan again from the new time.
			next = s.setNext(now)
			s.log.Info("clock stepped back; next self-check", "at", next)
		}
		wait := min(time.Until(next), s.opts.AliveEvery)
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func (s *Scheduler) setNext(now time.Time) time.Time {
	n := Next(now, s.hh, s.mm, s.loc)
	s.mu.Lock()
	s.next = n
	s.mu.Unlock()
	return n
}

// RunNow runs a self-check now, records it as Last and emits
// selfcheck.result.
func (s *Scheduler) RunNow(ctx context.Context) *api.SelfCheck {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	sc := Run(ctx, s.opts.Inputs)
	if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil // shutting down; do not journal a half check
	}
	s.mu.Lock()
	s.last = &sc
	s.mu.Unlock()

	failed := Failed(sc)
	if failed == nil {
		failed = []string{} // the report reads a list, never null
	}
	details := map[string]string{}
	for _, it := range sc.Items {
		if !it.OK {
			details[it.Name] = it.Detail
		}
	}
	fields := map[string]any{"ok": sc.OK, "failed": failed}
	if len(details) > 0 {
		fields["details"] = details
	}
	msg := fmt.Sprintf("self-check passed (%d items)", len(sc.Items))
	if !sc.OK {
		msg = "self-check failed: " + strings.Join(failed, ", ")
		s.log.Warn("self-check failed", "failed", failed)
	} else {
		s.log.Info("self-check passed", "items", len(sc.Items))
	}
	if s.opts.Events != nil {
		s.opts.Events.Event(EventResult, msg, fields)
	}
	return s.Last()
}
