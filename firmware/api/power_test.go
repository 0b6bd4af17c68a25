package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/power"
)

var jst = power.DefaultLocation()

// parseJST is the daemon's ParseTime: power.ParseTime in JST, its
// package prefix dropped (the API puts the field name there).
func parseJST(s string) (time.Time, error) {
	t, err := power.ParseTime(s, jst)
	if err != nil {
		return t, errors.New(strings.TrimPrefix(err.Error(), "power: "))
	}
	return t, nil
}

// powerBackend is mgmtBackend with the power routes: a list of windows
// and a record of what was asked.
type powerBackend struct {
	*mgmtBackend
	mu       sync.Mutex
	outages  []Outage
	restarts []string
	refuse   error // returned by AddOutage
}

var _ PowerBackend = (*powerBackend)(nil)

func (b *powerBackend) Power() PowerStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	return PowerStatus{State: PowerOnline, Controller: "simulated", TimeZone: "Asia/Tokyo", Outages: append([]Outage(nil), b.outages...)}
}

func (b *powerBackend) ParseTime(s string) (time.Time, error) { return parseJST(s) }

func (b *powerBackend) AddOutage(o Outage) (Outage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse != nil {
		return Outage{}, b.refuse
	}
	if o.ID == "" {
		o.ID = fmt.Sprintf("o-%d", len(b.outages)+1)
	}
	b.outages = append(b.outages, o)
	return o, nil
}

func (b *powerBackend) CancelOutage(id string) (Outage, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, o := range b.outages {
		if o.ID == id {
			b.outages = append(b.outages[:i], b.outages[i+1:]...)
			return o, nil
		}
	}
	return Outage{}, fmt.Errorf("no window %q: %w", id, ErrNotFound)
}

func (b *powerBackend) Restart(at time.Time, reason string) (RestartAnswer, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.restarts = append(b.restarts, at.Format(time.RFC3339)+" "+reason)
	if at.IsZero() {
		return RestartAnswer{Now: true}, nil
	}
	return RestartAnswer{Scheduled: &Outage{ID: "r-1", Start: at, End: at, Restart: true}}, nil
}

func newPowerBackend(t *testing.T) *powerBackend {
	return &powerBackend{mgmtBackend: &mgmtBackend{fakeBackend: newBackend(t, 5), st: richStatus(time.Now())}}
}

