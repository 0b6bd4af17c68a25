package itest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// Where the datacenter scrapes the unit: tunnel.address (the default
// management address) and health.port's default.
const (
	mgmtTarget = "10.99.1.2:8080"
	// promFor replaces every `for:` of alerts.yml in the test's copy, so
	// that ShisaTunnelDown (1m in the real file) fires within seconds.
	promFor = "2s"
)

// TestPrometheusAlertsOnTunnelDown runs Debian's Prometheus in the dc1
// namespace, as the datacenter's, with deploy/prometheus's configuration
// (only the intervals shortened) and alert rules (only the `for:`
// durations shortened), scraping the running shisad's GET /metrics at
// its management address through the tunnel with the bearer token. It
// sees the box up, cuts the unit's WAN link, and sees ShisaTunnelDown
// fire through Prometheus's own API (/api/v1/alerts), then resolve once
// the link is back.
func TestPrometheusAlertsOnTunnelDown(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: creates network namespaces and runs Prometheus")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("prometheus not installed (Debian package prometheus): sudo apt-get install prometheus, or run sudo make test, which installs it")
	}
	// Created before the rig, so removed after its teardown has stopped
	// shisad and Prometheus (which writes its TSDB here).
	dir := t.TempDir()
	token := filepath.Join(dir, "shisa.token")
	writeMgmtToken(t, token)
	// Hold-down 2s: if the tunnel comes back via dc2 after the cut, it
	// returns to dc1 (where Prometheus is) soon.
	s := newSite(t, siteOptions{
		HoldDown: 2 * time.Second,
		Extra:    fmt.Sprintf("health:\n  token_file: %s\n", token),
	})
	promDir := writePromConfig(t, dir)

	tl := newTimeline()
	defer func() { t.Logf("timeline:\n%s", tl) }()
	p, started := s.startShisad()
	tl.at(started, "shisad started (pid %d), management API on %s", p.Pid, mgmtTarget)
	s.mustStatus(p, "tunnel up via dc1", upVia("dc1"))
	tl.now("API (local socket): tunnel up via dc1")

	// A fresh namespace has every port free; ask the kernel for one.
	ln, err := s.dc1.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	promAddr := ln.Addr().String()
	ln.Close()
	prom := s.dc1.Start(promBin,
		"--config.file="+filepath.Join(promDir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr,
		"--log.level=warn",
	)
	s.mu.Lock()
	s.pids = append(s.pids, prom.Pid) // assertGone checks it is gone too
	s.mu.Unlock()
	tl.now("prometheus started in %s (pid %d), listening on %s", s.dc1, prom.Pid, promAddr)
	pa := &promAPI{t: t, ns: s.dc1, base: "http://" + promAddr, proc: prom}

	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pa.wait(ctx, 30*time.Second, "Prometheus ready", func() (bool, string) {
		code, body, err := pa.get(ctx, "/-/ready")
		return err == nil && code == http.StatusOK, fmt.Sprintf("%d %s %v", code, strings.TrimSpace(body), err)
	})
	tl.now("prometheus ready")

	// The datacenter's view: the box scraped through the tunnel.
	pa.waitQuery(ctx, 20*time.Second, `up{job="shisa"} == 1`)
	tl.now(`query: up{job="shisa"} == 1`)
	pa.waitQuery(ctx, 10*time.Second, `shisa_tunnel_up{site="itest",unit="a"} == 1`)
	tl.now(`query: shisa_tunnel_up == 1`)
	// The box's own site and unit, renamed beside the target's labels (as
	// deploy/prometheus/targets/example.yml says).
	pa.waitQuery(ctx, 10*time.Second, `shisa_build_info{site="itest",unit="a",exported_site="itest",exported_unit="a"}`)
	// Several evaluations with the box up: ShisaTunnelDown is neither
	// pending nor firing.
	pa.waitQuery(ctx, 10*time.Second, `count_over_time(up{job="shisa"}[1m]) >= 3`)
	alerts := pa.alerts(ctx)
	if a, ok := findPromAlert(alerts, "ShisaTunnelDown"); ok {
		t.Errorf("ShisaTunnelDown is %s while the box is scraped fine: %v", a.State, a.Labels)
	}
	tl.now("box scraped fine, alerts: %s", promAlertList(alerts))

	// Cut the unit's WAN line: the tunnel is down and the box out of the
	// datacenter's reach.
	s.unit.SetLink("wan0", false)
	cut := time.Now()
	tl.at(cut, "unit's wan0 cut")
	s.mustStatus(p, "tunnel not up after the cut", func(st *api.Status) bool { return st.Tunnel.State.String() != "up" })
	tl.now("API (local socket): tunnel not up")
	pa.waitQuery(ctx, 10*time.Second, `up{job="shisa"} == 0`)
	tl.now(`query: up{job="shisa"} == 0 (%.1fs after the cut)`, time.Since(cut).Seconds())
	var pendingSeen bool
	firing := pa.waitAlert(ctx, 30*time.Second, "ShisaTunnelDown firing", func(as []promAlert) bool {
		a, ok := findPromAlert(as, "ShisaTunnelDown")
		if ok && a.State == "pending" && !pendingSeen {
			pendingSeen = true
			tl.now("ShisaTunnelDown pending (active since %s)", a.ActiveAt.Format("15:04:05.000"))
		}
		return ok && a.State == "firing"
	})
	a, _ := findPromAlert(firing, "ShisaTunnelDown")
	tl.now("ShisaTunnelDown firing (%.1fs after the cut): %s; %s", time.Since(cut).Seconds(), promLabels(a.Labels), a.Annotations["summary"])
	if a.Labels["cause"] != "unreachable" || a.Labels["severity"] != "critical" || a.Labels["site"] != "itest" || a.Labels["instance"] != mgmtTarget {
		t.Errorf("ShisaTunnelDown labels %v, want cause=unreachable severity=critical site=itest instance=%s", a.Labels, mgmtTarget)
	}
	if !strings.Contains(a.Annotations["description_ja"], "itest") || !strings.Contains(a.Annotations["description"], "itest") {
		t.Errorf("ShisaTunnelDown annotations do not name the site: %v", a.Annotations)
	}

	// Restore the line. Setting wan0 down made the kernel drop the routes
	// through it; the box's network setup (DHCP or ifupdown) puts the
	// default route back when the line returns, the rig does it here.
	s.unit.SetLink("wan0", true)
	s.unit.DefaultRoute(ip("203.0.113.1"))
	restored := time.Now()
	tl.at(restored, "unit's wan0 restored")
	st := s.mustStatus(p, "tunnel up again", func(st *api.Status) bool { return st.Tunnel.State.String() == "up" })
	tl.now("API (local socket): tunnel up via %s", st.Tunnel.Active)
	pa.waitQuery(ctx, 20*time.Second, `up{job="shisa"} == 1`)
	tl.now(`query: up{job="shisa"} == 1 (%.1fs after the restore)`, time.Since(restored).Seconds())
	final := pa.waitAlert(ctx, 20*time.Second, "ShisaTunnelDown resolved", func(as []promAlert) bool {
		_, ok := findPromAlert(as, "ShisaTunnelDown")
		return !ok
	})
	tl.now("ShisaTunnelDown resolved (%.1fs after the restore); alerts: %s", time.Since(restored).Seconds(), promAlertList(final))
	if t.Failed() {
		t.Logf("prometheus output:\n%s", prom.Output())
	}
}

