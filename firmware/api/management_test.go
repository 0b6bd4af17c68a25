package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/tunnel"
)

const testToken = "k3Jx9Q_zUe2mYb7VtR4nWp8sLc1dFh6gAa0oIiEeTyU"

// mgmtBackend is a full backend: status with every optional part, a
// report, an inventory and one extra metric.
type mgmtBackend struct {
	fakeBackend
	st        Status
	reportErr error
	reports   []string // month/format/lang asked
	mu        sync.Mutex
}

func (b *mgmtBackend) Status() Status { return b.st }

func (b *mgmtBackend) Report(month, format, lang string) (string, []byte, error) {
	b.mu.Lock()
	b.reports = append(b.reports, month+"/"+format+"/"+lang)
	b.mu.Unlock()
	if b.reportErr != nil {
		return "", nil, b.reportErr
	}
	if format == ReportHTML {
		return "", []byte("<!doctype html><title>稼働報告書 " + month + "</title>"), nil
	}
	return "application/json", []byte(`{"month":"` + month + `"}`), nil
}

func (b *mgmtBackend) Diagnose(context.Context) (any, error) {
	return map[string]string{"verdict": "all segments work"}, nil
}

func (b *mgmtBackend) Inventory() inventory.Inventory {
	return inventory.Inventory{Serial: "10000000a1b2c3d4", Model: "Raspberry Pi 4 Model B", MACs: map[string]string{"wan": "dc:a6:32:00:00:01"},
		Firmware: inventory.Firmware{Version: "v1.2.3", Slot: inventory.SlotUnknown}}
}

func (b *mgmtBackend) Metrics(w io.Writer) {
	fmt.Fprintf(w, "# HELP shisa_test_extra An extra metric of the daemon.\n# TYPE shisa_test_extra gauge\nshisa_test_extra 7\n")
}

var (
	_ ManagementBackend = (*mgmtBackend)(nil)
	_ LocalBackend      = (*mgmtBackend)(nil)
)

// richStatus is a status with every part set: dc1 active and up, dc2
// dead and never handshaken, the clock 42 ms off, a failed self-check, on
// battery during a planned outage.
func richStatus(now time.Time) Status {
	return Status{
		Site: "hamamatsu-honcho", Unit: "a", Version: `v1.2.3 "rc"`, Role: "active",
		StartedAt: now.Add(-time.Hour), Uptime: 3600,
		Tunnel: tunnel.Status{State: tunnel.Up, Active: "dc1", Failovers: 2, Endpoints: []tunnel.EndpointStatus{
			{Name: "dc1", Health: tunnel.Alive, Active: true, RTT: 12.5, LastHandshake: now.Add(-30 * time.Second), RxBytes: 1 << 20, TxBytes: 2 << 20},
			{Name: "dc2", Health: tunnel.Dead},
		}},
		TimeSync:   &TimeSync{At: now, OK: true, Offset: 0.042, MaxOffset: 0.5, Server: "10.20.0.123:123", Stratum: 2, SystemSynced: true},
		SelfCheck:  &SelfCheck{At: time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC), OK: false, Items: []CheckItem{{Name: "wan_link", OK: true}, {Name: "temperature", OK: false, Detail: "91 °C"}}},
		UPS:        &UPSStatus{Source: "gpio", State: UPSOnBattery, ChargePct: 80, RuntimeS: 1200},
		NextOutage: &Outage{ID: "2026-11-27-bldg", Start: now.Add(-time.Minute), End: now.Add(time.Hour)},
		Runtime:    Runtime{Goroutines: 17, HeapMB: 2, SysMB: 9},
	}
}

func newMgmt(t *testing.T) (*mgmtBackend, http.Handler) {
	t.Helper()
	b := &mgmtBackend{fakeBackend: newBackend(t, 25), st: richStatus(time.Now())}
	return b, ManagementHandler(b, []byte(testToken+"\n"), nil)
}

