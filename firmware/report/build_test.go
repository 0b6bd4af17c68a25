package report

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/journal"
)

const day = 24 * time.Hour

func fp(v float64) *float64 { return &v }

// pctOf is the package's rounding of up/den.
func pctOf(up, den time.Duration) *float64 { return pct(up, den) }

type outageWant struct {
	start, end string // JST
	planned    bool
	cause      string
	inMonth    time.Duration
}

func TestBuildDerivations(t *testing.T) {
	month := 30 * day
	for _, tc := range []struct {
		name  string
		recs  func(r *recorder)
		now   string
		loc   *time.Location
		check func(t *testing.T, rep *Report)
		// Figures of the month, and the outages, when set.
		up, unplanned, planned, nodata time.Duration
		avail, raw                     *float64
		outages                        []outageWant
	}{{
		name: "quiet month, up from a record in October",
		recs: func(r *recorder) {
			r.add("2026-09-01 08:00:00", "daemon.start", nil)
			r.add("2026-09-01 08:00:05", "tunnel.up", nil)
		},
		up: month, avail: fp(100), raw: fp(100),
	}, {
		name: "no records at all: no data, no availability",
		recs: func(r *recorder) {}, nodata: month,
		check: func(t *testing.T, rep *Report) {
			assert.Nil(t, rep.Days[0].AvailabilityPct)
		},
	}, {
		name: "first record in the month: no data before it",
		recs: func(r *recorder) {
			r.add("2026-11-11 00:00:00", "daemon.start", nil)
			r.add("2026-11-11 00:01:00", "tunnel.up", nil)
		},
		up: 20*day - time.Minute, unplanned: time.Minute, nodata: 10 * day,
		avail: pctOf(20*day-time.Minute, 20*day), raw: pctOf(20*day-time.Minute, 20*day),
		outages: []outageWant{{"2026-11-11 00:00:00", "2026-11-11 00:01:00", false, CauseStarting, time.Minute}},
	}, {
		name: "crash: a start without a stop counts from the last record",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-10 12:00:00", KindTimeSyncCheck, map[string]any{"ok": true, "offset_ms": 0.5})
			r.add("2026-11-10 13:00:00", "daemon.start", nil)
			r.add("2026-11-10 13:01:00", "tunnel.up", nil)
		},
		up: month - 61*time.Minute, unplanned: 61 * time.Minute,
		avail: pctOf(month-61*time.Minute, month), raw: pctOf(month-61*time.Minute, month),
		outages: []outageWant{{"2026-11-10 12:00:00", "2026-11-10 13:01:00", false, CauseCrash, 61 * time.Minute}},
	}, {
		name: "planned outage: out of the denominator, the boot after it is not",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-14 22:00:00", KindPowerShutdown, map[string]any{"reason": "planned", "window": "w"})
			r.add("2026-11-14 22:00:01", "tunnel.stopped", nil)
			r.add("2026-11-14 22:00:02", "daemon.stop", nil)
			r.add("2026-11-15 02:00:00", "daemon.start", nil)
			r.add("2026-11-15 02:01:00", "tunnel.up", nil)
		},
		up: month - 4*time.Hour - time.Minute, unplanned: time.Minute, planned: 4 * time.Hour,
		avail: pctOf(month-4*time.Hour-time.Minute, month-4*time.Hour),
		raw:   pctOf(month-4*time.Hour-time.Minute, month),
		outages: []outageWant{
			{"2026-11-14 22:00:00", "2026-11-15 02:00:00", true, ShutdownPlanned, 4 * time.Hour},
			{"2026-11-15 02:00:00", "2026-11-15 02:01:00", false, CauseStarting, time.Minute},
		},
		check: func(t *testing.T, rep *Report) {
			assert.Equal(t, "w", rep.Outages[0].Detail)
			assert.Equal(t, 120.0*60, rep.Days[13].PlannedS)
			assert.Equal(t, 120.0*60, rep.Days[14].PlannedS)
			assert.Equal(t, 100.0, *rep.Days[13].AvailabilityPct, "planned time is not unavailability")
			assert.Equal(t, 1, rep.Summary.PlannedOutages)
			assert.Equal(t, 1, rep.Summary.UnplannedOutages)
		},
	}, {
		name: "restart is planned, battery is not",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-02 03:00:00", KindPowerShutdown, map[string]any{"reason": "restart"})
			r.add("2026-11-02 03:02:00", "daemon.start", nil)
			r.add("2026-11-02 03:02:00", "tunnel.up", nil)
			r.add("2026-11-05 10:00:00", KindPowerShutdown, map[string]any{"reason": "battery"})
			r.add("2026-11-05 10:00:01", "tunnel.stopped", nil)
			r.add("2026-11-05 10:30:00", "daemon.start", nil)
			r.add("2026-11-05 10:30:00", "tunnel.up", nil)
		},
		up: month - 32*time.Minute, unplanned: 30 * time.Minute, planned: 2 * time.Minute,
		avail: pctOf(month-32*time.Minute, month-2*time.Minute), raw: pctOf(month-32*time.Minute, month),
		outages: []outageWant{
			{"2026-11-02 03:00:00", "2026-11-02 03:02:00", true, ShutdownRestart, 2 * time.Minute},
			{"2026-11-05 10:00:00", "2026-11-05 10:30:00", false, ShutdownBattery, 30 * time.Minute},
		},
	}, {
		name: "clean stop without a power.shutdown is unplanned; a power.shutdown after it makes the rest planned",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-03 09:00:00", "daemon.stop", nil)
			r.add("2026-11-03 09:10:00", "daemon.start", nil)
			r.add("2026-11-03 09:10:00", "tunnel.up", nil)
			r.add("2026-11-04 09:00:00", "daemon.stop", nil)
			r.add("2026-11-04 09:00:10", KindPowerShutdown, map[string]any{"reason": "planned"})
			r.add("2026-11-04 09:30:00", "daemon.start", nil)
			r.add("2026-11-04 09:30:00", "tunnel.up", nil)
		},
		up:        month - 40*time.Minute,
		unplanned: 10*time.Minute + 10*time.Second, planned: 30*time.Minute - 10*time.Second,
		avail: pctOf(month-40*time.Minute, month-30*time.Minute+10*time.Second), raw: pctOf(month-40*time.Minute, month),
		outages: []outageWant{
			{"2026-11-03 09:00:00", "2026-11-03 09:10:00", false, CauseStopped, 10 * time.Minute},
			{"2026-11-04 09:00:00", "2026-11-04 09:00:10", false, CauseStopped, 10 * time.Second},
			{"2026-11-04 09:00:10", "2026-11-04 09:30:00", true, ShutdownPlanned, 30*time.Minute - 10*time.Second},
		},
	}, {
		name: "failover without going down: counted, no outage",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-03 10:12:05", KindFailover, map[string]any{"from": "dc1", "to": "dc2", "reason": "dc1 is dead"})
			r.add("2026-11-03 11:17:40", KindFailback, map[string]any{"from": "dc2", "to": "dc1", "reason": "dc1 alive"})
			r.add("2026-11-04 11:00:00", KindFailbackTrial, map[string]any{"from": "dc2", "to": "dc1"})
		},
		up: month, avail: fp(100), raw: fp(100),
		check: func(t *testing.T, rep *Report) {
			require.Len(t, rep.Switches, 3)
			assert.Equal(t, Switch{Time: at(t, "2026-11-03 10:12:05"), Kind: "failover", From: "dc1", To: "dc2", Reason: "dc1 is dead"}, rep.Switches[0])
			assert.Equal(t, "failback_trial", rep.Switches[2].Kind)
			assert.Equal(t, 1, rep.Summary.Failovers)
			assert.Equal(t, 1, rep.Summary.Failbacks)
			assert.Equal(t, 1, rep.Days[2].Failovers)
			assert.Equal(t, 1, rep.Days[2].Failbacks)
			assert.Equal(t, 0, rep.Days[3].Failovers)
		},
	}, {
		name: "outage across midnight is split between the days",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-05 23:30:00", "tunnel.down", map[string]any{"reason": "dc1 does not answer"})
			r.add("2026-11-06 00:00:00", "tunnel.connecting", nil)
			r.add("2026-11-06 00:30:00", "tunnel.up", nil)
		},
		up: month - time.Hour, unplanned: time.Hour,
		avail: pctOf(month-time.Hour, month), raw: pctOf(month-time.Hour, month),
		outages: []outageWant{{"2026-11-05 23:30:00", "2026-11-06 00:30:00", false, CauseTunnelDown, time.Hour}},
		check: func(t *testing.T, rep *Report) {
			assert.Equal(t, 1800.0, rep.Days[4].UnplannedS)
			assert.Equal(t, 1800.0, rep.Days[5].UnplannedS)
			assert.Equal(t, "dc1 does not answer", rep.Outages[0].Detail, "one outage, with its first cause")
		},
	}, {
		name: "outages across both ends of the month",
		recs: func(r *recorder) {
			r.add("2026-10-31 23:00:00", "tunnel.down", nil)
			r.add("2026-11-01 01:00:00", "tunnel.up", nil)
			r.add("2026-11-30 23:00:00", "tunnel.down", nil)
			r.add("2026-12-01 01:00:00", "tunnel.up", nil)
		},
		now: "2026-12-02 00:00:00",
		up:  month - 2*time.Hour, unplanned: 2 * time.Hour,
		avail: pctOf(month-2*time.Hour, month), raw: pctOf(month-2*time.Hour, month),
		outages: []outageWant{
			{"2026-10-31 23:00:00", "2026-11-01 01:00:00", false, CauseTunnelDown, time.Hour},
			{"2026-11-30 23:00:00", "2026-12-01 01:00:00", false, CauseTunnelDown, time.Hour},
		},
		check: func(t *testing.T, rep *Report) {
			assert.Equal(t, 7200.0, rep.Outages[0].DurationS)
			assert.Equal(t, 3600.0, rep.Days[0].UnplannedS)
			assert.Equal(t, 3600.0, rep.Days[29].UnplannedS)
		},
	}, {
		name: "crash seen only in the next month still counts in this one",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-30 12:00:00", KindSelfCheckResult, map[string]any{"ok": true})
			r.add("2026-12-01 06:00:00", "daemon.start", nil)
			r.add("2026-12-01 06:01:00", "tunnel.up", nil)
		},
		now: "2026-12-02 00:00:00",
		up:  month - 12*time.Hour, unplanned: 12 * time.Hour,
		avail: pctOf(month-12*time.Hour, month), raw: pctOf(month-12*time.Hour, month),
		outages: []outageWant{{"2026-11-30 12:00:00", "2026-12-01 06:01:00", false, CauseCrash, 12 * time.Hour}},
	}, {
		name: "partial month: only up to now; an outage going on is ongoing",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-10 11:00:00", "tunnel.down", nil)
		},
		now: "2026-11-10 12:00:00",
		up:  9*day + 11*time.Hour, unplanned: time.Hour,
		avail: pctOf(9*day+11*time.Hour, 9*day+12*time.Hour), raw: pctOf(9*day+11*time.Hour, 9*day+12*time.Hour),
		outages: []outageWant{{"2026-11-10 11:00:00", "2026-11-10 12:00:00", false, CauseTunnelDown, time.Hour}},
		check: func(t *testing.T, rep *Report) {
			assert.True(t, rep.Partial)
			assert.True(t, rep.Outages[0].Ongoing)
			assert.Equal(t, at(t, "2026-11-10 12:00:00"), rep.Until)
			assert.Equal(t, 12*3600.0, rep.Days[9].ElapsedS)
			assert.False(t, rep.Days[9].Future)
			assert.True(t, rep.Days[10].Future)
			assert.Nil(t, rep.Days[10].AvailabilityPct)
			assert.Zero(t, rep.Days[29].ElapsedS)
		},
	}, {
		name: "month in the future: nothing counted",
		recs: func(r *recorder) { r.add("2026-10-01 00:00:00", "tunnel.up", nil) },
		now:  "2026-10-15 00:00:00",
		check: func(t *testing.T, rep *Report) {
			assert.True(t, rep.Partial)
			assert.Nil(t, rep.Summary.AvailabilityPct)
			assert.Zero(t, rep.Summary.ElapsedS)
			assert.True(t, rep.Days[0].Future)
			assert.Empty(t, rep.Timeline)
		},
	}, {
		name: "a day is a JST day: 15:00 to 15:00 UTC",
		recs: func(r *recorder) {
			r.addAt(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), "tunnel.up", nil)
			r.addAt(time.Date(2026, 11, 5, 14, 30, 0, 0, time.UTC), "tunnel.down", nil) // 23:30 JST on the 5th
			r.addAt(time.Date(2026, 11, 5, 15, 30, 0, 0, time.UTC), "tunnel.up", nil)   // 00:30 JST on the 6th
		},
		up: month - time.Hour, unplanned: time.Hour,
		avail: pctOf(month-time.Hour, month), raw: pctOf(month-time.Hour, month),
		outages: []outageWant{{"2026-11-05 23:30:00", "2026-11-06 00:30:00", false, CauseTunnelDown, time.Hour}},
		check: func(t *testing.T, rep *Report) {
			assert.Equal(t, "2026-11-05", rep.Days[4].Date)
			assert.Equal(t, time.Date(2026, 11, 4, 15, 0, 0, 0, time.UTC), rep.Days[4].Start.UTC())
			assert.Equal(t, 1800.0, rep.Days[4].UnplannedS)
			assert.Equal(t, 1800.0, rep.Days[5].UnplannedS)
		},
	}, {
		name: "the same records in a UTC site fall on one day",
		loc:  time.UTC,
		recs: func(r *recorder) {
			r.addAt(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), "tunnel.up", nil)
			r.addAt(time.Date(2026, 11, 5, 14, 30, 0, 0, time.UTC), "tunnel.down", nil)
			r.addAt(time.Date(2026, 11, 5, 15, 30, 0, 0, time.UTC), "tunnel.up", nil)
		},
		now: "2026-12-05 00:00:00",
		up:  month - time.Hour, unplanned: time.Hour,
		avail: pctOf(month-time.Hour, month), raw: pctOf(month-time.Hour, month),
		outages: []outageWant{{"2026-11-05 23:30:00", "2026-11-06 00:30:00", false, CauseTunnelDown, time.Hour}}, // in JST
		check: func(t *testing.T, rep *Report) {
			assert.Equal(t, "UTC", rep.TimeZone)
			assert.Equal(t, time.Date(2026, 11, 5, 14, 30, 0, 0, time.UTC), rep.Outages[0].Start)
			assert.Equal(t, 3600.0, rep.Days[4].UnplannedS)
			assert.Zero(t, rep.Days[5].UnplannedS)
		},
	}, {
		name: "a clock stepped back: the record counts at the previous record's time",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-10 12:00:00", KindSelfCheckResult, map[string]any{"ok": true})
			r.addAt(time.Unix(0, 0), "daemon.start", nil) // booted without an RTC
			r.add("2026-11-10 12:30:00", "tunnel.up", nil)
		},
		up: month - 30*time.Minute, unplanned: 30 * time.Minute,
		avail: pctOf(month-30*time.Minute, month), raw: pctOf(month-30*time.Minute, month),
		outages: []outageWant{{"2026-11-10 12:00:00", "2026-11-10 12:30:00", false, CauseStarting, 30 * time.Minute}},
	}, {
		name: "tunnel records while halted do not end a planned outage",
		recs: func(r *recorder) {
			r.add("2026-10-01 00:00:00", "tunnel.up", nil)
			r.add("2026-11-20 01:00:00", KindPowerShutdown, map[string]any{"reason": "planned"})
			r.add("2026-11-20 01:00:01", "tunnel.stopped", nil)
			r.add("2026-11-20 01:00:02", "tunnel.up", nil) // nonsense, ignored
			r.add("2026-11-20 02:00:00", "daemon.start", nil)
			r.add("2026-11-20 02:00:00", "tunnel.up", nil)
		},
		up: month - time.Hour, planned: time.Hour, avail: fp(100), raw: pctOf(month-time.Hour, month),
		outages: []outageWant{{"2026-11-20 01:00:00", "2026-11-20 02:00:00", true, ShutdownPlanned, time.Hour}},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{t: t}
			tc.recs(r)
			now := "2026-12-05 00:00:00"
			if tc.now != "" {
				now = tc.now
			}
			rep, err := Build("2026-11", r.source(), Options{Site: "s", Unit: "a", Now: at(t, now), Location: tc.loc})
			require.NoError(t, err)
			require.Len(t, rep.Days, 30)
			if tc.check == nil || tc.up+tc.unplanned+tc.planned+tc.nodata > 0 {
				s := rep.Summary
				assert.Equal(t, secs(tc.up), s.UpS, "up")
				assert.Equal(t, secs(tc.unplanned), s.UnplannedS, "unplanned")
				assert.Equal(t, secs(tc.planned), s.PlannedS, "planned")
				assert.Equal(t, secs(tc.nodata), s.NoDataS, "nodata")
				assert.Equal(t, tc.avail, s.AvailabilityPct, "availability")
				assert.Equal(t, tc.raw, s.RawAvailabilityPct, "raw availability")
				var got []outageWant
				for _, o := range rep.Outages {
					got = append(got, outageWant{o.Start.In(JST).Format(time.DateTime), o.End.In(JST).Format(time.DateTime),
						o.Planned, o.Cause, time.Duration(o.InMonthS * float64(time.Second))})
				}
				assert.Equal(t, tc.outages, got, "outages")
				// The days add up to the month.
				var up, el float64
				for _, d := range rep.Days {
					up += d.UpS
					el += d.ElapsedS
				}
				assert.InDelta(t, s.UpS, up, 0.01)
				assert.InDelta(t, s.ElapsedS, el, 0.01)
			}
			if tc.check != nil {
				tc.check(t, rep)
			}
		})
	}
}

