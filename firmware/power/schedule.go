package power

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/shisa-gw/shisa/firmware/atomicfile"
	"github.com/shisa-gw/shisa/firmware/report"
)

// ScheduleFile is the schedule's file name in the state directory.
const ScheduleFile = "outages.json"

// Window is a planned outage: the box is off from Start to End. A restart
// window (Restart set) is a scheduled restart at Start; its End is Start.
type Window struct {
	ID      string    `json:"id"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	Reason  string    `json:"reason,omitempty"` // for people: "electrical inspection"
	Restart bool      `json:"restart,omitempty"`
}

// Errors of Schedule.Add and Cancel, matched with errors.Is.
var (
	ErrWindowPast    = errors.New("power: outage window is in the past")
	ErrWindowOrder   = errors.New("power: outage window ends before it starts")
	ErrWindowOverlap = errors.New("power: outage windows overlap")
	ErrWindowID      = errors.New("power: outage window id already used")
	ErrNoWindow      = errors.New("power: no such outage window")
)

// ScheduleOptions configures OpenSchedule.
type ScheduleOptions struct {
	// Location is the site's time zone: times are shown, and IDs made, in
	// it. Default Asia/Tokyo.
	Location *time.Location
	// Events receives outage.planned and outage.cancelled; nil drops them.
	Events EventLog
	// Now is the clock for refusing windows in the past; nil is time.Now.
	Now func() time.Time
}

// Schedule is the set of planned windows, stored as JSON in one file
// replaced atomically on every change. It is safe for concurrent use.
type Schedule struct {
	path    string
	opts    ScheduleOptions
	changed chan struct{} // one slot: a change since the machine last looked

	mu      sync.Mutex // guards windows and the file
	windows []Window   // sorted by Start
}

// JST is the default site zone, built in so that a box without tzdata works.
var jst = time.FixedZone("JST", 9*60*60)

// DefaultLocation returns Asia/Tokyo, or a fixed +09:00 zone named JST
// where the tz database is missing.
func DefaultLocation() *time.Location {
	if loc, err := time.LoadLocation("Asia/Tokyo"); err == nil {
		return loc
	}
	return jst
}

// OpenSchedule loads the schedule at path; a missing file is an empty
// schedule.
func OpenSchedule(path string, opts ScheduleOptions) (*Schedule, error) {
	if opts.Location == nil {
		opts.Location = DefaultLocation()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Schedule{path: path, opts: opts, changed: make(chan struct{}, 1)}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return s, nil
	case err != nil:
		return nil, fmt.Errorf("power: outage schedule: %w", err)
	}
	var f scheduleFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("power: outage schedule %s is corrupt (fix or remove it, then add the windows again): %w", path, err)
	}
	s.windows = f.Windows
	s.sortLocked()
	return s, nil
}

type scheduleFile struct {
	Windows []Window `json:"windows"`
}

// Location is the site's time zone.
func (s *Schedule) Location() *time.Location { return s.opts.Location }

// Changed receives a value after each change; it coalesces.
func (s *Schedule) Changed() <-chan struct{} { return s.changed }

// ParseTime reads a time typed by a person in the site's zone:
// "2026-06-14 09:00", "2026-06-14T09:00", with seconds, or RFC 3339 (whose
// own offset wins).
func ParseTime(v string, loc *time.Location) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t.In(loc), nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("power: cannot read %q as a time; write it as 2006-01-02 15:04 (site time, %s) or in RFC 3339", v, loc)
}

func (s *Schedule) show(t time.Time) string {
	return t.In(s.opts.Location).Format("2006-01-02 15:04 MST")
}

// describe names a window for messages.
func (s *Schedule) describe(w Window) string {
	if w.Restart {
		return fmt.Sprintf("restart %q at %s", w.ID, s.show(w.Start))
	}
	return fmt.Sprintf("window %q (%s to %s)", w.ID, s.show(w.Start), s.show(w.End))
}

// span is the time a window occupies for overlap checks: a restart takes a
// minute.
func span(w Window) (time.Time, time.Time) {
	if w.Restart {
		return w.Start, w.Start.Add(time.Minute)
	}
	return w.Start, w.End
}

// Add stores w after checking it: it must start in the future, end after it
// starts (a restart's End is set to its Start), and overlap no other window.
// An empty ID is made from the start ("o-20260614-0900", "r-…" for a
// restart). It returns the window as stored and announces it
// (outage.planned).
func (s *Schedule) Add(w Window) (Window, error) {
	loc := s.opts.Location
	w.Start, w.End = w.Start.In(loc), w.End.In(loc)
	if w.Restart {
		w.End = w.Start
	}
	now := s.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.ID == "" {
		w.ID = s.newIDLocked(w)
	}
	switch {
	case !w.Start.After(now):
		return Window{}, fmt.Errorf("%w: %s starts before now (%s); give a start in the future", ErrWindowPast, s.describe(w), s.show(now))
	case !w.Restart && !w.End.After(w.Start):
		return Window{}, fmt.Errorf("%w: %s does not end after it starts; check the end (times are in %s)", ErrWindowOrder, s.describe(w), loc)
	}
	ws, we := span(w)
	for _, o := range s.windows {
		if o.ID == w.ID {
			return Window{}, fmt.Errorf("%w: %s is already scheduled as %s; cancel it first or choose another id", ErrWindowID, w.ID, s.describe(o))
		}
		os2, oe := span(o)
		if ws.Before(oe) && os2.Before(we) {
			return Window{}, fmt.Errorf("%w: %s overlaps %s; cancel that one first or pick another time", ErrWindowOverlap, s.describe(w), s.describe(o))
		}
	}
	next := append(slices.Clone(s.windows), w)
	if err := s.saveLocked(next); err != nil {
		return Window{}, err
	}
	s.notify()
	fields := windowFields(w)
	msg := "planned outage " + s.describe(w)
	if w.Reason != "" {
		msg += ": " + w.Reason
	}
	if s.opts.Events != nil {
		s.opts.Events.Event(report.KindOutagePlanned, msg, fields)
	}
	return w, nil
}

func windowFields(w Window) map[string]any {
	f := map[string]any{
		"id":    w.ID,
		"start": w.Start.Format(time.RFC3339),
		"end":   w.End.Format(time.RFC3339),
	}
	if w.Reason != "" {
		f["reason"] = w.Reason
	}
	if w.Restart {
		f["restart"] = true
	}
	return f
}

func (s *Schedule) newIDLocked(w Window) string {
	prefix := "o-"
	if w.Restart {
		prefix = "r-"
	}
	base := prefix + w.Start.In(s.opts.Location).Format("20060102-1504")
	id := base
	for n := 2; slices.ContainsFunc(s.windows, func(o Window) bool { return o.ID == id }); n++ {
		id = base + "-" + strconv.Itoa(n)
	}
	return id
}

// List returns the windows, by start, in the site's zone.
func (s *Schedule) List() []Window {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.windows)
	for i := range out {
		out[i].Start, out[i].End = out[i].Start.In(s.opts.Location), out[i].End.In(s.opts.Location)
	}
	return out
}

// Get returns the window of that id.
func (s *Schedule) Get(id string) (Window, bool) {
	for _, w := range s.List() {
		if w.ID == id {
			return w, true
		}
	}
	return Window{}, false
}

// Next returns the first window that has not ended at now.
func (s *Schedule) Next(now time.Time) (Window, bool) {
	for _, w := range s.List() {
		if w.End.After(now) || w.Restart && !w.Start.Before(now) {
			return w, true
		}
	}
	return Window{}, false
}

// Cancel removes the window id and reports it (outage.cancelled).
func (s *Schedule) Cancel(id string) (Window, error) {
	w, err := s.remove(id)
	if err != nil {
		return Window{}, err
	}
	if s.opts.Events != nil {
		s.opts.Events.Event(KindOutageCancelled, "cancelled "+s.describe(w), windowFields(w))
	}
	return w, nil
}

// remove deletes the window id without an event (the machine closes it).
func (s *Schedule) remove(id string) (Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.windows, func(w Window) bool { return w.ID == id })
	if i < 0 {
		ids := make([]string, len(s.windows))
		for j, w := range s.windows {
			ids[j] = w.ID
		}
		return Window{}, fmt.Errorf("%w: %q (scheduled: %s)", ErrNoWindow, id, orNone(ids))
	}
	w := s.windows[i]
	if err := s.saveLocked(slices.Delete(slices.Clone(s.windows), i, i+1)); err != nil {
		return Window{}, err
	}
	s.notify()
	w.Start, w.End = w.Start.In(s.opts.Location), w.End.In(s.opts.Location)
	return w, nil
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// saveLocked writes ws and, once it is durable, makes it the schedule.
func (s *Schedule) saveLocked(ws []Window) error {
	slices.SortFunc(ws, func(a, b Window) int { return a.Start.Compare(b.Start) })
	data, err := json.MarshalIndent(scheduleFile{Windows: ws}, "", "  ")
	if err != nil {
		return fmt.Errorf("power: outage schedule: %w", err)
	}
	if err := atomicfile.WriteFile(s.path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("power: outage schedule not saved (is the state directory writable?): %w", err)
	}
	s.windows = ws
	return nil
}

func (s *Schedule) sortLocked() {
	slices.SortFunc(s.windows, func(a, b Window) int { return a.Start.Compare(b.Start) })
}

func (s *Schedule) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}
