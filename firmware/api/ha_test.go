package api

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

// pairBackend is a fakeBackend that can hand over.
type pairBackend struct {
	fakeBackend
	calls []bool
	err   error
}

func (p *pairBackend) Handover(on bool) error {
	p.calls = append(p.calls, on)
	return p.err
}

func TestHandoverRoutes(t *testing.T) {
	b := &pairBackend{fakeBackend: newBackend(t, 0)}
	h := Handler(b, nil)
	do := func(method, url string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, url, nil))
		return rec
	}
	rec := do(http.MethodPost, "/v1/ha/handover")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Contains(t, rec.Body.String(), `"handover": true`)
	rec = do(http.MethodDelete, "/v1/ha/handover")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, []bool{true, false}, b.calls)

	b.err = errors.New("the peer b is silent: no one to hand over to")
	rec = do(http.MethodPost, "/v1/ha/handover")
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, rec.Body.String(), "the peer b is silent")

	assert.Equal(t, http.StatusMethodNotAllowed, do(http.MethodGet, "/v1/ha/handover").Code)
	assert.Equal(t, http.StatusBadRequest, do(http.MethodPost, "/v1/ha/handover?now=1").Code)
	assert.Len(t, b.calls, 3, "a refused request does not reach the backend")

	// A backend without a pair: not built.
	rec = httptest.NewRecorder()
	Handler(newBackend(t, 0), nil).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/ha/handover", nil))
	assert.Equal(t, http.StatusNotImplemented, rec.Code)
}

func TestPairMetrics(t *testing.T) {
	st := Status{Version: "dev", Pair: &ha.Status{
		MachineStatus: ha.MachineStatus{Role: ha.Standby, Priority: 100, Effective: 100, Activations: 2,
			Peer: &ha.PeerStatus{UnitID: "a", Alive: true, Role: ha.Active, AgeMs: 12}},
		Sent: 500, Received: 490, Rejected: map[string]uint64{"forged": 3, "replayed": 1},
	}}
	var buf bytes.Buffer
	writeMetrics(&buf, st, time.Now(), 0)
	got := parseProm(t, buf.String())
	for k, v := range map[string]float64{
		"shisa_ha_active": 0, `shisa_ha_role{role="standby"}`: 1, `shisa_ha_role{role="active"}`: 0,
		"shisa_ha_effective_priority": 100, "shisa_ha_peer_alive": 1, "shisa_ha_peer_heartbeat_age_seconds": 0.012,
		"shisa_ha_activations_total": 2, "shisa_ha_heartbeats_sent_total": 500, "shisa_ha_heartbeats_received_total": 490,
		`shisa_ha_heartbeats_rejected_total{reason="forged"}`: 3, `shisa_ha_heartbeats_rejected_total{reason="replayed"}`: 1,
	} {
		assert.Equal(t, v, got[k], k)
	}
	buf.Reset()
	writeMetrics(&buf, Status{Version: "dev"}, time.Now(), 0)
	assert.NotContains(t, buf.String(), "shisa_ha_", "a box without a pair has no pair metrics")
}

func TestPairProblems(t *testing.T) {
	st := Status{Tunnel: tunnel.Status{State: tunnel.Up}, Pair: &ha.Status{MachineStatus: ha.MachineStatus{Role: ha.Active}}}
	assert.Equal(t, []string{"hot standby: peer unit silent"}, st.Problems(), "never heard")
	st.Pair.Peer = &ha.PeerStatus{UnitID: "b", Alive: false}
	assert.Equal(t, []string{"hot standby: peer unit silent"}, st.Problems())
	st.Pair.Peer = &ha.PeerStatus{UnitID: "b", Alive: true, Health: ha.HealthTunnel | ha.HealthDC | ha.HealthLAN}
	assert.Equal(t, []string{"hot standby: peer unit b cannot take over (WAN link down)"}, st.Problems())
	st.Pair.Peer.Health = ha.HealthOK
	assert.Empty(t, st.Problems(), "a live, healthy peer is no problem")
}

// The datacenter can hand a pair over through the management API, with
// its token; without it the request never reaches the backend.
func TestManagementHandover(t *testing.T) {
	b := &pairMgmt{mgmtBackend: &mgmtBackend{fakeBackend: newBackend(t, 0), st: richStatus(time.Now())}}
	h := ManagementHandler(b, []byte(testToken), nil)
	post := func(auth string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/ha/handover", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	assert.Equal(t, http.StatusUnauthorized, post("").Code)
	assert.Equal(t, http.StatusUnauthorized, post("Bearer wrong").Code)
	assert.Empty(t, b.calls, "refused before the backend")
	rec := post("Bearer " + testToken)
	require.Equal(t, 200, rec.Code, rec.Body.String())
	assert.Equal(t, []bool{true}, b.calls)
}

type pairMgmt struct {
	*mgmtBackend
	calls []bool
}

func (p *pairMgmt) Handover(on bool) error {
	p.calls = append(p.calls, on)
	return nil
}
