// Package ha elects which of the two units of a hot-standby pair is
// active: the active holds the LAN virtual IP and the tunnel, the standby
// takes both over when the active goes silent or sick. It decides; the
// daemon does the work through the Actions it passes in (netctl adds the
// address, sends gratuitous ARP, brings the tunnel up).
//
// # Heartbeats
//
// Each unit sends a heartbeat every Interval (10 ms by default) by UDP
// unicast to the peer's LAN address: role, configured and effective
// priority, health bits, a boot id drawn at random per start, a sequence
// number and an HMAC-SHA256 (truncated to 16 bytes) keyed by the pair
// secret; see Encode for the layout. A packet that does not decode, whose
// MAC is wrong, that carries this unit's own id, or that the ReplayGuard
// has seen before is dropped and counted by reason (Status.Rejected) and
// reported at most every RejectEvery as an ha.rejected event.
//
// # States
//
//	  ┌──── no peer for the dead time, or this unit wins (eligible) ────┐
//	  │                                                                  ▼
//	init ── peer active, or the peer wins ──▶ standby ───takeover───▶ active
//	                                             ▲                       │
//	                                             └──split brain lost,────┘
//	                                                handover done
//
//	any ── no step for longer than the dead time ──▶ frozen
//	frozen ── peer heard afresh for one interval ──▶ standby
//	frozen ── no peer for a fresh dead time ──▶ standby ──takeover──▶ active
//
// A takeover happens when the peer is silent for the dead time, when it is
// sick or ineligible and this unit outranks it (tracking), when it hands
// over, or — with preemption on — when this unit has outranked it for the
// preempt delay, or when the peer is not active and this unit wins.
//
// Init listens for one dead time (DeadMultiplier×Interval); frozen means
// this unit's own view is stale: it drops what it knew of the peer, gives
// up the active role (the peer has most likely taken over while it was
// stopped) and does not act again until it has heard the peer for one
// interval afresh, or a whole dead time has passed without a heartbeat.
//
// # The election
//
// A unit may become active only when eligible: WAN link, tunnel and LAN
// link up (for a standby, "tunnel up" means it could bring it up). An
// active unit whose LAN link goes down steps down at once, heard peer or
// not: it can serve no one, and its tunnel would only fight the peer's for
// the datacenter's endpoint. A unit that becomes eligible again (a cable
// plugged back) does not take over on the silence it heard while it was
// cut off: like a unit starting, it listens for a dead time first. Between two
// units, the order is: eligible first, then the one not handing over,
// then the higher effective priority (the configured one lowered by
// TrackPenalty per failing check, or to 0), then the unit id that sorts
// first bytewise. A standby takes over from a live active when:
//
//   - the active is ineligible, or sick while this unit is healthy
//     (tracking), and this unit outranks it;
//   - the active hands over (manual handover, or its election stopping);
//   - preemption is on, this unit outranks the active, and it has for
//     PreemptDelay.
//
// When both are broken, neither outranks the other on eligibility and the
// current active stays: a standby never takes over while ineligible.
//
// Split brain (the LAN broke and both went active): when heartbeats
// resume, the unit that loses the order steps down as soon as it hears
// the winner (within one interval), and the winner calls Announce so the
// office hosts' ARP caches point at it again; it announces once more when
// it hears the loser as standby.
//
// # Layers
//
// Machine is the election as a pure state machine: inputs carry the time
// and return Outputs (actions and events). Node runs it: the heartbeat
// loop over a Transport (UDP on the LAN, or hatest's fake pair), the
// ReplayGuard, the Actions applied from a goroutine of their own (a slow
// netlink call or GARP never delays a heartbeat) and events delivered
// likewise.
package ha
