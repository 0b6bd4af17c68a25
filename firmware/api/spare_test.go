package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/journal"
)

// spareBackend is a spare: it can be activated and prepared.
type spareBackend struct {
	fakeBackend
	activateErr, prepareErr error

	mu        sync.Mutex
	activated []ActivateRequest
	prepared  []PrepareRequest
}

func (b *spareBackend) Activate(_ context.Context, req ActivateRequest) (Activated, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.activated = append(b.activated, req)
	if b.activateErr != nil {
		return Activated{}, b.activateErr
	}
	return Activated{Site: "hamamatsu-honcho", Serial: 3, From: "datacenter", Signer: "SHA256:abc", Socket: "/run/shisa/shisad.sock"}, nil
}

func (b *spareBackend) Prepare(_ context.Context, req PrepareRequest) (Spare, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prepared = append(b.prepared, req)
	if b.prepareErr != nil {
		return Spare{}, b.prepareErr
	}
	return Spare{Ready: true, Recipient: "age1xyz", Trusted: []string{"SHA256:abc"}, State: SpareWaiting}, nil
}

var (
	_ Sparer   = (*spareBackend)(nil)
	_ Preparer = (*spareBackend)(nil)
)

// post sends a POST with body to h and decodes the JSON answer.
func post(t *testing.T, h http.Handler, url string, body []byte) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, url, bytes.NewReader(body)))
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), rec.Body.String())
	return rec, m
}

func activateBody(t *testing.T, req ActivateRequest) []byte {
	t.Helper()
	b, err := json.Marshal(req)
	require.NoError(t, err)
	return b
}

func TestSpareActivateRoute(t *testing.T) {
	// A pack near the largest a pack file may be (320 KiB), base64 in
	// JSON: about 427 KiB, under the route's 512 KiB.
	big := bytes.Repeat([]byte{0xa5}, 320<<10)
	for _, tc := range []struct {
		name      string
		body      []byte
		err       error // the backend's
		wantCode  int
		wantField string   // "" for none
		wantMsg   []string // in the error message
		wantCalls int
	}{
		{name: "a pack", body: activateBody(t, ActivateRequest{Pack: []byte("pack")}), wantCode: 200, wantCalls: 1},
		{name: "a pack and a passphrase", body: activateBody(t, ActivateRequest{Pack: []byte("pack"), Passphrase: "p"}), wantCode: 200, wantCalls: 1},
		{name: "a pack larger than a power request", body: activateBody(t, ActivateRequest{Pack: bytes.Repeat([]byte("p"), 8<<10)}), wantCode: 200, wantCalls: 1},
		{name: "the largest pack", body: activateBody(t, ActivateRequest{Pack: big}), wantCode: 200, wantCalls: 1},
		{name: "bad JSON", body: []byte(`{"pack": `), wantCode: 400, wantField: "body"},
		{name: "not an object", body: []byte(`[1]`), wantCode: 400, wantField: "body"},
		{name: "empty body", body: nil, wantCode: 400, wantField: "body", wantMsg: []string{"empty"}},
		{name: "two objects", body: []byte(`{"pack":"cGFjaw=="} {}`), wantCode: 400, wantField: "body"},
		{name: "unknown field", body: []byte(`{"pack":"cGFjaw==","site":"x"}`), wantCode: 400, wantField: "site", wantMsg: []string{"unknown field"}},
		{name: "pack not base64", body: []byte(`{"pack":"***"}`), wantCode: 400, wantField: "body"},
		{name: "pack of the wrong type", body: []byte(`{"pack":7}`), wantCode: 400, wantField: "pack"},
		{name: "empty pack", body: []byte(`{"pack":""}`), wantCode: 400, wantField: "pack", wantMsg: []string{"empty"}},
		{name: "no pack", body: []byte(`{}`), wantCode: 400, wantField: "pack", wantMsg: []string{"empty"}},
		{name: "body over 512 KiB", body: activateBody(t, ActivateRequest{Pack: bytes.Repeat([]byte("p"), 400<<10)}), wantCode: 413, wantField: "body", wantMsg: []string{"524288"}},
		{name: "refused", body: activateBody(t, ActivateRequest{Pack: []byte("pack")}),
			err:      fmt.Errorf("%w: sitepack: site pack is signed by an untrusted key", ErrRefused),
			wantCode: 409, wantMsg: []string{"untrusted key"}, wantCalls: 1},
		{name: "a field error", body: activateBody(t, ActivateRequest{Pack: []byte("pack")}),
			err:      &FieldError{"passphrase", "too short"},
			wantCode: 400, wantField: "passphrase", wantMsg: []string{"too short"}, wantCalls: 1},
		{name: "a failure", body: activateBody(t, ActivateRequest{Pack: []byte("pack")}),
			err:      errors.New("disk on fire"),
			wantCode: 500, wantMsg: []string{"disk on fire"}, wantCalls: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &spareBackend{fakeBackend: newBackend(t, 0), activateErr: tc.err}
			rec, m := post(t, Handler(b, nil), "/v1/spare/activate", tc.body)
			assert.Equal(t, tc.wantCode, rec.Code, rec.Body.String())
			if tc.wantField != "" {
				assert.Equal(t, tc.wantField, m["field"], rec.Body.String())
				assert.True(t, strings.HasPrefix(m["error"].(string), tc.wantField+": "), "the message names the field: %s", m["error"])
				assert.NotContains(t, m["error"], "body: body:", "the field said once")
			}
			for _, w := range tc.wantMsg {
				assert.Contains(t, m["error"], w)
			}
			assert.Len(t, b.activated, tc.wantCalls)
			if tc.wantCode == 200 {
				assert.Equal(t, "hamamatsu-honcho", m["site"])
				assert.Equal(t, "/run/shisa/shisad.sock", m["socket"])
			}
		})
	}
}

