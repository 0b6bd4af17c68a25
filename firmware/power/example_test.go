package power_test

import (
	"fmt"
	"os"
	"time"

	"github.com/shisa-gw/shisa/firmware/power"
	"github.com/shisa-gw/shisa/firmware/report"
)

// After the boot, the record left before the power-off says how long the box
// was gone and why: the power.back event.
func ExampleBack() {
	jst := power.DefaultLocation()
	prev := power.Record{
		Reason: report.ShutdownPlanned,
		At:     time.Date(2026, 6, 14, 8, 55, 0, 0, jst),
		Window: "o-20260614-0900",
	}
	b := power.Back(prev, time.Date(2026, 6, 14, 17, 3, 20, 0, jst))
	fmt.Println(b.Message())
	fmt.Println(b.Fields())
	// Output:
	// back after 8h8m20s (shutdown reason planned, window o-20260614-0900)
	// map[gone_s:29300 reason:planned window:o-20260614-0900]
}

// A window is refused with a message naming it and the window in the way.
func ExampleSchedule_Add() {
	dir, _ := tempDir()
	defer os.RemoveAll(dir)
	jst := power.DefaultLocation()
	s, _ := power.OpenSchedule(dir+"/"+power.ScheduleFile, power.ScheduleOptions{
		Now: func() time.Time { return time.Date(2026, 6, 10, 12, 0, 0, 0, jst) },
	})
	start, _ := power.ParseTime("2026-06-14 09:00", jst)
	end, _ := power.ParseTime("2026-06-14 17:00", jst)
	w, err := s.Add(power.Window{Start: start, End: end, Reason: "electrical inspection"})
	fmt.Println(w.ID, err)
	_, err = s.Add(power.Window{ID: "b", Start: end.Add(-time.Hour), End: end.Add(time.Hour)})
	fmt.Println(err)
	// Output:
	// o-20260614-0900 <nil>
	// power: outage windows overlap: window "b" (2026-06-14 16:00 JST to 2026-06-14 18:00 JST) overlaps window "o-20260614-0900" (2026-06-14 09:00 JST to 2026-06-14 17:00 JST); cancel that one first or pick another time
}

func tempDir() (string, error) { return os.MkdirTemp("", "power-example-") }