// do sends a GET with the Authorization header auth ("" for none).
func do(h http.Handler, url, auth string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func authFailures(t *testing.T, h http.Handler) float64 {
	t.Helper()
	rec := do(h, "/metrics", "Bearer "+testToken)
	require.Equal(t, 200, rec.Code)
	return parseProm(t, rec.Body.String())["shisa_api_auth_failures_total"]
}

func TestManagementAuth(t *testing.T) {
	_, h := newMgmt(t)
	for _, c := range []struct {
		name, auth string
		ok         bool
	}{
		{"missing", "", false},
		{"right", "Bearer " + testToken, true},
		{"scheme in lower case", "bearer " + testToken, true},
		{"wrong", "Bearer " + strings.Repeat("x", len(testToken)), false},
		{"wrong scheme", "Basic " + testToken, false},
		{"no scheme", testToken, false},
		{"empty token", "Bearer ", false},
		{"shorter", "Bearer " + testToken[:len(testToken)-1], false},
		{"longer", "Bearer " + testToken + "x", false},
		{"prefix of a longer one", "Bearer " + testToken[:8], false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := authFailures(t, h)
			rec := do(h, "/v1/status", c.auth)
			if c.ok {
				assert.Equal(t, 200, rec.Code)
				assert.Equal(t, before, authFailures(t, h))
				return
			}
			assertUnauthorized(t, rec)
			assert.Equal(t, before+1, authFailures(t, h), "counted")
		})
	}
}

func assertUnauthorized(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
	assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	assert.JSONEq(t, "{}", rec.Body.String(), "no detail")
}

func TestManagementAuthBeforeRouting(t *testing.T) {
	_, h := newMgmt(t)
	for _, url := range []string{"/v1/nothing", "/metrics", "/v1/events?since=x", "/v1/report"} {
		assertUnauthorized(t, do(h, url, ""))
	}
	req := httptest.NewRequest(http.MethodPost, "/v1/status", nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assertUnauthorized(t, rec)

	// Two Authorization headers, even with one right, are refused.
	req = httptest.NewRequest(http.MethodGet, "/v1/status", nil)
	req.Header.Add("Authorization", "Bearer wrong")
	req.Header.Add("Authorization", "Bearer "+testToken)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	assertUnauthorized(t, rec)
}

func TestManagementNoTokenRefusesAll(t *testing.T) {
	b := &mgmtBackend{fakeBackend: newBackend(t, 0), st: richStatus(time.Now())}
	for _, tok := range [][]byte{nil, []byte(" \n")} {
		h := ManagementHandler(b, tok, nil)
		for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer  "} {
			assertUnauthorized(t, do(h, "/v1/status", auth))
		}
	}
}

func TestManagementAuthFailuresLoggedRarely(t *testing.T) {
	var logs bytes.Buffer
	b := &mgmtBackend{fakeBackend: newBackend(t, 0), st: richStatus(time.Now())}
	m := ManagementHandler(b, []byte(testToken), slog.New(slog.NewTextHandler(&logs, nil))).(*Management)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	m.now = func() time.Time { return now }
	secret := "Bearer near-miss-" + testToken[:20]
	for range 5 {
		assertUnauthorized(t, do(m, "/v1/status", secret))
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "refused"), logs.String())
	now = now.Add(authLogEvery)
	assertUnauthorized(t, do(m, "/v1/status", secret))
	assert.Equal(t, 2, strings.Count(logs.String(), "refused"))
	assert.Contains(t, logs.String(), "not_logged_since_last=4")
	assert.NotContains(t, logs.String(), "near-miss", "the presented token is never logged")
	assert.EqualValues(t, 6, m.authFailures.Load())
}

func auth(h http.Handler, url string) *httptest.ResponseRecorder {
	return do(h, url, "Bearer "+testToken)
}