// siteBackend serves a site: it is not a Sparer; a Preparer or not.
type siteBackend struct{ fakeBackend }

type preparingSite struct {
	siteBackend
	err error
}

func (b *preparingSite) Prepare(context.Context, PrepareRequest) (Spare, error) {
	return Spare{Ready: true}, b.err
}

func TestSpareRoutesOnASite(t *testing.T) {
	h := Handler(&siteBackend{newBackend(t, 0)}, nil)
	rec, m := post(t, h, "/v1/spare/activate", activateBody(t, ActivateRequest{Pack: []byte("pack")}))
	assert.Equal(t, http.StatusConflict, rec.Code)
	assert.Contains(t, m["error"], "already serves a site")
	assert.Contains(t, m["error"], "spare prepare")

	rec, m = post(t, h, "/v1/spare/prepare", []byte(`{"site":"hamamatsu-honcho"}`))
	assert.Equal(t, http.StatusNotImplemented, rec.Code)
	assert.Contains(t, m["error"], "spare prepare")

	// A site that can be prepared answers; activation is still refused.
	h = Handler(&preparingSite{siteBackend: siteBackend{newBackend(t, 0)}}, nil)
	rec, m = post(t, h, "/v1/spare/prepare", []byte(`{"site":"hamamatsu-honcho"}`))
	assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	assert.Equal(t, true, m["ready"])
	rec, _ = post(t, h, "/v1/spare/activate", activateBody(t, ActivateRequest{Pack: []byte("pack")}))
	assert.Equal(t, http.StatusConflict, rec.Code)
}

func TestSparePrepareRoute(t *testing.T) {
	for _, tc := range []struct {
		name      string
		body      string
		err       error
		wantCode  int
		wantField string
		wantMsg   string
		wantSite  []string // the requests the backend saw
	}{
		{name: "a spare", body: `{"site":""}`, wantCode: 200, wantSite: []string{""}},
		{name: "empty object", body: `{}`, wantCode: 200, wantSite: []string{""}},
		{name: "a site", body: `{"site":"hamamatsu-honcho"}`, wantCode: 200, wantSite: []string{"hamamatsu-honcho"}},
		{name: "empty body", body: ``, wantCode: 400, wantField: "body"},
		{name: "unknown field", body: `{"site":"x","force":true}`, wantCode: 400, wantField: "force"},
		{name: "over 4 KiB", body: `{"site":"` + strings.Repeat("x", 5<<10) + `"}`, wantCode: 413, wantField: "body"},
		{name: "field error", body: `{"site":"x"}`, err: &FieldError{"site", `this unit is a spare: no site is installed, "x" included`},
			wantCode: 400, wantField: "site", wantMsg: "this unit is a spare", wantSite: []string{"x"}},
		{name: "wrapped field error", body: `{"site":"x"}`, err: fmt.Errorf("prepare: %w", &FieldError{"site", "wrong site"}),
			wantCode: 400, wantField: "site", wantMsg: "wrong site", wantSite: []string{"x"}},
		{name: "refused", body: `{"site":"x"}`, err: fmt.Errorf("%w: an activation is in progress", ErrRefused),
			wantCode: 409, wantMsg: "an activation is in progress", wantSite: []string{"x"}},
		{name: "failure", body: `{"site":"x"}`, err: errors.New("no space left"), wantCode: 500, wantMsg: "no space left", wantSite: []string{"x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &spareBackend{fakeBackend: newBackend(t, 0), prepareErr: tc.err}
			rec, m := post(t, Handler(b, nil), "/v1/spare/prepare", []byte(tc.body))
			assert.Equal(t, tc.wantCode, rec.Code, rec.Body.String())
			if tc.wantField != "" {
				assert.Equal(t, tc.wantField, m["field"], rec.Body.String())
			}
			if tc.wantMsg != "" {
				assert.Contains(t, m["error"], tc.wantMsg)
			}
			var sites []string
			for _, r := range b.prepared {
				sites = append(sites, r.Site)
			}
			assert.Equal(t, tc.wantSite, sites)
			if tc.wantCode == 200 {
				assert.Equal(t, "age1xyz", m["recipient"])
			}
		})
	}
}

