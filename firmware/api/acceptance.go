package api

import (
	"context"
	"net/http"
)

// Accepter runs the acceptance check (動作確認) of a unit put in service.
type Accepter interface {
	// Acceptance runs the check now (a few seconds at most), journals the
	// report and returns it; ctx is the request's.
	Acceptance(ctx context.Context) (Acceptance, error)
}

// acceptanceRoutes adds POST /v1/acceptance when b can run the check.
// It changes nothing on the box but costs a few seconds and a journal
// record, so it is a POST (and, on the management API, behind the token
// like every route).
func acceptanceRoutes(mux *http.ServeMux, b Backend, rt routes) {
	a, ok := b.(Accepter)
	if !ok {
		mux.HandleFunc("/v1/acceptance", notBuilt("the acceptance check"))
		return
	}
	mux.HandleFunc("POST /v1/acceptance", func(w http.ResponseWriter, r *http.Request) {
		if !noParams(w, r) {
			return
		}
		rep, err := a.Acceptance(r.Context())
		if err != nil {
			rt.fail(w, "running the acceptance check", err)
			return
		}
		writeJSON(w, http.StatusOK, rep)
	})
}

// Acceptance runs the acceptance check on the daemon and returns its
// report.
func (c *Client) Acceptance(ctx context.Context) (*Acceptance, error) {
	var a Acceptance
	if err := c.send(ctx, http.MethodPost, "/v1/acceptance", nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
