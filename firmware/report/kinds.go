package report

// Journal kinds the report reads. The tunnel and daemon kinds are written
// by firmware/tunnel and firmware/daemon; the others are defined here so
// that the packages that write them and this report agree on the names.
const (
	KindDaemonStart    = "daemon.start"   // shisad started
	KindDaemonStop     = "daemon.stop"    // shisad stopped cleanly
	KindTunnelStart    = "tunnel.start"   // the supervisor starts connecting
	KindTunnelUp       = "tunnel.up"      // the tunnel carries traffic
	KindTunnelDown     = "tunnel.down"    // no endpoint alive; field reason
	KindTunnelStopped  = "tunnel.stopped" // the supervisor stopped
	KindTunnelConnect  = "tunnel.connecting"
	KindFailover       = "tunnel.failover" // fields from, to, reason
	KindFailback       = "tunnel.failback"
	KindFailbackTrial  = "tunnel.failback_trial"
	KindFailbackFailed = "tunnel.failback_failed"

	// KindTimeSyncCheck is one NTP check. Fields: ok (bool), offset_ms
	// (number, signed), server (string), stratum (number).
	KindTimeSyncCheck = "timesync.check"
	// KindSelfCheckResult is one run of the daily self-check. Fields: ok
	// (bool), failed ([]string, the names of the failed checks).
	KindSelfCheckResult = "selfcheck.result"
	// KindAcceptanceResult is one acceptance check (動作確認) of a unit
	// put in service. Fields: ok (bool), failed ([]string), items
	// ([]api.CheckItem, the whole report), took_s (number).
	KindAcceptanceResult = "acceptance.result"
	// KindPowerShutdown is written before the box powers itself off.
	// Fields: reason (one of the Shutdown… values), window (string, the
	// planned window, for ShutdownPlanned). Reasons ShutdownPlanned and
	// ShutdownRestart start a planned outage; the others an unplanned one.
	KindPowerShutdown = "power.shutdown"
	// KindPowerBack is written after the box came back from a
	// power.shutdown. Fields: gone_s (number), reason (string), window
	// (string, the planned window, when there was one). The report does not
	// need it: the daemon.start before it ends the outage.
	KindPowerBack = "power.back"
	// KindOutagePlanned announces a planned outage window. Fields: id
	// (string), start and end (RFC 3339 strings).
	KindOutagePlanned = "outage.planned"
	// KindOutageClosed closes a planned window after the box came back (or
	// after it ended while the box was up). Fields: id, start, end (RFC
	// 3339), reason, shutdown (bool: the box went down for it).
	KindOutageClosed = "outage.closed"
	// KindOutageCancelled is a window cancelled. Fields: id, start, end.
	KindOutageCancelled = "outage.cancelled"
	// KindPowerState is a transition of the power state machine. Fields:
	// from, to (state names), cause.
	KindPowerState = "power.state"
	// KindPowerStepFailed is a shutdown step that failed or timed out.
	// Fields: step, error, timeout (bool), elapsed_s.
	KindPowerStepFailed = "power.step_failed"
	// KindPowerSafe is written when state is flushed and the return armed.
	// Fields: safe_to_cut_s, reason, return.
	KindPowerSafe = "power.safe_to_cut"
	// KindPowerOffFailed is written when the power-off was refused. Fields:
	// error, return.
	KindPowerOffFailed = "power.poweroff_failed"
	// KindPowerUnavailable says part of the power job cannot work: no
	// power controller (no systemd over D-Bus), or the configured UPS
	// source could not be opened. Fields: what ("controller", "ups"),
	// error.
	KindPowerUnavailable = "power.unavailable"
	// KindSpareStart: shisad started with no site installed, as a spare.
	// Fields: box, ready (bool), version.
	KindSpareStart = "spare.start"
	// KindSparePrepared: `spare prepare` wiped the site and ran the bench
	// self-test. Fields: site and unit (the site removed), serial, box,
	// ok (bool), failed ([]string), items ([]api.CheckItem), recipient.
	KindSparePrepared = "spare.prepared"
	// KindSpareActivated: a site pack was installed on a spare. Fields:
	// site, serial, from (the box that exported it, or "datacenter"),
	// signer (fingerprint), box, sealing.
	KindSpareActivated = "spare.activated"
	// KindSpareRefused: a spare refused a site pack (or the button found
	// none); the message says why. Nothing was changed.
	KindSpareRefused = "spare.refused"
)

// Reasons of a power.shutdown record (field "reason").
const (
	ShutdownPlanned    = "planned"     // a planned outage window (starts planned time)
	ShutdownRestart    = "restart"     // a scheduled restart (starts planned time)
	ShutdownBattery    = "battery"     // mains lost, on UPS battery
	ShutdownLowBattery = "low_battery" // UPS battery low
	ShutdownFSD        = "fsd"         // UPS forced shutdown
)

// Causes of an outage (Outage.Cause, Segment.Cause).
const (
	CauseCrash         = "crash"          // box off or crashed: no record until the next daemon.start
	CauseStopped       = "stopped"        // shisad stopped (daemon.stop) without a power.shutdown
	CauseStarting      = "starting"       // from daemon.start until tunnel.up
	CauseConnecting    = "connecting"     // tunnel.start or tunnel.connecting
	CauseTunnelDown    = "tunnel_down"    // tunnel.down: no datacenter endpoint answers
	CauseTunnelStopped = "tunnel_stopped" // tunnel.stopped while shisad ran on
	CausePower         = "power"          // power.shutdown with an unknown reason
	// A power.shutdown's reason (planned, restart, battery, low_battery,
	// fsd) is its outage's cause.
)