func TestSpareRoutesTakeNoQuery(t *testing.T) {
	b := &spareBackend{fakeBackend: newBackend(t, 0)}
	h := Handler(b, nil)
	rec, _ := post(t, h, "/v1/spare/activate?x=1", activateBody(t, ActivateRequest{Pack: []byte("pack")}))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	rec, _ = post(t, h, "/v1/spare/prepare?site=x", []byte(`{}`))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Empty(t, b.activated)
	assert.Empty(t, b.prepared)
	// GET is not a route.
	rec2 := httptest.NewRecorder()
	h.ServeHTTP(rec2, httptest.NewRequest(http.MethodGet, "/v1/spare/activate", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec2.Code)
}

// mgmtSpare is a full management backend that could also be activated
// and prepared: the management API must still not offer either.
type mgmtSpare struct {
	*mgmtBackend
	spareBackend
}

func (b *mgmtSpare) Status() Status { return b.mgmtBackend.Status() }
func (b *mgmtSpare) Events(since uint64, limit int) ([]journal.Record, uint64, error) {
	return b.mgmtBackend.Events(since, limit)
}

func TestSpareRoutesNotOnManagement(t *testing.T) {
	mb, _ := newMgmt(t)
	b := &mgmtSpare{mgmtBackend: mb, spareBackend: spareBackend{fakeBackend: mb.fakeBackend}}
	h := ManagementHandler(b, []byte(testToken), nil)
	for _, path := range []string{"/v1/spare/activate", "/v1/spare/prepare", "/v1/spare/", "/v1/spare"} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			t.Run(method+" "+path, func(t *testing.T) {
				req := httptest.NewRequest(method, path, strings.NewReader(`{"pack":"cGFjaw==","site":""}`))
				req.Header.Set("Authorization", "Bearer "+testToken)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				assert.Equal(t, http.StatusNotFound, rec.Code, rec.Body.String())
			})
		}
	}
	assert.Empty(t, b.activated, "activated through the management API")
	assert.Empty(t, b.prepared, "prepared through the management API")
	// The same backend on the local API has the routes.
	rec, _ := post(t, Handler(b, nil), "/v1/spare/prepare", []byte(`{}`))
	assert.Equal(t, http.StatusOK, rec.Code)
}

func TestSpareClient(t *testing.T) {
	dir, err := os.MkdirTemp("", "api")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := ListenUnix(sock)
	require.NoError(t, err)
	b := &spareBackend{fakeBackend: newBackend(t, 0)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(b, nil)) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	c := NewClient(sock)

	big := bytes.Repeat([]byte{1}, 300<<10)
	a, err := c.Activate(t.Context(), ActivateRequest{Pack: big, Passphrase: "pw"})
	require.NoError(t, err)
	assert.Equal(t, uint64(3), a.Serial)
	require.Len(t, b.activated, 1)
	assert.Equal(t, big, b.activated[0].Pack, "the pack arrives whole")
	assert.Equal(t, "pw", b.activated[0].Passphrase)

	b.activateErr = fmt.Errorf("%w: sealed to another unit", ErrRefused)
	_, err = c.Activate(t.Context(), ActivateRequest{Pack: []byte("x")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "sealed to another unit")

	sp, err := c.Prepare(t.Context(), "")
	require.NoError(t, err)
	assert.True(t, sp.Ready)
	b.prepareErr = &FieldError{"site", "this unit is a spare"}
	_, err = c.Prepare(t.Context(), "x")
	var fe *FieldError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, "site", fe.Field)
	assert.Equal(t, "this unit is a spare", fe.Reason)

}