func TestBuildTimeSyncAndSelfCheck(t *testing.T) {
	// Through a real journal, so the fields are what JSON gives back
	// (float64, []any), and through its Range.
	j, err := journal.Open(filepath.Join(t.TempDir(), "j"), journal.Options{NoSync: true, Now: func() time.Time { return clock }})
	require.NoError(t, err)
	defer j.Close()
	add := func(when, kind string, f map[string]any) {
		clock = at(t, when)
		_, err := j.Append(kind, kind, f)
		require.NoError(t, err)
	}
	add("2026-10-31 03:00:00", KindTimeSyncCheck, map[string]any{"ok": false, "offset_ms": 9000.0}) // October: not counted
	add("2026-11-01 03:00:00", KindTimeSyncCheck, map[string]any{"ok": true, "offset_ms": 1.5, "server": "ntp1", "stratum": 2})
	add("2026-11-02 03:00:00", KindTimeSyncCheck, map[string]any{"ok": false, "offset_ms": -2100.25, "server": "ntp2", "stratum": 3})
	add("2026-11-02 04:00:00", KindSelfCheckResult, map[string]any{"ok": false, "failed": []string{"wan_link", "ntp"}})
	add("2026-11-03 03:00:00", KindTimeSyncCheck, map[string]any{"ok": false, "server": "ntp1"}) // no answer
	add("2026-11-03 04:00:00", KindSelfCheckResult, map[string]any{"ok": true, "failed": []string{}})
	add("2026-11-07 10:00:00", KindOutagePlanned, map[string]any{"id": "PM-1", "start": "2026-11-14T13:00:00Z", "end": "bogus"})

	rep, err := Build("2026-11", j.Range, Options{Now: at(t, "2026-12-01 00:00:00")})
	require.NoError(t, err)
	ts := rep.TimeSync
	assert.Equal(t, 3, ts.Checks)
	assert.Equal(t, 2, ts.Failures)
	assert.Equal(t, 1, ts.Unparsed)
	require.NotNil(t, ts.Worst)
	assert.Equal(t, -2100.25, ts.Worst.OffsetMs)
	assert.Equal(t, "ntp2", ts.Worst.Server)
	assert.Equal(t, 3, ts.Worst.Stratum)
	assert.Len(t, ts.Failed, 2)
	assert.Equal(t, 2, rep.SelfChecks.Checks)
	assert.Equal(t, 1, rep.SelfChecks.Failures)
	assert.Equal(t, []SelfCheckRun{{Time: at(t, "2026-11-02 04:00:00"), Failed: []string{"wan_link", "ntp"}}}, rep.SelfChecks.Failed)
	assert.Equal(t, []PlannedWindow{{Announced: at(t, "2026-11-07 10:00:00"), ID: "PM-1", Start: "2026-11-14T22:00:00+09:00", End: "bogus"}}, rep.Announced)
	assert.Equal(t, StateNoData, State("nodata"))
	assert.Nil(t, rep.Summary.AvailabilityPct, "no tunnel records: no data")
}

