// Package power keeps the box alive through power cuts: it shuts the box
// down safely before the UPS runs dry or before a planned outage, arranges
// its return, and reports after the next boot that it is back, how long it
// was gone and why.
//
// # The state machine
//
// [Machine] watches a [hal.UPS] and a [Schedule] of planned outage windows:
//
//	              mains back (cancel)
//	     ┌──────────────────────────────────┐
//	     ▼                                  │
//	┌────────┐  on battery (fresh)   ┌────────────┐
//	│ online │──────────────────────▶│ on_battery │
//	└────────┘                       └────────────┘
//	  │   │                            │        │ grace expires
//	  │   │ low battery, FSD,          │        │ (reason battery)
//	  │   │ stale while on battery     │        │
//	  │   │ (hal's Lost rule) ─────────┼────────┤ low battery, FSD, stale
//	  │   │ planned window − lead,     │        │
//	  │   │ scheduled or asked restart │        │
//	  │   ▼                            ▼        ▼
//	  │  ┌───────────────────────────────────────┐
//	  └─▶│ shutting_down (the Sequencer runs)    │ mains back: finishes anyway
//	     └───────────────────────────────────────┘
//	                      │ power off accepted (or refused twice)
//	                      ▼
//	                 ┌────────┐
//	                 │ halted │ (the process is killed by the shutdown)
//	                 └────────┘
//
// A flicker shorter than Options.Grace does nothing but two events. A stale
// UPS while online (NUT server lost, DATA-STALE) shuts nothing down. Every
// transition is a power.state event with its cause.
//
// # The race: mains back after the shutdown began
//
// Once started, the sequence always finishes: stopping half-way would leave
// the tunnel down and the UPS possibly armed. The return is then decided at
// the arm step with a fresh read of the UPS:
//
//   - armed, and mains absent or the UPS cuts a load that has mains
//     (CanCutWithMains): halt; the UPS cuts the load after OffDelay and
//     restores it after OnDelay (OffDelay < OnDelay), so the box boots;
//   - arming failed (hal.ErrArmUnsupported or any error), no UPS, or mains
//     present with a UPS that cannot cut it (contact closure): power off
//     with an RTC wake after RebootAfter (a planned window: at its end), and
//     where the board has no wake alarm (hal.ErrNoWakeAlarm) reboot at
//     once. The box never stays off with mains present.
//
// The price of that rule on a board with neither an armable UPS nor an RTC:
// a box that rebooted while still on battery comes back on battery and
// shuts down again (after the grace, or at once on low battery) until
// mains returns or the battery is empty. Back inside a planned window after
// such a reboot, the machine does not shut down for that window again: it
// stays up, rides the real cut on the UPS like an unplanned one, and closes
// the window at its end.
//
// # The safe-shutdown sequence
//
// [Sequencer] runs, each step under a deadline and the whole inside a
// budget, best effort (a failed or timed-out step is journaled as
// power.step_failed and the next one runs):
//
//  1. journal the reason: the power.shutdown event, the crash-safe
//     [Record] (atomicfile), then Steps.Journal;
//  2. Steps.Notify: tell the datacenter (event and health state);
//  3. Steps.TunnelDown: take the tunnel down cleanly;
//  4. Steps.Flush: flush and fsync state;
//  5. arm the return (see above);
//  6. power off through hal.Power.
//
// A delay inhibitor (hal.ShutdownInhibitor) is held from step 1 until just
// before step 6. "Safe to cut" (power.safe_to_cut, with safe_to_cut_s from
// the trigger) is reported only when the flush and the arm succeeded;
// [Report] holds it and the total.
//
// # After boot
//
// Machine.Run first reads the Record left before the power-off, reports
// power.back ([Back]: gone_s, reason, window), removes the Record, and
// closes (outage.closed) the windows that ended while the box was off.
//
// # Planned outages
//
// A [Window] has a start and an end in the site's time zone. [Schedule]
// stores them atomically (JSON), refuses windows in the past, ending before
// they start, or overlapping another, and announces each new one
// (outage.planned). The machine shuts down Options.Lead before the start
// (reason planned), arms the return for the end (UPS on-delay reaching the
// end, and an RTC wake at the end), and closes the window after the box
// comes back. A window cancelled before its start does nothing. A restart
// window (Window.Restart) runs the same sequence at its start with reason
// restart and an immediate return (reboot).
//
// Event kinds and shutdown reasons are those of firmware/report, plus the
// Kind… constants here.
package power
