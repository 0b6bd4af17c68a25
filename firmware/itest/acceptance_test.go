package itest

import (
	"context"
	"encoding/json"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/journal"
	"github.com/shisa-gw/shisa/firmware/report"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// TestAcceptanceInNamespaces runs the acceptance check (動作確認) with the
// real shisactl against the real shisad in the namespaces: it passes with
// both datacenters and the cloud service reachable, fails naming dc2 when
// dc2 is cut, and each run is journaled for the datacenter.
func TestAcceptanceInNamespaces(t *testing.T) {
	s := newSite(t, siteOptions{Extra: "probe:\n  targets: [" + echoAddr + "]\n"})
	ctl := netnstest.BuildBinary(t, "github.com/shisa-gw/shisa/firmware/cmd/shisactl")
	p, _ := s.startShisad()
	s.mustStatus(p, "up via dc1 with both endpoints handshaken", func(st *api.Status) bool {
		if !upVia("dc1")(st) || len(st.Tunnel.Endpoints) != 2 {
			return false
		}
		for _, e := range st.Tunnel.Endpoints {
			if e.LastHandshake.IsZero() || e.Health.String() != "alive" {
				return false
			}
		}
		return true
	})
	run := func(args ...string) (string, int) {
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, ctl, append([]string{"--socket", s.socket, "spare", "check"}, args...)...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("shisactl: %v", err)
		}
		return string(out), code
	}

	out, code := run("--format", "json")
	var r api.Acceptance
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("spare check --format json: %v\n%s", err, out)
	}
	if code != 0 || !r.OK {
		t.Fatalf("acceptance check on a healthy unit: exit %d\n%s", code, out)
	}
	names := map[string]bool{}
	for _, it := range r.Items {
		names[it.Name] = true
	}
	for _, want := range []string{"lan_link", "wan_link", "default_route", "endpoint:dc1", "endpoint:dc2", "probe:dc2",
		"handshake:dc1", "handshake:dc2", "service:" + echoAddr, "firmware", "ntp", "addresses:wan", "addresses:lan", "addresses:tunnel"} {
		if !names[want] {
			t.Errorf("no %s item in %v", want, names)
		}
	}
	t.Logf("healthy unit: %d items passed in %.2fs", len(r.Items), r.TookS)

	s.wan.SetLink(wanToDC2, false)
	s.mustStatus(p, "dc2 dead", func(st *api.Status) bool {
		return slices.ContainsFunc(st.Tunnel.Endpoints, func(e tunnel.EndpointStatus) bool { return e.Name == "dc2" && e.Health.String() == "dead" })
	})
	out, code = run()
	if code != 1 {
		t.Errorf("acceptance check with dc2 cut: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{"動作確認 不合格", "NG  接続先 dc2", "NG  疎通確認 dc2", "OK  クラウドサービス " + echoAddr} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	t.Logf("with dc2 cut:\n%s", out)

	recs, err := s.events(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	var results []journal.Record
	for _, rec := range recs {
		if rec.Kind == report.KindAcceptanceResult {
			results = append(results, rec)
		}
	}
	if len(results) != 2 || field(results[0], "ok") != "true" || field(results[1], "ok") != "false" ||
		!strings.Contains(field(results[1], "failed"), "endpoint:dc2") {
		t.Errorf("journaled acceptance results: %s", formatEvents(results))
	}
}
