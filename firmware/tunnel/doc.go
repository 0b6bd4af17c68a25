// Package tunnel supervises the site's WireGuard tunnel to the datacenter:
// it brings the tunnel up, judges every datacenter endpoint alive or dead
// from ICMP probes sent through the tunnel and from handshake age, moves the
// cloud's routes to the next endpoint when the active one dies, and fails
// back to the preferred endpoint only after it has stayed alive for a
// hold-down, so that a flapping endpoint never makes the site flap.
//
// # Layouts
//
// Distinct keys (several datacenter devices): every endpoint is its own
// WireGuard peer whose allowed IPs hold its probe address as a /32, so every
// endpoint is probed all the time through its own session (the active one
// every interval, the standby ones every second interval). The cloud's
// routes are allowed IPs of the active peer only; a failover is one
// WireGuard configuration change that moves them, with no kernel route
// change and no new handshake (the standby peer's session is kept warm by
// its probes).
//
// Shared key (one datacenter device behind several front doors): there is a
// single peer, and a failover changes its endpoint address. Only the
// current front door can be observed, so a failback is a trial: after the
// hold-down the supervisor moves to the preferred front door and returns at
// once to the one that worked if the preferred one does not answer within
// the miss budget; each failed trial doubles the next hold-down (up to 16×).
//
// # Endpoint health
//
//	unknown ──probe ok──────▶ alive ──probe miss×misses──▶ dead
//	   │                         ▲  or handshake older         │
//	   └──probe miss×misses──▶ dead ◀─ than handshake_timeout  │
//	                             └──────probe ok×rise──────────┘
//
// # Tunnel state
//
//	connecting ──active endpoint alive──▶ up ──no endpoint alive──▶ down
//	     │                                 ▲                          │
//	     └──────no endpoint alive─────────────────────────────────────┘
//	                                       └──an endpoint alive───────┘
//
// Every change of endpoint health and of the tunnel's state or active
// endpoint is an event (see [EventLog]) with its cause and figures.
package tunnel