func TestManagementStatus(t *testing.T) {
	_, h := newMgmt(t)
	rec := auth(h, "/v1/status")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var st Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	assert.Equal(t, "hamamatsu-honcho", st.Site)
	assert.Equal(t, tunnel.Up, st.Tunnel.State)
	require.NotNil(t, st.HandshakeAge, "filled from the active endpoint")
	assert.InDelta(t, 30, *st.HandshakeAge, 5)
	assert.Equal(t, UPSOnBattery, st.UPS.State)
	assert.Equal(t, "2026-11-27-bldg", st.NextOutage.ID)
	assert.InDelta(t, 0.042, st.TimeSync.Offset, 1e-9)
	assert.False(t, st.SelfCheck.OK)
	assert.Equal(t, []string{"self-check failed: temperature", "on battery (on_battery)"}, st.Problems())

	// Optional parts absent: omitted from the JSON.
	_, m := get(t, Handler(newBackend(t, 0), nil), "/v1/status")
	for _, k := range []string{"ups", "next_outage", "time_sync", "self_check", "handshake_age_s"} {
		assert.NotContains(t, m, k)
	}
}

func TestManagementEventsPaging(t *testing.T) {
	_, h := newMgmt(t)
	var seqs []uint64
	since := uint64(0)
	for range 10 {
		rec := auth(h, "/v1/events?since="+strconv.FormatUint(since, 10)+"&limit=7")
		require.Equal(t, 200, rec.Code, rec.Body.String())
		var p EventsPage
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &p))
		for _, r := range p.Events {
			seqs = append(seqs, r.Seq)
		}
		since = p.Next
		if !p.More {
			break
		}
	}
	require.Len(t, seqs, 25)
	for i, s := range seqs {
		assert.EqualValues(t, i+1, s)
	}
}

func TestManagementInventory(t *testing.T) {
	_, h := newMgmt(t)
	rec := auth(h, "/v1/inventory")
	require.Equal(t, 200, rec.Code)
	var inv inventory.Inventory
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &inv))
	assert.Equal(t, "10000000a1b2c3d4", inv.Serial)
	assert.Equal(t, "unknown", inv.Firmware.Slot)
}

func TestReport(t *testing.T) {
	b, mh := newMgmt(t)
	lh := Handler(b, nil)
	for name, h := range map[string]func(string) *httptest.ResponseRecorder{
		"management": func(u string) *httptest.ResponseRecorder { return auth(mh, u) },
		"local":      func(u string) *httptest.ResponseRecorder { return do(lh, u, "") },
	} {
		t.Run(name, func(t *testing.T) {
			b.reports = nil
			rec := h("/v1/report?month=2026-11")
			require.Equal(t, 200, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.JSONEq(t, `{"month":"2026-11"}`, rec.Body.String())

			rec = h("/v1/report?month=2026-10&format=csv&lang=en")
			require.Equal(t, 200, rec.Code)
			assert.Equal(t, []string{"2026-11/json/ja", "2026-10/csv/en"}, b.reports, "defaults: json, ja")

			// The box does not render HTML (shisactl does, from the JSON).
			rec = h("/v1/report?month=2026-10&format=html")
			assert.Equal(t, 400, rec.Code)
			assert.Contains(t, rec.Body.String(), "shisactl report --format html")

			for url, param := range map[string]string{
				"/v1/report":                             "month",
				"/v1/report?month=2026-13":               "month",
				"/v1/report?month=2026-1":                "month",
				"/v1/report?month=26-11":                 "month",
				"/v1/report?month=2026-11-01":            "month",
				"/v1/report?month=1999-12":               "month",
				"/v1/report?month=2026-11&month=2026-10": "month",
				"/v1/report?month=2026-11&format=pdf":    "format",
				"/v1/report?month=2026-11&format=":       "format",
				"/v1/report?month=2026-11&lang=fr":       "lang",
				"/v1/report?month=2026-11&langs=ja":      "langs",
			} {
				rec := h(url)
				assert.Equal(t, 400, rec.Code, url)
				var e apiError
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), url)
				assert.True(t, strings.HasPrefix(e.Error, param+":"), "%s: error %q must name %s", url, e.Error, param)
			}
		})
	}

	b.reportErr = fmt.Errorf("journal: no records for 2025-01: %w", ErrNotFound)
	rec := auth(mh, "/v1/report?month=2025-01")
	assert.Equal(t, 404, rec.Code)
	assert.Contains(t, rec.Body.String(), "no records for 2025-01")

	b.reportErr = errors.New("disk on fire at /var/lib/shisa")
	rec = auth(mh, "/v1/report?month=2025-01")
	assert.Equal(t, 500, rec.Code)
	assert.NotContains(t, rec.Body.String(), "disk on fire", "the management API keeps internals in the log")
	rec = do(lh, "/v1/report?month=2025-01", "")
	assert.Equal(t, 500, rec.Code)
	assert.Contains(t, rec.Body.String(), "disk on fire", "the local API tells the technician")
}

