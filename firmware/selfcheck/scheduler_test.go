package selfcheck_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	_ "time/tzdata" // the zones below, on hosts without /usr/share/zoneinfo

	"github.com/shisa-gw/shisa/firmware/selfcheck"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

type recorder struct {
	mu     sync.Mutex
	events []string
	fields []map[string]any
}

func (r *recorder) Event(kind, msg string, f map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, fmt.Sprintf("%s %s", time.Now().UTC().Format("2006-01-02 15:04:05"), kind))
	r.fields = append(r.fields, f)
}

func (r *recorder) take() ([]string, []map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, f := r.events, r.fields
	r.events, r.fields = nil, nil
	return e, f
}

// TestSchedulerJST runs the daily check at 03:00 Tokyo time in a bubble
// whose clock starts at 2000-01-01 00:00 UTC (09:00 in Tokyo): the first
// check is 18 hours later, at 18:00 UTC, then every 24 hours.
func TestSchedulerJST(t *testing.T) {
	jst := mustZone(t, "Asia/Tokyo")
	synctest.Test(t, func(t *testing.T) {
		r, in := newRig(t)
		rec := &recorder{}
		var alive atomic.Int32
		s, err := selfcheck.NewScheduler(selfcheck.SchedulerOptions{
			At: "03:00", Location: jst, Inputs: in, Events: rec,
			Alive: func() { alive.Add(1) },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error)
		go func() { done <- s.Run(ctx) }()
		synctest.Wait()
		if want := time.Date(2000, 1, 2, 3, 0, 0, 0, jst); !s.NextAt().Equal(want) {
			t.Errorf("next %s, want %s", s.NextAt(), want)
		}

		time.Sleep(18*time.Hour - time.Second)
		synctest.Wait()
		if ev, _ := rec.take(); len(ev) != 0 || s.Last() != nil {
			t.Fatalf("checked early: %v", ev)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		ev, fields := rec.take()
		if !slices.Equal(ev, []string{"2000-01-01 18:00:00 selfcheck.result"}) {
			t.Fatalf("events %v", ev)
		}
		if fields[0]["ok"] != true || len(fields[0]["failed"].([]string)) != 0 {
			t.Errorf("fields %v", fields[0])
		}
		if last := s.Last(); last == nil || !last.OK || len(last.Items) != 11 {
			t.Errorf("Last = %+v", last)
		}

		// The next day the WAN is unplugged at the time of the check.
		r.net.Unplug("eth0", true)
		time.Sleep(24 * time.Hour)
		synctest.Wait()
		ev, fields = rec.take()
		if !slices.Equal(ev, []string{"2000-01-02 18:00:00 selfcheck.result"}) {
			t.Fatalf("events %v", ev)
		}
		if fields[0]["ok"] != false || !slices.Equal(fields[0]["failed"].([]string), []string{"wan_link"}) {
			t.Errorf("fields %v", fields[0])
		}
		if d := fields[0]["details"].(map[string]string)["wan_link"]; d == "" {
			t.Errorf("no detail for wan_link: %v", fields[0])
		}
		if alive.Load() < 42*60*2 { // every 30 s for 42 hours
			t.Errorf("Alive called %d times", alive.Load())
		}
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
}

func TestNext(t *testing.T) {
	jst, ny := mustZone(t, "Asia/Tokyo"), mustZone(t, "America/New_York")
	for _, tc := range []struct {
		from   time.Time
		hh, mm int
		loc    *time.Location
		want   time.Time
	}{
		// 02:59 JST is 17:59 UTC the day before: today's 03:00 JST.
		{time.Date(2026, 11, 26, 17, 59, 0, 0, time.UTC), 3, 0, jst, time.Date(2026, 11, 27, 3, 0, 0, 0, jst)},
		// Exactly at 03:00: strictly after, so tomorrow.
		{time.Date(2026, 11, 27, 3, 0, 0, 0, jst), 3, 0, jst, time.Date(2026, 11, 28, 3, 0, 0, 0, jst)},
		// Late evening JST, which is still the same UTC day.
		{time.Date(2026, 11, 27, 14, 30, 0, 0, time.UTC), 3, 0, jst, time.Date(2026, 11, 28, 3, 0, 0, 0, jst)},
		// New year and a leap day.
		{time.Date(2027, 12, 31, 23, 0, 0, 0, jst), 23, 30, jst, time.Date(2027, 12, 31, 23, 30, 0, 0, jst)},
		{time.Date(2028, 2, 28, 4, 0, 0, 0, jst), 3, 0, jst, time.Date(2028, 2, 29, 3, 0, 0, 0, jst)},
		// A zone with daylight saving: the day after the spring change is
		// 24 hours of wall clock but 23 real hours later.
		{time.Date(2026, 3, 8, 1, 0, 0, 0, ny), 1, 30, ny, time.Date(2026, 3, 8, 1, 30, 0, 0, ny)},
		{time.Date(2026, 3, 8, 4, 0, 0, 0, ny), 3, 0, ny, time.Date(2026, 3, 9, 3, 0, 0, 0, ny)},
	} {
		got := selfcheck.Next(tc.from, tc.hh, tc.mm, tc.loc)
		if !got.Equal(tc.want) {
			t.Errorf("Next(%s, %02d:%02d %s) = %s, want %s", tc.from, tc.hh, tc.mm, tc.loc, got, tc.want)
		}
	}
	// 02:30 does not exist in New York on 2026-03-08: whatever time.Date
	// makes of it, the result is after the start and within a day.
	from := time.Date(2026, 3, 8, 0, 0, 0, 0, ny)
	got := selfcheck.Next(from, 2, 30, ny)
	if !got.After(from) || got.Sub(from) > 25*time.Hour {
		t.Errorf("Next in the gap = %s", got)
	}
}

func TestParseAt(t *testing.T) {
	for at, ok := range map[string]bool{"03:00": true, "23:59": true, "00:00": true, "24:00": false, "3:00": false, "03:60": false, "0300": false, "": false} {
		if _, _, err := selfcheck.ParseAt(at); (err == nil) != ok {
			t.Errorf("ParseAt(%q): %v", at, err)
		}
	}
	if _, err := selfcheck.NewScheduler(selfcheck.SchedulerOptions{At: "25:00"}); err == nil {
		t.Error("NewScheduler accepted 25:00")
	}
}