// writeMgmtToken writes a management token (base64url of 32 random bytes, as
// shisactl token new makes) with mode 0600.
func writeMgmtToken(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(base64.RawURLEncoding.EncodeToString(promRandBytes(t, 32))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func promRandBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// writePromConfig writes, into dir (which holds the token as shisa.token),
// the datacenter's configuration from deploy/prometheus with the
// intervals cut to 1s, its alerts.yml with every `for:` cut to promFor,
// and a targets file naming the unit. It returns dir.
func writePromConfig(t *testing.T, dir string) string {
	t.Helper()
	deploy := filepath.Join(promRepoRoot(t), "deploy", "prometheus")
	b, err := os.ReadFile(filepath.Join(deploy, "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	global, ok := cfg["global"].(map[string]any)
	if !ok {
		t.Fatal("deploy/prometheus/prometheus.yml: no global section")
	}
	global["scrape_interval"], global["scrape_timeout"], global["evaluation_interval"] = "1s", "1s", "1s"
	jobs, _ := cfg["scrape_configs"].([]any)
	var job map[string]any
	for _, j := range jobs {
		if m, ok := j.(map[string]any); ok && m["job_name"] == "shisa" {
			job = m
		}
	}
	if job == nil {
		t.Fatal("deploy/prometheus/prometheus.yml: no scrape job shisa")
	}
	job["scrape_interval"], job["scrape_timeout"] = "1s", "1s"
	// The rest is used as it is: the token as shisa.token beside the
	// config, the targets from targets/*.yml, the rules from alerts.yml.
	if rf, _ := cfg["rule_files"].([]any); !slices.Equal(rf, []any{"alerts.yml"}) {
		t.Fatalf("deploy/prometheus/prometheus.yml: rule_files %v, want [alerts.yml]", rf)
	}
	if auth, _ := job["authorization"].(map[string]any); auth == nil || auth["credentials_file"] != "shisa.token" {
		t.Fatalf("deploy/prometheus/prometheus.yml: job shisa's authorization %v, want credentials_file shisa.token", job["authorization"])
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	promWriteFile(t, filepath.Join(dir, "prometheus.yml"), out)

	rules, err := os.ReadFile(filepath.Join(deploy, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	forLine := regexp.MustCompile(`(?m)^(\s+for:\s*)\S+[ \t]*$`)
	if !forLine.Match(rules) {
		t.Fatal("deploy/prometheus/alerts.yml: no `for:` to shorten")
	}
	promWriteFile(t, filepath.Join(dir, "alerts.yml"), forLine.ReplaceAll(rules, []byte("${1}"+promFor)))

	if err := os.Mkdir(filepath.Join(dir, "targets"), 0o755); err != nil {
		t.Fatal(err)
	}
	promWriteFile(t, filepath.Join(dir, "targets", "itest.yml"),
		[]byte("- targets: ['"+mgmtTarget+"']\n  labels:\n    site: itest\n    unit: a\n"))
	return dir
}

func promWriteFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// promRepoRoot walks up from the test's directory to go.mod.
func promRepoRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// promAPI queries Prometheus's HTTP API inside a namespace.
type promAPI struct {
	t    *testing.T
	ns   *netnstest.NS
	base string
	proc *netnstest.Proc
}

// get fetches path and returns the status code and body. Every request
// dials anew inside the namespace (no connection outlives the test).
func (pa *promAPI) get(ctx context.Context, path string) (int, string, error) {
	hc := &http.Client{
		Transport: &http.Transport{
			Proxy:             nil,
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
				return pa.ns.DialTCP(ctx, addr)
			},
		},
		Timeout: 2 * time.Second,
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pa.base+path, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// apiGet fetches an /api/v1 path and decodes its data into v.
func (pa *promAPI) apiGet(ctx context.Context, path string, v any) error {
	code, body, err := pa.get(ctx, path)
	if err != nil {
		return err
	}
	var r struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil {
		return fmt.Errorf("GET %s: %d: %w: %.200s", path, code, err, body)
	}
	if r.Status != "success" {
		return fmt.Errorf("GET %s: %d %s: %s", path, code, r.Status, r.Error)
	}
	return json.Unmarshal(r.Data, v)
}

// wait polls cond every 200ms until it holds, failing the test after
// within (or when Prometheus exits) with cond's last note.
func (pa *promAPI) wait(ctx context.Context, within time.Duration, what string, cond func() (bool, string)) {
	pa.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, note := cond()
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			pa.t.Fatalf("waiting for %s: %v; last: %s\nprometheus output:\n%s", what, ctx.Err(), note, pa.proc.Output())
		case <-pa.proc.Done():
			pa.t.Fatalf("waiting for %s: prometheus exited: %v\n%s", what, pa.proc.Wait(), pa.proc.Output())
		case <-tick.C:
		}
	}
}

// waitQuery waits until the instant query q returns at least one sample.
func (pa *promAPI) waitQuery(ctx context.Context, within time.Duration, q string) {
	pa.t.Helper()
	pa.wait(ctx, within, "query "+q, func() (bool, string) {
		var data struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		}
		if err := pa.apiGet(ctx, "/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
			return false, err.Error()
		}
		return len(data.Result) > 0, fmt.Sprintf("%d samples", len(data.Result))
	})
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	ActiveAt    time.Time         `json:"activeAt"`
}

// alerts returns Prometheus's pending and firing alerts.
func (pa *promAPI) alerts(ctx context.Context) []promAlert {
	pa.t.Helper()
	as, err := pa.getAlerts(ctx)
	if err != nil {
		pa.t.Fatal(err)
	}
	return as
}

func (pa *promAPI) getAlerts(ctx context.Context) ([]promAlert, error) {
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	err := pa.apiGet(ctx, "/api/v1/alerts", &data)
	return data.Alerts, err
}

// waitAlert polls /api/v1/alerts until cond holds and returns the alerts
// it held for.
func (pa *promAPI) waitAlert(ctx context.Context, within time.Duration, what string, cond func([]promAlert) bool) []promAlert {
	pa.t.Helper()
	var last []promAlert
	pa.wait(ctx, within, what, func() (bool, string) {
		as, err := pa.getAlerts(ctx)
		if err != nil {
			return false, err.Error()
		}
		last = as
		return cond(as), promAlertList(as)
	})
	return last
}

func findPromAlert(as []promAlert, name string) (promAlert, bool) {
	for _, a := range as {
		if a.Labels["alertname"] == name {
			return a, true
		}
	}
	return promAlert{}, false
}

// promAlertList is "none" or "Name (state), …", for the timeline.
func promAlertList(as []promAlert) string {
	if len(as) == 0 {
		return "none"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.Labels["alertname"] + " (" + a.State + ")"
	}
	slices.Sort(s)
	return strings.Join(s, ", ")
}

func promLabels(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + strconv.Quote(l[k]))
	}
	b.WriteByte('}')
	return b.String()
}
