package selfcheck_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/inspecttest"
)

// thermal writes fake thermal zones (millidegrees) into a directory.
func thermal(t *testing.T, milli ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i, m := range milli {
		z := filepath.Join(dir, "thermal_zone"+string(rune('0'+i)))
		if err := os.MkdirAll(z, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(z, "temp"), []byte(m+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(z, "type"), []byte("zone"+string(rune('a'+i))+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// rig is a box of fakes where everything works.
type rig struct {
	net *inspecttest.Fake

	mu  sync.Mutex
	tun tunnel.Status
	ts  *api.TimeSync
	ups *api.UPSStatus
	// reach answers for these endpoints' host:port; records who was asked.
	reachable map[string]bool
	asked     []string
}

func newRig(t *testing.T) (*rig, selfcheck.Inputs) {
	r := &rig{net: inspecttest.New("eth0", "eth1"), reachable: map[string]bool{}}
	r.net.Set(func(f *inspecttest.Fake) {
		f.Routes = []netctl.DefaultRoute{{Interface: "eth0", Gateway: gw, Metric: 100}}
		f.Neigh[inspecttest.Key("eth0", gw)] = netctl.NeighStale
	})
	hs := time.Now().Add(-30 * time.Second)
	r.tun = tunnel.Status{State: tunnel.Up, Active: "dc1", Endpoints: []tunnel.EndpointStatus{
		{Name: "dc1", Endpoint: "198.51.100.1:51820", Health: tunnel.Alive, Active: true, LastHandshake: hs, RTT: 3},
		{Name: "dc2", Endpoint: "198.51.100.2:51820", Health: tunnel.Alive, LastHandshake: hs, RTT: 5},
	}}
	r.ts = &api.TimeSync{OK: true, Offset: -0.003, MaxOffset: 0.5, Server: "ntp1", Stratum: 2, SystemSynced: true}
	in := selfcheck.Inputs{
		WAN: "eth0", LAN: "eth1", Net: r.net,
		Tunnel: func() tunnel.Status {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.tun
		},
		TimeSync: func() *api.TimeSync {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.ts
		},
		UPS: func() *api.UPSStatus {
			r.mu.Lock()
			defer r.mu.Unlock()
			return r.ups
		},
		Reach: func(ctx context.Context, hostport string) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.asked = append(r.asked, hostport)
			if r.reachable[hostport] {
				return nil
			}
			return errors.New("no echo reply")
		},
		StateDir:       t.TempDir(),
		MinFreeBytes:   8 << 20,
		FreeSpace:      func(string) (uint64, uint64, error) { return 400 << 20, 2 << 30, nil },
		ThermalDir:     thermal(t, "48000", "61500"),
		MaxTemperature: 85,
	}
	return r, in
}

func (r *rig) set(f func(r *rig)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func items(sc api.SelfCheck) map[string]api.CheckItem {
	m := map[string]api.CheckItem{}
	for _, it := range sc.Items {
		m[it.Name] = it
	}
	return m
}

func TestRunAllGood(t *testing.T) {
	_, in := newRig(t)
	sc := selfcheck.Run(t.Context(), in)
	var names []string
	for _, it := range sc.Items {
		names = append(names, it.Name)
		if !it.OK {
			t.Errorf("%s failed: %s", it.Name, it.Detail)
		}
	}
	want := "lan_link wan_link default_route endpoint:dc1 probe:dc1 endpoint:dc2 probe:dc2 ntp free_space temperature ups"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("items %s\nwant  %s", got, want)
	}
	if !sc.OK || len(selfcheck.Failed(sc)) != 0 || sc.At.IsZero() {
		t.Errorf("self-check %+v", sc)
	}
	m := items(sc)
	for name, want := range map[string]string{
		"temperature": "hottest 61.5 °C at thermal_zone1 (zoneb) of 2 sensors (limit 85 °C)",
		"free_space":  "400.0 MiB free of 2.0 GiB on " + in.StateDir + " (minimum 8.0 MiB)",
		"ups":         "skipped: no UPS is watched",
		"ntp":         "offset -3 ms from ntp1 (stratum 2, limit 500ms), system clock synchronised",
	} {
		if m[name].Detail != want {
			t.Errorf("%s: %q, want %q", name, m[name].Detail, want)
		}
	}
	if !selfcheck.Skipped(m["ups"]) || selfcheck.Skipped(m["ntp"]) {
		t.Error("Skipped is wrong")
	}
}

func TestRunFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(r *rig, in *selfcheck.Inputs)
		failed string
		detail string
	}{
		{"wan unplugged", func(r *rig, in *selfcheck.Inputs) { r.net.Unplug("eth0", true) },
			"wan_link", "eth0 has no carrier (cable unplugged or the other end off), state lowerlayerdown"},
		{"lan missing", func(r *rig, in *selfcheck.Inputs) { in.LAN = "eth7" },
			"lan_link", "inspecttest: link eth7: netctl: no such link"},
		{"no route", func(r *rig, in *selfcheck.Inputs) { r.net.Set(func(f *inspecttest.Fake) { f.Routes = nil }) },
			"default_route", "no default route"},
		{"gateway fails ARP", func(r *rig, in *selfcheck.Inputs) {
			r.net.Set(func(f *inspecttest.Fake) { f.Neigh[inspecttest.Key("eth0", gw)] = netctl.NeighFailed })
		}, "default_route", "gateway 192.0.2.1 on eth0 does not answer ARP (failed)"},
		{"endpoint dead", func(r *rig, in *selfcheck.Inputs) {
			r.tun.Endpoints[1].Health, r.tun.Endpoints[1].Misses = tunnel.Dead, 5
			r.tun.Endpoints[1].LastHandshake = time.Time{}
		}, "endpoint:dc2,probe:dc2", "dead, no handshake yet, received 0 B"},
		{"clock", func(r *rig, in *selfcheck.Inputs) { r.ts.OK, r.ts.Offset = false, 10800 },
			"ntp", "offset +3h from ntp1 (stratum 2, limit 500ms), system clock synchronised"},
		{"disk full", func(r *rig, in *selfcheck.Inputs) {
			in.FreeSpace = func(string) (uint64, uint64, error) { return 1 << 20, 2 << 30, nil }
		}, "free_space", "1.0 MiB free of 2.0 GiB on " + "DIR" + " (minimum 8.0 MiB)"},
		{"hot", func(r *rig, in *selfcheck.Inputs) { in.ThermalDir = thermal(t, "91250") },
			"temperature", "hottest 91.2 °C at thermal_zone0 (zonea) of 1 sensors (limit 85 °C)"},
		{"on battery", func(r *rig, in *selfcheck.Inputs) {
			r.ups = &api.UPSStatus{Source: "nut", State: api.UPSOnBattery, ChargePct: 80, RuntimeS: 1200}
		}, "ups", "on_battery (nut), charge 80%, runtime 20m"},
		{"ups lost while online", func(r *rig, in *selfcheck.Inputs) {
			r.ups = &api.UPSStatus{Source: "nut", State: api.UPSOnline, ChargePct: 100, RuntimeS: -1, Stale: true, Reason: "nut: LIST VAR ups: ERR DATA-STALE"}
		}, "ups", "online (nut), charge 100%; not current: nut: LIST VAR ups: ERR DATA-STALE"},
		{"no tunnel job", func(r *rig, in *selfcheck.Inputs) { in.Tunnel = nil },
			"tunnel", "the tunnel job is not running"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, in := newRig(t)
			r.set(func(r *rig) { tc.modify(r, &in) })
			sc := selfcheck.Run(t.Context(), in)
			if sc.OK {
				t.Fatal("self-check passed")
			}
			if got := strings.Join(selfcheck.Failed(sc), ","); got != tc.failed {
				t.Errorf("failed %s, want %s", got, tc.failed)
			}
			first := items(sc)[strings.Split(tc.failed, ",")[0]]
			if want := strings.ReplaceAll(tc.detail, "DIR", in.StateDir); first.Detail != want {
				t.Errorf("detail %q\nwant   %q", first.Detail, want)
			}
		})
	}
}

func TestRunSkips(t *testing.T) {
	_, in := newRig(t)
	in.ThermalDir = t.TempDir() // a board without sensors
	in.TimeSync = nil
	m := items(selfcheck.Run(t.Context(), in))
	for _, name := range []string{"temperature", "ntp", "ups"} {
		if !selfcheck.Skipped(m[name]) || !m[name].OK {
			t.Errorf("%s: %+v, want skipped", name, m[name])
		}
	}
}

// A standby unit of a pair has its tunnel stopped: its endpoints' figures
// are stale, so the endpoint and probe items give way to one skipped
// tunnel item, and the self-check passes on what the unit can check.
func TestRunStandbySkipsTheTunnel(t *testing.T) {
	r, in := newRig(t)
	r.mu.Lock()
	r.tun.State = tunnel.Stopped
	r.tun.Endpoints[0].Health, r.tun.Endpoints[0].Misses = tunnel.Dead, 9
	r.mu.Unlock()
	sc := selfcheck.Run(t.Context(), in)
	m := items(sc)
	if !selfcheck.Skipped(m["tunnel"]) || !strings.Contains(m["tunnel"].Detail, "standby") {
		t.Errorf("tunnel: %+v, want skipped for a standby", m["tunnel"])
	}
	for name := range m {
		if strings.HasPrefix(name, "endpoint:") || strings.HasPrefix(name, "probe:") {
			t.Errorf("%s checked on a stopped tunnel: %+v", name, m[name])
		}
	}
	if !sc.OK {
		t.Errorf("a healthy standby fails its self-check: %v", selfcheck.Failed(sc))
	}
}

// TestReachOnlyWhenAllDead: the endpoints' public addresses are pinged
// only while no endpoint is alive, and the answer tells keys from a dead
// datacenter.
func TestReachOnlyWhenAllDead(t *testing.T) {
	r, in := newRig(t)
	if d := selfcheck.Diagnose(t.Context(), in); !d.OK {
		t.Fatalf("diagnosis %s", d.Sentence)
	}
	if len(r.asked) != 0 {
		t.Errorf("pinged %v while the tunnel works", r.asked)
	}
	r.set(func(r *rig) {
		r.tun.State = tunnel.Down
		for i := range r.tun.Endpoints {
			r.tun.Endpoints[i].Health, r.tun.Endpoints[i].LastHandshake = tunnel.Dead, time.Time{}
		}
	})
	if d := selfcheck.Diagnose(t.Context(), in); d.Segment != selfcheck.SegmentDatacenter {
		t.Errorf("silent endpoints: %s, want datacenter", d.Sentence)
	}
	if len(r.asked) != 2 {
		t.Errorf("asked %v, want both endpoints", r.asked)
	}
	r.set(func(r *rig) { r.reachable["198.51.100.2:51820"] = true })
	d := selfcheck.Diagnose(t.Context(), in)
	if d.Segment != selfcheck.SegmentKeys {
		t.Errorf("reachable endpoint, no handshake: %s, want keys", d.Sentence)
	}
	for _, it := range d.Evidence {
		if it.Name == "endpoint:dc2" && !strings.Contains(it.Detail, "198.51.100.2:51820 answers ping over the WAN") {
			t.Errorf("evidence %q", it.Detail)
		}
	}
}

func TestStatfs(t *testing.T) {
	avail, total, err := selfcheck.Statfs(t.TempDir())
	if err != nil || total == 0 || avail > total {
		t.Errorf("Statfs = %d, %d, %v", avail, total, err)
	}
	if _, _, err := selfcheck.Statfs(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("Statfs of a missing directory did not fail")
	}
}

func TestReadThermalSkipsBadZones(t *testing.T) {
	dir := thermal(t, "45000", "garbage", "-5000")
	rs, err := selfcheck.ReadThermal(dir)
	if err != nil || len(rs) != 2 || rs[1].C != -5 {
		t.Errorf("ReadThermal = %+v, %v", rs, err)
	}
}

type fakePinger struct {
	mu   sync.Mutex
	dsts []netip.Addr
	err  error
}

func (p *fakePinger) Ping(ctx context.Context, src, dst netip.Addr) (time.Duration, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dsts = append(p.dsts, dst)
	return time.Millisecond, p.err
}

func TestPingReach(t *testing.T) {
	p := &fakePinger{}
	reach := selfcheck.PingReach(p)
	for _, hp := range []string{"198.51.100.7:51820", "[2001:db8::7]:51820", "localhost:51820", "198.51.100.8"} {
		if err := reach(t.Context(), hp); err != nil {
			t.Errorf("%s: %v", hp, err)
		}
	}
	if len(p.dsts) != 4 || p.dsts[0] != netip.MustParseAddr("198.51.100.7") || p.dsts[1] != netip.MustParseAddr("2001:db8::7") || !p.dsts[2].IsLoopback() {
		t.Errorf("pinged %v", p.dsts)
	}
	p.err = errors.New("timeout")
	if err := reach(t.Context(), "198.51.100.7:51820"); err == nil {
		t.Error("a silent endpoint reached")
	}
}
