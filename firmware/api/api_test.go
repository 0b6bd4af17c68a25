package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

type fakeBackend struct {
	j *journal.Journal
}

func (f fakeBackend) Status() Status {
	return Status{Site: "s1", Unit: "a", Role: "active", Tunnel: tunnel.Status{State: tunnel.Up, Active: "dc1"}}
}

func (f fakeBackend) Events(since uint64, limit int) ([]journal.Record, uint64, error) {
	return f.j.Since(since, limit)
}

func newBackend(t *testing.T, n int) fakeBackend {
	j, err := journal.Open(t.TempDir(), journal.Options{NoSync: true})
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	for i := range n {
		_, err := j.Append("test.event", "event", map[string]any{"i": i})
		require.NoError(t, err)
	}
	return fakeBackend{j}
}

func get(t *testing.T, h http.Handler, url string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &m), rec.Body.String())
	return rec, m
}

func TestStatus(t *testing.T) {
	h := Handler(newBackend(t, 0), nil)
	rec, m := get(t, h, "/v1/status")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.Equal(t, "s1", m["site"])
	assert.Equal(t, "up", m["tunnel"].(map[string]any)["state"], "states print as names")
}

func TestEventsPaging(t *testing.T) {
	h := Handler(newBackend(t, 25), nil)
	var got []float64
	cursor := "0"
	for pages := 0; ; pages++ {
		require.Less(t, pages, 10)
		rec, m := get(t, h, "/v1/events?since="+cursor+"&limit=10")
		require.Equal(t, 200, rec.Code)
		for _, e := range m["events"].([]any) {
			got = append(got, e.(map[string]any)["seq"].(float64))
		}
		cursor = strings.TrimSuffix(strings.TrimSuffix(jsonNum(m["next"]), ".0"), "")
		if !m["more"].(bool) {
			break
		}
	}
	require.Len(t, got, 25)
	for i, s := range got {
		assert.Equal(t, float64(i+1), s, "every record exactly once, in order")
	}
	// Past the end: an empty list, not null, and the cursor stays.
	_, m := get(t, h, "/v1/events?since=25")
	assert.Equal(t, []any{}, m["events"])
	assert.Equal(t, float64(25), m["next"])
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestEventsBadQuery(t *testing.T) {
	h := Handler(newBackend(t, 1), nil)
	for url, param := range map[string]string{
		"/v1/events?since=-1":        "since",
		"/v1/events?since=abc":       "since",
		"/v1/events?limit=0":         "limit",
		"/v1/events?limit=1001":      "limit",
		"/v1/events?limit=ten":       "limit",
		"/v1/events?since=1&limit":   "limit",
		"/v1/events?since=1&since=2": "since",
		"/v1/events?sinse=1":         "sinse",
	} {
		rec, m := get(t, h, url)
		assert.Equal(t, 400, rec.Code, url)
		assert.True(t, strings.HasPrefix(m["error"].(string), param+":"), "%s: error %q must name %s", url, m["error"], param)
	}
}

func TestWrongMethodAndPath(t *testing.T) {
	h := Handler(newBackend(t, 0), nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/status", nil))
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/nothing", nil))
	assert.Equal(t, http.StatusNotFound, rec.Code)
}

func FuzzEventsQuery(f *testing.F) {
	for _, s := range []string{"0", "18446744073709551615", "-1", "1e3", " 1", ""} {
		f.Add(s, "100")
	}
	f.Fuzz(func(t *testing.T, since, limit string) {
		s, l, err := parseEventsQuery(url.Values{"since": {since}, "limit": {limit}})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "since:") && !strings.HasPrefix(err.Error(), "limit:") {
				t.Fatalf("error does not name the parameter: %v", err)
			}
			return
		}
		if l < 1 || l > MaxPage {
			t.Fatalf("limit %d out of range", l)
		}
		if since == "" || limit == "" {
			t.Fatalf("an empty parameter was accepted (since=%d)", s)
		}
	})
}

func TestUnixSocketAndClient(t *testing.T) {
	dir, err := os.MkdirTemp("", "shisa-api-") // short path: unix sockets allow 107 bytes
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "run", "shisad.sock")
	ln, err := ListenUnix(sock)
	require.NoError(t, err)
	fi, err := os.Stat(sock)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o660), fi.Mode().Perm())

	_, err = ListenUnix(sock)
	assert.ErrorContains(t, err, "another shisad is serving")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(newBackend(t, 3), nil)) }()
	c := NewClient(sock)
	st, err := c.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "dc1", st.Tunnel.Active)
	p, err := c.Events(context.Background(), 1, 0)
	require.NoError(t, err)
	assert.Len(t, p.Events, 2)
	cancel()
	require.NoError(t, <-done)

	// A stale socket from a crash is replaced.
	ln2, err := ListenUnix(sock)
	require.NoError(t, err)
	ln2.Close()

	// Nobody listening: the client says so plainly.
	os.Remove(sock)
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	_, err = NewClient(sock).Status(ctx2)
	assert.ErrorContains(t, err, "shisad is not running")
}
