// Package watchdog keeps the box alive only while it is well: it collects
// named liveness checks from each job, speaks sd_notify to systemd (READY,
// WATCHDOG, STATUS, STOPPING) and pets the hardware watchdog
// (/dev/watchdog).
//
// The watchdog is petted only after every check has reported in, never
// from a ticker that runs whatever the jobs are doing. watchdog never
// imports firmware.
//
// # Checks
//
// A job registers a named [Check] with a deadline and calls [Check.Report]
// from its own loop, at the point that proves the loop turns (not from a
// helper goroutine or ticker of its own). A check is fresh while its last
// report, or its registration if it never reported, is at most its
// deadline old, measured on the monotonic clock so that a step of the wall
// clock can neither fake freshness nor fake a hang. A job that ends on
// purpose calls [Check.Unregister].
//
// # Petting
//
// [Supervisor.Run] evaluates the checks every interval. When all are fresh
// it pets: WATCHDOG=1 to the [Notifier] (systemd) and a keepalive to the
// [Device] (/dev/watchdog), whichever are configured. When any is stale it
// withholds the pet, so systemd or the hardware resets the box within its
// timeout unless the check recovers first. Each check moves through
//
//	fresh ──no report for > deadline──▶ stuck ──reports again──▶ fresh
//	  │      (log "check stuck",          │      (log "check recovered")
//	  │       OnStuck, pets withheld)     │
//	  └──────────Unregister──────▶ gone ◀─┘
//
// and the stuck transition is logged and handed to Options.OnStuck in the
// same tick that first withholds the pet, so the stuck job is named in the
// journal before the reset: the reset comes no earlier than the watchdog
// timeout after the last pet. A stuck episode is reported once, however
// long it lasts; when every check is fresh again the supervisor logs that
// pets resumed.
//
// # Stopping
//
// When Run's context ends it sends STOPPING=1 and closes the device with
// the magic close ('V'), which disarms drivers that support it, so that a
// clean stop does not reset the box. If a check is stale at that moment
// the stop is not clean: the device is closed without the magic close and
// stays armed.
//
// # Seams
//
// [Notifier] is the sd_notify seam ([SystemdNotifier] is the real one);
// [Device] is the supervisor's view of a hardware watchdog and [DeviceFile]
// the OS seam under [HardwareDevice], the Linux watchdog API driver. The
// fakes live in package watchdogtest.
package watchdog
