package report

import (
	"slices"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/journal"
)

// recorder builds a record sequence by hand. Times are written in JST.
type recorder struct {
	t    testing.TB
	recs []journal.Record
}

// at parses "2006-01-02 15:04:05" in JST.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, JST)
	if err != nil {
		t.Fatalf("bad test time %q: %v", s, err)
	}
	return v
}

func (r *recorder) add(when, kind string, fields map[string]any) *recorder {
	r.t.Helper()
	r.recs = append(r.recs, journal.Record{
		Seq: uint64(len(r.recs) + 1), Time: at(r.t, when).UTC(), Kind: kind, Msg: kind, Fields: fields,
	})
	return r
}

// addAt adds a record at an exact instant (any zone).
func (r *recorder) addAt(when time.Time, kind string, fields map[string]any) *recorder {
	r.recs = append(r.recs, journal.Record{
		Seq: uint64(len(r.recs) + 1), Time: when.UTC(), Kind: kind, Msg: kind, Fields: fields,
	})
	return r
}

// sortByTime orders the records by time and numbers them again, as a
// journal with a good clock would hold them.
func (r *recorder) sortByTime() {
	slices.SortStableFunc(r.recs, func(a, b journal.Record) int { return a.Time.Compare(b.Time) })
	for i := range r.recs {
		r.recs[i].Seq = uint64(i + 1)
	}
}

// source is a RecordsFunc over the records, filtered as journal.Range does.
func (r *recorder) source() RecordsFunc {
	return func(from, to time.Time, fn func(journal.Record) error) error {
		for _, rec := range r.recs {
			if rec.Time.Before(from) || !rec.Time.Before(to) {
				continue
			}
			if err := fn(rec); err != nil {
				return err
			}
		}
		return nil
	}
}

// novemberFixture is a realistic November 2026 of one site: a quiet
// start, daily time-sync checks and self-checks, a datacenter failover and
// failback, a power cut on battery, an announced planned outage, a crash
// (watchdog reset), a tunnel outage across midnight and one across the
// month's end. The report is made on 1 December at 09:00 JST.
func novemberFixture(t testing.TB) (*recorder, Options) {
	r := &recorder{t: t}
	r.add("2026-10-20 09:12:00", "daemon.start", map[string]any{"version": "v1.4.0", "backend": "kernel"})
	r.add("2026-10-20 09:12:01", "tunnel.start", nil)
	r.add("2026-10-20 09:12:03", "tunnel.up", map[string]any{"was": "connecting", "reason": "dc1 answers", "endpoint": "dc1"})
	r.add("2026-10-20 09:17:03", "daemon.healthy", nil)
	r.add("2026-10-31 03:00:00", KindTimeSyncCheck, map[string]any{"ok": true, "offset_ms": 1.2, "server": "ntp1.dc.example", "stratum": 2})

	daily := func(day int) {
		d := time.Date(2026, 11, day, 3, 0, 0, 0, JST)
		off := float64((day*37)%23-11) / 4 // −2.75 … +2.75 ms
		ok := true
		if day == 9 {
			off, ok = 1523.4, false
		}
		r.addAt(d, KindTimeSyncCheck, map[string]any{"ok": ok, "offset_ms": off, "server": "ntp1.dc.example", "stratum": 2})
		failed := []string{}
		if day == 18 {
			failed = []string{"wan_link", "ntp"}
		}
		r.addAt(d.Add(time.Hour), KindSelfCheckResult, map[string]any{"ok": len(failed) == 0, "failed": failed})
	}
	for day := 1; day <= 30; day++ {
		daily(day)
		switch day {
		case 3: // dc1 dies, distinct keys: the tunnel moves without going down
			r.add("2026-11-03 10:12:04", "endpoint.dead", map[string]any{"endpoint": "dc1"})
			r.add("2026-11-03 10:12:05", KindFailover, map[string]any{"from": "dc1", "to": "dc2", "reason": "dc1 is dead"})
			r.add("2026-11-03 10:47:40", "endpoint.alive", map[string]any{"endpoint": "dc1"})
			r.add("2026-11-03 11:17:40", KindFailback, map[string]any{"from": "dc2", "to": "dc1", "reason": "dc1 has been alive for 30m0s"})
		case 7:
			r.add("2026-11-07 10:00:00", KindOutagePlanned, map[string]any{"id": "PM-2026-11-14",
				"start": "2026-11-14T22:00:00+09:00", "end": "2026-11-15T06:00:00+09:00"})
		case 10: // power cut at night; the UPS carries the box to a clean shutdown
			r.add("2026-11-10 02:14:00", KindPowerShutdown, map[string]any{"reason": "battery"})
			r.add("2026-11-10 02:14:01", "tunnel.stopped", nil)
			r.add("2026-11-10 02:14:02", "daemon.stop", map[string]any{"uptime_s": 1800000.0})
			r.add("2026-11-10 03:01:30", "daemon.start", nil)
			r.add("2026-11-10 03:01:31", "tunnel.start", nil)
			r.add("2026-11-10 03:01:33", KindPowerBack, map[string]any{"gone_s": 2850, "reason": "battery"})
			r.add("2026-11-10 03:02:05", "tunnel.up", nil)
		case 14: // the announced planned outage (electrical inspection)
			r.add("2026-11-14 22:00:00", KindPowerShutdown, map[string]any{"reason": "planned",
				"window": "2026-11-14T22:00:00+09:00/2026-11-15T06:00:00+09:00"})
			r.add("2026-11-14 22:00:02", "tunnel.stopped", nil)
			r.add("2026-11-14 22:00:03", "daemon.stop", nil)
		case 15:
			r.add("2026-11-15 05:40:00", "daemon.start", nil)
			r.add("2026-11-15 05:40:01", "tunnel.start", nil)
			r.add("2026-11-15 05:40:38", "tunnel.up", nil)
			r.add("2026-11-15 05:40:40", KindPowerBack, map[string]any{"gone_s": 27597, "reason": "planned"})
		case 21: // a job hangs; the hardware watchdog resets the box
			r.add("2026-11-21 13:22:40", "watchdog.stuck", map[string]any{"job": "api"})
			r.add("2026-11-21 13:23:15", "daemon.start", nil)
			r.add("2026-11-21 13:23:16", "tunnel.start", nil)
			r.add("2026-11-21 13:23:52", "tunnel.up", nil)
		case 26: // both datacenter front doors unreachable across midnight
			r.add("2026-11-26 23:50:00", "tunnel.down", map[string]any{"reason": "the datacenter endpoint dc1 does not answer"})
			r.add("2026-11-26 23:50:01", KindFailover, map[string]any{"from": "dc1", "to": "dc2", "reason": "dc1 is dead"})
			r.add("2026-11-27 00:20:01", KindFailbackFailed, map[string]any{"from": "dc2", "to": "dc1", "reason": "dc2 did not answer the failback trial"})
		case 27:
			r.add("2026-11-27 00:35:20", "tunnel.up", map[string]any{"reason": "dc1 answers"})
		case 30: // down across the month's end
			r.add("2026-11-30 23:55:00", "tunnel.down", map[string]any{"reason": "the datacenter endpoint dc1 does not answer"})
		}
	}
	r.add("2026-12-01 00:10:00", "tunnel.up", nil)
	r.add("2026-12-01 03:00:00", KindTimeSyncCheck, map[string]any{"ok": true, "offset_ms": 0.4, "server": "ntp1.dc.example", "stratum": 2})
	r.sortByTime()
	return r, Options{Site: "浜松市 本庁舎 (hamamatsu-honcho)", Unit: "a", Now: at(t, "2026-12-01 09:00:00")}
}
