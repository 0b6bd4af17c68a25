package report

import (
	"errors"
	"fmt"
	"time"
)

// ErrBadMonth is wrapped by the errors of ParseMonth.
var ErrBadMonth = errors.New("report: bad month")

// JST is Japan Standard Time, UTC+9 with no daylight saving time: the
// default site zone. A fixed zone, so the box needs no tzdata.
var JST = time.FixedZone("JST", 9*60*60)

// ParseMonth parses "YYYY-MM" (year 2000–9999, month 01–12, nothing else)
// and returns the month's first instant and the next month's first instant
// in JST, the default site zone. Errors name the value.
func ParseMonth(s string) (start, end time.Time, err error) {
	return ParseMonthIn(s, JST)
}

// ParseMonthIn is ParseMonth in the zone loc (JST if nil).
func ParseMonthIn(s string, loc *time.Location) (start, end time.Time, err error) {
	if loc == nil {
		loc = JST
	}
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrBadMonth, s, why) }
	if len(s) != 7 || s[4] != '-' {
		return time.Time{}, time.Time{}, bad("want YYYY-MM, for example 2026-11")
	}
	num := func(b string) (int, bool) {
		n := 0
		for i := range len(b) {
			if b[i] < '0' || b[i] > '9' {
				return 0, false
			}
			n = n*10 + int(b[i]-'0')
		}
		return n, true
	}
	y, ok1 := num(s[:4])
	m, ok2 := num(s[5:])
	switch {
	case !ok1 || !ok2:
		return time.Time{}, time.Time{}, bad("want YYYY-MM, for example 2026-11")
	case y < 2000:
		return time.Time{}, time.Time{}, bad("year before 2000")
	case m < 1 || m > 12:
		return time.Time{}, time.Time{}, bad("month must be 01 to 12")
	}
	start = time.Date(y, time.Month(m), 1, 0, 0, 0, 0, loc)
	return start, start.AddDate(0, 1, 0), nil
}

// PreviousMonth returns "YYYY-MM" of the month before the one holding now
// in loc (JST if nil): the month a report is usually wanted for.
func PreviousMonth(now time.Time, loc *time.Location) string {
	if loc == nil {
		loc = JST
	}
	n := now.In(loc)
	return time.Date(n.Year(), n.Month()-1, 1, 0, 0, 0, 0, loc).Format("2006-01")
}