var clock time.Time

func TestBuildErrors(t *testing.T) {
	src := (&recorder{t: t}).source()
	_, err := Build("2026-13", src, Options{Now: time.Now()})
	assert.ErrorIs(t, err, ErrBadMonth)
	assert.ErrorContains(t, err, `"2026-13"`)
	_, err = Build("2026-11", src, Options{})
	assert.ErrorContains(t, err, "Now")
	boom := errors.New("disk on fire")
	_, err = Build("2026-11", func(from, to time.Time, fn func(journal.Record) error) error { return boom }, Options{Now: time.Now()})
	assert.ErrorIs(t, err, boom)
	assert.ErrorContains(t, err, "report 2026-11")
}

func TestPct(t *testing.T) {
	assert.Nil(t, pct(0, 0))
	assert.Equal(t, 100.0, *pct(5, 5))
	assert.Equal(t, 99.999, *pct(30*day-time.Nanosecond, 30*day), "below 100 stays below 100")
	assert.Equal(t, 99.997, *pct(30*day-60*time.Second, 30*day), "rounded down: 99.99768…")
	assert.Equal(t, 50.0, *pct(1, 2))
}

func TestParseMonth(t *testing.T) {
	s, e, err := ParseMonth("2026-11")
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 11, 1, 0, 0, 0, 0, JST), s)
	assert.Equal(t, time.Date(2026, 12, 1, 0, 0, 0, 0, JST), e)
	assert.Equal(t, time.Date(2026, 10, 31, 15, 0, 0, 0, time.UTC), s.UTC())
	s, e, err = ParseMonth("2026-12")
	require.NoError(t, err)
	assert.Equal(t, time.Date(2027, 1, 1, 0, 0, 0, 0, JST), e)
	assert.Equal(t, 31*day, e.Sub(s))
	for _, bad := range []string{"", "2026-1", "2026-00", "2026-13", "26-11", "2026/11", "2026-11-01", "１２３４-11", "+026-11", "1999-12", "2026-1x"} {
		_, _, err := ParseMonth(bad)
		assert.ErrorIs(t, err, ErrBadMonth, bad)
		assert.ErrorContains(t, err, `"`+bad+`"`)
	}
	assert.Equal(t, "2026-11", PreviousMonth(time.Date(2026, 12, 1, 0, 0, 0, 0, JST), nil))
	assert.Equal(t, "2026-11", PreviousMonth(time.Date(2026, 11, 30, 15, 0, 0, 0, time.UTC), nil), "already 1 December in JST")
	assert.Equal(t, "2026-10", PreviousMonth(time.Date(2026, 11, 30, 14, 59, 0, 0, time.UTC), nil))
	assert.Equal(t, "2025-12", PreviousMonth(time.Date(2026, 1, 15, 0, 0, 0, 0, JST), nil))
}
