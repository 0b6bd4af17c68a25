// Package selfcheck looks the box over: the daily self-check (seed row 27)
// and the fault isolation behind `shisactl diagnose` (rows 32–33).
//
// Both read the same facts ([Gather]) through [Inputs], whose fields are
// interfaces and functions so tests pass fakes: the links and default
// route from a netctl.Inspector, the tunnel's status from the supervisor,
// the last time-sync check, the state directory's free space, the board's
// thermal zones and the UPS.
//
// [Run] turns the facts into an api.SelfCheck, one api.CheckItem each:
//
//	lan_link, wan_link   the port is up and has carrier
//	default_route        a default route leaves by the WAN port; its gateway has not failed ARP
//	endpoint:NAME        the supervisor judges the datacenter endpoint alive (probes and handshake age)
//	probe:NAME           the probes through the tunnel to it are answered
//	ntp                  the last time-sync check was good
//	free_space           the state directory's file system has min_free_bytes free
//	temperature          the hottest thermal zone is at most max_temperature (skipped without sensors)
//	ups                  the UPS is on mains and its data current (skipped without a UPS)
//
// A skipped item is OK with a Detail starting "skipped: " (see [Skipped]).
//
// [Diagnose] walks the path from the office to the datacenter in order and
// names the first broken segment in one sentence, English and Japanese,
// with what to check, and the evidence under it ([Explain] is the
// decision alone, on facts):
//
//	lan → wan → route → tunnel → datacenter → keys → clock
//
// Evidence from further along overrides a doubtful earlier segment only
// where it proves it: a datacenter endpoint alive proves the route (a
// closed network may have no default route), and a handshake that never
// completed while the clock is known to be wrong is blamed on the clock
// (WireGuard rejects a handshake whose timestamp is older than the last
// one it accepted).
//
// [Scheduler] is the daily job: it runs the self-check at self_check.at in
// the site's time zone and emits
//
//	selfcheck.result   ok, failed (names of the failed items), details (their evidence)
package selfcheck
