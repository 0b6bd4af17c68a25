package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
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
	body, err := c.Do(ctx, method, "/v1/ha/handover", nil)
	if err != nil {
		return nil, err
	}
	var a HandoverAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("shisad's answer is not what this shisactl understands (different versions?): %w", err)
	}
	return &a, nil
}
