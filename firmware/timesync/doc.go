// Package timesync checks the box's clock: it asks NTP servers (normally
// in the cloud, reached through the tunnel) for the time with a small SNTP
// client of its own (RFC 4330, client mode of RFC 5905), reads the
// kernel's own synchronisation state (adjtimex), and judges the clock good
// when the offset is within the configured limit.
//
// [Query] is one SNTP exchange over any [DialFunc], so it works on the
// kernel's stack (net.Dialer) and through wireguard-go's netstack
// ((*netstack.Net).DialContext). Replies are untrusted input: [Decode]
// parses, [Validate] rejects what a client must not believe (wrong mode,
// an origin timestamp that is not ours, kiss-of-death, stratum outside
// 1–15, leap indicator 3 "unsynchronised").
//
// [Checker] is the daemon's job: it checks every interval and emits
//
//	timesync.check     every check: ok, offset_ms, server, stratum, system_synced
//	                   (and error when no server answered)
//	timesync.degraded  the clock became bad (or is bad at the first check)
//	timesync.ok        the clock became good again after timesync.degraded
//
// offset_ms, like api.TimeSync.Offset, is our clock minus the server's
// (positive: our clock is ahead); [Result.Offset] is NTP's sign, the
// server's minus ours.
//
// # Verdict
//
//	a server answered      → ok ⇔ |offset| ≤ max_offset and the kernel says synchronised
//	no server answered     → ok ⇔ the kernel says synchronised
//	no servers configured  → ok ⇔ the kernel says synchronised
//
// A good offset with an unsynchronised kernel is not ok: nothing keeps
// the clock right (no chronyd or systemd-timesyncd), and it will drift.
package timesync