func TestManagementBadRequests(t *testing.T) {
	_, h := newMgmt(t)
	for url, param := range map[string]string{
		"/v1/status?verbose=1":    "verbose",
		"/v1/inventory?x=":        "x",
		"/metrics?name[]=go":      "name[]",
		"/v1/events?since=-1":     "since",
		"/v1/events?limit=100000": "limit",
		"/v1/events?cursor=3":     "cursor",
	} {
		rec := auth(h, url)
		assert.Equal(t, 400, rec.Code, url)
		var e apiError
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &e), url)
		assert.True(t, strings.HasPrefix(e.Error, param+":"), "%s: error %q must name %s", url, e.Error, param)
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		req := httptest.NewRequest(method, "/v1/status", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code, method)
	}
	for _, url := range []string{"/v1/nothing", "/", "/v1/diagnose", "/v2/status"} {
		assert.Equal(t, http.StatusNotFound, auth(h, url).Code, url)
	}
}

func TestLocalDiagnoseAndNotBuilt(t *testing.T) {
	b, _ := newMgmt(t)
	rec, m := get(t, Handler(b, nil), "/v1/diagnose")
	assert.Equal(t, 200, rec.Code)
	assert.Equal(t, "all segments work", m["verdict"])
	rec, _ = get(t, Handler(b, nil), "/v1/diagnose?x=1")
	assert.Equal(t, 400, rec.Code)

	// A backend without Report or Diagnose says so.
	h := Handler(newBackend(t, 0), nil)
	for _, url := range []string{"/v1/diagnose", "/v1/report?month=2026-11"} {
		rec, m := get(t, h, url)
		assert.Equal(t, http.StatusNotImplemented, rec.Code)
		assert.Contains(t, m["error"], "not built")
	}
}

// promLine is one line of the Prometheus text format (version 0.0.4).
var (
	promHelp   = regexp.MustCompile(`^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) \S.*$`)
	promType   = regexp.MustCompile(`^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$`)
	promSample = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")*)?\})? (\S+)$`)
)

// parseProm checks text against the exposition format's rules (each line
// a HELP, a TYPE or a sample; a family's HELP and TYPE at most once and
// before its samples; a family's samples together; no series twice;
// counters named _total; values that parse) and returns every series'
// value by "name{labels}".
func parseProm(t *testing.T, text string) map[string]float64 {
	t.Helper()
	series := map[string]float64{}
	types := map[string]string{}
	helps := map[string]bool{}
	done := map[string]bool{} // families whose samples have ended
	current := ""
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if m := promHelp.FindStringSubmatch(line); m != nil {
			require.False(t, helps[m[1]], "line %d: HELP %s twice", n, m[1])
			helps[m[1]] = true
			continue
		}
		if m := promType.FindStringSubmatch(line); m != nil {
			require.Empty(t, types[m[1]], "line %d: TYPE %s twice", n, m[1])
			require.False(t, done[m[1]], "line %d: TYPE %s after its samples", n, m[1])
			types[m[1]] = m[2]
			continue
		}
		m := promSample.FindStringSubmatch(line)
		require.NotNil(t, m, "line %d is not a sample: %q", n, line)
		name := m[1]
		if name != current {
			require.False(t, done[name], "line %d: family %s split", n, name)
			if current != "" {
				done[current] = true
			}
			current = name
		}
		require.NotEmpty(t, types[name], "line %d: %s has no TYPE", n, name)
		if types[name] == "counter" {
			require.True(t, strings.HasSuffix(name, "_total"), "counter %s", name)
		}
		v, err := strconv.ParseFloat(m[3], 64)
		require.NoError(t, err, "line %d", n)
		key := name + m[2]
		_, dup := series[key]
		require.False(t, dup, "line %d: series %s twice", n, key)
		series[key] = v
	}
	require.NoError(t, sc.Err())
	require.True(t, strings.HasSuffix(text, "\n"))
	return series
}

