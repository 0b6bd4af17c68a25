package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

const token = "k3Jx9Q_zUe2mYb7VtR4nWp8sLc1dFh6gAa0oIiEeTyU"

func TestParseTargets(t *testing.T) {
	ts, err := ParseTargets(strings.NewReader(`# the Shizuoka boxes
hamamatsu-honcho http://10.99.1.2:8080/
  shizuoka-ekimae	https://10.99.2.2:8443   # behind the new router

fuji http://[fd00::2]:8080
`))
	require.NoError(t, err)
	assert.Equal(t, []Target{
		{"hamamatsu-honcho", "http://10.99.1.2:8080"},
		{"shizuoka-ekimae", "https://10.99.2.2:8443"},
		{"fuji", "http://[fd00::2]:8080"},
	}, ts)

	for in, want := range map[string]string{
		"a http://x\nb":                   "line 2: want NAME URL, got 1 fields",
		"a http://x extra":                "line 1: want NAME URL, got 3 fields",
		"a 10.99.1.2:8080":                `line 1: a: "10.99.1.2:8080" is not an http:// or https:// base URL`,
		"a ftp://x":                       "not an http:// or https:// base URL",
		"a http://":                       "not an http:// or https:// base URL",
		"a http://x?q=1":                  "not an http:// or https:// base URL",
		"a http://x\n\n# c\na http://y\n": "line 4: a is already on line 1",
	} {
		_, err := ParseTargets(strings.NewReader(in))
		assert.ErrorContains(t, err, want, in)
	}
	ts, err = ParseTargets(strings.NewReader("# nothing\n\n"))
	require.NoError(t, err)
	assert.Empty(t, ts)
}

// box is a fake shisad management API answering st (after delay) to
// requests carrying the token.
func box(t *testing.T, st *api.Status, delay time.Duration) *httptest.Server {
	t.Helper()
	body, err := json.Marshal(st)
	require.NoError(t, err)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.Header().Set("WWW-Authenticate", "Bearer")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte("{}"))
			return
		}
		if r.URL.Path != "/v1/status" {
			http.NotFound(w, r)
			return
		}
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func healthy(name string) *api.Status {
	age := 42.0
	return &api.Status{
		Site: name, Unit: "a", Version: "v1.2.3", Role: "active", Uptime: 3 * 86400,
		Tunnel:       tunnel.Status{State: tunnel.Up, Active: "dc1"},
		HandshakeAge: &age,
		TimeSync:     &api.TimeSync{OK: true, Offset: 0.004, MaxOffset: 0.5, SystemSynced: true},
		SelfCheck:    &api.SelfCheck{OK: true, At: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)},
	}
}

func with(st *api.Status, f func(*api.Status)) *api.Status { f(st); return st }

