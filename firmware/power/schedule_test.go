package power

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/report"
)

func testSchedule(t *testing.T, now time.Time) (*Schedule, *events, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), ScheduleFile)
	ev := &events{}
	s, err := OpenSchedule(path, ScheduleOptions{Events: ev, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return s, ev, path
}

func TestScheduleAdd(t *testing.T) {
	loc := DefaultLocation()
	at := func(v string) time.Time {
		t.Helper()
		tm, err := ParseTime(v, loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	now := at("2026-06-10 12:00")
	s, ev, path := testSchedule(t, now)
	w, err := s.Add(Window{Start: at("2026-06-14 09:00"), End: at("2026-06-14 17:00"), Reason: "electrical inspection"})
	if err != nil {
		t.Fatal(err)
	}
	if w.ID != "o-20260614-0900" {
		t.Errorf("id %q", w.ID)
	}
	e, ok := ev.find(report.KindOutagePlanned)
	if !ok || e.fields["id"] != w.ID || e.fields["start"] != "2026-06-14T09:00:00+09:00" || e.fields["end"] != "2026-06-14T17:00:00+09:00" {
		t.Errorf("outage.planned %+v", e)
	}
	for _, tc := range []struct {
		name string
		w    Window
		want error
		msg  string // in the message
	}{
		{"in the past", Window{Start: at("2026-06-10 11:59"), End: at("2026-06-10 13:00")}, ErrWindowPast, `window "o-20260610-1159" (2026-06-10 11:59 JST to 2026-06-10 13:00 JST) starts before now (2026-06-10 12:00 JST)`},
		{"end before start", Window{Start: at("2026-06-20 10:00"), End: at("2026-06-20 09:00")}, ErrWindowOrder, `window "o-20260620-1000" (2026-06-20 10:00 JST to 2026-06-20 09:00 JST) does not end after it starts`},
		{"empty", Window{Start: at("2026-06-20 10:00"), End: at("2026-06-20 10:00")}, ErrWindowOrder, "does not end after it starts"},
		{"overlapping the end", Window{ID: "late", Start: at("2026-06-14 16:00"), End: at("2026-06-14 18:00")}, ErrWindowOverlap, `window "late" (2026-06-14 16:00 JST to 2026-06-14 18:00 JST) overlaps window "o-20260614-0900" (2026-06-14 09:00 JST to 2026-06-14 17:00 JST)`},
		{"inside", Window{Start: at("2026-06-14 10:00"), End: at("2026-06-14 11:00")}, ErrWindowOverlap, "overlaps"},
		{"around", Window{Start: at("2026-06-14 08:00"), End: at("2026-06-14 18:00")}, ErrWindowOverlap, "overlaps"},
		{"restart inside", Window{Start: at("2026-06-14 12:00"), Restart: true}, ErrWindowOverlap, `restart "r-20260614-1200" at 2026-06-14 12:00 JST overlaps`},
		{"same id", Window{ID: w.ID, Start: at("2026-07-01 10:00"), End: at("2026-07-01 11:00")}, ErrWindowID, "already scheduled"},
	} {
		_, err := s.Add(tc.w)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v with %q", tc.name, err, tc.want, tc.msg)
		}
	}
	// Touching windows do not overlap; a UTC time is shown in the site zone.
	if _, err := s.Add(Window{ID: "after", Start: at("2026-06-14 17:00"), End: at("2026-06-14 18:00")}); err != nil {
		t.Error(err)
	}
	r, err := s.Add(Window{Start: time.Date(2026, 6, 30, 15, 0, 0, 0, time.UTC), Restart: true})
	if err != nil || r.ID != "r-20260701-0000" || !r.End.Equal(r.Start) {
		t.Errorf("restart %+v %v", r, err)
	}
	if n := strings.Count(ev.kinds(), report.KindOutagePlanned); n != 3 {
		t.Errorf("%d announced, want 3", n)
	}

	// Stored: a new Schedule reads the same windows.
	s2, err := OpenSchedule(path, ScheduleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, w := range s2.List() {
		ids = append(ids, w.ID+"@"+w.Start.Format("15:04 MST"))
	}
	if got, want := strings.Join(ids, " "), "o-20260614-0900@09:00 JST after@17:00 JST r-20260701-0000@00:00 JST"; got != want {
		t.Errorf("reloaded %q, want %q", got, want)
	}
	if n, ok := s2.Next(at("2026-06-14 17:00")); !ok || n.ID != "after" {
		t.Errorf("Next %v %v", n, ok)
	}
	if _, ok := s2.Next(at("2026-07-02 00:00")); ok {
		t.Error("Next after the last window")
	}

	if _, err := s.Cancel("nope"); !errors.Is(err, ErrNoWindow) || !strings.Contains(err.Error(), "o-20260614-0900, after, r-20260701-0000") {
		t.Errorf("cancel unknown: %v", err)
	}
	if _, err := s.Cancel("after"); err != nil {
		t.Fatal(err)
	}
	if _, ok := ev.find(KindOutageCancelled); !ok {
		t.Error("no outage.cancelled")
	}
	if _, ok := s.Get("after"); ok {
		t.Error("cancelled window still listed")
	}
}

func TestParseTime(t *testing.T) {
	loc := DefaultLocation()
	for in, want := range map[string]string{
		"2026-06-14 09:00":           "2026-06-14T09:00:00+09:00",
		"2026-06-14T09:00":           "2026-06-14T09:00:00+09:00",
		"2026-06-14 09:00:30":        "2026-06-14T09:00:30+09:00",
		"2026-06-14T00:00:00Z":       "2026-06-14T09:00:00+09:00",
		" 2026-06-14T09:00:00+09:00": "2026-06-14T09:00:00+09:00",
	} {
		got, err := ParseTime(in, loc)
		if err != nil || got.Format(time.RFC3339) != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	if _, err := ParseTime("next sunday", loc); err == nil || !strings.Contains(err.Error(), "2006-01-02 15:04") {
		t.Errorf("bad time: %v", err)
	}
}

func TestScheduleCorrupt(t *testing.T) {
	path := filepath.Join(t.TempDir(), ScheduleFile)
	if err := WriteRecord(path, Record{}); err != nil { // valid JSON, wrong shape is fine…
		t.Fatal(err)
	}
	if _, err := OpenSchedule(path, ScheduleOptions{}); err != nil {
		t.Errorf("unknown fields: %v", err)
	}
	if err := writeFile(path, "{not json"); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenSchedule(path, ScheduleOptions{}); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt schedule: %v", err)
	}
}

func TestBack(t *testing.T) {
	at := time.Date(2026, 6, 14, 8, 55, 0, 0, DefaultLocation())
	for _, tc := range []struct {
		name    string
		rec     Record
		now     time.Time
		want    map[string]any
		planned bool
	}{
		{"planned", Record{Reason: report.ShutdownPlanned, At: at, Window: "o-20260614-0900"}, at.Add(8*time.Hour + 10*time.Minute),
			map[string]any{"gone_s": 29400.0, "reason": "planned", "window": "o-20260614-0900"}, true},
		{"unplanned", Record{Reason: report.ShutdownLowBattery, At: at}, at.Add(90 * time.Second),
			map[string]any{"gone_s": 90.0, "reason": "low_battery"}, false},
		{"clock went back", Record{Reason: report.ShutdownFSD, At: at}, at.Add(-time.Hour),
			map[string]any{"gone_s": 0.0, "reason": "fsd"}, false},
	} {
		b := Back(tc.rec, tc.now)
		got := b.Fields()
		if len(got) != len(tc.want) || b.Planned() != tc.planned {
			t.Errorf("%s: %v planned %v, want %v", tc.name, got, b.Planned(), tc.want)
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%s: %s = %v, want %v", tc.name, k, got[k], v)
			}
		}
		t.Log(b.Message())
	}
}