func TestMetrics(t *testing.T) {
	_, h := newMgmt(t)
	rec := auth(h, "/metrics")
	require.Equal(t, 200, rec.Code)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", rec.Header().Get("Content-Type"))
	got := parseProm(t, rec.Body.String())
	want := map[string]float64{
		`shisa_build_info{version="v1.2.3 \"rc\"",site="hamamatsu-honcho",unit="a"}`: 1,
		`shisa_uptime_seconds`:                          3600,
		`shisa_tunnel_up`:                               1,
		`shisa_tunnel_state{state="connecting"}`:        0,
		`shisa_tunnel_state{state="up"}`:                1,
		`shisa_tunnel_state{state="down"}`:              0,
		`shisa_tunnel_state{state="stopped"}`:           0,
		`shisa_tunnel_switches_total`:                   2,
		`shisa_endpoint_up{endpoint="dc1"}`:             1,
		`shisa_endpoint_up{endpoint="dc2"}`:             0,
		`shisa_endpoint_active{endpoint="dc1"}`:         1,
		`shisa_endpoint_active{endpoint="dc2"}`:         0,
		`shisa_endpoint_rtt_seconds{endpoint="dc1"}`:    0.0125,
		`shisa_endpoint_rx_bytes_total{endpoint="dc1"}`: 1 << 20,
		`shisa_endpoint_rx_bytes_total{endpoint="dc2"}`: 0,
		`shisa_endpoint_tx_bytes_total{endpoint="dc1"}`: 2 << 20,
		`shisa_endpoint_tx_bytes_total{endpoint="dc2"}`: 0,
		`shisa_safe_mode`:                               0,
		`shisa_watchdog_stuck_jobs`:                     0,
		`shisa_time_sync_ok`:                            1,
		`shisa_time_offset_seconds`:                     0.042,
		`shisa_selfcheck_ok`:                            0,
		`shisa_selfcheck_timestamp_seconds`:             float64(time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC).Unix()),
		`shisa_ups_on_battery`:                          1,
		`shisa_ups_low_battery`:                         0,
		`shisa_ups_stale`:                               0,
		`shisa_ups_battery_charge_ratio`:                0.8,
		`shisa_ups_battery_runtime_seconds`:             1200,
		`shisa_outage_planned_start_timestamp_seconds`:  got[`shisa_outage_planned_start_timestamp_seconds`], // the fixture's clock; checked below
		`shisa_outage_planned_active`:                   1,
		`shisa_api_auth_failures_total`:                 0,
		`go_goroutines`:                                 17,
		`go_memstats_heap_alloc_bytes`:                  2 << 20,
		`go_memstats_sys_bytes`:                         9 << 20,
		`shisa_test_extra`:                              7,
	}
	age := got[`shisa_endpoint_handshake_age_seconds{endpoint="dc1"}`]
	assert.InDelta(t, 30, age, 5)
	delete(got, `shisa_endpoint_handshake_age_seconds{endpoint="dc1"}`)
	assert.Equal(t, want, got, "dc2 has no handshake age and no RTT: absent, not 0")
	assert.InDelta(t, float64(time.Now().Add(-time.Minute).Unix()), got[`shisa_outage_planned_start_timestamp_seconds`], 120)
}

