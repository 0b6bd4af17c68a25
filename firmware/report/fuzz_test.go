package report

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func FuzzParseMonth(f *testing.F) {
	for _, s := range []string{"2026-11", "2026-13", "1999-12", "9999-12", "2026-1", "", "2026-11\n", "２０２６-11", "-001-11"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, err := ParseMonth(s)
		if err != nil {
			if !errors.Is(err, ErrBadMonth) || !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Fatalf("ParseMonth(%q) error %q does not name the value or wrap ErrBadMonth", s, err)
			}
			return
		}
		if got := start.Format("2006-01"); got != s {
			t.Fatalf("ParseMonth(%q) start %v formats back as %q", s, start, got)
		}
		if start.Day() != 1 || start.Hour() != 0 || start.Location() != JST {
			t.Fatalf("ParseMonth(%q) start %v is not the 1st 00:00 JST", s, start)
		}
		if d := end.Sub(start); d < 28*24*time.Hour || d > 31*24*time.Hour || !end.Equal(start.AddDate(0, 1, 0)) {
			t.Fatalf("ParseMonth(%q) = [%v, %v): not one month", s, start, end)
		}
	})
}
