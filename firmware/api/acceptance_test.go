package api

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type accepting struct {
	fakeBackend
	runs int
	err  error
}

func (a *accepting) Acceptance(context.Context) (Acceptance, error) {
	a.runs++
	return Acceptance{At: time.Unix(1800000000, 0), OK: false, TookS: 1.5,
		Items: []CheckItem{{Name: "wan_link", OK: true}, {Name: "handshake:dc2", Detail: "no handshake yet"}}}, a.err
}

func TestAcceptanceRoute(t *testing.T) {
	b := &accepting{fakeBackend: newBackend(t, 0)}
	h := Handler(b, nil)
	serve := func(method, url string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, url, nil))
		return rec
	}
	rec := serve(http.MethodPost, "/v1/acceptance")
	require.Equal(t, 200, rec.Code, rec.Body.String())
	var got Acceptance
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
	assert.False(t, got.OK)
	assert.Equal(t, "handshake:dc2", got.Items[1].Name)
	assert.Equal(t, http.StatusMethodNotAllowed, serve(http.MethodGet, "/v1/acceptance").Code)
	assert.Equal(t, http.StatusBadRequest, serve(http.MethodPost, "/v1/acceptance?x=1").Code)
	assert.Equal(t, 1, b.runs)
	b.err = errors.New("boom")
	assert.Equal(t, http.StatusInternalServerError, serve(http.MethodPost, "/v1/acceptance").Code)

	// On the management API it needs the token like everything else.
	mb := &mgmtAccepting{mgmtBackend: &mgmtBackend{fakeBackend: newBackend(t, 0), st: richStatus(time.Now())}}
	m := ManagementHandler(mb, []byte(testToken), nil)
	post := func(auth string) int {
		req := httptest.NewRequest(http.MethodPost, "/v1/acceptance", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		rec := httptest.NewRecorder()
		m.ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, http.StatusUnauthorized, post(""))
	assert.Equal(t, 0, mb.runs)
	assert.Equal(t, http.StatusOK, post("Bearer "+testToken))
	assert.Equal(t, 1, mb.runs)
}

type mgmtAccepting struct {
	*mgmtBackend
	runs int
}

func (a *mgmtAccepting) Acceptance(context.Context) (Acceptance, error) {
	a.runs++
	return Acceptance{OK: true}, nil
}
