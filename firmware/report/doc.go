// Package report derives the monthly operation report (稼働報告書) of one
// site's box from its journal: tunnel availability, planned and unplanned
// outages, failovers, time-sync checks and self-checks, day by day, and
// renders it as JSON, CSV and a printable HTML page (Japanese by default).
//
// # The month and the day
//
// A month and its days are calendar periods in the site's time zone
// (Options.Location, JST by default): November 2026 in JST is
// [2026-11-01T00:00+09:00, 2026-12-01T00:00+09:00), and each day runs from
// 00:00 to 24:00 JST, which is 15:00 to 15:00 UTC of the day before. All
// intervals are half-open [start, end). Only time before Options.Now counts:
// the rest of a month not over yet (or a month in the future) is "future"
// and is in no figure; such a report is marked partial.
//
// # The tunnel's state, from the journal
//
// Build reads the journal in sequence order, from before the month (the
// state on the 1st at 00:00 is the state left by the last record before it,
// which on a quiet box may be months old; see Options.Lookback) up to
// Options.Now (so that a crash near the end of the month is seen as one
// when the box comes back in the next month). A record whose time is
// earlier than the record before it (a clock stepped back, a box without an
// RTC booting in 1970) is taken to have happened at the earlier record's
// time. Every instant is in exactly one state:
//
//	           tunnel.up
//	down ─────────────────────▶ up
//	 ▲   ◀─────────────────────  │  tunnel.down, tunnel.connecting,
//	 │                           │  tunnel.start, tunnel.stopped
//	 │                           ├─ daemon.stop ───────────────────▶ down (stopped)   ┐
//	 │ daemon.start              ├─ power.shutdown planned|restart ▶ planned          ├ halted
//	 │ (down, cause starting)    └─ power.shutdown other reasons ──▶ down (power)     ┘
//	 └──────────────────────────── halted
//
// In words:
//
//   - up: from tunnel.up to the next tunnel.down, tunnel.connecting,
//     tunnel.start, tunnel.stopped, daemon.stop, daemon.start or
//     power.shutdown.
//   - down (unplanned): the tunnel is not up and no planned outage is in
//     progress. Its cause is the event that ended "up" (tunnel_down with the
//     supervisor's reason, connecting, tunnel_stopped, stopped, battery,
//     low_battery, fsd, power) or, after a daemon.start, starting until the
//     tunnel is up.
//   - crash: a daemon.start that no daemon.stop or power.shutdown preceded
//     means the box was switched off or crashed: the time from the last
//     record of any kind before that start up to the start is unplanned
//     down with cause crash ("box off or crashed"), whatever state the
//     records before had implied. Periodic records (time-sync checks,
//     self-checks) narrow this gap.
//   - planned: from a power.shutdown with reason planned or restart to the
//     next daemon.start. The boot after it, until tunnel.up, is unplanned
//     (cause starting), as the rule is written: a box that does not bring
//     its tunnel back is not on planned time.
//   - halted: after daemon.stop or power.shutdown and until the next
//     daemon.start, tunnel records do not change the state (the supervisor
//     writes tunnel.stopped on its way out); a power.shutdown after a
//     daemon.stop still marks the rest of the gap planned or power.
//   - nodata: before the first state record (tunnel.*, daemon.*,
//     power.shutdown) that Build read: a unit new to the site, or a journal
//     that lost its oldest records. Nodata time is counted on its own and
//     is left out of both availability figures.
//
// Other kinds (endpoint.*, daemon.healthy, daemon.safe_mode,
// watchdog.stuck, timesync.check, selfcheck.result, power.back,
// outage.planned) never change the state; they only prove the box was alive
// at their time (see crash).
//
// # Figures
//
// For the month and for each day, over the elapsed time (not future):
//
//	elapsed      = up + unplanned + planned + nodata
//	availability = up / (elapsed − planned − nodata)   "excluding planned outages"
//	raw          = up / (elapsed − nodata)             "all time"
//
// Excluding announced, planned outages from the denominator is the custom
// of availability reports; both figures are shown. A percentage is rounded
// down to three decimals, so 100 % means no second of unplanned down time;
// with no measured time (a future day) it is null. Durations are seconds,
// rounded to the millisecond.
//
// Outages are the maximal runs of down (unplanned) or planned time that
// overlap the month; each is listed with its whole start and end (which may
// lie outside the month), its duration, the part inside the month, planned
// or not, and the cause of its first instant. An outage still going on at
// Now is marked ongoing and ends at Now.
//
// Switches are the tunnel.failover, tunnel.failback, tunnel.failback_trial
// and tunnel.failback_failed records of the month; Failovers counts
// tunnel.failover and Failbacks counts tunnel.failback. Time sync counts
// timesync.check records, those with ok false, and the largest absolute
// offset_ms. Self-checks count selfcheck.result records and list the
// failed items of those with ok false. Announced windows are the
// outage.planned records of the month.
//
// # Formats
//
// JSON is the Report struct. CSV is UTF-8 with a byte-order mark (so Excel
// in a Japanese office detects UTF-8 instead of Shift_JIS), CRLF line ends,
// one row per day, a total row, then key/value summary rows. HTML is one
// self-contained page (inline CSS and SVG, no external assets) that prints
// on A4, with a day-by-day timeline: one row per day, 24 hours across, up
// green, unplanned down red, planned grey, no data hatched.
package report
