package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

func TestPrintStatusPair(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	st := &api.Status{Site: "iwata", Unit: "b", Version: "v1", Role: "standby", Backend: "tun", Interface: "wg-shisa",
		Tunnel: tunnel.Status{State: tunnel.Stopped, Active: "dc1", Endpoints: []tunnel.EndpointStatus{{Name: "dc1", Health: tunnel.Alive, Active: true}}},
		Pair: &ha.Status{
			MachineStatus: ha.MachineStatus{Role: ha.Standby, Since: now.Add(-2 * time.Minute), Reason: "standby: peer a is active",
				Priority: 100, Effective: 100, Health: ha.HealthOK,
				Peer: &ha.PeerStatus{UnitID: "a", Alive: true, Role: ha.Active, Priority: 200, Effective: 200, Health: ha.HealthOK, AgeMs: 4}},
			Sent: 100, Received: 98, Rejected: map[string]uint64{"forged": 2, "replayed": 0},
		}}
	var b bytes.Buffer
	printStatus(&b, st, now)
	out := b.String()
	for _, want := range []string{
		"pair      STANDBY for 2m00s, priority 100, health wan,tunnel,dc,lan",
		"because standby: peer a is active",
		"peer      a ACTIVE, priority 200 (effective 200), health wan,tunnel,dc,lan, last heartbeat 4ms ago",
		"heartbeats sent 100, accepted 98, refused: forged 2",
		"tunnel    held by the active unit (this one is standby",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "ENDPOINT", "a standby's endpoint figures are stale: not shown")

	// A sick active whose peer is silent.
	st.Role, st.Pair.Role, st.Pair.Effective, st.Pair.Health = "active", ha.Active, 0, ha.HealthTunnel|ha.HealthDC|ha.HealthLAN
	st.Pair.Peer.Alive = false
	st.Pair.Peer.AgeMs = 65000
	st.Tunnel.State = tunnel.Up
	b.Reset()
	printStatus(&b, st, now)
	out = b.String()
	for _, want := range []string{
		"pair      ACTIVE for 2m00s, priority 100 (effective 0), health !wan,tunnel,dc,lan",
		"peer      a SILENT",
		"last heartbeat 1m05s ago",
		"ENDPOINT",
	} {
		assert.Contains(t, out, want)
	}
}