func send(h http.Handler, method, url, body, token string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPowerRoutes(t *testing.T) {
	b := newPowerBackend(t)
	for name, h := range map[string]http.Handler{
		"local":      Handler(b, nil),
		"management": ManagementHandler(b, []byte(testToken), nil),
	} {
		t.Run(name, func(t *testing.T) {
			b.outages, b.restarts = nil, nil
			tok := ""
			if name == "management" {
				tok = testToken
				// Without the token nothing is planned.
				rec := send(h, "POST", "/v1/outages", `{"start":"2030-01-05 08:00","end":"2030-01-05 17:00"}`, "")
				assert.Equal(t, 401, rec.Code)
				rec = send(h, "POST", "/v1/power/restart", ``, "wrong"+testToken)
				assert.Equal(t, 401, rec.Code)
				assert.Empty(t, b.Power().Outages)
				assert.Empty(t, b.restarts)
			}
			rec := send(h, "POST", "/v1/outages", `{"start":"2030-01-05 08:00","end":"2030-01-05T17:00:00+09:00","reason":"electrical inspection"}`, tok)
			require.Equal(t, 201, rec.Code, rec.Body.String())
			assert.Contains(t, rec.Body.String(), `"start": "2030-01-05T08:00:00+09:00"`)
			assert.Contains(t, rec.Body.String(), `"reason": "electrical inspection"`)

			rec = send(h, "GET", "/v1/outages", "", tok)
			require.Equal(t, 200, rec.Code)
			assert.Contains(t, rec.Body.String(), `"time_zone": "Asia/Tokyo"`)
			assert.Contains(t, rec.Body.String(), `"id": "o-1"`)

			// Bad requests: 400, the field named, nothing changed.
			for _, tc := range []struct{ body, field, msg string }{
				{`{"start":"2030-01-05 08:00"}`, "end", "end: missing"},
				{`{"start":"tomorrow","end":"2030-01-05 17:00"}`, "start", `"start: cannot read \"tomorrow\" as a time; write it as 2006-01-02 15:04 (site time, Asia/Tokyo)`},
				{`{"start":"2030-01-05 18:00","end":"2030-01-05 17:00"}`, "end", "is not after start"},
				{`{"start":"2030-01-05 08:00","end":"2030-01-05 17:00","colour":"red"}`, "colour", "unknown field"},
				{`{"start":8,"end":"2030-01-05 17:00"}`, "start", "want a string"},
				{`{"start":"2030-01-05 08:00","end":"2030-01-05 17:00"} {}`, "body", "more than one JSON value"},
				{`{"id":"a b","start":"2030-01-05 08:00","end":"2030-01-05 17:00"}`, "id", "want letters"},
				{`{"start":"2030-01-05 08:00","end":"2030-01-05 17:00","reason":"a\nb"}`, "reason", "control character"},
				{``, "body", "empty"},
			} {
				rec := send(h, "POST", "/v1/outages", tc.body, tok)
				assert.Equal(t, 400, rec.Code, tc.body)
				assert.Contains(t, rec.Body.String(), `"field": "`+tc.field+`"`, tc.body)
				assert.Contains(t, rec.Body.String(), tc.msg, tc.body)
			}
			rec = send(h, "POST", "/v1/outages", strings.Repeat(" ", 5000), tok)
			assert.Equal(t, 413, rec.Code)
			b.refuse = &FieldError{"start", "overlaps window o-1"}
			rec = send(h, "POST", "/v1/outages", `{"start":"2030-01-05 09:00","end":"2030-01-05 10:00"}`, tok)
			assert.Equal(t, 400, rec.Code)
			assert.Contains(t, rec.Body.String(), "start: overlaps window o-1")
			b.refuse = nil
			assert.Len(t, b.Power().Outages, 1, "refused requests changed nothing")

			rec = send(h, "DELETE", "/v1/outages/nope", "", tok)
			assert.Equal(t, 404, rec.Code)
			rec = send(h, "DELETE", "/v1/outages/o-1", "", tok)
			assert.Equal(t, 200, rec.Code, rec.Body.String())
			assert.Empty(t, b.Power().Outages)

			n := len(b.restarts)
			rec = send(h, "POST", "/v1/power/restart", ``, tok)
			assert.Equal(t, 202, rec.Code)
			rec = send(h, "POST", "/v1/power/restart", `{"at":"2030-01-06 03:00","reason":"firmware"}`, tok)
			assert.Equal(t, 201, rec.Code, rec.Body.String())
			rec = send(h, "POST", "/v1/power/restart", `{"at":"soon"}`, tok)
			assert.Equal(t, 400, rec.Code)
			assert.Contains(t, rec.Body.String(), `"field": "at"`)
			assert.Equal(t, []string{"0001-01-01T00:00:00Z ", "2030-01-06T03:00:00+09:00 firmware"}, b.restarts[n:])

			rec = send(h, "GET", "/v1/power", "", tok)
			assert.Equal(t, 200, rec.Code)
			assert.Contains(t, rec.Body.String(), `"controller": "simulated"`)
		})
	}
}

func TestPowerRoutesNotBuilt(t *testing.T) {
	h := Handler(newBackend(t, 1), nil)
	rec := send(h, "POST", "/v1/outages", `{}`, "")
	assert.Equal(t, 501, rec.Code)
}

func TestPowerClient(t *testing.T) {
	dir, err := os.MkdirTemp("", "shisa-api-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := ListenUnix(sock)
	require.NoError(t, err)
	b := newPowerBackend(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(b, nil)) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	c := NewClient(sock)
	o, err := c.AddOutage(t.Context(), OutageRequest{Start: "2030-01-05 08:00", End: "2030-01-05 17:00", Reason: "inspection"})
	require.NoError(t, err)
	assert.Equal(t, "o-1", o.ID)
	_, err = c.AddOutage(t.Context(), OutageRequest{Start: "2030-01-05 08:00", End: "2030-01-05 07:00"})
	var fe *FieldError
	require.True(t, errors.As(err, &fe), "%v", err)
	assert.Equal(t, "end", fe.Field)
	assert.EqualError(t, err, "shisad refused it: end: 2030-01-05 07:00 is not after start (2030-01-05 08:00); a window must end after it starts")
	l, err := c.Outages(t.Context())
	require.NoError(t, err)
	assert.Len(t, l.Outages, 1)
	_, err = c.CancelOutage(t.Context(), "nope")
	assert.ErrorContains(t, err, `no window "nope"`)
	_, err = c.CancelOutage(t.Context(), "o-1")
	require.NoError(t, err)
	a, err := c.Restart(t.Context(), RestartRequest{})
	require.NoError(t, err)
	assert.True(t, a.Now)
	p, err := c.Power(t.Context())
	require.NoError(t, err)
	assert.Equal(t, PowerOnline, p.State)
}

// FuzzOutageRequest feeds POST /v1/outages bodies to the parser: it never
// panics, every refusal names a field, and what it accepts is a window
// that ends after it starts with a clean id and reason.
func FuzzOutageRequest(f *testing.F) {
	for _, s := range []string{
		`{"start":"2030-01-05 08:00","end":"2030-01-05 17:00","reason":"electrical inspection"}`,
		`{"id":"x_1","start":"2030-01-05T08:00:00Z","end":"2030-01-05T09:00:00+09:00"}`,
		`{"start":"2030-01-05 08:00"}`, `{"start":1}`, `[]`, `null`, `{}`, `{"start":"\u0000"}`, `{"reason":"` + strings.Repeat("停", 201) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := ParseOutageRequest(body, parseJST)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" || fe.Reason == "" {
				t.Fatalf("refusal without a field: %#v", err)
			}
			return
		}
		if !o.End.After(o.Start) {
			t.Fatalf("accepted a window that does not end after it starts: %+v", o)
		}
		if _, err := checkID(o.ID); err != nil {
			t.Fatalf("accepted a bad id %q", o.ID)
		}
		if _, err := checkReason(o.Reason); err != nil || len([]rune(o.Reason)) > maxReason {
			t.Fatalf("accepted a bad reason %q", o.Reason)
		}
		if _, _, err := ParseRestartRequest(body, parseJST); err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("restart refusal without a field: %v", err)
			}
		}
	})
}
