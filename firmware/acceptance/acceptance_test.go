package acceptance_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/shisa-gw/shisa/firmware/acceptance"
	"github.com/shisa-gw/shisa/firmware/api"
	"github.com/shisa-gw/shisa/firmware/ha"
	"github.com/shisa-gw/shisa/firmware/inventory"
	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/inspecttest"
)

// box is a unit of fakes where everything works: links up, a default
// route, two endpoints alive with fresh handshakes, a synced clock, one
// cloud service listening on loopback.
type box struct {
	tun  tunnel.Status
	svc  string
	in   acceptance.Inputs
	pair *ha.Status
	held bool
}

func newBox(t *testing.T) *box {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	gw := netip.MustParseAddr("203.0.113.1")
	fake := inspecttest.New("eth0", "eth1")
	fake.Set(func(f *inspecttest.Fake) {
		f.Routes = []netctl.DefaultRoute{{Interface: "eth0", Gateway: gw, Metric: 100}}
		f.Neigh[inspecttest.Key("eth0", gw)] = netctl.NeighReachable
	})
	hs := time.Now().Add(-40 * time.Second)
	b := &box{svc: ln.Addr().String(), held: true}
	b.tun = tunnel.Status{State: tunnel.Up, Active: "dc1", Layout: "distinct", Endpoints: []tunnel.EndpointStatus{
		{Name: "dc1", Endpoint: "192.0.2.2:51820", Health: tunnel.Alive, Active: true, LastHandshake: hs, RTT: 3},
		{Name: "dc2", Endpoint: "198.51.100.2:51820", Health: tunnel.Alive, LastHandshake: hs, RTT: 5},
	}}
	b.in = acceptance.Inputs{
		Self: selfcheck.Inputs{
			WAN: "eth0", LAN: "eth1", Net: fake,
			Tunnel: func() tunnel.Status { return b.tun },
			TimeSync: func() *api.TimeSync {
				return &api.TimeSync{OK: true, Server: "ntp1", Stratum: 2, MaxOffset: 0.5, SystemSynced: true}
			},
			StateDir:   t.TempDir(),
			ThermalDir: t.TempDir(),
		},
		Services: []string{b.svc},
		Dial:     (&net.Dialer{}).DialContext,
		Firmware: inventory.Firmware{Version: "v1.4.0", Slot: "a"},
		Timeout:  time.Second,
	}
	return b
}

func items(r api.Acceptance) map[string]api.CheckItem {
	m := map[string]api.CheckItem{}
	for _, it := range r.Items {
		m[it.Name] = it
	}
	return m
}

func TestAllGood(t *testing.T) {
	b := newBox(t)
	r := acceptance.Run(t.Context(), b.in)
	require.True(t, r.OK, "failed: %v\n%s", acceptance.Failed(r), acceptance.Text(r, "s", "a", "en"))
	m := items(r)
	for _, name := range []string{"lan_link", "wan_link", "default_route", "endpoint:dc1", "probe:dc2", "ntp",
		"handshake:dc1", "handshake:dc2", "service:" + b.svc, "firmware"} {
		assert.True(t, m[name].OK, "%s: %+v", name, m[name])
	}
	assert.Contains(t, m["handshake:dc2"].Detail, "last handshake 40s ago")
	assert.Contains(t, m["service:"+b.svc].Detail, "TCP connection in")
	assert.Equal(t, "version v1.4.0, slot a", m["firmware"].Detail)
	assert.NotContains(t, m, "vip", "a box alone has no vip item")
}

func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(b *box)
		item   string
		want   string
	}{
		{"no handshake", func(b *box) { b.tun.Endpoints[1].LastHandshake = time.Time{} }, "handshake:dc2", "no handshake yet"},
		{"stale handshake", func(b *box) { b.tun.Endpoints[0].LastHandshake = time.Now().Add(-10 * time.Minute) }, "handshake:dc1", "limit 3m0s"},
		{"service refused", func(b *box) { b.in.Services = []string{"127.0.0.1:1"} }, "service:127.0.0.1:1", "no TCP connection"},
		{"service unreachable", func(b *box) {
			b.in.Dial = func(context.Context, string, string) (net.Conn, error) {
				return nil, errors.New("network is unreachable")
			}
		}, "service:" + "SVC", "network is unreachable"},
		{"firmware unknown", func(b *box) { b.in.Firmware = inventory.Firmware{} }, "firmware", "not known"},
		{"active without the vip", func(b *box) {
			b.pair = &ha.Status{MachineStatus: ha.MachineStatus{Role: ha.Active}}
			b.held = false
		}, "vip", "does not hold the virtual IP 192.168.10.1"},
		{"standby without an active peer", func(b *box) {
			b.pair = &ha.Status{MachineStatus: ha.MachineStatus{Role: ha.Standby, Peer: &ha.PeerStatus{UnitID: "a", Alive: false, Role: ha.Active}}}
		}, "vip", "nobody holds the virtual IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBox(t)
			tc.break_(b)
			if b.pair != nil {
				b.in.Pair = func() *ha.Status { return b.pair }
				b.in.VIP = "192.168.10.1"
				b.in.VIPHeld = func() (bool, error) { return b.held, nil }
			}
			r := acceptance.Run(t.Context(), b.in)
			item := strings.Replace(tc.item, "SVC", b.svc, 1)
			assert.False(t, r.OK)
			assert.Equal(t, []string{item}, acceptance.Failed(r), "only the broken item fails")
			assert.Contains(t, items(r)[item].Detail, tc.want)
		})
	}
}