func TestMetricsMinimalStatus(t *testing.T) {
	// Nothing optional known, tunnel connecting, no endpoints: the
	// optional families are absent and the rest still parses.
	var buf bytes.Buffer
	writeMetrics(&buf, Status{Version: "dev", SafeMode: "3 failed starts"}, time.Now(), 3)
	got := parseProm(t, buf.String())
	for _, k := range []string{"shisa_time_sync_ok", "shisa_time_offset_seconds", "shisa_selfcheck_ok", "shisa_ups_on_battery", "shisa_outage_planned_active"} {
		assert.NotContains(t, got, k)
	}
	assert.Equal(t, 1.0, got["shisa_safe_mode"])
	assert.Equal(t, 0.0, got["shisa_tunnel_up"])
	assert.Equal(t, 3.0, got["shisa_api_auth_failures_total"])
	assert.Positive(t, got["go_goroutines"], "read from the runtime when the status has none")
	assert.False(t, math.IsNaN(got["go_memstats_heap_alloc_bytes"]))
}

func TestServeManagement(t *testing.T) {
	_, h := newMgmt(t)
	var mu sync.Mutex
	var opened []string
	listen := func(network, addr string) (net.Listener, error) {
		if addr == "10.255.255.1:8080" {
			return nil, errors.New("cannot assign requested address")
		}
		ln, err := net.Listen(network, "127.0.0.1:0") // addr names it for the test
		if err == nil {
			mu.Lock()
			opened = append(opened, ln.Addr().String())
			mu.Unlock()
		}
		return ln, err
	}

	// One address that cannot be opened: none is served.
	err := ServeManagement(t.Context(), []string{"mgmt:1", "10.255.255.1:8080"}, listen, h)
	assert.ErrorContains(t, err, "10.255.255.1:8080")
	require.Len(t, opened, 1)
	_, err = net.DialTimeout("tcp", opened[0], time.Second)
	assert.Error(t, err, "the first listener was closed again")
	assert.ErrorContains(t, ServeManagement(t.Context(), nil, listen, h), "no address")

	opened = nil
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- ServeManagement(ctx, []string{"mgmt:1", "mgmt:2"}, listen, h) }()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(opened) == 2 }, 5*time.Second, 5*time.Millisecond)
	for _, a := range opened {
		req, err := http.NewRequest(http.MethodGet, "http://"+a+"/v1/status", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, a)

		// A header beyond MaxHeaderBytes is refused.
		req.Header.Set("X-Junk", strings.Repeat("x", 64<<10))
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusRequestHeaderFieldsTooLarge, resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("ServeManagement did not return after its context ended")
	}
	for _, a := range opened {
		_, err := net.DialTimeout("tcp", a, time.Second)
		assert.Error(t, err, "closed: %s", a)
	}
}

func TestReadTokenFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	tok, err := ReadTokenFile(write("good", testToken+"\n", 0o600))
	require.NoError(t, err)
	assert.Equal(t, testToken, string(tok))

	_, err = ReadTokenFile(write("open", testToken+"\n", 0o644))
	assert.ErrorContains(t, err, "chmod 600")
	_, err = ReadTokenFile(write("short", "abc\n", 0o600))
	assert.ErrorContains(t, err, "at least 32")
	_, err = ReadTokenFile(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = ReadTokenFile(write("spaced", testToken+" "+testToken+"\n", 0o400))
	assert.ErrorContains(t, err, "one token")
	assert.NotContains(t, err.Error(), testToken, "errors never hold the token")
}

func TestClientGet(t *testing.T) {
	dir, err := os.MkdirTemp("", "shisa-api-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "s.sock")
	ln, err := ListenUnix(sock)
	require.NoError(t, err)
	b, _ := newMgmt(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, ln, Handler(b, nil)) }()
	defer func() { cancel(); require.NoError(t, <-done) }()

	c := NewClient(sock)
	body, err := c.Get(t.Context(), "/v1/report?month=2026-11&format=json")
	require.NoError(t, err)
	assert.JSONEq(t, `{"month":"2026-11"}`, string(body))
	_, err = c.Get(t.Context(), "/v1/report?month=2026-13")
	assert.EqualError(t, err, `shisad: month: want YYYY-MM (e.g. 2026-11), got "2026-13"`)
	_, err = c.Get(t.Context(), "/v1/nothing")
	assert.EqualError(t, err, "shisad answered 404 Not Found")
	var d map[string]string
	body, err = c.Get(t.Context(), "/v1/diagnose")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(body, &d))
	assert.Equal(t, "all segments work", d["verdict"])
}
