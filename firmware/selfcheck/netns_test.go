package selfcheck_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/shisa-gw/shisa/firmware/selfcheck"
	"github.com/shisa-gw/shisa/firmware/tunnel"
	"github.com/shisa-gw/shisa/netctl"
	"github.com/shisa-gw/shisa/netctl/netnstest"
)

// nsInspector runs the kernel inspector inside a rig's namespace (netlink
// acts in the namespace of the calling thread).
type nsInspector struct{ ns *netnstest.NS }

func (n nsInspector) Link(name string) (l netctl.LinkInfo, err error) {
	err = n.ns.Do(func() error { l, err = netctl.KernelInspector{}.Link(name); return err })
	return l, err
}

func (n nsInspector) DefaultRoutes() (rs []netctl.DefaultRoute, err error) {
	err = n.ns.Do(func() error { rs, err = netctl.KernelInspector{}.DefaultRoutes(); return err })
	return rs, err
}

func (n nsInspector) Neighbor(name string, a netip.Addr) (s netctl.NeighState, err error) {
	err = n.ns.Do(func() error { s, err = netctl.KernelInspector{}.Neighbor(name, a); return err })
	return s, err
}

// TestUnplugWANInNamespace builds a unit with real wan0 and lan0 veths,
// unplugs the WAN by setting the ISP's end down, sees wan_link fail and
// Diagnose name the WAN, and plugs it back.
//
//	office: lan0 ── lan0 :unit: wan0 192.0.2.2/24 ── wan0 192.0.2.1/24 :isp
func TestUnplugWANInNamespace(t *testing.T) {
	t.Parallel()
	r := netnstest.New(t)
	unit, isp, office := r.NS("unit"), r.NS("isp"), r.NS("office")
	r.Link(unit, "wan0", isp, "wan0")
	r.Link(unit, "lan0", office, "lan0")
	unit.Addr("wan0", netip.MustParsePrefix("192.0.2.2/24"))
	isp.Addr("wan0", netip.MustParsePrefix("192.0.2.1/24"))
	gw := netip.MustParseAddr("192.0.2.1")
	unit.DefaultRoute(gw)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := unit.Ping(ctx, gw); err != nil { // fills the ARP entry
		t.Fatal(err)
	}

	// The tunnel itself is not under test here: a supervisor that sees
	// dc1 alive while the WAN carries, dead once it does not.
	wanUp := true
	in := selfcheck.Inputs{
		WAN: "wan0", LAN: "lan0", Net: nsInspector{unit},
		Tunnel: func() tunnel.Status {
			h := tunnel.Alive
			if !wanUp {
				h = tunnel.Dead
			}
			return tunnel.Status{State: tunnel.Up, Active: "dc1", Endpoints: []tunnel.EndpointStatus{
				{Name: "dc1", Endpoint: "198.51.100.1:51820", Health: h, Active: true, LastHandshake: time.Now().Add(-time.Minute)},
			}}
		},
		StateDir: t.TempDir(), ThermalDir: t.TempDir(),
	}
	check := func(wantWAN bool) {
		t.Helper()
		sc := selfcheck.Run(ctx, in)
		m := items(sc)
		if m["wan_link"].OK != wantWAN || !m["lan_link"].OK || !m["default_route"].OK {
			t.Errorf("wan_link %+v lan_link %+v default_route %+v", m["wan_link"], m["lan_link"], m["default_route"])
		}
		d := selfcheck.Diagnose(ctx, in)
		t.Logf("diagnose: %s / %s", d.Sentence, d.SentenceJA)
		switch {
		case wantWAN && d.Segment != selfcheck.SegmentNone:
			t.Errorf("WAN plugged: %s", d.Sentence)
		case !wantWAN && (d.Segment != selfcheck.SegmentWAN || !strings.Contains(d.Sentence, "WAN port (wan0)")):
			t.Errorf("WAN unplugged: %s", d.Sentence)
		}
	}
	check(true)
	isp.SetLink("wan0", false)
	wanUp = false
	check(false)
	isp.SetLink("wan0", true)
	wanUp = true
	check(true)
}