func TestPairAndLayouts(t *testing.T) {
	t.Run("active holding the vip", func(t *testing.T) {
		b := newBox(t)
		b.in.Pair = func() *ha.Status { return &ha.Status{MachineStatus: ha.MachineStatus{Role: ha.Active}} }
		b.in.VIP, b.in.VIPHeld = "192.168.10.1", func() (bool, error) { return true, nil }
		r := acceptance.Run(t.Context(), b.in)
		assert.True(t, r.OK, "%v", acceptance.Failed(r))
		assert.Equal(t, "active, holding the virtual IP 192.168.10.1", items(r)["vip"].Detail)
	})
	t.Run("standby: the tunnel's items are skipped, the peer holds the vip", func(t *testing.T) {
		b := newBox(t)
		b.tun.State = tunnel.Stopped
		b.tun.Endpoints[0].LastHandshake = time.Time{} // stale figures
		b.in.Pair = func() *ha.Status {
			return &ha.Status{MachineStatus: ha.MachineStatus{Role: ha.Standby, Peer: &ha.PeerStatus{UnitID: "a", Alive: true, Role: ha.Active}}}
		}
		b.in.VIP = "192.168.10.1"
		r := acceptance.Run(t.Context(), b.in)
		assert.True(t, r.OK, "%v", acceptance.Failed(r))
		m := items(r)
		assert.True(t, selfcheck.Skipped(m["services"]))
		assert.NotContains(t, m, "handshake:dc1")
		assert.Contains(t, m["vip"].Detail, "the active peer a holds")
	})
	t.Run("shared key: only the front door in use is judged", func(t *testing.T) {
		b := newBox(t)
		b.tun.Layout = "shared"
		b.tun.Endpoints[1].LastHandshake = time.Time{}
		r := acceptance.Run(t.Context(), b.in)
		assert.True(t, r.OK, "%v", acceptance.Failed(r))
		assert.True(t, selfcheck.Skipped(items(r)["handshake:dc2"]))
	})
}

func TestText(t *testing.T) {
	b := newBox(t)
	b.tun.Endpoints[1].LastHandshake = time.Time{}
	r := acceptance.Run(t.Context(), b.in)
	ja := acceptance.Text(r, "iwata", "b", "ja")
	lines := strings.Split(strings.TrimSpace(ja), "\n")
	assert.Contains(t, lines[0], "動作確認 不合格")
	assert.Contains(t, lines[0], "拠点 iwata 機器 b")
	assert.Contains(t, lines[1], "NG  ハンドシェイク dc2", "failed items first")
	assert.Contains(t, ja, "OK  クラウドサービス "+b.svc)
	en := acceptance.Text(r, "iwata", "b", "en")
	assert.Contains(t, en, "acceptance check FAIL")
	assert.Contains(t, en, "NG  handshake:dc2")
}

func TestAddresses(t *testing.T) {
	b := newBox(t)
	addrs := map[string][]netip.Prefix{
		"eth0":     {netip.MustParsePrefix("203.0.113.2/24")},
		"eth1":     {netip.MustParsePrefix("192.168.10.2/24"), netip.MustParsePrefix("fd00::2/64")},
		"wg-shisa": {netip.MustParsePrefix("10.99.1.2/32")},
	}
	b.in.AddrList = func(link string) ([]netip.Prefix, error) {
		if a, ok := addrs[link]; ok {
			return a, nil
		}
		return nil, errors.New("no such link")
	}
	b.in.Addresses = []acceptance.AddrCheck{
		{Role: "wan", Link: "eth0"},
		{Role: "lan", Link: "eth1", Want: []netip.Addr{netip.MustParseAddr("192.168.10.2")}},
		{Role: "tunnel", Link: "wg-shisa", Want: []netip.Addr{netip.MustParseAddr("10.99.1.2"), netip.MustParseAddr("10.99.1.9")}},
		{Role: "gone", Link: "eth9"},
	}
	m := items(acceptance.Run(t.Context(), b.in))
	assert.True(t, m["addresses:wan"].OK, "%+v", m["addresses:wan"])
	assert.Equal(t, "eth0 203.0.113.2/24", m["addresses:wan"].Detail)
	assert.True(t, m["addresses:lan"].OK, "%+v", m["addresses:lan"])
	assert.False(t, m["addresses:tunnel"].OK)
	assert.Equal(t, "wg-shisa lacks 10.99.1.9 (has 10.99.1.2/32)", m["addresses:tunnel"].Detail)
	assert.False(t, m["addresses:gone"].OK)
	assert.Contains(t, m["addresses:gone"].Detail, "no such link")

	addrs["eth0"] = []netip.Prefix{netip.MustParsePrefix("2001:db8::2/64")}
	m = items(acceptance.Run(t.Context(), b.in))
	assert.Equal(t, "eth0 has no IPv4 address (has 2001:db8::2/64)", m["addresses:wan"].Detail)
}