func TestPollRanksWorstFirst(t *testing.T) {
	// The refused box's port is taken from a listener closed only once
	// every other server of the test has its port, so none of them can
	// be given the same one.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	notShisa := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }))
	t.Cleanup(notShisa.Close)

	targets := []Target{
		{"b-healthy", box(t, healthy("b"), 0).URL},
		{"a-healthy", box(t, healthy("a"), 0).URL},
		{"battery", box(t, with(healthy("battery"), func(s *api.Status) { s.UPS = &api.UPSStatus{State: api.UPSOnBattery} }), 0).URL},
		{"selfcheck", box(t, with(healthy("sc"), func(s *api.Status) {
			s.SelfCheck = &api.SelfCheck{At: time.Now(), Items: []api.CheckItem{{Name: "temperature"}, {Name: "wan_link", OK: true}}}
		}), 0).URL},
		{"offset", box(t, with(healthy("offset"), func(s *api.Status) { s.TimeSync = &api.TimeSync{Offset: -1.25, MaxOffset: 0.5, SystemSynced: true} }), 0).URL},
		{"safe", box(t, with(healthy("safe"), func(s *api.Status) { s.SafeMode = "3 failed starts in 10m" }), 0).URL},
		{"down", box(t, with(healthy("down"), func(s *api.Status) {
			s.Tunnel = tunnel.Status{State: tunnel.Down, Reason: "no endpoint answers"}
			s.HandshakeAge = nil
		}), 0).URL},
		{"slow", box(t, healthy("slow"), 5*time.Second).URL},
		{"refused", deadURL},
		{"not-shisa", notShisa.URL},
		{"stuck", box(t, with(healthy("stuck"), func(s *api.Status) { s.Stuck = []string{"tunnel"} }), 0).URL},
	}
	dead.Close()
	start := time.Now()
	rs := Poll(t.Context(), targets, Options{Token: []byte(token), Timeout: 300 * time.Millisecond})
	assert.Less(t, time.Since(start), 2*time.Second, "the slow box costs one timeout, not more")

	var got []string
	for _, r := range rs {
		got = append(got, r.Class.String()+" "+r.Name+": "+r.Note)
	}
	assert.Equal(t, []string{
		"UNREACHABLE not-shisa: not a shisa status: invalid character '<' looking for beginning of value",
		"UNREACHABLE refused: dial: connect: connection refused",
		"UNREACHABLE slow: no answer within 300ms",
		"TUNNEL DOWN down: tunnel down: no endpoint answers",
		"SAFE MODE safe: safe mode: 3 failed starts in 10m",
		"STUCK stuck: stuck: tunnel",
		"TIME OFFSET offset: time offset -1.250s",
		"SELF-CHECK selfcheck: self-check failed: temperature",
		"ON BATTERY battery: on battery (on_battery)",
		"OK a-healthy: ",
		"OK b-healthy: ",
	}, got)

	var out bytes.Buffer
	require.NoError(t, WriteTable(&out, rs))
	t.Logf("\n%s", out.String())
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, len(targets)+2)
	assert.Regexp(t, `^NAME +STATE +TUNNEL +HANDSHAKE +OFFSET +SELF-CHECK +UPTIME +VERSION +NOTE$`, lines[0])
	assert.Regexp(t, `^not-shisa +UNREACHABLE +- +- +- +- +- +- +not a shisa status`, lines[1])
	assert.Regexp(t, `^down +TUNNEL DOWN +down +never +\+0\.004s +ok .* +3d00h +v1\.2\.3 +tunnel down: no endpoint answers$`, lines[4])
	sc := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC).Local().Format("01-02 15:04")
	assert.Regexp(t, `^a-healthy +OK +up via dc1 +42s +\+0\.004s +ok `+sc+` +3d00h +v1\.2\.3$`, strings.TrimSpace(lines[10]))
	assert.Equal(t, "11 boxes: 2 healthy, 3 unreachable, 1 tunnel down, 1 safe mode, 1 stuck, 1 time offset, 1 self-check, 1 on battery", lines[12])
}

func TestPollWrongToken(t *testing.T) {
	rs := Poll(t.Context(), []Target{{"a", box(t, healthy("a"), 0).URL}}, Options{Token: []byte("wrong")})
	require.Len(t, rs, 1)
	assert.Equal(t, Unreachable, rs[0].Class)
	assert.Contains(t, rs[0].Error, "token refused (401)")
}

func TestPollBoundsConcurrency(t *testing.T) {
	var inFlight, peak atomic.Int32
	release := make(chan struct{})
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		json.NewEncoder(w).Encode(healthy("x"))
	}))
	t.Cleanup(s.Close)
	var ts []Target
	for i := range 40 {
		ts = append(ts, Target{Name: string(rune('a' + i)), URL: s.URL})
	}
	done := make(chan []Result)
	go func() { done <- Poll(context.Background(), ts, Options{Concurrency: 8, Timeout: 10 * time.Second}) }()
	require.Eventually(t, func() bool { return inFlight.Load() == 8 }, 5*time.Second, time.Millisecond)
	close(release)
	rs := <-done
	assert.EqualValues(t, 8, peak.Load())
	for _, r := range rs {
		assert.Equal(t, Healthy, r.Class, r.Error)
	}
}

func TestPollCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	rs := Poll(ctx, []Target{{"a", box(t, healthy("a"), 0).URL}}, Options{})
	assert.Equal(t, "poll cancelled", rs[0].Error)
	assert.Empty(t, Poll(ctx, nil, Options{}))
}

func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(Result{Target: Target{"a", "http://x"}, Class: TunnelDown, Note: "tunnel down"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"name":"a","url":"http://x","class":"TUNNEL DOWN","note":"tunnel down","latency_s":0}`, string(b))
}
