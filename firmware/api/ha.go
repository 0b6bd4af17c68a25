package api

import (
	"bytes"
	"context"
	"net/http"
	"slices"

	"github.com/VictoriaMetrics/metrics"

	"github.com/shisa-gw/shisa/firmware/ha"
)

// Handoverer moves the active role of a hot-standby pair to the peer.
type Handoverer interface {
	// Handover starts (on) or clears (off) a manual handover. It fails
	// when this box has no pair, is not active, or its peer is not alive
	// and eligible; the message says which.
	Handover(on bool) error
}

// HandoverAnswer is the answer to POST and DELETE /v1/ha/handover.
type HandoverAnswer struct {
	Handover bool   `json:"handover"`
	Message  string `json:"message"`
}

// haRoutes adds the pair's routes when b can hand over:
//
//	POST   /v1/ha/handover   hand the active role to the peer
//	DELETE /v1/ha/handover   clear the handover (this unit may preempt again)
func haRoutes(mux *http.ServeMux, b Backend) {
	h, ok := b.(Handoverer)
	if !ok {
		mux.HandleFunc("/v1/ha/handover", notBuilt("the hot-standby handover"))
		return
	}
	serve := func(on bool, msg string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if !noParams(w, r) {
				return
			}
			if err := h.Handover(on); err != nil {
				writeError(w, http.StatusConflict, err.Error())
				return
			}
			writeJSON(w, http.StatusOK, HandoverAnswer{Handover: on, Message: msg})
		}
	}
	mux.HandleFunc("POST /v1/ha/handover", serve(true, "handing the active role over to the peer; this unit steps down when the peer is active"))
	mux.HandleFunc("DELETE /v1/ha/handover", serve(false, "handover cleared; this unit may take the active role again"))
}

// Handover asks the daemon to hand the active role to the peer (on) or
// clears a handover (off).
func (c *Client) Handover(ctx context.Context, on bool) (*HandoverAnswer, error) {
	method := http.MethodPost
	if !on {
		method = http.MethodDelete
	}
	var a HandoverAnswer
	if err := c.send(ctx, method, "/v1/ha/handover", nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// pair writes the hot-standby metrics: the role, the peer, heartbeats.
func (p promWriter) pair(w *bytes.Buffer, st *ha.Status) {
	p.gauge("shisa_ha_active", "1 when this unit of a hot-standby pair holds the virtual IP and the tunnel.", b01(st.Role == ha.Active))
	p.head("shisa_ha_role", "gauge", "1 for this unit's current role in the pair, 0 for the others.")
	for _, r := range []ha.State{ha.Init, ha.Standby, ha.Active, ha.Frozen} {
		metrics.WriteGaugeUint64(w, "shisa_ha_role"+labels("role", r.String()), uint64(b01(st.Role == r)))
	}
	p.gauge("shisa_ha_effective_priority", "This unit's priority after health tracking (0 when its WAN or tunnel is broken).", float64(st.Effective))
	alive, age := 0.0, -1.0
	if st.Peer != nil {
		alive = b01(st.Peer.Alive)
		age = st.Peer.AgeMs / 1000
	}
	p.gauge("shisa_ha_peer_alive", "1 while the peer unit's heartbeats arrive.", alive)
	p.gauge("shisa_ha_peer_heartbeat_age_seconds", "Seconds since the peer's last valid heartbeat (-1 before the first).", age)
	p.counter("shisa_ha_activations_total", "Times this unit took the active role since start.", int64(st.Activations))
	p.counter("shisa_ha_heartbeats_sent_total", "Heartbeats sent to the peer.", int64(st.Sent))
	p.counter("shisa_ha_heartbeats_received_total", "Valid heartbeats received from the peer.", int64(st.Received))
	p.head("shisa_ha_heartbeats_rejected_total", "counter", "Packets refused on the heartbeat port, by reason (forged, replayed, malformed, self, stranger).")
	reasons := make([]string, 0, len(st.Rejected))
	for r := range st.Rejected {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		metrics.WriteCounterUint64(w, "shisa_ha_heartbeats_rejected_total"+labels("reason", r), st.Rejected[r])
	}
}
